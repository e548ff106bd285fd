"""Scoring the engine on labelled utterances: intent accuracy, per-intent precision and recall, exact slot
match and out-of-scope recognition. Pure: predictions in, a report out.

- Intent accuracy: the predicted intent equals the label (``not_understood`` is always wrong).
- Exact slot match: among utterances whose intent was right, the predicted slots equal the labelled
  slots exactly (same keys, same values), so a missing, extra or differently worded value counts.
- Out-of-scope recognised: a request labelled ``out_of_scope`` was not taken for a device action or an
  open question (``out_of_scope`` or ``not_understood`` both decline it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lingxi_assistant.model import SlotValue

DECLINED = frozenset({"out_of_scope", "not_understood"})


@dataclass(frozen=True)
class Scored:
    text: str
    locale: str
    expected_intent: str
    expected_slots: Mapping[str, SlotValue]
    intent: str
    slots: Mapping[str, SlotValue]

    @property
    def intent_ok(self) -> bool:
        return self.intent == self.expected_intent

    @property
    def slots_ok(self) -> bool:
        return self.intent_ok and dict(self.slots) == dict(self.expected_slots)


@dataclass(frozen=True)
class IntentScore:
    intent: str
    support: int
    precision: float
    recall: float
    slot_exact: float | None  # None: no correctly classified utterance to judge


@dataclass(frozen=True)
class Report:
    size: int
    intent_accuracy: float
    slot_exact_match: float
    out_of_scope_recognised: float | None
    per_intent: list[IntentScore]
    errors: list[Scored] = field(default_factory=list)

    def to_dict(self, *, errors: int = 50) -> dict[str, Any]:
        return {
            "size": self.size,
            "intent_accuracy": round(self.intent_accuracy, 4),
            "slot_exact_match": round(self.slot_exact_match, 4),
            "out_of_scope_recognised": _round(self.out_of_scope_recognised),
            "per_intent": [
                {
                    "intent": s.intent,
                    "support": s.support,
                    "precision": round(s.precision, 4),
                    "recall": round(s.recall, 4),
                    "slot_exact": _round(s.slot_exact),
                }
                for s in self.per_intent
            ],
            "errors": [
                {
                    "text": e.text,
                    "expected": e.expected_intent,
                    "got": e.intent,
                    "expected_slots": dict(e.expected_slots),
                    "slots": dict(e.slots),
                }
                for e in self.errors[:errors]
            ],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def score(results: Iterable[Scored]) -> Report:
    rows = list(results)
    if not rows:
        raise ValueError("nothing to score")
    labelled = Counter(r.expected_intent for r in rows)
    predicted = Counter(r.intent for r in rows)
    correct = Counter(r.expected_intent for r in rows if r.intent_ok)
    slots_right = Counter(r.expected_intent for r in rows if r.slots_ok)
    per_intent = [
        IntentScore(
            intent=intent,
            support=labelled[intent],
            precision=correct[intent] / predicted[intent] if predicted[intent] else 0.0,
            recall=correct[intent] / labelled[intent],
            slot_exact=slots_right[intent] / correct[intent] if correct[intent] else None,
        )
        for intent in sorted(labelled)
    ]
    right = [r for r in rows if r.intent_ok]
    oos = [r for r in rows if r.expected_intent == "out_of_scope"]
    return Report(
        size=len(rows),
        intent_accuracy=len(right) / len(rows),
        slot_exact_match=sum(r.slots_ok for r in right) / len(right) if right else 0.0,
        out_of_scope_recognised=sum(r.intent in DECLINED for r in oos) / len(oos) if oos else None,
        per_intent=per_intent,
        errors=[r for r in rows if not r.slots_ok],
    )


def markdown(report: Report, title: str) -> str:
    """The report as a markdown table, one row per intent."""
    oos = report.out_of_scope_recognised
    lines = [
        f"#### {title}",
        "",
        f"{report.size} utterances: intent accuracy **{report.intent_accuracy:.1%}**, exact slot match "
        f"**{report.slot_exact_match:.1%}** (of correctly classified), out-of-scope recognised "
        f"**{'n/a' if oos is None else f'{oos:.1%}'}**.",
        "",
        "| intent | support | precision | recall | exact slots |",
        "|---|--:|--:|--:|--:|",
    ]
    for s in report.per_intent:
        slot = "–" if s.slot_exact is None else f"{s.slot_exact:.0%}"
        lines.append(f"| {s.intent} | {s.support} | {s.precision:.0%} | {s.recall:.0%} | {slot} |")
    return "\n".join(lines) + "\n"
