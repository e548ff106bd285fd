"""The platform's AsyncAPI document (docs/asyncapi.md): ``GET /asyncapi.json`` as committed, and
``GET /asyncapi``, a plain page of the same (no scripts, no assets from elsewhere).

The document ships inside this package (``asyncapi.json``, a copy of docs/asyncapi.json that the test
suite keeps identical), so an installed gateway serves it without the repository; it is read once, when
the app is built, and a missing copy stops the gateway from starting.
"""

from __future__ import annotations

import json
from html import escape
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

__all__ = ["DOCUMENT", "asyncapi_router", "document_bytes", "render_page"]

DOCUMENT = "asyncapi.json"


def document_bytes() -> bytes:
    """The packaged document, byte for byte."""
    return files("lingxi_gateway").joinpath(DOCUMENT).read_bytes()


def asyncapi_router() -> APIRouter:
    document = document_bytes()
    page = render_page(json.loads(document))
    router = APIRouter(tags=["docs"])

    @router.get(
        "/asyncapi.json",
        response_class=Response,
        responses={200: {"content": {"application/json": {}}, "description": "The AsyncAPI 3.0 document."}},
    )
    async def asyncapi_document() -> Response:
        """The AsyncAPI document of every Lingxi stream, event and service."""
        return Response(document, media_type="application/json")

    @router.get("/asyncapi", response_class=HTMLResponse, include_in_schema=False)
    async def asyncapi_page() -> HTMLResponse:
        return HTMLResponse(page)

    return router


def render_page(document: dict[str, Any]) -> str:
    """A self-contained HTML view: the services, then each channel with its message's schema."""
    info = document.get("info", {})
    channels: dict[str, Any] = document.get("channels", {})
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    messages: dict[str, Any] = document.get("components", {}).get("messages", {})
    who: dict[str, dict[str, list[str]]] = {c: {"send": [], "receive": []} for c in channels}
    services: dict[str, dict[str, list[str]]] = {}
    for key, operation in sorted(document.get("operations", {}).items()):
        service = key.split(".", 1)[0]
        channel = operation["channel"]["$ref"].rsplit("/", 1)[-1]
        who.setdefault(channel, {"send": [], "receive": []})[operation["action"]].append(service)
        services.setdefault(service, {"send": [], "receive": []})[operation["action"]].append(channel)

    def names(items: list[str]) -> str:
        return ", ".join(f"<code>{escape(i)}</code>" for i in items) or "—"

    rows = "".join(
        f"<tr><td><code>{escape(s)}</code></td><td>{names(ops['receive'])}</td><td>{names(ops['send'])}</td></tr>"
        for s, ops in sorted(services.items())
    )
    sections = []
    for channel_id, channel in sorted(channels.items()):
        message = next(iter(channel.get("messages", {})), "")
        payload = messages.get(message, {}).get("payload", {}).get("$ref", "")
        schema = json.dumps(schemas.get(payload.rsplit("/", 1)[-1], {}), indent=2, ensure_ascii=False)
        address = channel.get("address", channel_id)
        senders, receivers = names(who[channel_id]["send"]), names(who[channel_id]["receive"])
        sections.append(
            f'<section id="{escape(channel_id)}"><h3><code>{escape(address)}</code> — {escape(message)}</h3>'
            f"<p>{escape(channel.get('summary', ''))}</p><p>{escape(channel.get('description', ''))}</p>"
            f"<p>Sent by {senders}; received by {receivers}.</p>"
            f"<details><summary>Payload schema</summary><pre>{escape(schema)}</pre></details></section>"
        )
    title = escape(f"{info.get('title', 'AsyncAPI')} {info.get('version', '')}".strip())
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{title}</h1><p>AsyncAPI {escape(str(document.get('asyncapi', '')))}: "
        '<a href="/asyncapi.json">asyncapi.json</a></p>'
        f"<pre>{escape(info.get('description', ''))}</pre>"
        "<h2>Services</h2><table><tr><th>service</th><th>receives</th><th>sends</th></tr>"
        f"{rows}</table><h2>Channels</h2>{''.join(sections)}</body></html>"
    )


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.4}"
    "pre{background:#f5f5f5;padding:.75rem;overflow:auto;white-space:pre-wrap}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;vertical-align:top}"
    "section{border-top:1px solid #ddd;margin-top:1rem}"
)
