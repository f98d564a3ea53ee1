"""Drawing the next word: the rule in a dozen plain lines (:func:`sample_reference`, read it first), and the
fast sampler (:func:`sample`), which draws from the same distribution without sorting the vocabulary at every
step (tests/test_generate.py checks they agree). Generation uses its C translation (kernels.c) where the
machine can compile it, and :func:`sample` where not, or with top-k.
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


def _inverse_cdf(p: torch.Tensor, gen: torch.Generator, draws: int = 1) -> torch.Tensor:
    """``draws`` tokens a row of p [B, V] (not necessarily normalised), independent, each from one uniform
    number: much cheaper than torch.multinomial over a large vocabulary (bench/speed_probes.py), the same
    distribution. [B, draws]; a token of probability 0 only when a number rounds onto the end of the CDF
    (callers redraw or replace it)."""
    cdf = p.cumsum(dim=-1)
    u = torch.rand(p.size(0), draws, generator=gen) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).clamp_(max=p.size(-1) - 1)


def _kept(p: np.ndarray, drawn: np.ndarray, top_p: float) -> np.ndarray:
    """[B, R] bool for R candidates a row of probabilities ``drawn`` (from the rows of ``p``, [B, V]): whether a
    candidate may be kept, i.e. has a probability above 0 and lies in the nucleus of top_p (the tokens likelier
    than it hold less than top_p). Decided up to each row's first kept candidate; the rest are left unchecked.

    A candidate likelier than 1 - top_p is inside whatever the rest hold, so many need no pass over the
    vocabulary. The others get a product with a 0/1 mask: numpy's masked sum (``where=``) branches on every
    token and took 140 us at [10, 4535] for an unlikely candidate; this takes 22 us whatever the candidate,
    ``torch.where`` and a sum 55-80 us (bench/results/speed.md).
    """
    kept = drawn > 0
    if top_p >= 1.0:
        return kept
    unsure = kept & (drawn <= 1.0 - top_p + 1e-6)
    open_rows = np.ones(len(p), dtype=bool)  # rows without a kept candidate yet
    for r in range(drawn.shape[1]):
        check = open_rows & unsure[:, r]
        if check.any():  # every row in one pass: cheaper than copying out the few that need it
            likelier = np.einsum("ij,ij->i", p, (p > drawn[:, r, None]).astype(p.dtype))
            kept[check, r] = likelier[check] < top_p
        open_rows &= ~kept[:, r]
        if not open_rows.any():
            break
    return kept


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
    top_p, by the same rejection.

    Every row's REJECTION_ROUNDS candidates are drawn at once, from one CDF, and the first kept one is taken:
    the same law as drawing again after each rejection, without a round of operations for the few rows
    rejected (at top-p 0.95, 10 rows: 4 steps in 10). Rows with none kept are drawn from the sorted nucleus.
    """
    picks = _inverse_cdf(p, gen, REJECTION_ROUNDS)
    kept = _kept(p.numpy(), p.gather(1, picks).numpy(), top_p)
    chosen = picks.gather(1, torch.from_numpy(kept.argmax(axis=1))[:, None]).squeeze(1)
    left = torch.from_numpy(np.flatnonzero(~kept.any(axis=1)))
    if left.numel():  # a small top_p: the sorted nucleus
        rows = p.index_select(0, left)
        if top_p < 1.0:
            rows = rows * _nucleus_mask(rows, top_p)
        pick = _inverse_cdf(rows, gen)
        unlucky = rows.gather(1, pick) == 0  # rounded onto the end of the CDF: take the likeliest instead
        chosen[left] = torch.where(unlucky, rows.argmax(dim=-1, keepdim=True), pick).squeeze(1)
    return chosen
