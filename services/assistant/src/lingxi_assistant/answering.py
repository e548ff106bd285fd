"""Answering queries: the local engine first, a model partner for open questions and unsure cases.

Before anything else the user's text goes through compliance's moderation policy as ``input``: a
blocked text (a prompt injection, a request for something the policy forbids) is answered with the
policy's safe reply and marked for compliance to block, and no partner ever sees it; personal data is
redacted from what a partner is sent (the local engine, which never leaves the service, reads the
text as said, so "call 139..." still dials the number). The verdict travels on the draft.

The only part of the assistant that waits on the network. Partner calls of one read run
concurrently, each bounded by ``partner_deadline_s`` so a slow chain cannot hold the read past the
handler timeout; when no partner answers, the answer says honestly that the online service is needed.

The users' usual apps (which delivery app "点外卖" opens) are read once per read from personalization's
shared preferences (:mod:`.preferences`); when they cannot be read, the default apps are opened.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Sequence

from lingxi.events.assistant import AnswerDrafted, QueryReceived
from lingxi.events.compliance import ModerationVerdict
from lingxi.logging import get_logger
from lingxi_compliance.moderation import Decision, Moderator
from redis.asyncio import Redis

from lingxi_assistant import replies
from lingxi_assistant.drafting import (
    draft_answer,
    draft_blocked_input,
    draft_partner_answer,
    needs_partner,
    partner_messages,
)
from lingxi_assistant.model import OPEN_QUESTION
from lingxi_assistant.partners import PartnerRouter, PartnersUnavailable
from lingxi_assistant.preferences import usual_apps
from lingxi_assistant.understanding import Engine, Understanding, reply_language

log = get_logger("lingxi_assistant.answering")


class Answerer:
    def __init__(
        self,
        engine: Engine,
        router: PartnerRouter | None,
        *,
        moderator: Moderator | None = None,
        preferences: Redis | None = None,
        partner_deadline_s: float = 15.0,
    ) -> None:
        self.engine = engine
        self.router = router
        self.moderator = moderator
        self.preferences = preferences
        """Where personalization shares the users' usual apps; None: the default apps for everyone."""
        self.partner_deadline_s = partner_deadline_s

    async def answer_all(
        self,
        queries: Sequence[QueryReceived],
        acting_for: Callable[[QueryReceived], contextlib.AbstractContextManager[None]] | None = None,
    ) -> list[AnswerDrafted]:
        """A draft per query. ``acting_for(query)`` surrounds the work done for that query alone (its
        partner calls): the runtime's ``HandlerContext.acting_for`` puts it in the query's trace and logs."""
        users = [q.user_id for q in queries]
        apps = await usual_apps(self.preferences, users) if self.preferences is not None else {}
        # The time the user asked is the reference for "tomorrow": a redelivery gives the same answer.
        understandings = self.engine.understand_many(
            [(q.text, q.locale, q.occurred_at, q.timezone) for q in queries],
            usual_apps=[apps.get(user, {}) if user else {} for user in users],
        )
        checks = self._moderate(queries, understandings)
        scope = acting_for or (lambda _: contextlib.nullcontext())

        async def answer(
            query: QueryReceived, understanding: Understanding, check: Decision | None
        ) -> AnswerDrafted:
            with scope(query):
                return await self._answer(query, understanding, check)

        drafts = await asyncio.gather(
            *(answer(q, u, d) for q, u, d in zip(queries, understandings, checks, strict=True))
        )
        return [_with_verdict(draft, d) for draft, d in zip(drafts, checks, strict=True)]

    def _moderate(
        self, queries: Sequence[QueryReceived], understandings: Sequence[Understanding]
    ) -> list[Decision | None]:
        """Every query through the policy as input, in one call per locale and kind. The sentence
        encoder (the costly part) only reads what a partner would be sent: a request the local engine
        answers itself never leaves the service, its reply is a template of ours."""
        checks: list[Decision | None] = [None] * len(queries)
        if self.moderator is None:
            return checks
        groups: dict[tuple[str, bool], list[int]] = defaultdict(list)
        for i, (query, understanding) in enumerate(zip(queries, understandings, strict=True)):
            to_partner = self.router is not None and needs_partner(understanding)
            groups[(query.locale, to_partner)].append(i)
        for (locale, to_partner), members in groups.items():
            texts = [queries[i].text for i in members]
            day = queries[members[0]].occurred_at.date()
            decisions = self.moderator.check_many(
                texts, locale=locale, direction="input", today=day, semantic=to_partner
            )
            for i, decision in zip(members, decisions, strict=True):
                checks[i] = decision
                if decision.action != "allow":
                    log.info("query moderated", request_id=str(queries[i].request_id), **decision.to_log())
        return checks

    async def _answer(
        self, query: QueryReceived, understanding: Understanding, moderation: Decision | None = None
    ) -> AnswerDrafted:
        if moderation is not None and moderation.blocked:
            return draft_blocked_input(query, moderation.text)
        if self.router is None or not needs_partner(understanding):
            return self._without_partner(query, understanding, [])
        if moderation is not None and moderation.action == "redact":
            query = query.model_copy(update={"text": moderation.text})  # what a partner may see
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


def _with_verdict(draft: AnswerDrafted, decision: Decision | None) -> AnswerDrafted:
    if decision is None or decision.action == "allow":
        return draft
    verdict = ModerationVerdict(action=decision.action, reason_codes=list(decision.reason_codes)[:16])
    return draft.model_copy(update={"input_moderation": verdict})
