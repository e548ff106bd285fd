"""What other services may use of a user's habits: the app they usually use for a kind of purchase.

The assistant opens the user's usual delivery app for "点外卖" / "order food" (``user_preferences_key``).
Only while the user grants both ``personalisation`` (their data may shape what they are offered) and
``purchase_data`` (the habit comes from purchases); otherwise there is nothing to share, and the
assistant opens its default app.
"""

from __future__ import annotations

from lingxi.events.personalization import ConsentScope

from lingxi_personalization.catalogue import Catalogue, ItemKind
from lingxi_personalization.profile import Consent, Profile

__all__ = ["usual_apps"]


def usual_apps(profile: Profile, consent: Consent, catalogue: Catalogue) -> dict[str, str]:
    """Category code → the catalogue app the user's purchases of it point to (by the channel they pay
    through, or the app's own name as merchant), for each category where one does."""
    if not (consent.grants(ConsentScope.PERSONALISATION) and consent.grants(ConsentScope.PURCHASE_DATA)):
        return {}
    merchants = {name.casefold(): weight for name, weight in profile.merchants.items()}
    out: dict[str, str] = {}
    for category in profile.categories:
        scores: dict[str, float] = {}
        for item in catalogue.by_category(category):
            if item.kind is not ItemKind.APP or item.app_id is None:
                continue
            score = max((profile.channels.get(c, 0.0) for c in item.channels), default=0.0)
            score += max((merchants.get(m.casefold(), 0.0) for m in item.merchants), default=0.0)
            scores[item.app_id] = max(scores.get(item.app_id, 0.0), score)
        best = max(scores, key=scores.__getitem__, default=None)
        if best is not None and scores[best] > 0.0:
            out[category] = best
    return out
