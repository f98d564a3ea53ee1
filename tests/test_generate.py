import math

import pytest
import torch

from lstm_textgen import generate, stream
from lstm_textgen.generate import MAX_PROMPT_WORDS
from lstm_textgen.vocab import SPECIALS


def _texts(result):
    return [h.text for h in result.headlines]


def test_same_seed_same_headlines(tiny_model):
    a = generate(tiny_model, "trump", num=5, seed=123, temperature=1.0)
    b = generate(tiny_model, "trump", num=5, seed=123, temperature=1.0)
    c = generate(tiny_model, "trump", num=5, seed=124, temperature=1.0)
    assert _texts(a) == _texts(b)
    assert _texts(a) != _texts(c)
    assert a.seed == 123


def test_random_seed_is_reported_and_reproduces(tiny_model):
    a = generate(tiny_model, "", num=4)
    b = generate(tiny_model, "", num=4, seed=a.seed)
    assert _texts(a) == _texts(b)


def test_greedy_ignores_the_seed_and_matches_top_k_1(tiny_model):
    g1 = generate(tiny_model, "congress", num=2, temperature=0, seed=1)
    g2 = generate(tiny_model, "congress", num=2, temperature=0, seed=2)
    k1 = generate(tiny_model, "congress", num=2, temperature=1.5, top_k=1, seed=3)
    p0 = generate(tiny_model, "congress", num=2, temperature=1.5, top_p=1e-9, seed=4)
    assert _texts(g1) == _texts(g2) == _texts(k1) == _texts(p0)
    assert g1.headlines[0].text == g1.headlines[1].text
    for h in g1.headlines:  # greedy picks the likeliest word each time
        assert all(alts[0][0] == w for w, alts in zip(h.words, h.alternatives))


def test_headlines_end_at_eos_and_respect_the_length_cap(tiny_model):
    r = generate(tiny_model, "", num=20, max_words=30, temperature=0.7, seed=0)
    assert sum(h.ended for h in r.headlines) >= 18  # the training headlines are 4-9 words long
    for h in r.headlines:
        assert 1 <= len(h.words) <= 30
    capped = generate(tiny_model, "", num=5, max_words=2, seed=0)
    assert all(len(h.words) <= 2 for h in capped.headlines)
    assert any(not h.ended for h in capped.headlines)


def test_min_words_holds_back_the_end(tiny_model):
    r = generate(tiny_model, "", num=5, min_words=12, max_words=12, seed=0)
    assert all(len(h.words) == 12 and not h.ended for h in r.headlines)
    with pytest.raises(ValueError, match="min_words"):
        generate(tiny_model, "", min_words=5, max_words=3)


def test_special_tokens_are_never_emitted(tiny_model):
    r = generate(tiny_model, "zzz qqq", num=30, max_words=15, temperature=2.0, seed=7)
    for h in r.headlines:
        assert not set(h.words) & set(SPECIALS)
        for alts in h.alternatives:
            assert not {w for w, _ in alts} & {"<pad>", "<bos>", "<unk>"}


def test_probabilities_and_alternatives(tiny_model):
    r = generate(tiny_model, "trump", num=3, seed=5)
    for h in r.headlines:
        assert len(h.probs) == len(h.words) == len(h.alternatives)
        assert all(0 < p <= 1 for p in h.probs)
        for alts in h.alternatives:
            ps = [p for _, p in alts]
            assert ps == sorted(ps, reverse=True) and len(alts) == 5


def test_unknown_words_are_reported_not_fatal(tiny_model):
    r = generate(tiny_model, "Trump’s zyzzyva ZYZZYVA plan", num=2, seed=0)
    assert r.unknown_words == ["trumps", "zyzzyva"]  # "trump" is known, "trumps" is not
    assert r.prompt_words == ["trumps", "zyzzyva", "zyzzyva", "plan"]
    assert all(h.text.startswith("Trumps Zyzzyva Zyzzyva Plan") and h.words for h in r.headlines)


def test_empty_prompt_generates_from_scratch(tiny_model):
    for prompt in ["", "   ", "!!!", None]:
        r = generate(tiny_model, prompt, num=2, seed=0)
        assert r.prompt_words == [] and all(h.words for h in r.headlines)


def test_long_prompt_is_truncated_and_said(tiny_model):
    r = generate(tiny_model, "trump " * (MAX_PROMPT_WORDS + 10), num=1, max_words=3, seed=0)
    assert r.truncated and len(r.prompt_words) == MAX_PROMPT_WORDS


def test_prompt_is_cleaned_like_training_text(tiny_model):
    a = generate(tiny_model, "“THE   Senate”—", num=3, seed=9)
    b = generate(tiny_model, "the senate", num=3, seed=9)
    assert _texts(a) == _texts(b)


def test_streaming_grows_word_by_word_and_ends_like_generate(tiny_model):
    """The first words at once, then a word more at each item; every item whole (each word with its probability
    and alternatives); the last as generate() gives it."""
    snapshots, whole = [], []
    for r in stream(tiny_model, "the", num=3, seed=11):
        snapshots.append([list(h.words) for h in r.headlines])
        whole.append(all(len(h.words) == len(h.probs) == len(h.alternatives) for h in r.headlines))
    assert all(whole) and all(len(words) == 1 for words in snapshots[0])
    lengths = [sum(map(len, s)) for s in snapshots]
    assert lengths == sorted(lengths) and len(snapshots) > 3
    final = generate(tiny_model, "the", num=3, seed=11)
    assert snapshots[-1] == [h.words for h in final.headlines]


@pytest.mark.parametrize("sampler", ["auto", "torch"])
def test_spaced_streams_give_the_first_words_then_the_end_and_the_same_headlines(tiny_model, monkeypatch, sampler):
    """``every``: the first words at once, then at most one item per ``every`` seconds, and the end; the headlines,
    probabilities and alternatives do not depend on when they are shown (here, after every word's logits)."""
    import importlib

    g = importlib.import_module("lstm_textgen.generate")  # the module; the package's name is the function

    kw = {"num": 3, "max_words": 8, "seed": 4, "sampler": sampler}
    every_word = generate(tiny_model, "the", **kw)
    items = [[len(h.words) for h in r.headlines] for r in stream(tiny_model, "the", every=60, **kw)]
    assert len(items) == 2 and items[0] == [1, 1, 1]
    monkeypatch.setattr(g, "PENDING_FLOATS", 1)  # words shown at every step even between items
    spaced = list(stream(tiny_model, "the", every=60, **kw))[-1]
    assert [h.to_dict() for h in spaced.headlines] == [h.to_dict() for h in every_word.headlines]
    with pytest.raises(ValueError, match="every"):
        next(stream(tiny_model, "the", every=-1))


def test_to_dict_is_plain_data(tiny_model):
    import json

    d = generate(tiny_model, "trump zyzzyva", num=2, seed=0).to_dict()
    again = json.loads(json.dumps(d))
    assert again["unknown_words"] == ["zyzzyva"]
    assert set(again["headlines"][0]) == {"prompt_words", "words", "probs", "ended", "alternatives", "text"}


@pytest.mark.parametrize(
    "options",
    [
        {"num": 0},
        {"num": 101},
        {"max_words": 0},
        {"max_words": 1000},
        {"temperature": -1},
        {"temperature": math.nan},
        {"temperature": math.inf},
        {"top_k": -1},
        {"top_p": 0},
        {"top_p": 1.5},
        {"seed": -5},
        {"num": "3"},
        {"num": 2.5},
        {"num": True},
        {"colour": "blue"},
        {"precision": "fp8"},
    ],
)
def test_invalid_options_are_one_clear_value_error(tiny_model, options):
    with pytest.raises(ValueError) as e:
        generate(tiny_model, "trump", **options)
    assert str(e.value) and "\n" not in str(e.value)


def test_prompt_must_be_text(tiny_model):
    with pytest.raises(ValueError, match="prompt must be text"):
        generate(tiny_model, 42)


def test_the_fast_sampler_draws_from_the_reference_rule():
    """Drawn frequencies match the plain rule (sampling.filtered_probs: top-k, then the nucleus, renormalised)
    for the rejection draws and the sorted fallback (a small top_p) alike: the same law, not just the support."""
    from lstm_textgen.sampling import filtered_probs, sample, sample_reference

    gen = torch.Generator().manual_seed(1)
    fixed = torch.tensor([[2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -3.0]])
    spread = torch.randn(1, 30, generator=torch.Generator().manual_seed(2)) * 2
    for scores in (fixed, spread):
        batch = scores.repeat(4000, 1)
        for top_k, top_p in ((0, 1.0), (0, 0.8), (6, 0.9), (0, 0.3), (0, 0.05), (3, 1.0)):
            expected = filtered_probs(scores, top_k, top_p)[0]
            for draw in (sample, sample_reference):
                counts = sum(torch.bincount(draw(batch, top_k, top_p, gen), minlength=scores.size(1)) for _ in range(5))
                freq = counts / counts.sum()
                assert (freq - expected).abs().max() < 0.015, (draw.__name__, top_k, top_p, freq, expected)


def test_the_reference_rule_keeps_the_smallest_nucleus():
    from lstm_textgen.sampling import filtered_probs

    p = filtered_probs(torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])), top_p=0.8)[0]
    assert torch.allclose(p, torch.tensor([0.5, 0.3, 0, 0]) / 0.8)  # 0.5 + 0.3 reaches 0.8: two tokens
    p = filtered_probs(torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])), top_k=3)[0]
    assert torch.allclose(p, torch.tensor([0.5, 0.3, 0.15, 0]) / 0.95)


def test_sampling_stays_inside_top_k_and_the_nucleus():
    from lstm_textgen.sampling import filtered_probs, sample

    gen = torch.Generator().manual_seed(0)
    for vocab, spread in ((50, 3.0), (4000, 0.2), (4000, 6.0)):  # peaked and flat distributions, small and large
        scores = torch.randn(8, vocab) * spread
        for top_k, top_p in ((0, 0.9), (5, 1.0), (20, 0.5), (0, 0.999), (3000, 0.95)):
            allowed = [set(row.nonzero().squeeze(1).tolist()) for row in filtered_probs(scores, top_k, top_p)]
            seen = [set() for _ in range(8)]
            for _ in range(200):
                for r, t in enumerate(sample(scores, top_k, top_p, gen).tolist()):
                    assert t in allowed[r], (vocab, spread, top_k, top_p)
                    seen[r].add(t)
            if top_k == 0 and top_p >= 0.999 and spread < 1:  # a flat distribution: a nucleus of thousands
                assert min(len(a) for a in allowed) > 1000
            if top_p == 0.5 and vocab == 50:  # every allowed token gets drawn, not just the best
                assert seen == allowed


@pytest.mark.parametrize("precision, tolerance", [("float32", 1e-5), ("bfloat16", 0.03), ("int8", 0.05)])
def test_shown_probabilities_are_the_models_own(tiny_model, precision, tolerance):
    """Each word's probability is the sequence model's for that word after the words before it: exactly with
    float32 products, within 3% with bfloat16 ones, within 5% with the int8 ones "auto" picks on x86 CPUs."""
    import torch

    from lstm_textgen.generate import NEVER_EMITTED
    from lstm_textgen.vocab import BOS_ID

    r = generate(tiny_model, "trump", num=3, max_words=8, temperature=1.0, seed=2, precision=precision)
    for h in r.headlines:
        ids = [BOS_ID, *tiny_model.vocab.encode(h.prompt_words + h.words)]
        with torch.no_grad():
            logits = tiny_model(torch.tensor([ids]))[0][0]
        logits[:, list(NEVER_EMITTED)] = float("-inf")
        want = torch.softmax(logits, dim=-1)[len(h.prompt_words) : len(ids) - 1]
        want = want.gather(1, torch.tensor(ids[len(h.prompt_words) + 1 :])[:, None]).squeeze(1)
        assert torch.allclose(torch.tensor(h.probs), want, rtol=tolerance, atol=0), (h.probs, want)


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_the_start_is_read_once_and_follows_the_weights(tiny_model, precision):
    """Every request starts from <bos>: what it gives is kept, so a request reads only its seed words; the
    headlines are those of a fresh read, and a changed weight is seen at once."""

    def probs(prompt):
        r = generate(tiny_model, prompt, num=3, max_words=4, seed=5, precision=precision)
        return [h.probs for h in r.headlines], _texts(r)

    before = {}
    for prompt in ("", "trump says"):
        before[prompt] = probs(prompt)
        assert any(name.startswith("after <bos>") for name in tiny_model.step_cache)
        tiny_model.step_cache.clear()
        assert probs(prompt) == before[prompt]
    with torch.no_grad():
        tiny_model.net.layers[0].bias_ih_l0.add_(0.5)  # in place, as an optimizer step changes a weight
    changed = probs("")
    tiny_model.step_cache.clear()
    assert probs("") == changed
    assert changed[0] != before[""][0]


def test_every_headline_gets_a_new_word_whatever_its_seed(tiny_model):
    long_seed = " ".join(["the senate votes on the budget"] * 20)
    for prompt in ("", "trump", long_seed):
        r = generate(tiny_model, prompt, num=20, max_words=5, temperature=1.5, seed=0)
        assert all(h.words for h in r.headlines), prompt
    assert len(generate(tiny_model, long_seed, num=1, seed=0).prompt_words) == MAX_PROMPT_WORDS == 12


def test_auto_precision_is_int8_on_x86_else_bfloat16_where_the_hardware_has_it_else_float32(monkeypatch):
    import importlib

    import torch

    g = importlib.import_module("lstm_textgen.generate")  # the module (the package exports a function of its name)
    cpu, opts = torch.device("cpu"), g.Options()
    for bf16, int8, want in ((True, True, torch.qint8), (True, False, torch.bfloat16), (False, False, torch.float32)):
        monkeypatch.setattr(g, "native_bfloat16", lambda device, bf16=bf16: bf16)
        monkeypatch.setattr(g, "int8_available", lambda int8=int8: int8)
        assert opts.step_dtype(cpu) == want
    assert g.Options(precision="int8").step_dtype(cpu) == torch.qint8
