"""The users' usual apps, as personalization shares them (``user_preferences_key``): read only.

Personalization writes the key, ``{"apps": {category code: app id}}``, and deletes it when the user's
consent (personalisation and purchase data) does not allow sharing: an absent key means nothing may be
used, and the assistant opens its default app. Nothing here may fail an answer: Redis trouble or an
unreadable value is logged and the user's usual apps are then unknown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from lingxi.events.personalization import user_preferences_key
from lingxi.logging import get_logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["usual_apps"]

log = get_logger("lingxi_assistant.preferences")


async def usual_apps(redis: Redis, user_ids: Iterable[str | None]) -> dict[str, dict[str, str]]:
    """User id → their usual apps (category code → app id), in one round trip for a read's users.
    Users with none, or none that may be used, are left out; ``None`` (an anonymous query) is skipped."""
    users = list(dict.fromkeys(user for user in user_ids if user))
    if not users:
        return {}
    try:
        values = await redis.mget([user_preferences_key(user) for user in users])
    except RedisError as error:
        log.warning("usual apps unavailable, default apps used", error=type(error).__name__, users=len(users))
        return {}
    found: dict[str, dict[str, str]] = {}
    for user, raw in zip(users, values, strict=True):
        if raw is None:
            continue
        apps = _apps(raw)
        if apps is None:
            log.warning("usual apps unreadable, default apps used", user_id=user)
        elif apps:
            found[user] = apps
    return found


def _apps(raw: bytes | str) -> dict[str, str] | None:
    """The ``apps`` mapping of a stored value; None when it is not that shape."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    apps = value.get("apps") if isinstance(value, dict) else None
    if not isinstance(apps, dict):
        return None
    if not all(isinstance(key, str) and isinstance(app, str) for key, app in apps.items()):
        return None
    return apps
