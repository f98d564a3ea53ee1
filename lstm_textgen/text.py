"""Text cleaning and display: the one definition used for training data, seed phrases and evaluation.

The tutorial lowercases and deletes ``string.punctuation``. We do the same, but for all of
Unicode: curly quotes, dashes, emoji and other symbols count as punctuation too. Characters
that join the parts of one word (apostrophes, periods, digit-grouping commas, as in
"Trump’s", "G.O.P." or "1,000") are deleted, so the word stays whole ("trumps", "gop",
"1000"); every other punctuation mark, symbol or control character becomes a space, so
"Fire—and Fury" gives three words, not two.
"""

from __future__ import annotations

import re
import unicodedata

# Deleted outright: they join the pieces of one word.
_JOINERS = frozenset("'’‘ʼ`´.·")

_DIGIT_GROUPING = re.compile(r"(?<=\d),(?=\d)")  # "1,000" is one number

# Small words left lowercase in headline case unless first or last (NYT style).
_SMALL_WORDS = frozenset(
    "a an and as at but by for from if in into nor of off on or per so than the to up via vs with yet".split()
)


def _char_kind(ch: str) -> str:
    """'keep', 'drop' (joiner) or 'space' (any other punctuation, symbol, control or separator)."""
    if ch in _JOINERS:
        return "drop"
    cat = unicodedata.category(ch)
    if cat[0] in "LMN":  # letters, combining marks, digits
        return "keep"
    return "space"


def clean(text: str) -> str:
    """Lowercase, punctuation removed, whitespace collapsed; '' when nothing is left."""
    if not isinstance(text, str):
        raise TypeError(f"clean() expects a string, got {type(text).__name__}")
    text = _DIGIT_GROUPING.sub("", unicodedata.normalize("NFKC", text).lower())
    out: list[str] = []
    for ch in text:
        kind = _char_kind(ch)
        if kind == "keep":
            out.append(ch)
        elif kind == "space":
            out.append(" ")
    return " ".join("".join(out).split())


def words(text: str) -> list[str]:
    """The words of ``clean(text)``."""
    return clean(text).split()


def headline_case(tokens: list[str]) -> str:
    """Join cleaned words in headline case ("Trump Signs Order on the Border")."""
    out = []
    last = len(tokens) - 1
    for i, w in enumerate(tokens):
        if 0 < i < last and w in _SMALL_WORDS:
            out.append(w)
        else:
            out.append(w[:1].upper() + w[1:])
    return " ".join(out)
