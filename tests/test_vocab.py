import json

import pytest

from lstm_textgen.checkpoint import read_vocab, write_vocab
from lstm_textgen.errors import CheckpointError
from lstm_textgen.vocab import BOS_ID, EOS_ID, SPECIALS, UNK_ID, build_vocab

HEADLINES = [h.split() for h in ["trump signs order", "trump visits china", "china signs deal", "rare word"]]


def test_specials_first_then_by_frequency():
    v = build_vocab(HEADLINES, min_count=1)
    assert v.itos[:4] == SPECIALS
    assert v.itos[4:7] == ("china", "signs", "trump")  # count 2, ties alphabetical
    assert "rare" in v and "<unk>" not in v


def test_min_count_and_max_vocab():
    assert set(build_vocab(HEADLINES, min_count=2).words) == {"china", "signs", "trump"}
    assert build_vocab(HEADLINES, min_count=1, max_vocab=6).words == ("china", "signs")
    with pytest.raises(ValueError, match="min_count must be at least 1"):
        build_vocab(HEADLINES, min_count=0)
    with pytest.raises(ValueError, match=r"max_vocab must be more than 4 \(the special tokens\)"):
        build_vocab(HEADLINES, max_vocab=4)


def test_encode_unknown_words_become_unk():
    v = build_vocab(HEADLINES, min_count=2)
    assert v.encode_headline(["trump", "zzz"]) == [BOS_ID, v.stoi["trump"], UNK_ID, EOS_ID]
    assert v.encode(["<eos>"]) == [UNK_ID]  # specials cannot be smuggled in as words


def test_json_round_trip_exact(tmp_path):
    v = build_vocab([*HEADLINES, ["café", "東京"]], min_count=1)
    write_vocab(v, tmp_path / "vocab.json")
    w = read_vocab(tmp_path / "vocab.json")
    assert w == v and w.stoi == v.stoi
    assert json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))["tokens"][4:] == list(v.words)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format": "other", "tokens": []}',
        '{"format": "lstm_textgen.vocab/1", "tokens": ["a"]}',
        '{"format": "lstm_textgen.vocab/1", "tokens": ["<pad>", "<unk>", "<bos>", "<eos>", "a", "a"]}',
    ],
)
def test_bad_vocab_files_are_clear_errors(tmp_path, text):
    f = tmp_path / "vocab.json"
    f.write_text(text)
    with pytest.raises(CheckpointError, match=r"vocab\.json"):
        read_vocab(f)


def test_printed_forms_round_trip_and_do_not_change_the_tokens(tmp_path):
    from collections import Counter

    counts = {"gop": Counter({"G.O.P.": 5, "Gop": 1}), "going on": Counter({"On": 4}), "zzz": Counter({"ZZZ": 3})}
    v = build_vocab([["gop", "going", "on"]] * 2, min_count=2, form_counts=counts)
    assert v.forms == {"gop": "G.O.P.", "going on": "On"}  # only words in the vocabulary
    write_vocab(v, tmp_path / "vocab.json")
    w = read_vocab(tmp_path / "vocab.json")
    assert w.forms == v.forms and w.headline(["gop", "going", "on", "strike"]) == "G.O.P. Going On Strike"
    assert w == build_vocab([["gop", "going", "on"]] * 2, min_count=2)  # same tokens, same vocabulary


def test_a_vocabulary_without_forms_loads_and_prints_plain_headline_case(tmp_path):
    old = {"format": "lstm_textgen.vocab/1", "tokens": [*SPECIALS, "gop", "with", "the"]}  # as saved before forms
    (tmp_path / "vocab.json").write_text(json.dumps(old))
    v = read_vocab(tmp_path / "vocab.json")
    assert v.forms == {} and v.headline(["gop", "with", "the", "gop"]) == "Gop With the Gop"
    bad = dict(old, forms={"gop": 3})
    (tmp_path / "vocab.json").write_text(json.dumps(bad))
    with pytest.raises(CheckpointError, match="forms must map"):
        read_vocab(tmp_path / "vocab.json")


def test_extra_words_join_after_the_training_words_and_max_vocab_still_caps():
    extra = [["merger", "talks"], ["merger", "trump"], ["bank", "merger"]]
    v = build_vocab(HEADLINES, min_count=2, extra=extra, extra_min_count=2)
    assert v.words == ("china", "signs", "trump", "merger")  # trump is already in; bank (once) is not
    assert build_vocab(HEADLINES, min_count=2, extra=extra, extra_min_count=0) == build_vocab(HEADLINES, min_count=2)
    assert build_vocab(HEADLINES, min_count=2, max_vocab=7, extra=extra, extra_min_count=1).words == (
        "china",
        "signs",
        "trump",
    )
    with pytest.raises(ValueError, match="extra_min_count"):
        build_vocab(HEADLINES, extra_min_count=-1)
