"""Reading headline files, the train/validation split, and length-bucketed batches of token ids."""

from __future__ import annotations

import bisect
import csv
import glob
import hashlib
import io
import itertools
import os
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .errors import DataError
from .text import clean, count_forms
from .vocab import PAD_ID, Vocab

HEADLINE_COLUMNS = ("headline", "headline_text", "title")
JUNK_HEADLINE = "Unknown"  # the Kaggle NYT files' placeholder for a missing headline
MAX_HEADLINE_CHARS = 1000  # longer "headlines" are broken rows (a whole article in one field)
MAX_FILE_BYTES = 1024**3
DATA_SUFFIXES = (".csv", ".txt")


@dataclass
class FileReport:
    """What one file gave: rows read and why rows were dropped."""

    path: str
    rows: int = 0
    unknown: int = 0
    empty: int = 0
    duplicates: int = 0
    too_long: int = 0
    kept: int = 0
    column: str | None = None
    encoding: str = "utf-8"

    def summary(self) -> str:
        where = f"{self.path}" + (f" [{self.column}]" if self.column else "")
        enc = "" if self.encoding == "utf-8" else f", read as {self.encoding}"
        return (
            f"{where}: {self.rows} rows, kept {self.kept}; dropped {self.unknown} 'Unknown', "
            f"{self.empty} empty, {self.duplicates} duplicates, {self.too_long} too long{enc}"
        )


@dataclass
class Headlines:
    """Cleaned, de-duplicated headlines in a fixed order (sorted), and what each file gave."""

    texts: list[str]
    files: list[FileReport] = field(default_factory=list)
    # how each word was printed mid-headline in the files' title-case headlines, for Vocab.forms
    form_counts: dict[str, Counter] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.texts)

    def totals(self) -> dict[str, int]:
        keys = ("rows", "unknown", "empty", "duplicates", "too_long", "kept")
        return {k: sum(getattr(f, k) for f in self.files) for k in keys}

    def summary(self) -> str:
        t = self.totals()
        return (
            f"{len(self.texts)} headlines from {len(self.files)} file(s) ({t['rows']} rows; dropped "
            f"{t['unknown']} 'Unknown', {t['empty']} empty, {t['duplicates']} duplicates, {t['too_long']} too long)"
        )


def expand_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files, folders (their .csv/.txt files) and globs, each file once, in the order given."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        s = str(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in DATA_SUFFIXES)
            if not found:
                raise DataError(f"{s}: folder has no .csv or .txt files")
        elif p.is_file():
            found = [p]
        elif any(c in s for c in "*?["):
            found = sorted(Path(f) for f in glob.glob(s, recursive=True) if Path(f).is_file())
            if not found:
                raise DataError(f"{s}: the pattern matches no files")
        else:
            raise DataError(f"{s}: no such file or folder")
        for f in found:
            if f.resolve() not in {o.resolve() for o in out}:
                out.append(f)
    if not out:
        raise DataError("no data files given")
    return out


def _decode(raw: bytes, path: Path) -> tuple[str, str]:
    """UTF-8 (with or without BOM); else Windows-1252/Latin-1, said in the report rather than guessed silently."""
    if b"\x00" in raw[:65536]:  # text never holds NUL bytes (but UTF-16 does: that is not read either)
        raise DataError(f"{path}: looks like a binary file, not CSV or text (save text as UTF-8)")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def _read_text(path: Path) -> tuple[str, str]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DataError(f"{path}: {size} bytes is larger than the {MAX_FILE_BYTES} bytes this reader takes")
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    return _decode(raw, path)


def _find_column(columns: Sequence[str], wanted: str | None, path: Path) -> str:
    by_lower = {str(c).strip().lower(): c for c in columns}
    names = (wanted,) if wanted else HEADLINE_COLUMNS
    for name in names:
        if name.lower() in by_lower:
            return by_lower[name.lower()]
    shown = ", ".join(repr(str(c)) for c in columns[:20]) + (", ..." if len(columns) > 20 else "")
    asked = f"column {wanted!r}" if wanted else "headline column (looked for " + ", ".join(HEADLINE_COLUMNS) + ")"
    raise DataError(
        f"{path}: no {asked}; columns found: {shown or 'none'}; rename it to 'headline' or name it with --column"
    )


def _csv_cells(path: Path, text: str, column: str | None, report: FileReport) -> list[str]:
    import pandas as pd

    try:
        header = pd.read_csv(io.StringIO(text), nrows=0, dtype=str)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty CSV file (no header row)") from None
    except (pd.errors.ParserError, ValueError, csv.Error) as e:
        raise DataError(f"{path}: not a readable CSV ({_one_line(e)})") from None
    col = _find_column(list(header.columns), column, path)
    report.column = str(col)
    try:
        frame = pd.read_csv(io.StringIO(text), usecols=[col], dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, ValueError, csv.Error) as e:
        raise DataError(f"{path}: not a readable CSV ({_one_line(e)})") from None
    return frame[col].tolist()


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]


def read_file(path: Path, column: str | None = None) -> tuple[list[str], FileReport]:
    """The raw headline cells of one file (.csv by column name, anything else one headline a line)."""
    report = FileReport(path=str(path))
    text, report.encoding = _read_text(path)
    is_csv = path.suffix.lower() == ".csv"
    cells = _csv_cells(path, text, column, report) if is_csv else text.splitlines()
    report.rows = len(cells)
    return cells, report


def load_headlines(paths: Iterable[str | os.PathLike] | str | os.PathLike, column: str | None = None) -> Headlines:
    """Read, clean and de-duplicate headlines; drops 'Unknown', empty, over-long and repeated rows, and counts each.

    The result is sorted, so the same files in any order give the same data (and the same model).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    seen: set[str] = set()
    reports: list[FileReport] = []
    form_counts: dict[str, Counter] = {}
    for path in expand_paths(paths):
        cells, report = read_file(path, column)
        count_forms((c for c in cells if isinstance(c, str) and c.strip() != JUNK_HEADLINE), form_counts)
        for cell in cells:
            raw = cell.strip() if isinstance(cell, str) else ""
            if len(raw) > MAX_HEADLINE_CHARS:
                report.too_long += 1
                continue
            text = clean(raw)
            if raw == JUNK_HEADLINE:
                report.unknown += 1
            elif not text:
                report.empty += 1
            elif text in seen:
                report.duplicates += 1
            else:
                seen.add(text)
                report.kept += 1
        reports.append(report)
    if not seen:
        detail = "; ".join(r.summary() for r in reports)
        raise DataError(f"no usable headlines in {detail}")
    return Headlines(sorted(seen), reports, form_counts)


def is_validation(headline: str, val_percent: float) -> bool:
    """Stable split by a hash of the cleaned headline: file order, seeds and machines do not move it."""
    h = int.from_bytes(hashlib.sha1(headline.encode("utf-8")).digest()[:8], "big")
    return (h % 10_000) < val_percent * 100


def split(headlines: Sequence[str], val_percent: float = 10.0) -> tuple[list[str], list[str]]:
    """(train, validation)."""
    if not 0 <= val_percent < 100:
        raise ValueError("val_percent must be in [0, 100)")
    train, val = [], []
    for h in headlines:
        (val if is_validation(h, val_percent) else train).append(h)
    return train, val


def common_openings(headlines: Iterable[str], vocab: Vocab, n: int = 8, words: int = 2) -> list[str]:
    """The commonest first ``words`` words of headlines, all in the vocabulary: seed phrases that suit a model."""
    counts: dict[str, int] = {}
    for h in headlines:
        ws = h.split()[:words]
        if len(ws) == words and all(w in vocab for w in ws):
            key = " ".join(ws)
            counts[key] = counts.get(key, 0) + 1
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def encode_all(headlines: Iterable[str], vocab: Vocab) -> list[torch.Tensor]:
    """One int64 tensor ``<bos> .. <eos>`` a headline: ids only, no per-word Python objects kept."""
    return [torch.tensor(vocab.encode_headline(h.split()), dtype=torch.long) for h in headlines]


def pad_batch(seqs: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.nn.utils.rnn.pad_sequence(list(seqs), batch_first=True, padding_value=PAD_ID)


def bucketed_batches(
    lengths: Sequence[int], indices: Sequence[int], batch_size: int, rng: random.Random | None
) -> list[list[int]]:
    """Batches of ``indices`` with similar lengths, so little compute goes to padding.

    Sort by length inside windows of 50 batches, cut into batches, then shuffle the batch order.
    Every caller with the same number of indices gets the same number of batches (DDP needs that).
    """
    idx = list(indices)
    window = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(idx), window):
        chunk = sorted(idx[start : start + window], key=lambda i: lengths[i])
        bounds = _cuts([lengths[i] for i in chunk], batch_size)
        batches.extend(chunk[a:b] for a, b in itertools.pairwise(bounds))
    if rng is not None:
        rng.shuffle(batches)
    return batches


def _cuts(ascending: Sequence[int], batch_size: int) -> list[int]:
    """Where to cut lengths sorted ascending into ceil(n / batch_size) batches: at every batch_size-th position,
    each cut moved to the nearest change of length within a quarter batch. Most batches then hold one length
    and pad nothing (a straddling batch padded a whole step for its shorter part: 4.4% of the positions on the
    NYT months at 160 headlines a batch, 2.8% now); the count is that of equal batches, so DDP's ranks agree."""
    n = len(ascending)
    if n == 0:
        return [0]
    changes = [i for i in range(1, n) if ascending[i] != ascending[i - 1]]
    slack = batch_size // 4
    bounds = [0]
    for target in range(batch_size, n, batch_size):
        j = bisect.bisect_left(changes, target)
        near = [c for c in changes[max(j - 1, 0) : j + 1] if abs(c - target) <= slack and c > bounds[-1]]
        bounds.append(min(near, key=lambda c: abs(c - target)) if near else target)
    return [*bounds, n]


def padding_share(seqs: Sequence[torch.Tensor], batches: Iterable[list[int]]) -> float:
    """Share of the input positions in these batches that are padding."""
    real = total = 0
    for b in batches:
        lens = [len(seqs[i]) - 1 for i in b]
        real += sum(lens)
        total += max(lens) * len(lens)
    return 0.0 if total == 0 else 1 - real / total


def iterate(seqs: Sequence[torch.Tensor], batches: Iterable[list[int]]) -> Iterator[torch.Tensor]:
    for b in batches:
        yield pad_batch([seqs[i] for i in b])
