"""Runtime settings: where a service's Redis is, and as which ACL user it connects."""

from __future__ import annotations

import pytest
from lingxi.runtime.service import _safe_url
from lingxi.runtime.settings import ServiceSettings


def test_without_a_password_the_url_is_used_as_it_is() -> None:
    settings = ServiceSettings(redis_url="rediss://someone:pw@redis.example:6380/2?ssl_ca_certs=/ca.crt")
    assert (
        settings.connection_url("gateway") == "rediss://someone:pw@redis.example:6380/2?ssl_ca_certs=/ca.crt"
    )


def test_a_password_makes_the_service_its_own_user_on_the_same_server() -> None:
    settings = ServiceSettings(
        redis_url="rediss://shared:old@redis.example:6380/2?ssl_ca_certs=/ca.crt",
        redis_password="p@ss:w/rd#1",
    )
    url = settings.connection_url("vision")
    assert url == "rediss://lingxi-vision:p%40ss%3Aw%2Frd%231@redis.example:6380/2?ssl_ca_certs=/ca.crt"
    assert "p@ss" not in repr(settings), "the password is a secret: never in a repr or a log"
    assert _safe_url(url) == "rediss://***@redis.example:6380/2?ssl_ca_certs=/ca.crt"


def test_the_user_name_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINGXI_REDIS_PASSWORD", "secret-password-0123")
    monkeypatch.setenv("LINGXI_REDIS_USERNAME", "ops-gateway")
    assert ServiceSettings(redis_url="redis://redis:6379/0").connection_url("gateway") == (
        "redis://ops-gateway:secret-password-0123@redis:6379/0"
    )
