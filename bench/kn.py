"""Count-based baselines on the exact tokens the LSTM predicts: a unigram model and interpolated
Kneser-Ney n-grams with modified discounts (Chen & Goodman 1998, section 3.4).

Each headline is ``<bos> w1 .. wn <eos>``; every token after ``<bos>`` is predicted (``<eos>``
included), words outside the vocabulary are ``<unk>``. The context of token i is at most the
n-1 tokens before it (one ``<bos>``, no more: as in SRILM and KenLM). Lower orders use
continuation counts, except for n-grams that start with ``<bos>`` (nothing can precede it),
which keep their raw counts. The unigram level is interpolated with the uniform distribution
over every token that can be predicted, so no probability is ever zero.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Token = int


def _discounts(counts: Iterable[int]) -> tuple[float, float, float]:
    """D1, D2, D3+ from the count-of-counts n1..n4."""
    coc = Counter(c for c in counts if c <= 4)
    n1, n2, n3, n4 = (coc.get(i, 0) for i in range(1, 5))
    if min(n1, n2, n3, n4) == 0:  # too little data for the estimate: the classic single discount
        d = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
        return d, d, d
    y = n1 / (n1 + 2 * n2)
    d1, d2, d3 = 1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3
    if not 0 < d1 <= 1 or not 0 < d2 <= 2 or not 0 < d3 <= 3:  # irregular count-of-counts: one discount
        return y, y, y
    return d1, d2, d3


@dataclass
class _Level:
    """One order: adjusted counts c(h, w), their totals c(h), and how many words follow h with count 1, 2, 3+."""

    counts: dict[tuple, Counter] = field(default_factory=lambda: defaultdict(Counter))
    totals: dict[tuple, int] = field(default_factory=dict)
    n_by: dict[tuple, tuple[int, int, int]] = field(default_factory=dict)
    d: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def finish(self) -> None:
        self.d = _discounts(c for followers in self.counts.values() for c in followers.values())
        for h, followers in self.counts.items():
            self.totals[h] = sum(followers.values())
            n1 = sum(1 for c in followers.values() if c == 1)
            n2 = sum(1 for c in followers.values() if c == 2)
            self.n_by[h] = (n1, n2, len(followers) - n1 - n2)

    def discount(self, c: int) -> float:
        return 0.0 if c == 0 else self.d[min(c, 3) - 1]


class KneserNey:
    """Interpolated modified Kneser-Ney of order ``n`` over token ids (``bos`` is never predicted)."""

    def __init__(
        self,
        sequences: Sequence[Sequence[Token]],
        n: int,
        vocab_size: int,
        bos: int,
        never_predicted: Iterable[Token] = (),
    ) -> None:
        if n < 1:
            raise ValueError("order must be at least 1")
        self.n, self.bos = n, bos
        self.uniform = 1.0 / (vocab_size - len({bos, *never_predicted}))
        raw: list[Counter] = [Counter() for _ in range(n + 1)]  # raw[k][gram] for grams of length k
        for seq in sequences:
            for i in range(1, len(seq)):
                for k in range(1, n + 1):
                    if i - k + 1 < 0:
                        break
                    raw[k][tuple(seq[i - k + 1 : i + 1])] += 1
        self.levels: list[_Level] = [_Level() for _ in range(n + 1)]
        # continuation count of gram g (length k < n): distinct tokens x with (x, *g) seen
        cont: list[Counter] = [Counter() for _ in range(n + 1)]
        for k in range(2, n + 1):
            for gram in raw[k]:
                cont[k - 1][gram[1:]] += 1
        for k in range(1, n + 1):
            level = self.levels[k]
            for gram, c in raw[k].items():
                adjusted = c if (k == n or gram[0] == bos) else cont[k].get(gram, 0)
                if adjusted:
                    level.counts[gram[:-1]][gram[-1]] = adjusted
            level.finish()

    def prob(self, context: Sequence[Token], word: Token) -> float:
        """P(word | the last n-1 tokens of context), context starting with <bos>."""
        context = tuple(context[-(self.n - 1) :]) if self.n > 1 else ()
        p = self.uniform
        for k in range(1, len(context) + 2):  # from the unigram level up to the longest context
            h = context[len(context) - (k - 1) :] if k > 1 else ()
            level = self.levels[k]
            total = level.totals.get(h)
            if not total:
                continue  # unseen context: the lower order's estimate stands
            c = level.counts[h].get(word, 0)
            n1, n2, n3 = level.n_by[h]
            d1, d2, d3 = level.d
            gamma = (d1 * n1 + d2 * n2 + d3 * n3) / total
            p = max(c - level.discount(c), 0.0) / total + gamma * p
        return p

    def sequence_logprobs(self, seq: Sequence[Token]) -> list[float]:
        """ln P of every token after the first (<bos>)."""
        return [math.log(self.prob(seq[max(0, i - self.n + 1) : i], seq[i])) for i in range(1, len(seq))]


class Unigram:
    """Add-one unigram over the tokens that can be predicted (no zero probabilities for unseen words)."""

    def __init__(
        self, sequences: Sequence[Sequence[Token]], vocab_size: int, bos: int, never_predicted: Iterable[Token] = ()
    ) -> None:
        self.counts = Counter(t for seq in sequences for t in seq[1:])
        self.size = vocab_size - len({bos, *never_predicted})
        self.total = sum(self.counts.values()) + self.size

    def sequence_logprobs(self, seq: Sequence[Token]) -> list[float]:
        return [math.log((self.counts.get(t, 0) + 1) / self.total) for t in seq[1:]]


def perplexities(model, sequences: Sequence[Sequence[Token]]) -> dict[str, float]:
    """{"ppl": over every predicted token, "ppl_pos2": over positions >= 2 of each headline}."""
    total = total2 = 0.0
    n = n2 = 0
    for seq in sequences:
        lps = model.sequence_logprobs(seq)
        total -= sum(lps)
        n += len(lps)
        total2 -= sum(lps[2:])
        n2 += max(0, len(lps) - 2)
    return {"ppl": math.exp(total / n), "ppl_pos2": math.exp(total2 / n2) if n2 else float("nan"), "tokens": n}
