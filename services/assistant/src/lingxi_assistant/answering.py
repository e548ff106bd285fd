"""Answering queries: the local engine first, a model partner for open questions and unsure cases.

The only part of the assistant that waits on the network. Partner calls of one read run
concurrently, each bounded by ``partner_deadline_s`` so a slow chain cannot hold the read past the
handler timeout; when no partner answers, the answer says honestly that the online service is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from lingxi.events.assistant import AnswerDrafted, QueryReceived
from lingxi.logging import get_logger

from lingxi_assistant import replies
from lingxi_assistant.drafting import draft_answer, draft_partner_answer, needs_partner, partner_messages
from lingxi_assistant.model import OPEN_QUESTION
from lingxi_assistant.partners import PartnerRouter, PartnersUnavailable
from lingxi_assistant.understanding import Engine, Understanding, reply_language

log = get_logger("lingxi_assistant.answering")


class Answerer:
    def __init__(
        self, engine: Engine, router: PartnerRouter | None, *, partner_deadline_s: float = 15.0
    ) -> None:
        self.engine = engine
        self.router = router
        self.partner_deadline_s = partner_deadline_s

    async def answer_all(self, queries: Sequence[QueryReceived]) -> list[AnswerDrafted]:
        # The time the user asked is the reference for "tomorrow": a redelivery gives the same answer.
        understandings = self.engine.understand_many(
            [(q.text, q.locale, q.occurred_at, q.timezone) for q in queries]
        )
        return list(
            await asyncio.gather(*(self._answer(q, u) for q, u in zip(queries, understandings, strict=True)))
        )

    async def _answer(self, query: QueryReceived, understanding: Understanding) -> AnswerDrafted:
        if self.router is None or not needs_partner(understanding):
            return self._without_partner(query, understanding, [])
        try:
            async with asyncio.timeout(self.partner_deadline_s):
                answer = await self.router.ask(
                    partner_messages(query), region=str(query.region), request_id=str(query.request_id)
                )
        except PartnersUnavailable as error:
            log.warning("no model partner answered", reason=error.reason, attempts=len(error.attempts))
            tried = list(dict.fromkeys(a.provider for a in error.attempts if a.called))
            return self._without_partner(query, understanding, tried)
        except TimeoutError:
            log.warning("model partners too slow", deadline_s=self.partner_deadline_s)
            return self._without_partner(query, understanding, [])
        return draft_partner_answer(query, understanding, answer)

    def _without_partner(
        self, query: QueryReceived, understanding: Understanding, tried: list[str]
    ) -> AnswerDrafted:
        if understanding.intent == OPEN_QUESTION:
            # Never an invented answer: say that this needs the online service.
            lang = reply_language(query.text, query.locale)
            understanding = Understanding(
                understanding.intent, understanding.confidence, {}, None, replies.needs_online(lang)
            )
        return draft_answer(query, understanding, providers_tried=tried)
