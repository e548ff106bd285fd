"""One user's events of a read in, their new consent, profile and recommendations out (pure).

The service groups a read's events by user, loads each user once, calls ``update_user`` and writes what
it returns. Events are applied in the order given (the stream's order); a consent change older than
the one in force is ignored (``ConsentChanged`` is a state, so a late one must not undo a newer one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from lingxi.events.personalization import ConsentScope

from lingxi_personalization.catalogue import Catalogue
from lingxi_personalization.preferences import usual_apps
from lingxi_personalization.profile import Consent, Folded, Profile, Purchase, fold, on_consent
from lingxi_personalization.recommend import Suggestion, recommend

__all__ = ["CONSENT_APPLIED", "CONSENT_STALE", "ConsentChange", "UserUpdate", "update_user"]

CONSENT_APPLIED = "applied"
CONSENT_STALE = "stale"


@dataclass(frozen=True, slots=True)
class ConsentChange:
    scopes: frozenset[ConsentScope]
    changed_us: int


@dataclass(slots=True)
class UserUpdate:
    consent: Consent | None
    """The consent to store; None when unchanged."""
    profile: Profile
    profile_changed: bool
    suggestions: list[Suggestion] | None
    """The user's list, recomputed when the consent or the profile changed; None otherwise."""
    apps: dict[str, str] | None
    """The user's usual apps to share (``preferences``), recomputed with the list; None otherwise."""
    outcomes: list[str]
    """Per event, in order: a ``Folded`` value for a purchase, ``CONSENT_APPLIED`` / ``CONSENT_STALE``."""


def update_user(
    consent: Consent,
    profile: Profile,
    events: Sequence[Purchase | ConsentChange],
    catalogue: Catalogue,
    today: date,
) -> UserUpdate:
    new_consent: Consent | None = None
    changed = False
    outcomes: list[str] = []
    for event in events:
        if isinstance(event, ConsentChange):
            consent, kept, applied = on_consent(consent, profile, event.scopes, event.changed_us)
            outcomes.append(CONSENT_APPLIED if applied else CONSENT_STALE)
            if applied:
                new_consent = consent
                changed = changed or kept is not profile
                profile = kept
        else:
            folded = fold(profile, consent, event)
            outcomes.append(folded.value)
            changed = changed or folded is Folded.FOLDED
    suggestions = apps = None
    if changed or new_consent is not None:
        personalise = consent.grants(ConsentScope.PERSONALISATION)
        suggestions = recommend(profile, personalise, catalogue, today)
        apps = usual_apps(profile, consent, catalogue)
    return UserUpdate(new_consent, profile, changed, suggestions, apps, outcomes)
