"""Assistant service wiring: queries in, drafted answers out."""

from __future__ import annotations

from lingxi.events.assistant import QueryReceived
from lingxi.runtime import HandlerContext, Service

from lingxi_assistant.drafting import draft_answer
from lingxi_assistant.understanding import understand, warm_up

service = Service("assistant")
warm_up()  # load date-parsing data now rather than on the first user's request


@service.consumer(QueryReceived)
async def on_query(query: QueryReceived, ctx: HandlerContext) -> None:
    # The time the user asked is the reference for "tomorrow", so a redelivery gives the same answer.
    understanding = understand(query.text, query.locale, now=query.occurred_at, timezone=query.timezone)
    await ctx.publish(draft_answer(query, understanding))


app = service.asgi()
