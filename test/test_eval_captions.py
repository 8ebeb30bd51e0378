"""Caption metrics of `motionllm eval`: hand-computed values from the metrics' definitions, on the real libraries."""

from __future__ import annotations

import math

import pytest

from motionllm_ros.evaluation.captions import CaptionMetricError, CaptionPair, caption_scores, tokenize

pytest.importorskip("pycocoevalcap")


def test_tokenize_drops_case_and_punctuation():
    assert tokenize("A man walks, then -- he STOPS. It's 1.1 m/s!") == "a man walks then he stops it's 1 1 m s"


def test_identical_captions_score_the_maximum_of_each_metric():
    # Two windows with disjoint words: every n-gram has IDF log(2/1) > 0, the candidate's tf-idf vectors equal the
    # reference's, the cosine is 1 for n = 1..4 and the length penalty exp(0) = 1: CIDEr-D = 10 x mean(1) = 10.
    pairs = [CaptionPair(0, "a man walks to the left", ("a man walks to the left",)),
             CaptionPair(1, "two people hug each other", ("two people hug each other",))]
    per_recording, merged = caption_scores(pairs, recordings=2)
    assert merged["bleu4"] == pytest.approx(1.0, abs=1e-6)
    assert merged["rouge_l"] == pytest.approx(1.0)
    assert merged["cider"] == pytest.approx(10.0)
    assert merged["bertscore_f1"] is None and merged["windows"] == 2
    assert [entry["windows"] for entry in per_recording] == [1, 1]


def test_rouge_l_by_hand():
    # LCS("a man walks left", "a man walks to the left") = 4 words: P = 4/4, R = 4/6; COCO's ROUGE-L uses
    # beta = 1.2: F = (1 + b^2) P R / (R + b^2 P).
    pairs = [CaptionPair(0, "A man walks left.", ("a man walks to the left",))]
    _, merged = caption_scores(pairs, recordings=1)
    precision, recall, beta = 1.0, 4 / 6, 1.2
    assert merged["rouge_l"] == pytest.approx((1 + beta**2) * precision * recall / (recall + beta**2 * precision))


def test_bleu4_by_hand():
    # Candidate "a man walks to the right" against "a man walks to the left" (6 words each, brevity penalty 1):
    # matched n-grams 5/6, 4/5, 3/4, 2/3 -> BLEU-4 = (5/6 * 4/5 * 3/4 * 2/3) ** (1/4).
    pairs = [CaptionPair(0, "a man walks to the right", ("a man walks to the left",))]
    _, merged = caption_scores(pairs, recordings=1)
    assert merged["bleu4"] == pytest.approx((5 / 6 * 4 / 5 * 3 / 4 * 2 / 3) ** 0.25, rel=1e-6)


def test_recordings_without_scored_windows_are_none_and_cider_idf_spans_all_recordings():
    pairs = [CaptionPair(0, "a man walks", ("a man walks",)), CaptionPair(2, "two men hug", ("two men hug",))]
    per_recording, merged = caption_scores(pairs, recordings=3)
    assert per_recording[1] is None
    # With the IDF over both recordings the 1- to 3-gram cosines are 1; three words have no 4-gram (cosine 0):
    # 10 x 3/4. Alone, every n-gram's IDF would be log(1/1) = 0 and the score 0.
    assert per_recording[0]["cider"] == pytest.approx(7.5) and per_recording[2]["cider"] == pytest.approx(7.5)
    assert caption_scores([], recordings=2) == ([None, None], None)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A random 2-layer BERT with a WordPiece vocabulary of the test sentences, saved as a local model folder."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchmetrics")
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("bert")
    words = sorted(set("a man walks to the left person walking two people hug men each other right".split()))
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=5 + len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return folder


def test_bertscore_is_one_for_identical_text_and_the_best_reference_counts(tiny_bert):
    from torchmetrics.functional.text.bert import bert_score

    pairs = [CaptionPair(0, "a man walks to the left", ("a man walks to the left",)),
             CaptionPair(0, "two men hug", ("a person walking", "two people hug"))]
    per_recording, merged = caption_scores(pairs, 1, bertscore_model=tiny_bert)
    each = bert_score(["two men hug", "two men hug"], ["a person walking", "two people hug"],
                      model_name_or_path=str(tiny_bert))["f1"].tolist()
    assert merged["bertscore_f1"] == pytest.approx((1.0 + max(each)) / 2, abs=1e-5)
    assert not math.isclose(each[0], each[1])  # the maximum is a real choice
    assert per_recording[0]["bertscore_f1"] == merged["bertscore_f1"]


def test_a_bertscore_folder_without_a_model_is_a_clear_error(tmp_path):
    pairs = [CaptionPair(0, "a man walks", ("a man walks",))]
    with pytest.raises(CaptionMetricError, match="no config.json"):
        caption_scores(pairs, 1, bertscore_model=tmp_path)
