"""The gateway answers 503 with Retry-After, never a bare 500, when its Redis is unreachable."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from lingxi.localredis import LocalRedis
from lingxi.testing.processes import ProcessGroup
from lingxi.testing.tokens import device_headers

pytestmark = pytest.mark.e2e


def test_redis_down_is_a_503_with_retry_after(tmp_path: Path) -> None:
    server = LocalRedis(tmp_path / "redis", appendonly=False).start()
    group = ProcessGroup(server.url, tmp_path)
    try:
        gateway = group.start("gateway", "gateway-1")
        server.stop(kill=True)
        answer = httpx.post(
            f"{gateway.base_url}/v1/assistant/queries",
            json={"text": "打开微信", "locale": "zh-CN", "device_id": "d", "region": "CN"},
            headers=device_headers("d"),
            timeout=15,
        )
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        assert "retry" in answer.json()["detail"]
        assert httpx.get(f"{gateway.base_url}/readyz", timeout=5).status_code == 503
    finally:
        group.stop_all()
        server.stop()
