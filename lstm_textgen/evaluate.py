"""Held-out perplexity: per word, over every token a headline has, ``<eos>`` included."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from .data import bucketed_batches, encode_all, iterate
from .model import HeadlineModel, next_token_nll, tutorial_pairs
from .vocab import EOS_ID, PAD_ID, UNK_ID


@dataclass
class Evaluation:
    perplexity: float  # exp(mean loss) over all predicted tokens, <eos> included
    unk_rate: float  # share of the words (not <eos>) that are out of the vocabulary
    headlines: int
    tokens: int  # predicted tokens: words + one <eos> a headline
    loss: float  # mean cross-entropy (nats) a token
    perplexity_pos2: float  # over positions >= 2 of each headline (what a 2-word-window model can predict)
    tokens_pos2: int
    pair_loss: float  # mean cross-entropy over the tutorial's own (word, word) -> word pairs (no <eos>)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@torch.inference_mode()
def evaluate(model: HeadlineModel, headlines: Sequence[str], batch_size: int = 64) -> Evaluation:
    """Perplexity of cleaned ``headlines`` under ``model`` (``load_headlines`` gives cleaned ones)."""
    if not headlines:
        raise ValueError("no headlines to evaluate")
    assert model.vocab is not None
    was_training = model.training
    model.eval()
    seqs = encode_all(headlines, model.vocab)
    lengths = [len(s) for s in seqs]
    total = total2 = pair_total = 0.0
    n = n2 = words = unks = pairs = 0
    for batch in iterate(seqs, bucketed_batches(lengths, range(len(seqs)), batch_size, rng=None)):
        batch = batch.to(model.device)
        inp, tgt = batch[:, :-1], batch[:, 1:]
        logits, _ = model(inp, time_major=True)
        nll = next_token_nll(logits, tgt, reduction="none")
        real = tgt != PAD_ID
        pos2 = real.clone()
        pos2[:, :2] = False
        pair = tutorial_pairs(tgt)
        pair_total += nll[pair].sum().item()
        pairs += int(pair.sum())
        total += nll[real].sum().item()
        total2 += nll[pos2].sum().item()
        n += int(real.sum())
        n2 += int(pos2.sum())
        is_word = real & (tgt != EOS_ID)
        words += int(is_word.sum())
        unks += int((tgt == UNK_ID).sum())
    model.train(was_training)
    loss = total / n
    return Evaluation(
        perplexity=math.exp(loss),
        unk_rate=unks / words if words else 0.0,
        headlines=len(seqs),
        tokens=n,
        loss=loss,
        perplexity_pos2=math.exp(total2 / n2) if n2 else float("nan"),
        tokens_pos2=n2,
        pair_loss=pair_total / pairs if pairs else float("nan"),
    )
