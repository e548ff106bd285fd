"""The gateway serves the committed AsyncAPI document (docs/asyncapi.md), from its own package.

The app is driven in process (no lifespan: nothing here needs Redis or the broker).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from lingxi.asyncapi import contract_from_sources
from lingxi.cli.asyncapi import package_sources

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "docs" / "asyncapi.json"


@pytest.fixture(scope="module")
def gateway() -> ModuleType:
    from lingxi_gateway import app

    return app


@pytest.fixture
async def client(gateway: ModuleType) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def test_asyncapi_json_is_the_committed_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/asyncapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == COMMITTED.read_bytes(), (
        "the gateway's copy differs from docs/asyncapi.json: run "
        "`lingxi asyncapi --output services/gateway/src/lingxi_gateway/asyncapi.json`"
    )


async def test_the_page_shows_every_channel_with_nothing_from_elsewhere(client: httpx.AsyncClient) -> None:
    response = await client.get("/asyncapi")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for channel in json.loads(COMMITTED.read_text(encoding="utf-8"))["channels"].values():
        assert f"<code>{channel['address']}</code>" in page
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_the_document_lists_what_the_running_gateway_consumes(gateway: ModuleType) -> None:
    """The contract the document is generated from (read from source) matches the subscriptions the
    gateway really makes when its module runs: its loop over RESULTS and the erasure handlers included."""
    contract = contract_from_sources("gateway", "lingxi_gateway.app", package_sources("lingxi_gateway"))

    assert sorted(cls.stream for cls in contract.consumes) == sorted(gateway.service.streams)
    assert contract.publishes == gateway.PUBLISHES
