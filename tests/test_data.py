import os
import shutil

import pytest
from conftest import DATA

from lstm_textgen.data import load_headlines, split
from lstm_textgen.errors import DataError


def test_nyt_style_csv_drops_unknown_empty_and_duplicates():
    hl = load_headlines(DATA / "ArticlesSample.csv")
    rep = hl.files[0]
    assert rep.column == "headline"
    assert (rep.rows, rep.unknown, rep.empty, rep.duplicates, rep.kept) == (10, 2, 1, 1, 6)
    assert "venezuelas descent into dictatorship" in hl.texts
    assert "fire and fury trumps warning to north korea" in hl.texts
    assert "unknown" not in hl.texts
    assert len(hl) == 6
    assert "2 'Unknown'" in hl.summary() and "1 duplicates" in hl.summary()


def test_other_column_names_and_text_files(tmp_path):
    abc = load_headlines(DATA / "abc_sample.csv")
    assert abc.files[0].column == "headline_text" and len(abc) == 4
    titles = load_headlines(DATA / "titles.csv")  # header "Title": found case-insensitively
    assert titles.files[0].column == "Title" and titles.texts == ["markets rally as rates hold", "storm hits the coast"]
    txt = load_headlines(DATA / "headlines.txt")
    assert len(txt) == 400 and txt.files[0].column is None


def test_column_flag_picks_another_column():
    hl = load_headlines(DATA / "ArticlesSample.csv", column="KEYWORDS")
    assert "niger africa" in hl.texts


def test_folders_and_globs_and_order_independence(tmp_path):
    for name in ("ArticlesSample.csv", "abc_sample.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    (tmp_path / "notes.md").write_text("ignored: not .csv or .txt")
    by_folder = load_headlines(tmp_path)
    by_glob = load_headlines(str(tmp_path / "*.csv"))
    reordered = load_headlines([tmp_path / "abc_sample.csv", tmp_path / "ArticlesSample.csv"])
    assert by_folder.texts == by_glob.texts == reordered.texts
    assert len(by_folder.files) == 2


def test_bad_files_give_one_clear_error_naming_the_file(tmp_path):
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("id,body\n1,hello\n")
    with pytest.raises(
        DataError,
        match=r"nocol\.csv: no headline column .*columns found: 'id', 'body'; rename it to .headline. or name it with "
        r"--column",
    ):
        load_headlines(nocol)
    with pytest.raises(DataError, match=r"nocol\.csv: no column 'title'"):
        load_headlines(nocol, column="title")
    with pytest.raises(DataError, match="matches no files"):
        load_headlines(str(tmp_path / "Articles*.csv"))
    with pytest.raises(DataError, match="no such file or folder"):
        load_headlines(tmp_path / "missing.csv")
    junk = tmp_path / "junk.csv"
    junk.write_text("headline\nUnknown\n\n!!!\n")
    with pytest.raises(DataError, match=r"no usable headlines in .*junk\.csv"):
        load_headlines(junk)
    binary = tmp_path / "weights.csv"
    binary.write_bytes(b"\x00\x01\x02\x00" * 1000)
    with pytest.raises(DataError, match=r"weights\.csv: looks like a binary file"):
        load_headlines(binary)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: empty CSV"):
        load_headlines(empty)
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(DataError, match=r"no \.csv or \.txt files"):
        load_headlines(tmp_path / "emptydir")


def test_unreadable_file(tmp_path):
    if os.geteuid() != 0:
        f = tmp_path / "locked.csv"
        f.write_text("headline\nA\n")
        f.chmod(0)
    else:  # root reads any file whatever its mode; this one fails with EIO for everyone
        f = "/proc/self/mem"
        if not os.path.exists(f):
            pytest.skip("needs /proc/self/mem (Linux) to have an unreadable file as root")
    with pytest.raises(DataError, match=f"{os.path.basename(f)}: cannot read"):
        load_headlines(f)


def test_a_folder_named_like_a_file_is_reported(tmp_path):
    d = tmp_path / "looks.csv"
    d.mkdir()
    with pytest.raises(DataError, match=r"looks\.csv: folder has no \.csv or \.txt files"):
        load_headlines(d)


def test_split_is_deterministic_and_by_content():
    texts = load_headlines(DATA / "headlines.txt").texts
    tr, va = split(texts, 10)
    assert 20 <= len(va) <= 60 and len(tr) + len(va) == len(texts)
    _tr2, va2 = split(list(reversed(texts)), 10)
    assert sorted(va2) == sorted(va)
    # adding data never moves an existing headline across the split
    _tr3, va3 = split([*texts, "a brand new headline"], 10)
    assert set(va) <= set(va3)
    with pytest.raises(ValueError, match=r"val_percent must be in \[0, 100\)"):
        split(texts, 100)


def test_batches_hold_one_length_where_a_cut_can_move_and_keep_their_count():
    """Training's batches: every headline once, as many batches as equal ones would make (so DDP's ranks
    agree), and a cut moved to the nearest change of length instead of splitting a length between batches."""
    import random

    import torch

    from lstm_textgen.data import bucketed_batches, padding_share

    lengths = [5] * 150 + [6] * 170 + [7] * 160 + [9] * 20  # equal cuts at 160 would straddle 5|6 and 6|7
    seqs = [torch.zeros(n, dtype=torch.long) for n in lengths]
    batches = bucketed_batches(lengths, range(len(lengths)), 160, None)
    assert len(batches) == 4
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert [sorted({lengths[i] for i in b}) for b in batches[:3]] == [[5], [6], [7]]
    assert padding_share(seqs, batches[:3]) == 0
    rng = random.Random(0)
    for _ in range(50):  # any lengths: the count of equal batches, none empty, none over 1.5 batches
        n, size = rng.randint(1, 900), rng.randint(1, 200)
        lengths = [rng.randint(3, 30) for _ in range(n)]
        batches = bucketed_batches(lengths, range(n), size, rng)
        assert len(batches) == -(-n // size)
        assert sorted(i for b in batches for i in b) == list(range(n))
        assert all(0 < len(b) <= size + 2 * (size // 4) for b in batches)
