"""A service for the chaos tests, on the real runtime: it drafts an echo answer for each query and
fails on the query "poison" for as long as the file named by FLAKY_FAULT_FILE exists (the fault)."""

from __future__ import annotations

import os
from pathlib import Path

from lingxi.events import AnswerDrafted, QueryReceived
from lingxi.runtime import HandlerContext, Service, serve

service = Service("flaky")
FAULT_FILE = Path(os.environ.get("FLAKY_FAULT_FILE", "/nonexistent"))


@service.consumer(QueryReceived)
async def on_query(query: QueryReceived, ctx: HandlerContext) -> None:
    if query.text == "poison" and os.path.exists(FAULT_FILE):  # noqa: ASYNC240 (a stat, in a test)
        raise RuntimeError("a dependency of the poison query is down")
    await ctx.publish(
        AnswerDrafted(
            region=query.region,
            request_id=query.request_id,
            device_id=query.device_id,
            locale=query.locale,
            intent="echo",
            confidence=1.0,
            reply_text=query.text,
            engine="flaky",
            model_name="flaky",
        )
    )


app = service.asgi()

if __name__ == "__main__":
    serve(app, service)
