"""``lingxi evaluate moderation``: the moderation policy on its labelled set, and the helpers the tests
and the bench share (the labelled set, its deterministic split, the scoring).

Imported whenever the ``lingxi`` command starts: everything heavy is imported inside the functions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

if TYPE_CHECKING:
    from lingxi_compliance.moderation import Decision, Moderator

DEFAULT_OUTPUT = Path("docs/moderation-accuracy")
TODAY = date(2026, 11, 25)
"""The day the labelled set is checked on (bounds resident ID birth dates)."""
SEVERITY = {"allow": 0, "flag": 1, "redact": 2, "block": 3}
TARGET_CAUGHT = 0.95
TARGET_BENIGN_BLOCKED = 0.02

Split = Literal["tune", "held_out"]


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    locale: str
    direction: Literal["input", "output"]
    expected: Literal["allow", "flag", "redact", "block"]
    category: str

    @property
    def violation(self) -> bool:
        return self.expected != "allow"

    @property
    def split(self) -> Split:
        return split_of(self.text)


def split_of(text: str) -> Split:
    """The half a line belongs to: by the first byte of the SHA-256 of its text (deterministic)."""
    return "tune" if hashlib.sha256(text.encode("utf-8")).digest()[0] % 2 == 0 else "held_out"


def labelled(path: Path | None = None) -> list[Labelled]:
    """The labelled set (``data/moderation/labelled.jsonl`` by default)."""
    if path is None:
        traversable = resources.files("lingxi_compliance") / "data" / "moderation" / "labelled.jsonl"
        text = traversable.read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        row = json.loads(raw)
        if set(row) != {"text", "locale", "direction", "expected", "category"}:
            raise ValueError(
                f"labelled line {number}: fields must be text, locale, direction, expected, category"
            )
        if row["expected"] not in SEVERITY or row["direction"] not in ("input", "output"):
            raise ValueError(f"labelled line {number}: bad expected or direction")
        lines.append(Labelled(**row))
    return lines


def caught(expected: str, action: str) -> bool:
    """A violation counts caught when the action is the expected one or stricter."""
    return SEVERITY[action] >= SEVERITY[expected]


@dataclass(frozen=True, slots=True)
class Judged:
    line: Labelled
    action: str
    reason_codes: tuple[str, ...]

    @property
    def right(self) -> bool:
        if self.line.violation:
            return caught(self.line.expected, self.action)
        return self.action != "block"

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.line.text,
            "locale": self.line.locale,
            "direction": self.line.direction,
            "category": self.line.category,
            "expected": self.line.expected,
            "action": self.action,
            "reason_codes": list(self.reason_codes),
        }


def judge(moderator: Moderator, lines: Sequence[Labelled], today: date = TODAY) -> list[Judged]:
    out = []
    for line in lines:
        decision: Decision = moderator.check(
            line.text, locale=line.locale, direction=line.direction, today=today
        )
        out.append(Judged(line, decision.action, decision.reason_codes))
    return out


@dataclass(frozen=True)
class Score:
    name: str
    judged: list[Judged]

    @property
    def violations(self) -> list[Judged]:
        return [j for j in self.judged if j.line.violation]

    @property
    def benign(self) -> list[Judged]:
        return [j for j in self.judged if not j.line.violation]

    @property
    def caught_rate(self) -> float:
        v = self.violations
        return sum(j.right for j in v) / len(v) if v else 1.0

    @property
    def benign_blocked_rate(self) -> float:
        b = self.benign
        return sum(j.action == "block" for j in b) / len(b) if b else 0.0

    @property
    def benign_touched_rate(self) -> float:
        b = self.benign
        return sum(j.action != "allow" for j in b) / len(b) if b else 0.0

    def per_category(self) -> dict[str, dict[str, Any]]:
        """Precision and recall per category: a line is predicted in a category when the decision is not
        ``allow`` and names it; it is right when it is a violation of that category (caught or not)."""
        names = sorted({j.line.category for j in self.judged})
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            code = f"moderation.{name}"
            predicted = [j for j in self.judged if j.action != "allow" and code in j.reason_codes]
            true_positive = [j for j in predicted if j.line.violation and j.line.category == name]
            violations = [j for j in self.violations if j.line.category == name]
            benign = [j for j in self.benign if j.line.category == name]
            out[name] = {
                "violations": len(violations),
                "caught": sum(j.right for j in violations),
                "recall": _ratio(sum(j.right for j in violations), len(violations)),
                "precision": _ratio(len(true_positive), len(predicted)),
                "benign_look_alikes": len(benign),
                "benign_blocked": sum(j.action == "block" for j in benign),
            }
        return out

    def misjudged(self) -> list[Judged]:
        return [j for j in self.judged if not j.right or (not j.line.violation and j.action != "allow")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": len(self.judged),
            "violations": len(self.violations),
            "benign": len(self.benign),
            "violations_caught": round(self.caught_rate, 4),
            "benign_blocked": round(self.benign_blocked_rate, 4),
            "benign_flagged_or_redacted_or_blocked": round(self.benign_touched_rate, 4),
            "targets": {
                "violations_caught_min": TARGET_CAUGHT,
                "benign_blocked_max": TARGET_BENIGN_BLOCKED,
                "met": self.caught_rate >= TARGET_CAUGHT
                and self.benign_blocked_rate <= TARGET_BENIGN_BLOCKED,
            },
            "per_category": self.per_category(),
            "misjudged": [j.to_dict() for j in self.misjudged()],
        }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def score(name: str, judged: list[Judged]) -> Score:
    return Score(name, judged)


def markdown(scores: Sequence[Score], *, header: str) -> str:
    lines = [header, ""]
    lines += [
        "| set | lines | violations | benign | violations caught | benign blocked "
        "| benign flagged/redacted/blocked |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for s in scores:
        lines.append(
            f"| {s.name} | {len(s.judged)} | {len(s.violations)} | {len(s.benign)} | {s.caught_rate:.1%} "
            f"{_tick(s.caught_rate >= TARGET_CAUGHT)} | {s.benign_blocked_rate:.1%} "
            f"{_tick(s.benign_blocked_rate <= TARGET_BENIGN_BLOCKED)} | {s.benign_touched_rate:.1%} |"
        )
    lines += [
        "",
        f"Targets: at least {TARGET_CAUGHT:.0%} of violations caught (the expected action or a stricter "
        f"one), at most {TARGET_BENIGN_BLOCKED:.0%} of benign lines blocked.",
        "",
    ]
    for s in scores:
        lines += [
            f"### Per category, {s.name}",
            "",
            "| category | violations | recall | precision | benign look-alikes | benign blocked |",
            "|---|--:|--:|--:|--:|--:|",
        ]
        for name, row in s.per_category().items():
            lines.append(
                f"| {name} | {row['violations']} | {_pct(row['recall'])} | {_pct(row['precision'])} "
                f"| {row['benign_look_alikes']} | {row['benign_blocked']} |"
            )
        lines.append("")
    final = scores[-1]
    lines += [f"### Misjudged lines ({final.name})", ""]
    misjudged = final.misjudged()
    if not misjudged:
        lines.append("None.")
    else:
        lines += ["| split | category | direction | expected | got | text |", "|---|---|---|---|---|---|"]
        for j in misjudged:
            text = j.line.text.replace("|", "\\|")
            lines.append(
                f"| {j.line.split} | {j.line.category} | {j.line.direction} | {j.line.expected} | {j.action} "
                f"| {text} |"
            )
    return "\n".join(lines) + "\n"


def _tick(ok: bool) -> str:
    return "✓" if ok else "✗"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


# --- choosing the semantic threshold ----------------------------------------------------------------


@dataclass(frozen=True)
class SweepRow:
    threshold: float
    margin: float
    caught: float
    benign_blocked: float
    semantic_catches: int
    semantic_false: int


def sweep(
    moderator: Moderator,
    lines: Sequence[Labelled],
    thresholds: Sequence[float],
    margins: Sequence[float],
    today: date = TODAY,
) -> list[SweepRow]:
    """What each (threshold, margin) would give on ``lines``: keywords alone, plus the semantic stage's
    cosines computed once per line."""
    from lingxi_compliance.moderation import Moderator as _Moderator

    policy = moderator.policy
    keywords_only = _Moderator(
        policy.model_copy(update={"semantic": policy.semantic.model_copy(update={"enabled": False})})
    )
    rows_in: list[tuple[Labelled, str, list[tuple[str, float, float]]]] = []
    for line in lines:
        decision = keywords_only.check(line.text, locale=line.locale, direction=line.direction, today=today)
        scores = moderator.semantic_scores(line.text, direction=line.direction, today=today)
        found = [
            (name, best[i], benign)
            for best, benign in zip(scores.best, scores.benign, strict=True)
            for i, name in enumerate(scores.categories)
            if line.direction in policy.categories[name].directions
        ]
        rows_in.append((line, decision.action, found))
    out = []
    for threshold in thresholds:
        for margin in margins:
            judged = []
            semantic_catches = semantic_false = 0
            for line, action, found in rows_in:
                final = action
                for name, best, benign in found:
                    if best >= threshold and best - benign >= margin:
                        candidate = policy.categories[name].action
                        if SEVERITY[candidate] > SEVERITY[final]:
                            final = candidate
                if final != action:
                    if line.violation and caught(line.expected, final) and not caught(line.expected, action):
                        semantic_catches += 1
                    if not line.violation and final == "block" and action != "block":
                        semantic_false += 1
                judged.append(Judged(line, final, ()))
            s = Score("sweep", judged)
            out.append(
                SweepRow(
                    threshold, margin, s.caught_rate, s.benign_blocked_rate, semantic_catches, semantic_false
                )
            )
    return out


# --- the command ------------------------------------------------------------------------------------


def evaluate_moderation(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for report.md and report.json.")
    ] = DEFAULT_OUTPUT,
    policy: Annotated[Path | None, typer.Option(help="A policy file instead of the packaged one.")] = None,
    data: Annotated[Path | None, typer.Option(help="A labelled set instead of the packaged one.")] = None,
    show_sweep: Annotated[
        bool,
        typer.Option("--sweep", help="Also print the semantic threshold/margin sweep on the tuning half."),
    ] = False,
) -> None:
    """Moderation accuracy on the labelled set: violations caught, benign lines blocked, per-category
    precision and recall, on the held-out half (the tuning half chose the semantic threshold) and on all."""
    from rich.console import Console

    from lingxi_compliance.moderation import Moderator, load_policy

    console = Console(stderr=True)
    with console.status("loading the policy, jieba and the sentence encoder"):
        loaded = load_policy(policy)
        moderator = Moderator(loaded)
        moderator.warm_up()
    lines = labelled(data)
    held_out = [line for line in lines if line.split == "held_out"]
    tune = [line for line in lines if line.split == "tune"]
    with console.status(f"checking {len(lines)} labelled lines"):
        judged = judge(moderator, lines)
    by_text = {id(j.line): j for j in judged}
    scores = [
        score("held-out half", [by_text[id(line)] for line in held_out]),
        score("tuning half", [by_text[id(line)] for line in tune]),
        score("all", judged),
    ]
    semantic = loaded.semantic
    header = (
        f"## Moderation accuracy on the labelled set\n\n"
        f"{len(lines)} lines ({sum(line.locale.startswith('zh') for line in lines)} Chinese, "
        f"{sum(not line.locale.startswith('zh') for line in lines)} English; "
        f"{sum(line.violation for line in lines)} violations, "
        f"{sum(not line.violation for line in lines)} benign look-alikes), split by a hash of the text "
        f"into a tuning half ({len(tune)}) and a held-out half "
        f"({len(held_out)}). Semantic stage: threshold {semantic.threshold:g}, margin {semantic.margin:g} "
        f"(chosen on the tuning half), at most {semantic.max_sentences} sentences of an input and "
        f"{semantic.max_output_sentences} of an output embedded. Policy: "
        f"`{Path(loaded.source).name}`."
    )
    report = markdown(scores, header=header)
    document: dict[str, Any] = {s.name: s.to_dict() for s in scores}
    document["semantic"] = semantic.model_dump(exclude={"benign_examples"})
    if show_sweep:
        with console.status("sweeping the semantic threshold on the tuning half"):
            rows = sweep(
                moderator,
                tune,
                thresholds=[round(0.40 + 0.02 * i, 2) for i in range(21)],
                margins=[0.0, 0.05, 0.10],
            )
        sweep_lines = [
            "",
            "### Semantic sweep on the tuning half",
            "",
            "| threshold | margin | violations caught | benign blocked | caught by the semantic stage "
            "| benign blocked by it |",
            "|--:|--:|--:|--:|--:|--:|",
        ]
        sweep_lines += [
            f"| {r.threshold:.2f} | {r.margin:.2f} | {r.caught:.1%} | {r.benign_blocked:.1%} "
            f"| {r.semantic_catches} | {r.semantic_false} |"
            for r in rows
        ]
        report += "\n".join(sweep_lines) + "\n"
        document["sweep"] = [r.__dict__ for r in rows]
    output.mkdir(parents=True, exist_ok=True)
    (output / "report.md").write_text(report, encoding="utf-8")
    (output / "report.json").write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    typer.echo(report)
    console.print(f"wrote report.md and report.json in {output}")
