"""Least-privilege Redis, end to end: a Redis that loads the ACL file ``lingxi redis acl`` writes, every
service connected as its own user, and every path (a query, an image, telemetry, consent, purchases,
recommendations, a feature change, an erasure) still works with no command refused; while each user is
refused what is not its own (another service's keys and streams, dangerous commands), and the default
user can do nothing but PING."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from lingxi.auth import Role
from lingxi.devices import known_models
from lingxi.localredis import LocalRedis
from lingxi.redis_acl import OPERATOR, OTHER_USERS, SCALER, SERVICE_KEYS, password_variable, user_name
from lingxi.testing.processes import ServiceProcess, all_ready, eventually
from lingxi.testing.tokens import admin_headers, device_headers
from lingxi_maintenance.cli import reading_json
from lingxi_maintenance.readings import sample_reading
from PIL import Image

pytestmark = pytest.mark.e2e

SERVICES = tuple(SERVICE_KEYS)
AUDITOR = "acl-auditor"
"""A user the test adds to read ACL LOG (the refusals Redis recorded): no Lingxi user may."""


def password(name: str) -> str:
    return f"test-{name}-password-0123456789"


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    work = tmp_path_factory.mktemp("acl")
    acl = work / "users.acl"
    env = {**os.environ, **{password_variable(name): password(name) for name in (*SERVICES, *OTHER_USERS)}}
    lingxi = Path(sys.executable).with_name("lingxi")
    written = subprocess.run(
        [str(lingxi), "redis", "acl", "-o", str(acl)], env=env, capture_output=True, text=True, timeout=60
    )
    assert written.returncode == 0, written.stderr
    assert all(password(name) not in acl.read_text() for name in (*SERVICES, *OTHER_USERS)), "hashes only"
    with acl.open("a") as out:
        out.write(f"user {AUDITOR} on >{password(AUDITOR)} -@all +acl|log\n")
    server = LocalRedis(work / "redis", appendonly=False, extra_args=("--aclfile", str(acl))).start()
    yield server
    server.stop()


def url_of(server: LocalRedis, name: str) -> str:
    return f"redis://{user_name(name)}:{password(name)}@127.0.0.1:{server.port}/0"


def client(server: LocalRedis, name: str) -> redis.Redis:
    return redis.Redis.from_url(url_of(server, name))


@pytest.fixture(scope="module")
def system(
    acl_redis: LocalRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    logs = tmp_path_factory.mktemp("acl-logs")
    # As deployed: the shared URL names no user; each service's password (LINGXI_REDIS_PASSWORD) makes
    # it connect as its own user, lingxi-<service>.
    started = {
        name: ServiceProcess(
            name,
            f"{name}-1",
            acl_redis.url,
            logs / f"{name}.log",
            # Trimming every second: its commands (XINFO GROUPS, XPENDING, XTRIM) run as each user too.
            extra_env={"LINGXI_REDIS_PASSWORD": password(name), "LINGXI_TRIM_POLL_S": "1"},
        ).start()
        for name in SERVICES
    }
    try:
        yield all_ready(started, 90)
    finally:
        for process in started.values():
            process.stop()


def refusals(server: LocalRedis) -> list[dict[str, Any]]:
    auditor = redis.Redis(port=server.port, username=AUDITOR, password=password(AUDITOR))
    try:
        entries: list[dict[str, Any]] = auditor.acl_log(count=100)
        return entries
    finally:
        auditor.close()


def test_every_path_works_with_each_service_as_its_own_user(
    system: dict[str, ServiceProcess], acl_redis: LocalRedis
) -> None:
    gateway = system["gateway"].base_url
    phone = device_headers("dev-acl", user_id="u-acl")

    query = {"text": "打开微信", "locale": "zh-CN", "device_id": "dev-acl", "region": "CN"}
    answered = httpx.post(
        f"{gateway}/v1/assistant/queries", params={"wait": 8}, json=query, headers=phone, timeout=20
    )
    assert answered.json()["status"] == "released", answered.text

    picture = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(picture, "PNG")
    image = {
        "image_base64": base64.b64encode(picture.getvalue()).decode(),
        "locale": "en-US",
        "device_id": "dev-acl",
        "region": "CN",
        "tasks": ["labels"],
    }
    analysed = httpx.post(
        f"{gateway}/v1/vision/analyses", params={"wait": 10}, json=image, headers=phone, timeout=30
    )
    assert analysed.json()["status"] == "released", analysed.text

    model = next(iter(known_models().values()))
    measured = datetime.now(UTC) - timedelta(minutes=5)
    reading = sample_reading(
        measured, "dev-acl", device_model=model.code, design_capacity_mah=model.design_capacity_mah
    )
    sent = httpx.post(
        f"{gateway}/v1/telemetry", json={"readings": [reading_json(reading)]}, headers=phone, timeout=10
    )
    assert sent.status_code == 202, sent.text
    health = eventually(
        lambda: (
            (
                answer := httpx.get(f"{gateway}/v1/devices/dev-acl/health", headers=phone, timeout=5)
            ).status_code
            == 200
            and answer
        )
    )
    assert health

    consent = {"granted_scopes": ["personalisation", "purchase_data"]}
    assert (
        httpx.put(f"{gateway}/v1/users/u-acl/consent", json=consent, headers=phone, timeout=5).status_code
        == 202
    )
    purchase = {
        "purchase_id": "acl-1",
        "merchant": "瑞幸咖啡",
        "category": "coffee",
        "amount_minor": 1890,
        "channel": "alipay",
        "purchased_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "city": "上海",
    }
    bought = httpx.post(
        f"{gateway}/v1/users/u-acl/purchases", json={"purchase": purchase}, headers=phone, timeout=5
    )
    assert bought.status_code == 202, bought.text
    assert httpx.get(f"{gateway}/v1/users/u-acl/recommendations", headers=phone, timeout=5).status_code == 200

    change = {"feature": "vision", "region": "HK", "status": "approved", "filing_number": "HK-ACL-1"}
    applied = httpx.post(
        f"{gateway}/v1/admin/features/changes",
        params={"wait": 5},
        json=change,
        headers=admin_headers(Role.COMPLIANCE_OFFICER),
        timeout=10,
    )
    assert applied.json()["outcome"] == "applied", applied.text

    assert httpx.delete(f"{gateway}/v1/users/u-acl", headers=phone, timeout=5).status_code == 202
    erasure = eventually(
        lambda: (
            (status := httpx.get(f"{gateway}/v1/users/u-acl/erasure", headers=phone, timeout=5).json())[
                "complete"
            ]
            and status
        )
    )
    assert erasure["complete"]

    assert refusals(acl_redis) == [], "a service was refused a command it needs"
    for process in system.values():
        log = process.log_path.read_text()
        assert "NOPERM" not in log, process.service
        assert password(process.service) not in log, f"{process.service} logged its Redis password"


@pytest.mark.parametrize(
    ("user", "command", "args"),
    [
        ("vision", "GET", ("lingxi:personalization:profile:u-acl",)),  # another service's keys
        ("vision", "XADD", ("compliance.audit.log", "*", "forged", "1")),  # the audit trail
        ("vision", "SET", ("lingxi:images:forged", "x")),  # its images are read-only to it
        ("gateway", "SET", ("lingxi:compliance:features", "x")),  # the registry: compliance writes it
        ("gateway", "HGETALL", ("lingxi:personalization:profile:u-acl",)),
        ("assistant", "XRANGE", ("commerce.purchase.recorded", "-", "+")),  # purchases are not its own
        ("personalization", "GET", ("lingxi:partners:usage",)),
        ("maintenance", "XADD", ("assistant.query.received", "*", "forged", "1")),
        ("assistant", "KEYS", ("*",)),  # dangerous commands, even on its own keys
        ("assistant", "FLUSHALL", ()),
        ("assistant", "CONFIG", ("GET", "requirepass")),
        ("assistant", "ACL", ("LIST",)),
        ("operator", "FLUSHALL", ()),
        ("operator", "MONITOR", ()),
        # KEDA's user counts; it never reads an entry, writes, or touches what is not a consumed stream.
        ("scaler", "XRANGE", ("commerce.purchase.recorded", "-", "+")),
        ("scaler", "XREAD", ("STREAMS", "assistant.query.received", "0")),
        ("scaler", "XINFO", ("STREAM", "commerce.purchase.recorded", "FULL")),
        ("scaler", "XADD", ("assistant.query.received", "*", "forged", "1")),
        ("scaler", "XGROUP", ("DESTROY", "assistant.query.received", "assistant")),
        ("scaler", "XLEN", ("compliance.audit.log",)),
        ("scaler", "GET", ("lingxi:personalization:profile:u-acl",)),
        ("scaler", "KEYS", ("*",)),
    ],
)
def test_each_user_is_refused_what_is_not_its_own(
    acl_redis: LocalRedis, user: str, command: str, args: tuple[str, ...]
) -> None:
    connection = client(acl_redis, user)
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            connection.execute_command(command, *args)  # type: ignore[no-untyped-call]
    finally:
        connection.close()


def test_a_user_reaches_its_own_keys_and_the_operator_every_key(acl_redis: LocalRedis) -> None:
    assistant = client(acl_redis, "assistant")
    operator = client(acl_redis, OPERATOR)
    try:
        assistant.set("lingxi:partners:acl-probe", "1")
        assert operator.get("lingxi:partners:acl-probe") == b"1"
        assert operator.xlen("assistant.query.received") >= 0
    finally:
        assistant.close()
        operator.close()


def test_the_scaler_reads_what_keda_scales_on(acl_redis: LocalRedis) -> None:
    """KEDA's three measures (pendingEntriesCount, lagCount, streamLength) on a stream it scales on."""
    stream, group = "device.telemetry_batch.received", "maintenance"
    operator = client(acl_redis, OPERATOR)
    scaler = client(acl_redis, SCALER)
    try:
        operator.xadd(stream, {"probe": "1"})
        if group not in {g["name"].decode() for g in operator.xinfo_groups(stream)}:
            operator.xgroup_create(stream, group, id="0")
        assert scaler.xpending(stream, group)["pending"] >= 0
        assert group in {g["name"].decode() for g in scaler.xinfo_groups(stream)}
        assert scaler.xlen(stream) >= 1
    finally:
        operator.close()
        scaler.close()


def test_the_default_user_can_only_ping(acl_redis: LocalRedis) -> None:
    anonymous = redis.Redis(port=acl_redis.port)
    try:
        assert anonymous.ping()
        with pytest.raises(redis.exceptions.NoPermissionError):
            anonymous.get("lingxi:compliance:features")
        with pytest.raises(redis.exceptions.NoPermissionError):
            anonymous.xadd("assistant.query.received", {"forged": "1"})
    finally:
        anonymous.close()


def test_a_wrong_password_is_refused(acl_redis: LocalRedis) -> None:
    impostor = redis.Redis(
        port=acl_redis.port, username=user_name("gateway"), password="not-the-password-at-all"
    )
    with pytest.raises(redis.exceptions.AuthenticationError):
        impostor.ping()
