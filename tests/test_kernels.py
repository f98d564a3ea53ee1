"""The compiled kernels (lstm_textgen/kernels.c): built here, the sampler's law (the reference rule's), the model's
own probabilities shown, the same headlines as PyTorch's operations, and generation and training without a
compiler. Training's LSTM layer itself: tests/test_cells.py."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from lstm_textgen import generate, kernels
from lstm_textgen.sampling import filtered_probs

needs_compiler = pytest.mark.skipif(kernels._compiler() is None, reason="no C compiler: the PyTorch sampler runs")


@needs_compiler
def test_the_compiled_sampler_builds_where_there_is_a_compiler():
    assert kernels.available()


def test_it_is_compiled_for_the_instructions_atens_kernels_run(monkeypatch):
    """A CPU held to AVX2 (as bench/speed.py's stand-in for one without AVX-512) gets AVX2 code, not this CPU's."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("x86 only")
    for capability, flags in (("AVX2", ["-march=x86-64-v3"]), ("DEFAULT", []), ("AVX512", ["-march=native"])):
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        assert kernels.arch_flags() == flags


@needs_compiler
def test_a_library_built_for_this_cpu_is_not_loaded_on_another(monkeypatch, tmp_path):
    """-march=native code can hold instructions another CPU lacks (AMX, AVX-512): a cache folder that outlives its
    machine (a shared home folder, a container image) must not hand it to a different CPU, where it would crash
    the process with an illegal instruction instead of building its own."""
    assert "flags" in kernels.cpu_identity() or not os.path.exists("/proc/cpuinfo")  # this CPU's instruction sets
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(kernels, "arch_flags", lambda: ["-march=native"])
    built = []
    for cpu in ("an Intel Xeon with AMX", "an AMD EPYC without it", "an Intel Xeon with AMX"):
        monkeypatch.setattr(kernels, "cpu_identity", lambda cpu=cpu: cpu)
        lib, why = kernels._build()
        assert lib is not None, why
        built.append(sorted(p.name for p in (tmp_path / "lstm_textgen").glob("kernels-*.so")))
    assert len(built[0]) == 1 and len(built[1]) == 2 and built[2] == built[1]  # the first CPU's is found again


@needs_compiler
def test_the_compiled_sampler_draws_from_the_reference_rule():
    """Drawn frequencies match sampling.filtered_probs (softmax at the temperature, then the nucleus) for the
    rejection draws and the sorted nucleus (a small top_p) alike; masked tokens never come out."""
    gen = torch.Generator().manual_seed(1)
    fixed = torch.tensor([[2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -3.0, 4.0]])
    spread = torch.randn(1, 300, generator=torch.Generator().manual_seed(2)) * 2
    for logits in (fixed, spread):
        mask = torch.zeros(logits.size(1))
        mask[-1] = float("-inf")  # the likeliest token, masked
        for temperature, top_p in ((1.0, 1.0), (0.7, 0.8), (1.5, 0.95), (1.0, 0.3), (1.0, 0.05)):
            expected = filtered_probs((logits + mask) / temperature, 0, top_p)[0]
            counts = torch.zeros(logits.size(1))
            for _ in range(5):
                chosen, *_ = kernels.pick(logits.repeat(4000, 1), mask, temperature, top_p, 5, gen)
                counts += torch.bincount(chosen, minlength=logits.size(1))
            freq = counts / counts.sum()
            assert freq[-1] == 0
            assert (freq - expected).abs().max() < 0.015, (temperature, top_p, freq, expected)


@needs_compiler
@pytest.mark.parametrize("vocab, alternatives", [(4535, 5), (4535, 0), (6, 20), (300, 20)])
def test_the_compiled_sampler_shows_the_models_own_probabilities(vocab, alternatives):
    """Each chosen word's probability and the top alternatives are the masked softmax's at temperature 1 (not at
    the sampling temperature); greedy picks the likeliest; a vocabulary smaller than the alternatives asked
    for leaves the rest at probability 0."""
    logits = torch.randn(7, vocab, generator=torch.Generator().manual_seed(3)) * 4
    mask = torch.zeros(vocab)
    mask[:3] = float("-inf")
    logp = torch.log_softmax(logits + mask, dim=-1)
    for temperature in (None, 0.6):
        chosen, prob, alt_p, alt_i = kernels.pick(logits, mask, temperature, 0.9, alternatives, torch.Generator())
        assert (chosen >= 3).all()
        if temperature is None:
            assert torch.equal(chosen, logp.argmax(dim=-1))
        assert torch.allclose(prob, logp.gather(1, chosen[:, None]).squeeze(1).exp(), rtol=1e-5, atol=1e-7)
        shown = min(alternatives, vocab - 3)
        want_p, want_i = logp.topk(shown, dim=-1)
        assert torch.equal(alt_i[:, :shown], want_i)
        assert torch.allclose(alt_p[:, :shown], want_p.exp(), rtol=1e-5, atol=1e-7)
        assert alt_p.shape == (7, alternatives) and (alt_p[:, shown:] == 0).all()


@needs_compiler
@pytest.mark.parametrize(
    "options",
    [
        {"temperature": 1.0},
        {"temperature": 0.6, "top_p": 0.9},
        {"temperature": 1.3, "top_p": 0.2},  # rows from the sorted nucleus
        {"temperature": 0},
        {"temperature": 0.8, "min_words": 6, "alternatives": 0},
    ],
)
def test_both_samplers_give_the_same_headlines(tiny_model, options):
    """The compiled sampler draws the same random numbers the same way as PyTorch's operations: the same seed
    gives the same headlines, probabilities and alternatives (to float rounding) whichever chooses the words."""
    for seed in range(4):
        fast = generate(tiny_model, "the", num=6, max_words=10, seed=seed, **options)
        plain = generate(tiny_model, "the", num=6, max_words=10, seed=seed, sampler="torch", **options)
        assert [h.text for h in fast.headlines] == [h.text for h in plain.headlines], (options, seed)
        for a, b in zip(fast.headlines, plain.headlines):
            assert torch.allclose(torch.tensor(a.probs), torch.tensor(b.probs), rtol=1e-5)
            assert [[w for w, _ in x] for x in a.alternatives] == [[w for w, _ in x] for x in b.alternatives]


@needs_compiler
def test_the_same_random_numbers_give_the_same_draws_as_the_python_sampler():
    """Drawn from the same generator state, the compiled sampler and sampling.sample choose the same word: their
    sums differ only by float rounding, which moves a draw across the edge between two words very rarely (about
    1 draw in 30,000 from a flat distribution over 4,535 words, speed.md)."""
    from lstm_textgen.sampling import sample

    mask = torch.zeros(4535)
    mask[:3] = float("-inf")
    same = total = 0
    for trial in range(300):
        logits = torch.randn(10, 4535, generator=torch.Generator().manual_seed(trial)) * 2.5
        for temperature, top_p in ((1.2, 1.0), (0.8, 0.95)):
            fast, *_ = kernels.pick(logits, mask, temperature, top_p, 0, torch.Generator().manual_seed(trial))
            scores = torch.mul(logits + mask, 1.0 / temperature)  # as generate._choose scales them
            plain = sample(scores, 0, top_p, torch.Generator().manual_seed(trial))
            same, total = same + int((fast == plain).sum()), total + fast.numel()
    assert total - same <= 3, f"{total - same} of {total} draws differ"


@needs_compiler
def test_a_mask_that_leaves_nothing_is_a_clear_error():
    logits = torch.randn(2, 50)
    for temperature in (None, 1.0):
        with pytest.raises(ValueError, match="no token"):
            kernels.pick(logits, torch.full((50,), float("-inf")), temperature, 0.9, 5, torch.Generator())


def test_top_k_and_the_torch_sampler_use_pytorchs_operations(tiny_model):
    from lstm_textgen import make_options

    vocab = len(tiny_model.vocab)
    assert not make_options(top_k=5).compiled_sampler(vocab)
    assert not make_options(sampler="torch").compiled_sampler(vocab)
    assert make_options(top_k=vocab).compiled_sampler(vocab) == kernels.available()  # no word filtered out
    with pytest.raises(ValueError, match="sampler"):
        make_options(sampler="c")


@pytest.mark.slow
@needs_compiler
def test_a_process_builds_it_once_into_the_cache_and_one_without_a_compiler_still_generates_and_trains(
    tmp_path, tiny_checkpoint, headlines_txt
):
    """The first process compiles into the cache folder and the next loads it from there; a machine without a
    C compiler gets one warning, the same headlines from PyTorch's operations, and the same training (nn.LSTM
    instead of cells.lstm_layer) up to rounding."""
    script = textwrap.dedent(
        f"""
        import json, warnings
        warnings.simplefilter("always")
        import lstm_textgen as lt
        from lstm_textgen import kernels
        m = lt.load_model({str(tiny_checkpoint)!r})
        with warnings.catch_warnings(record=True) as caught:
            texts = [h.text for h in lt.generate(m, "the", num=4, seed=9).headlines]
        lines = lt.load_headlines({str(headlines_txt)!r}).texts
        trained = lt.train(lines[:96], lines[96:128], m.vocab, m.config, lt.TrainConfig(epochs=1, batch_size=16,
                           amp=False), {str(tmp_path / "trained")!r} + str(kernels.available()), progress=False)
        print(json.dumps({{"available": kernels.available(), "texts": texts,
                          "loss": trained.metrics["history"][0]["train_loss"],
                          "warnings": [str(w.message) for w in caught]}}))
        """
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def run(env):
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        import json

        return json.loads(out.stdout.strip().splitlines()[-1])

    built = run(env)
    assert built["available"] and not built["warnings"]
    cached = list((tmp_path / "cache" / "lstm_textgen").glob("kernels-*.so"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = run(env)
    assert again["texts"] == built["texts"] and cached[0].stat().st_mtime_ns == stamp  # loaded, not rebuilt

    bare = run({**env, "PATH": str(tmp_path / "empty"), "CC": ""})  # no compiler anywhere on the PATH
    assert not bare["available"]
    assert any("no C compiler" in w for w in bare["warnings"])
    assert bare["texts"] == built["texts"]
    assert bare["loss"] == pytest.approx(built["loss"], rel=1e-4)
