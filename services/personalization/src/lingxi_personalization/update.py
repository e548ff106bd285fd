"""One user's events of a read in, their new consent and profile out, and what the user is shown (pure).

The service groups a read's events by user, loads each user once, calls ``update_user`` and writes what
it returns. Events are applied in the order given (the stream's order); a consent change older than
the one in force is ignored (``ConsentChanged`` is a state, so a late one must not undo a newer one).

What the user is shown (their list and the usual apps shared with the assistant, ``views``) is worked
out again at once when their consent changed: switching personalisation off takes effect with the
change. When only purchases changed the profile, the update is marked ``stale`` instead and the service
refreshes the views a little later, once for all the purchases of that spell: working out a list costs
several times what folding a purchase does.
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

__all__ = ["CONSENT_APPLIED", "CONSENT_STALE", "ConsentChange", "UserUpdate", "update_user", "views"]

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
    """The user's list, worked out again when the consent changed; None otherwise."""
    apps: dict[str, str] | None
    """The user's usual apps to share (``preferences``), worked out with the list; None otherwise."""
    outcomes: list[str]
    """Per event, in order: a ``Folded`` value for a purchase, ``CONSENT_APPLIED`` / ``CONSENT_STALE``."""

    @property
    def stale(self) -> bool:
        """The profile changed and the views were not worked out again: they are due for a refresh."""
        return self.profile_changed and self.suggestions is None


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
    if new_consent is not None:
        suggestions, apps = views(consent, profile, catalogue, today)
    return UserUpdate(new_consent, profile, changed, suggestions, apps, outcomes)


def views(
    consent: Consent, profile: Profile, catalogue: Catalogue, today: date
) -> tuple[list[Suggestion], dict[str, str]]:
    """What the user is shown as their consent and profile stand: their list and their usual apps."""
    personalise = consent.grants(ConsentScope.PERSONALISATION)
    return recommend(profile, personalise, catalogue, today), usual_apps(profile, consent, catalogue)
