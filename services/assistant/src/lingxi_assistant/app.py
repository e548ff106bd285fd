"""Assistant service wiring: queries in, drafted answers out."""

from __future__ import annotations

from collections.abc import Sequence

from lingxi.events.assistant import AnswerDrafted, QueryReceived
from lingxi.runtime import HandlerContext, Service
from lingxi_compliance.moderation import default_moderator

from lingxi_assistant.answering import Answerer
from lingxi_assistant.partners import PartnerRouter, load_config
from lingxi_assistant.understanding import default_engine, warm_up

service = Service("assistant")
PUBLISHES = (AnswerDrafted,)
"""What this service publishes: its send operations in docs/asyncapi.json (docs/asyncapi.md)."""
service.publishes(*PUBLISHES)
warm_up()  # train the classifier and load date data now rather than on the first user's request
router = PartnerRouter(load_config(), service.redis)  # a bad providers file stops the start, named
service.on_shutdown.append(router.aclose)
moderator = default_moderator()  # compliance's policy for what users send (before any partner sees it)
moderator.warm_up()
answerer = Answerer(default_engine(), router, moderator=moderator, preferences=service.redis)


# Batches: at low load a read holds one query, so nothing waits; under load one commit serves many.
@service.consumer(QueryReceived, batch=True)
async def on_queries(queries: Sequence[QueryReceived], ctx: HandlerContext) -> None:
    for query, answer in zip(queries, await answerer.answer_all(queries, ctx.acting_for), strict=True):
        await ctx.publish(answer, cause=query)


app = service.asgi()
