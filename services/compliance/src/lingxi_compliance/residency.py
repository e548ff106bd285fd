"""Data residency: where a user's data may be processed, by the region of the user. Pure.

Compliance owns the rule (``data/residency.yaml``); the assistant's model-partner router obeys it: its
providers file is refused at load when a chain sends a region's requests somewhere this policy does not
allow, and each call is checked again before it is made.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

RESIDENCY_FILE = Path(__file__).parent / "data" / "residency.yaml"


class Residency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    regions: dict[str, frozenset[str]]
    """User region -> regions its data may be processed in."""

    def allowed(self, user_region: str) -> frozenset[str]:
        """Where data of ``user_region`` may go; a region the policy does not name stays in itself."""
        return self.regions.get(user_region, frozenset({user_region}))

    def allows(self, user_region: str, processing_region: str) -> bool:
        return processing_region in self.allowed(user_region)


@cache
def residency(path: Path = RESIDENCY_FILE) -> Residency:
    """The residency policy (the packaged one by default); a clear error naming the file otherwise."""
    try:
        return Residency.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise ValueError(f"residency policy {path}: {error}") from error
