"""The vocabulary: word <-> id, with the special tokens every checkpoint shares (saved as vocab.json by
:mod:`lstm_textgen.checkpoint`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .text import choose_forms, headline_case, headline_words

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)


@dataclass(frozen=True)
class Vocab:
    """Ids 0-3 are the specials; words follow by falling training frequency (ties alphabetical).

    ``forms`` is display only: how a word is printed where that differs from plain headline case ("gop" ->
    "G.O.P."), learned from the training text. Two vocabularies with the same tokens are equal: the model
    reads tokens, never forms.
    """

    itos: tuple[str, ...]
    forms: Mapping[str, str] = field(default_factory=dict, compare=False)
    stoi: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.itos[:4]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {list(SPECIALS)}")
        stoi = {w: i for i, w in enumerate(self.itos)}
        if len(stoi) != len(self.itos):
            raise ValueError("a vocabulary must not repeat a word")
        object.__setattr__(self, "stoi", stoi)
        forms = {k: f for k, f in dict(self.forms).items() if all(w in stoi for w in k.split(" "))}
        object.__setattr__(self, "forms", forms)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: object) -> bool:
        return word in self.stoi and self.stoi[word] >= len(SPECIALS)  # type: ignore[index]

    def id(self, word: str) -> int:
        return self.stoi.get(word, UNK_ID) if word not in SPECIALS else UNK_ID

    def encode(self, words: Iterable[str]) -> list[int]:
        return [self.id(w) for w in words]

    def encode_headline(self, words: Iterable[str]) -> list[int]:
        """``<bos> w1 .. wn <eos>``: the sequence the model learns to predict."""
        return [BOS_ID, *self.encode(words), EOS_ID]

    @property
    def words(self) -> tuple[str, ...]:
        return self.itos[len(SPECIALS) :]

    def printed(self, words: list[str]) -> list[str]:
        """Each word as a headline prints it (one display word a word): see :func:`text.headline_words`."""
        return headline_words(words, self.forms)

    def headline(self, words: list[str], complete: bool = True) -> str:
        """Words in headline case with their printed forms: "whats going on" -> "What’s Going On";
        ``complete=False`` for the opening of a headline ("how to" -> "How to")."""
        return headline_case(words, self.forms, complete)


def build_vocab(
    headlines: Iterable[list[str]],
    min_count: int = 2,
    max_vocab: int | None = None,
    form_counts: Mapping[str, Counter] | None = None,
    extra: Iterable[list[str]] = (),
    extra_min_count: int = 0,
) -> Vocab:
    """Words seen at least ``min_count`` times, the ``max_vocab`` most frequent at most (specials included).

    Rarer words become ``<unk>``, so the model learns what to do with words it never saw. ``extra`` (e.g. the
    pre-training headlines) adds the words it has ``extra_min_count`` times or more (0: none), after the
    others: a model pre-trained on them knows them when they turn up later. ``form_counts``
    (``Headlines.form_counts``) gives each word's most frequent printed form.
    """
    if min_count < 1:
        raise ValueError("min_count must be at least 1")
    if extra_min_count < 0:
        raise ValueError("extra_min_count must be 0 (off) or more")
    if max_vocab is not None and max_vocab <= len(SPECIALS):
        raise ValueError(f"max_vocab must be more than {len(SPECIALS)} (the special tokens)")
    counts: Counter[str] = Counter()
    for ws in headlines:
        counts.update(ws)
    ranked = sorted(
        (w for w, c in counts.items() if c >= min_count and w not in SPECIALS), key=lambda w: (-counts[w], w)
    )
    if extra_min_count:
        more: Counter[str] = Counter()
        for ws in extra:
            more.update(ws)
        chosen = set(ranked)
        ranked += sorted(
            (w for w, c in more.items() if c >= extra_min_count and w not in chosen and w not in SPECIALS),
            key=lambda w: (-more[w], w),
        )
    if max_vocab is not None:
        ranked = ranked[: max_vocab - len(SPECIALS)]
    return Vocab((*SPECIALS, *ranked), choose_forms(form_counts or {}, ranked))
