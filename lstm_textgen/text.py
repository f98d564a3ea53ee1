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
from collections import Counter
from collections.abc import Iterable, Mapping

# Deleted outright: they join the pieces of one word.
_JOINERS = frozenset("'’‘ʼ`´.·")

_DIGIT_GROUPING = re.compile(r"(?<=\d),(?=\d)")  # "1,000" is one number

# Small words left lowercase in headline case unless first or last: the Times' style ("With", "From", "Up" and
# "Is" are capitalised). A model's learned printed forms (below) override this where its data says otherwise.
_SMALL_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "but",
        "by",
        "en",
        "for",
        "if",
        "in",
        "nor",
        "of",
        "on",
        "or",
        "the",
        "to",
        "v",
        "vs",
        "via",
    ]
)
_QUOTES = "'’‘ʼ`´"  # stripped from the ends of a printed form: quotation marks, not part of the word


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


def printed_words(text: str) -> list[tuple[str, str]]:
    """(cleaned word, its printed form) for each word of a raw headline, in order: the words of ``clean(text)``
    with the apostrophes, periods, digit commas and capitals the writer used ("What’s", "G.O.P.", "1,000")."""
    text = unicodedata.normalize("NFKC", text)
    out: list[tuple[str, str]] = []
    piece: list[str] = []

    def flush() -> None:
        form = "".join(piece).strip(_QUOTES).replace("'", "’")
        if form.endswith(".") and form.count(".") == 1 and sum(c.isalpha() for c in form) >= 4:
            form = form[:-1]  # a sentence's full stop ("Is Over. Now What?"), not an abbreviation's ("Mr.", "Gov.")
        piece.clear()
        token = clean(form)
        if token and " " not in token:
            out.append((token, form))

    for i, ch in enumerate(text):
        digit_comma = ch == "," and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
        if digit_comma or _char_kind(ch) != "space":
            piece.append(ch)
        else:
            flush()
    flush()
    return out


def is_title_case(text: str) -> bool:
    """Whether a headline is in title case (every word but the small ones capitalised), so its capitals say how
    a word is printed. Sentence case is not ("Nadal wins French Open": its proper nouns would teach "wins"), nor
    all lowercase or all capitals; a word with a capital inside ("iPhone") counts as capitalised."""
    words = [w for w in text.split() if any(c.isalpha() for c in w) and clean(w) not in _SMALL_WORDS]
    return bool(words) and all(any(c.isupper() for c in w) for w in words) and not text.isupper()


def count_forms(raw_headlines: Iterable[str], counts: dict[str, Counter] | None = None) -> dict[str, Counter]:
    """Count each word's printed forms, alone ("on") and after the word before it ("going on": the Times prints
    "What’s Going On" but "Trump on Trade").

    Only the middle of a title-case headline says how a plain word is capitalised. Elsewhere (its first and
    last words, a word after a hyphen, colon or full stop, a sentence-case headline) only a spelling counts
    ("What’s", "G.O.P.", "iPhone"), with a capital first letter where it has no other: "If" says nothing of
    "if", "wins" in "Nadal wins French Open" nothing of "wins".
    """
    counts = {} if counts is None else counts
    for raw in raw_headlines:
        if raw.isupper() or raw.islower():
            continue
        title = is_title_case(raw)
        pairs: list[tuple[str, str]] = []
        informative: list[bool] = []
        after_stop = False
        for chunk in raw.split():
            found = printed_words(chunk)
            pairs += found
            # after a hyphen ("Re-election") or a colon or full stop ("Recap: The End") the capital is the rule's
            informative += [i == 0 and not after_stop for i in range(len(found))]
            after_stop = chunk.rstrip(_QUOTES + "”“)").endswith((":", "?", "!", "|")) or (
                chunk.endswith(".") and sum(c.isalpha() for c in chunk) >= 4 and chunk.count(".") == 1
            )
        for i, (token, form) in enumerate(pairs):
            if title and informative[i] and 0 < i < len(pairs) - 1:
                counts.setdefault(token, Counter())[form] += 1
                counts.setdefault(f"{pairs[i - 1][0]} {token}", Counter())[form] += 1
            elif any(c.isupper() for c in form[1:]):
                counts.setdefault(token, Counter())[form] += 1
            elif form.lower() != token:
                counts.setdefault(token, Counter())[_capitalise(form)] += 1
    return counts


MIN_FORM_COUNT = 2  # a form seen once (a typo, a headline ending "Feet.") is not learned
MIN_PAIR_COUNT, MIN_PAIR_SHARE = 3, 0.75  # a form after one word: seen this often, and this much of the time


def _default_form(token: str) -> str:
    """How a word is printed mid-headline when nothing was learned about it."""
    return token if token in _SMALL_WORDS else token[:1].upper() + token[1:]


def choose_forms(counts: Mapping[str, Counter], tokens: Iterable[str]) -> dict[str, str]:
    """The most frequent printed form of each of ``tokens`` (ties: the first seen), kept only where it differs
    from the default ("gop" -> "G.O.P.", "whats" -> "What’s", "with" -> "With", "iphone" -> "iPhone"), and
    under the key "PREVIOUS WORD" a form that a word takes after one word and not alone ("going on" -> "On")."""
    keep = set(tokens)
    forms: dict[str, str] = {}
    for token in keep:
        seen = counts.get(token)
        if seen:
            form, n = seen.most_common(1)[0]
            if n >= MIN_FORM_COUNT and form != _default_form(token) and clean(form) == token:
                forms[token] = form
    for key, seen in counts.items():
        prev, _, token = key.partition(" ")
        if not token or prev not in keep or token not in keep:
            continue
        form, n = seen.most_common(1)[0]
        alone = forms.get(token, _default_form(token))
        if n >= MIN_PAIR_COUNT and n >= MIN_PAIR_SHARE * sum(seen.values()) and form != alone and clean(form) == token:
            forms[key] = form
    return dict(sorted(forms.items()))


def _capitalise(form: str) -> str:
    return form[:1].upper() + form[1:]


def headline_words(tokens: list[str], forms: Mapping[str, str] | None = None, complete: bool = True) -> list[str]:
    """Each cleaned word as printed in a headline, one display word a token.

    A learned form with capitals past its first letter ("iPhone", "G.O.P.", "TV") is printed as it is; one
    in lowercase ("the", "vs.") is a small word, lowercase unless first or last (``complete=False``: the
    tokens only open a headline, so their last word is not its last: "How to").
    """
    forms = forms or {}
    out = []
    last = len(tokens) - 1 if complete else len(tokens)
    for i, w in enumerate(tokens):
        form = (i > 0 and forms.get(f"{tokens[i - 1]} {w}")) or forms.get(w) or _default_form(w)
        if any(c.isupper() for c in form[1:]) or (0 < i < last and not any(c.isupper() for c in form)):
            out.append(form)
        else:
            out.append(_capitalise(form))
    return out


def headline_case(tokens: list[str], forms: Mapping[str, str] | None = None, complete: bool = True) -> str:
    """Join cleaned words in headline case ("Trump Signs Order on the Border"), with a model's printed forms
    ("What’s Next for the G.O.P.") where it has them; ``complete=False`` for the opening of a headline."""
    return " ".join(headline_words(tokens, forms, complete))
