"""The learned intent classifier and the scoring of the engine on labelled data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lingxi_assistant import dataset
from lingxi_assistant.dataset import Example
from lingxi_assistant.evaluation import Scored, markdown, score
from lingxi_assistant.lang import Utterance
from lingxi_assistant.learned import LearnedClassifier, universal_sentence_encoder
from lingxi_assistant.model_cache import cached_classifier, remember

TOY = [
    Example("明天早上七点叫我起床", "zh-CN", "set_alarm"),
    Example("设个八点的闹钟", "zh-CN", "set_alarm"),
    Example("wake me up at 6", "en-US", "set_alarm"),
    Example("set an alarm for 7am", "en-US", "set_alarm"),
    Example("打开微信", "zh-CN", "open_app"),
    Example("打开支付宝", "zh-CN", "open_app"),
    Example("open taobao", "en-US", "open_app"),
    Example("launch wechat", "en-US", "open_app"),
]


def test_its_own_scoring_matches_the_library() -> None:
    classifier = LearnedClassifier(dataset.split("train"))
    sentences = [Utterance.of(e.text) for e in dataset.split("test")[:200]]
    ours = classifier.probabilities(sentences)
    library = classifier.library_probabilities(sentences)
    assert ours.shape == library.shape == (len(sentences), len(classifier.intents))
    assert np.allclose(ours, library, atol=1e-9)


def test_proposes_the_likely_intents_first_with_probabilities() -> None:
    classifier = LearnedClassifier(TOY)
    (first, *rest) = classifier.classify(Utterance.of("设个闹钟"))
    assert first.intent == "set_alarm"
    assert 0.5 < first.strength <= 1.0
    assert all(c.strength <= first.strength for c in rest)
    assert classifier.classify(Utterance.of("open wechat"))[0].intent == "open_app"
    two_intents = [Utterance.of("设个闹钟"), Utterance.of("open wechat")]
    assert np.allclose(classifier.probabilities(two_intents), classifier.library_probabilities(two_intents))


def test_digits_do_not_change_the_intent() -> None:
    classifier = LearnedClassifier(TOY)
    a = classifier.probabilities([Utterance.of("设个8点的闹钟")])
    b = classifier.probabilities([Utterance.of("设个9点的闹钟")])
    assert np.allclose(a, b)


def test_no_examples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no labelled examples"):
        LearnedClassifier([])


def test_the_split_is_by_utterance_and_stable() -> None:
    train, test = dataset.split("train"), dataset.split("test")
    assert train
    assert test
    assert not {e.text.lower() for e in train} & {e.text.lower() for e in test}
    assert 0.1 < len(test) / (len(train) + len(test)) < 0.3
    assert Example("打开微信", "zh-CN", "open_app").split == Example("打开微信", "en-US", "x").split


def test_every_label_in_the_data_is_a_known_intent() -> None:
    from lingxi_assistant.model import INTENTS, NOT_UNDERSTOOD

    labels = {e.intent for e in (*dataset.labelled(), *dataset.unseen())}
    assert labels <= set(INTENTS) - {NOT_UNDERSTOOD}


def _scored(expected: str, got: str, slots: dict[str, object] | None = None) -> Scored:
    return Scored("t", "zh-CN", expected, {"a": 1}, got, slots if slots is not None else {"a": 1})  # type: ignore[arg-type]


def test_scoring_counts_intents_slots_and_declined_requests() -> None:
    report = score(
        [
            _scored("set_alarm", "set_alarm"),
            _scored("set_alarm", "set_alarm", {"a": 2}),  # right intent, wrong slot value
            _scored("set_alarm", "set_timer"),
            _scored("out_of_scope", "not_understood"),  # declined: recognised
            _scored("out_of_scope", "open_app"),
        ]
    )
    assert report.intent_accuracy == pytest.approx(2 / 5)
    assert report.slot_exact_match == pytest.approx(1 / 2)
    assert report.out_of_scope_recognised == pytest.approx(1 / 2)
    alarm = next(s for s in report.per_intent if s.intent == "set_alarm")
    assert (alarm.support, alarm.recall, alarm.precision) == (3, pytest.approx(2 / 3), 1.0)
    assert len(report.errors) == 4
    table = markdown(report, "toy")
    assert "| set_alarm | 3 | 100% | 67% | 50% |" in table


def test_nothing_to_score_is_an_error() -> None:
    with pytest.raises(ValueError, match="nothing to score"):
        score([])


def test_the_semantic_stage_scores_like_the_library_and_survives_a_round_trip(tmp_path: Path) -> None:
    encoder = universal_sentence_encoder()
    train = dataset.split("train")[::8]  # a few hundred sentences: the embedding is the slow part
    classifier = LearnedClassifier(train, encoder=encoder, unsure_below=0.9)
    sentences = [Utterance.of(e.text) for e in dataset.split("test")[:120]]
    ours = classifier.probabilities(sentences)
    assert np.allclose(ours, classifier.library_probabilities(sentences), atol=1e-9)
    assert (ours.max(axis=1) < 0.9).any(), "some sentences went through the semantic stage"

    remember(classifier, train, tmp_path)  # kept under the key cached_classifier looks for...
    again = cached_classifier(train, encoder, tmp_path)  # ... so this reads it, fitting nothing
    assert len(list(tmp_path.glob("intents-*.npz"))) == 1
    kept = LearnedClassifier.from_model(classifier.model, encoder=encoder)  # the cache's default threshold
    assert np.allclose(again.probabilities(sentences), kept.probabilities(sentences))
    with pytest.raises(RuntimeError, match="fitted model"):
        again.library_probabilities(sentences)


def test_a_corrupt_cache_file_is_fitted_again(tmp_path: Path) -> None:
    train = dataset.split("train")[::20]
    first = cached_classifier(train, None, tmp_path)
    (saved,) = tmp_path.glob("intents-*.npz")
    saved.write_bytes(b"not a numpy file")
    second = cached_classifier(train, None, tmp_path)
    sentence = [Utterance.of("打开微信")]
    assert np.allclose(first.probabilities(sentence), second.probabilities(sentence))
    assert np.load(saved, allow_pickle=False)["intents"].size > 1, "the file was written again"


def test_a_model_with_a_semantic_stage_needs_its_encoder() -> None:
    model = LearnedClassifier(TOY, encoder=universal_sentence_encoder()).model
    with pytest.raises(ValueError, match="sentence encoder"):
        LearnedClassifier.from_model(model)


def test_the_unseen_set_shares_no_sentence_with_the_labelled_set() -> None:
    def key(text: str) -> str:
        return "".join(text.lower().split())

    labelled = {key(e.text) for e in dataset.labelled()}
    unseen = dataset.unseen()
    assert len(unseen) > 200
    assert not {key(e.text) for e in unseen} & labelled
