"""Assistant service wiring: queries in, drafted answers out."""

from __future__ import annotations

from collections.abc import Sequence

from lingxi.events.assistant import QueryReceived
from lingxi.runtime import HandlerContext, Service

from lingxi_assistant.drafting import draft_answer
from lingxi_assistant.understanding import understand, warm_up

service = Service("assistant")
warm_up()  # load date-parsing data now rather than on the first user's request


# Batches: at low load a read holds one query, so nothing waits; under load one commit serves many.
@service.consumer(QueryReceived, batch=True)
async def on_queries(queries: Sequence[QueryReceived], ctx: HandlerContext) -> None:
    for query in queries:
        # The time the user asked is the reference for "tomorrow": a redelivery gives the same answer.
        understanding = understand(query.text, query.locale, now=query.occurred_at, timezone=query.timezone)
        await ctx.publish(draft_answer(query, understanding), cause=query)


app = service.asgi()
