"""The Kneser-Ney baseline that bench/quality.py compares against must be a proper distribution,
or the comparison means nothing."""

import math
import random
import sys

import pytest
from conftest import DATA, ROOT

sys.path.insert(0, str(ROOT / "bench"))
from kn import KneserNey, Unigram, perplexities

from lstm_textgen import build_vocab, load_headlines, split
from lstm_textgen.vocab import BOS_ID, PAD_ID


@pytest.fixture(scope="module")
def fitted():
    tr, va = split(load_headlines(DATA / "headlines.txt").texts, 10)
    vocab = build_vocab((t.split() for t in tr), min_count=2)
    seqs = [vocab.encode_headline(t.split()) for t in tr]
    test = [vocab.encode_headline(t.split()) for t in va]
    return vocab, seqs, test


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_probabilities_sum_to_one(fitted, n):
    vocab, seqs, _ = fitted
    lm = KneserNey(seqs, n, len(vocab), BOS_ID, [PAD_ID])
    predictable = [t for t in range(len(vocab)) if t not in (BOS_ID, PAD_ID)]
    rng = random.Random(0)
    contexts = [[BOS_ID], [BOS_ID, vocab.stoi["trump"]], [BOS_ID, 5, 6, 7], [9, 9, 9]]
    contexts += [rng.choice(seqs)[: rng.randint(1, 6)] for _ in range(20)]
    for ctx in contexts:
        total = sum(lm.prob(ctx, w) for w in predictable)
        assert math.isclose(total, 1.0, rel_tol=1e-9), (ctx, total)


def test_higher_orders_fit_training_text_better_and_unigram_is_worst(fitted):
    vocab, seqs, test = fitted
    uni = perplexities(Unigram(seqs, len(vocab), BOS_ID, [PAD_ID]), test)["ppl"]
    kn = {n: perplexities(KneserNey(seqs, n, len(vocab), BOS_ID, [PAD_ID]), test)["ppl"] for n in (1, 2, 3)}
    assert kn[3] < kn[2] < kn[1] and kn[2] < uni
    on_train = {n: perplexities(KneserNey(seqs, n, len(vocab), BOS_ID, [PAD_ID]), seqs)["ppl"] for n in (2, 4)}
    assert on_train[4] < on_train[2]


def test_the_by_corpus_baseline_is_at_least_as_good_as_its_main_model(fitted):
    from quality import mixture

    vocab, seqs, test = fitted
    pre = [vocab.encode_headline(t.split()) for t in load_headlines(DATA / "pretrain.txt").texts]
    main, other = KneserNey(seqs, 4, len(vocab), BOS_ID, [PAD_ID]), KneserNey(pre, 4, len(vocab), BOS_ID, [PAD_ID])
    mixed = mixture(main, other, test)
    assert mixed["weight"] in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
    assert (
        mixed["ppl"] <= perplexities(main, test)["ppl"] * 1.05 and mixed["tokens"] == perplexities(main, test)["tokens"]
    )
    assert mixed["ppl"] < perplexities(other, test)["ppl"]
