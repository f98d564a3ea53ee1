"""Drawing the next word: the rule in a dozen plain lines (:func:`sample_reference`, read it first), and the
fast sampler that generation uses (:func:`sample`), which draws from the same distribution without sorting
the vocabulary at every step (tests/test_generate.py checks they agree).
"""

from __future__ import annotations

import numpy as np
import torch


def filtered_probs(scores: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """The distribution a row is drawn from: softmax(scores) kept to the k likeliest tokens (0: all), then to
    the smallest set of likeliest tokens whose probability reaches top_p (1: all), renormalised. ``scores``
    are log-probabilities divided by the temperature."""
    if 0 < top_k < scores.size(-1):
        kth = torch.topk(scores, top_k, dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        likelier = sorted_p.cumsum(dim=-1) - sorted_p  # the mass of the tokens before each one
        sorted_p = sorted_p.masked_fill(likelier >= top_p, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return probs / probs.sum(dim=-1, keepdim=True)


def sample_reference(scores: torch.Tensor, top_k: int, top_p: float, gen: torch.Generator) -> torch.Tensor:
    """One token a row [B] of scores [B, V]: temperature, top-k, top-p, then a multinomial draw."""
    return torch.multinomial(filtered_probs(scores, top_k, top_p), 1, generator=gen).squeeze(1)


REJECTION_ROUNDS = 4  # draws a row gets from the whole distribution before the sorted nucleus is built


def _nucleus_mask(p: torch.Tensor, top_p: float) -> torch.Tensor:
    """True for the smallest set of likeliest tokens a row whose probability reaches top_p (never empty).

    numpy's sort, which was faster than torch.sort at this size (bench/results/speed.md); a nucleus of a
    word-level model at temperature ~1 holds about a thousand words, so a partial sort does not help.
    """
    a = p.numpy()
    desc = -np.sort(-a, axis=-1)
    size = ((np.cumsum(desc, axis=-1) - desc) < top_p).sum(axis=-1)  # tokens before each one hold < top_p
    threshold = desc[np.arange(a.shape[0]), np.maximum(size, 1) - 1]
    return torch.from_numpy(a >= threshold[:, None])


def _inverse_cdf(p: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One token a row of p [B, V] (not necessarily normalised) from one uniform number a row: much cheaper
    than torch.multinomial over a large vocabulary (bench/speed_probes.py), the same distribution. [B, 1];
    a token of probability 0 only when the number rounds onto the end of the CDF (callers redraw or replace
    it)."""
    cdf = p.cumsum(dim=-1)
    u = torch.rand(p.size(0), 1, generator=gen) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).clamp_(max=p.size(-1) - 1)


def _inside_nucleus(p: torch.Tensor, picked_p: torch.Tensor, top_p: float) -> torch.Tensor:
    """[B, 1] bool: whether each row's pick (probability ``picked_p`` [B, 1]) lies in the nucleus of top_p, i.e.
    whether the tokens likelier than it hold less than top_p.

    A pick likelier than 1 - top_p is inside whatever the rest holds, so the pass over the vocabulary is skipped
    when every row's pick is; that pass is numpy's masked sum, 3x cheaper than ``torch.where`` and a sum at
    [10, 4535] (bench/results/speed.md).
    """
    if bool((picked_p > 1.0 - top_p + 1e-6).all()):
        return torch.ones_like(picked_p, dtype=torch.bool)
    a, q = p.numpy(), picked_p.numpy()
    return torch.from_numpy(np.sum(a, axis=1, where=a > q, keepdims=True) < top_p)


def sample(scores: torch.Tensor, top_k: int, top_p: float, gen: torch.Generator) -> torch.Tensor:
    """:func:`sample_reference`'s rule, fast: one token a row from softmax(scores), kept to the top-k tokens,
    then to the nucleus of top_p.

    The nucleus by rejection: a token drawn from the whole (top-k) distribution is kept when the tokens
    likelier than it hold less than top_p, which is exactly "inside the nucleus", so kept draws follow
    the renormalised nucleus distribution without sorting the vocabulary. The nucleus holds at least
    top_p of the mass, so at top_p 0.95 one row in 20 needs a second draw; rows still rejected after
    REJECTION_ROUNDS draws (a small top_p) are drawn from the sorted nucleus instead, the same law.
    """
    return sample_probs(torch.softmax(keep_top_k(scores, top_k), dim=-1), top_p, gen)


def keep_top_k(scores: torch.Tensor, top_k: int) -> torch.Tensor:
    """``scores`` with all but each row's top_k set to -inf (a new tensor), or ``scores`` itself for top_k 0 or
    at least the vocabulary."""
    if 0 < top_k < scores.size(-1):
        kth = torch.topk(scores, top_k, dim=-1).values[:, -1:]
        return scores.masked_fill(scores < kth, float("-inf"))
    return scores


def sample_probs(p: torch.Tensor, top_p: float, gen: torch.Generator) -> torch.Tensor:
    """:func:`sample` from probabilities p [B, V] (rows summing to 1): one token a row, kept to the nucleus of
    top_p, by the same rejection."""
    chosen = todo = None  # todo: the rows still to draw, None while it is all of them
    for _ in range(REJECTION_ROUNDS):
        rows = p if todo is None else p.index_select(0, todo)
        pick = _inverse_cdf(rows, gen)
        picked_p = rows.gather(1, pick)
        ok = picked_p > 0
        if top_p < 1.0:
            ok &= _inside_nucleus(rows, picked_p, top_p)
        ok, pick = ok.squeeze(1), pick.squeeze(1)
        if todo is None:  # the first round: usually every row is kept, and no indexing is needed
            if bool(ok.all()):
                return pick
            chosen, todo = pick, (~ok).nonzero().squeeze(1)
        else:
            chosen[todo[ok]] = pick[ok]
            todo = todo[~ok]
        if not todo.numel():
            return chosen
    assert chosen is not None and todo is not None
    rows = p.index_select(0, todo)
    if top_p < 1.0:
        rows = rows * _nucleus_mask(rows, top_p)
    pick = _inverse_cdf(rows, gen)
    unlucky = rows.gather(1, pick) == 0  # rounded onto the end of the CDF: take the likeliest instead
    chosen[todo] = torch.where(unlucky, rows.argmax(dim=-1, keepdim=True), pick).squeeze(1)
    return chosen
