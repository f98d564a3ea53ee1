"""Speed, side by side in one run (absolute times on a shared 2-core machine drift; ratios hold).

    python bench/speed.py [--checkpoint checkpoints/nyt-headlines] [--data ../shared/data/nyt] [--json]
    python bench/speed.py --abc ../shared/data/abc      # also one epoch on the larger ABC corpus
    python bench/speed.py --quick                       # fewer repeats: under 3 minutes

1. Generation, 10 headlines x 20 words with the bundled checkpoint: ours (one batch, state carried)
   vs the tutorial's algorithm (one headline at a time; every step re-runs the model on the last two
   words, takes the argmax and finds the word by scanning the whole vocabulary dict).
   Each precision of the step's products: float32, int8, and bfloat16 where the CPU has it.
2. The app's /generate endpoint through gradio_client on a local server: p50/p95 latency; and in a real
   Chromium, click -> first word and click -> last word beside the same request in-process.
3. Training throughput at equal precision: our loop (its defaults) vs a plain loop in the style of PyTorch's
   examples/word_language_model (same model size and data; 32 columns x BPTT 35, 1,120 tokens a step), and
   the same plain loop in our batches' shape (as many columns as our batch, BPTT our mean headline length),
   which isolates what our loop's regularisation and optimizer cost; our padding share.
4. Start-up: `python app.py` until the first page is served; checkpoint load time.

Every result records the CPU, its bfloat16 / AVX-512 flags, the threads and the precision of each figure.
`--quick` runs in under 3 minutes for everyday checks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch
import torch.nn.functional as F
from browser import CHROMIUM, CHROMIUM_ARGS
from torch import nn

import lstm_textgen as lt
from lstm_textgen.generate import STEP_DTYPES
from lstm_textgen.mixed import stepper

N_HEADLINES, N_WORDS = 10, 20


def precision_name(dtype: torch.dtype) -> str:
    """A step dtype as ``precision=`` names it ("int8" for torch.qint8)."""
    return next(name for name, d in STEP_DTYPES.items() if d == dtype)


# environment variables that make a CPU's libraries run older kernels, as on a CPU without AVX-512 (speed.md)
ISA_OVERRIDES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "FBGEMM_ENABLE_INSTRUCTIONS")


def machine() -> dict:
    """What every figure depends on: the CPU, its bfloat16 / AVX-512 / AVX2 flags, the threads, torch."""
    from lstm_textgen import kernels
    from lstm_textgen.mixed import bfloat16_training, int8_available, native_bfloat16

    info = kernels.cpu_info()
    flags = set(info.get("flags", "").split())
    return {
        "cpu": info.get("model name", "?"),
        # "AMD EPYC" alone does not say which generation: family 25 model 17 is Zen 4, family 23 Zen 1-2
        "cpu_id": " ".join(f"{k} {info[k]}" for k in ("vendor_id", "cpu family", "model") if k in info),
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "native_bfloat16": native_bfloat16(torch.device("cpu")),
        "training_autocast": bfloat16_training(torch.device("cpu")),
        "int8_products": int8_available(),
        "threads": torch.get_num_threads(),
        "aten_kernels": torch.backends.cpu.get_cpu_capability(),  # what ATen runs, below the flags when forced
        "isa_overrides": {k: os.environ[k] for k in ISA_OVERRIDES if k in os.environ},
        "torch": torch.__version__,
        "auto_precision": precision_name(lt.Options().step_dtype(torch.device("cpu"))),
        # what chooses the words: kernels.c built for this instruction set, or PyTorch's operations
        "sampler": f"compiled ({' '.join(kernels.arch_flags()) or 'baseline'})" if kernels.available() else "torch",
    }


def tutorial_generate(model: lt.HeadlineModel, prompt: str, n_words: int) -> str:
    """The tutorial's predict.py, on our model: the BOW dict, last two words, argmax, dict scan."""
    BOW = {w: i for i, w in enumerate(model.vocab.itos)}
    string = prompt + " "
    with torch.no_grad():
        for _ in range(n_words):
            words = torch.tensor([BOW[w] for w in string.split()], dtype=torch.long)
            input_tensor = torch.unsqueeze(words[-2:], dim=0)
            if model.config.arch == "tutorial":  # its own forward: one 2-word window -> logits
                output = model.net.window_logits(input_tensor)[0]
            else:
                output = model(input_tensor)[0][0, -1]
            output_word = torch.argmax(output).item()
            string += list(BOW.keys())[output_word]
            string += " "
    return string


def interleaved_times(fns: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds of each function at each turn, timed in turns (a, b, c, a, b, c, ...) after a warm-up call each,
    so that a slow minute on this shared machine slows every contender alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def interleaved_medians(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed in turns (:func:`interleaved_times`)."""
    return {name: statistics.median(ts) for name, ts in interleaved_times(fns, repeats).items()}


def median_time(fn, repeats: int) -> float:
    """Median seconds of ``fn`` after a warm-up call."""
    return interleaved_medians({"fn": fn}, repeats)["fn"]


def ours(model: lt.HeadlineModel, prompt: str, **options) -> lt.Generation:
    """10 headlines of exactly 20 words, sampled at T 0.8, top-p 0.95 unless ``options`` say otherwise."""
    opts = {
        "num": N_HEADLINES,
        "max_words": N_WORDS,
        "min_words": N_WORDS,
        "temperature": 0.8,
        "top_p": 0.95,
        "seed": 0,
        **options,
    }
    return lt.generate(model, prompt, **opts)


def bench_tutorial_model(model: lt.HeadlineModel, tutorial: lt.HeadlineModel, prompt: str, repeats: int) -> dict:
    """End to end, as a user of the tutorial would move: its model and algorithm vs our model and algorithm."""
    t = interleaved_medians(
        {
            "tutorial": lambda: [tutorial_generate(tutorial, prompt, N_WORDS) for _ in range(N_HEADLINES)],
            "ours": lambda: ours(model, prompt),
        },
        repeats,
    )
    return {"tutorial_model_ms": t["tutorial"] * 1e3, "ours_ms": t["ours"] * 1e3, "speedup": t["tutorial"] / t["ours"]}


PRECISIONS = ("float32", "int8", "bfloat16")
GENERATION_TARGET = 20  # issue 15: sampled generation at least 20x the tutorial's algorithm


def bench_generation(model: lt.HeadlineModel, prompt: str, repeats: int) -> dict:
    """The tutorial's algorithm (float32, as the tutorial runs) vs ours, greedy and sampled, in each precision
    of the step's products (bfloat16 only where the CPU has it: elsewhere it is emulated, and "auto" never
    picks it), and in "auto", what users get."""
    from lstm_textgen.mixed import native_bfloat16

    assert all(len(h.words) == N_WORDS for h in ours(model, prompt).headlines)
    precisions = [p for p in PRECISIONS if p != "bfloat16" or native_bfloat16(model.device)]
    fns = {"tutorial": lambda: [tutorial_generate(model, prompt, N_WORDS) for _ in range(N_HEADLINES)]}
    auto = precision_name(lt.Options().step_dtype(model.device))
    for p in precisions:
        fns[f"greedy_{p}"] = lambda p=p: ours(model, prompt, temperature=0, precision=p)
        fns[f"sampled_{p}"] = lambda p=p: ours(model, prompt, precision=p)
    # the same request with the words chosen by PyTorch's operations: what a machine without a C compiler gets
    fns[f"sampled_{auto}_torch"] = lambda: ours(model, prompt, precision=auto, sampler="torch")
    turns = interleaved_times(fns, repeats)
    t = {name: statistics.median(ts) for name, ts in turns.items()}
    out = {"tutorial_ms": t["tutorial"] * 1e3, "auto": auto, "precisions": precisions, "turns": repeats}
    for name in fns:
        if name != "tutorial":
            out[f"ours_{name}_ms"] = t[name] * 1e3
            out[f"speedup_{name}"] = t["tutorial"] / t[name]
            # each turn's own ratio: how far one turn can fall from the median on this machine
            ratios = [a / b for a, b in zip(turns["tutorial"], turns[name])]
            out[f"speedup_{name}_range"] = [min(ratios), max(ratios)]
            out[f"speedup_{name}_turns_at_target"] = sum(r >= GENERATION_TARGET for r in ratios)
    for kind in ("greedy", "sampled"):  # what "auto" gives, under the old keys
        out[f"ours_{kind}_ms"], out[f"speedup_{kind}"] = out[f"ours_{kind}_{auto}_ms"], out[f"speedup_{kind}_{auto}"]
        out[f"speedup_{kind}_range"] = out[f"speedup_{kind}_{auto}_range"]
        out[f"speedup_{kind}_turns_at_target"] = out[f"speedup_{kind}_{auto}_turns_at_target"]
    return out


def step_precision(model: lt.HeadlineModel, data: str, batch_size: int = 64, limit: int | None = None) -> dict:
    """Perplexity of the checkpoint's own validation headlines (the first ``limit``) read through the generation
    step, with float32, bfloat16 and int8 products: what the faster steps cost in quality (the test month is never
    read)."""
    from lstm_textgen.data import encode_all, pad_batch
    from lstm_textgen.vocab import PAD_ID

    recorded = model.metrics.get("data", {})
    if recorded.get("val_data"):  # a time split: its validation month (paths as recorded, from the repository)
        va = lt.load_headlines([ROOT / p for p in recorded["val_data"]]).texts
    else:  # --data: the folder the checkpoint was trained on, split as it was
        _, va = lt.split(lt.load_headlines(data).texts, recorded.get("val_percent") or lt.Recipe.val_percent)
    va = va[:limit]
    seqs = encode_all(va, model.vocab)
    out = {"headlines": len(va), "data": data}
    with torch.inference_mode():
        for dtype in (torch.float32, torch.bfloat16, torch.qint8):
            step = stepper(model, dtype)
            nll, tokens = 0.0, 0
            for i in range(0, len(seqs), batch_size):
                x = pad_batch(seqs[i : i + batch_size])
                state = model.initial_state(x.size(0))
                for t in range(x.size(1) - 1):
                    logits, state = step(x[:, t], state)
                    nll += F.cross_entropy(logits, x[:, t + 1], ignore_index=PAD_ID, reduction="sum").item()
                tokens += int((x[:, 1:] != PAD_ID).sum())
            out[f"ppl_{precision_name(dtype)}"] = math.exp(nll / tokens)
    out["evaluate_ppl"] = lt.evaluate(model, va).perplexity  # the float32 sequence path, for comparison
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_api(model: lt.HeadlineModel, prompt: str, requests: int) -> dict:
    from gradio_client import Client

    import app

    demo, url = app.serve(model, port=free_port(), block=False)
    try:
        client = Client(url, verbose=False)
        out = {}
        for label, num, words in (
            ("default", app.DEFAULTS["num"], app.DEFAULTS["max_words"]),
            ("10x20", N_HEADLINES, N_WORDS),
        ):
            client.predict(
                prompt, words, app.DEFAULTS["temperature"], num, 0, app.DEFAULTS["top_p"], 1, api_name="/generate"
            )
            lat = []
            for i in range(requests):
                t = time.perf_counter()
                client.predict(
                    prompt, words, app.DEFAULTS["temperature"], num, 0, app.DEFAULTS["top_p"], i, api_name="/generate"
                )
                lat.append((time.perf_counter() - t) * 1e3)
            lat.sort()
            out[label] = {
                "p50_ms": lat[len(lat) // 2],
                "p95_ms": lat[min(len(lat) - 1, math.ceil(0.95 * len(lat)) - 1)],
                "requests": requests,
                "num": num,
                "max_words": words,
            }
        return out
    finally:
        with contextlib.redirect_stdout(sys.stderr):  # gradio prints "Closing server..." to stdout: keep --json clean
            demo.close()


# --- latency where users feel it ------------------------------------------------------------------

WATCH = """() => { window.__first = null; window.__last = null;
  new MutationObserver(() => { const now = performance.now();
    if (window.__t0 === undefined || now < window.__t0) return;
    const list = document.querySelector('#headlines .headlines');  // the previous result's, until replaced
    if (!list || (list.dataset.seed !== undefined && list.dataset.seed !== String(window.__seed))) return;
    const gen = [...list.querySelectorAll('.gen')].some(s => s.textContent.trim());
    if (gen && window.__first === null) window.__first = now;
    if (list.dataset.seed !== undefined && window.__last === null) window.__last = now;
  }).observe(document.querySelector('#headlines'), {subtree: true, childList: true, characterData: true,
    attributes: true}); }"""
CLICK = """(seed) => { window.__first = null; window.__last = null; window.__seed = seed;
  window.__t0 = performance.now(); document.querySelector('#generate').click(); }"""

SHOWN = """() => { const list = document.querySelector('#headlines .headlines');
  return {list_seed: list ? list.dataset.seed : null, first_word_ms: window.__first && window.__first - window.__t0,
    seed_box: (document.querySelector('#seed textarea, #seed input') || {}).value}; }"""


def bench_browser(model: lt.HeadlineModel, prompt: str, runs: int, chromium: str = CHROMIUM) -> dict:
    """Click -> first word and click -> last word in a real Chromium at the app's defaults (a fixed random seed
    a run, so the page knows which list is the new one), beside the in-process time of the same request."""
    import importlib.util

    import app

    if not Path(chromium).exists() or importlib.util.find_spec("playwright") is None:
        return {"skipped": f"needs playwright and Chromium at {chromium}"}
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    defaults = [app.DEFAULTS[p.name] for p in app.PARAMS]
    in_process, first, last = [], [], []
    demo, url = app.serve(model, port=free_port(), block=False)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(url, wait_until="load")
            page.locator("#seed-words textarea").fill(prompt)
            page.get_by_text("Advanced", exact=True).click()
            page.evaluate(WATCH)
            idle = "(document.querySelector('#generate') || {}).offsetParent"  # the button back: no request running
            for i in range(runs + 1):  # the first run warms up
                page.wait_for_function(idle)
                page.locator("#seed textarea, #seed input").first.fill(str(i))
                page.evaluate(CLICK, i)
                try:
                    page.wait_for_function("window.__last !== null", timeout=30_000)
                except PlaywrightTimeout as e:  # seen once (speed.md, tenth session): say what the page showed
                    shown = page.evaluate(SHOWN)
                    raise RuntimeError(f"click {i}: no finished list in 30 s; the page showed {shown}") from e
                t0, t1, t2 = page.evaluate("[window.__t0, window.__first, window.__last]")
                page.wait_for_function(idle)
                if i:
                    first.append(t1 - t0)
                    last.append(t2 - t0)
                t = time.perf_counter()
                list(app.api_generate(model, prompt, *defaults[:-1], i))
                if i:
                    in_process.append((time.perf_counter() - t) * 1e3)
            browser.close()
    finally:
        with contextlib.redirect_stdout(sys.stderr):
            demo.close()
    med = statistics.median
    return {
        "runs": runs,
        "click_to_first_word_ms": med(first),
        "click_to_last_word_ms": med(last),
        "in_process_ms": med(in_process),
        "request": {p.name: app.DEFAULTS[p.name] for p in app.PARAMS if p.name != "seed"},
    }


# --- training throughput ----------------------------------------------------------------------


class ReferenceModel(nn.Module):
    """examples/word_language_model's RNNModel (LSTM): encoder, nn.LSTM(num_layers), decoder, tied."""

    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int, dropout: float) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if ninp == nhid:
            self.decoder.weight = self.encoder.weight

    def forward(self, x, hidden):
        output, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(output)), hidden


def reference_tokens_per_s(
    seqs: list[torch.Tensor],
    cfg: lt.ModelConfig,
    batch_size: int,
    max_tokens: int,
    bptt: int = 35,
    lr: float = 20.0,
    autocast: bool = False,
) -> float:
    """The example's train(): one long stream batchified into batch_size columns, BPTT chunks, SGD by hand.
    ``autocast``: its forward under the same bfloat16 autocast as ours (the example itself has none)."""
    stream = torch.cat([s[1:] for s in seqs])  # words and <eos>, as the example's corpus
    nbatch = stream.size(0) // batch_size
    data = stream[: nbatch * batch_size].view(batch_size, -1).t().contiguous()
    model = ReferenceModel(cfg.vocab_size, cfg.emb_dim, cfg.hidden_dim, cfg.num_layers, 0.2)
    model.train()
    criterion = nn.CrossEntropyLoss()
    hidden = None
    tokens, t0 = 0, time.perf_counter()
    for i in range(0, data.size(0) - 1, bptt):
        seq_len = min(bptt, data.size(0) - 1 - i)
        x, y = data[i : i + seq_len], data[i + 1 : i + 1 + seq_len]
        hidden = reference_step(model, criterion, x, y, hidden, lr, autocast)
        tokens += y.numel()
        if tokens >= max_tokens:
            break
    return tokens / (time.perf_counter() - t0)


def reference_step(
    model: ReferenceModel,
    criterion: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    hidden: tuple[torch.Tensor, torch.Tensor] | None,
    lr: float,
    autocast: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the example's train() on time-major x and targets y [T, B]: forward from ``hidden`` (detached),
    cross-entropy, backward, clipping at 0.25, SGD by hand; the state after it."""
    if hidden is not None:
        hidden = tuple(h.detach() for h in hidden)
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        output, hidden = model(x, hidden)
    output, hidden = output.float(), tuple(h.float() for h in hidden)
    loss = criterion(output.view(-1, output.size(-1)), y.reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-lr)
    return hidden


QUICK_STEP_HEADLINES = 300  # --quick's share of the validation headlines read through the generation step

REFERENCE_BATCH, REFERENCE_BPTT = 32, 35  # the reference's own shape, as every earlier figure ran it


def training_split(data: str) -> tuple[list[str], list[str]]:
    """The headlines under ``data``, split into training and validation as the recipe splits them."""
    return lt.split(lt.load_headlines(data).texts, lt.Recipe.val_percent)


def one_epoch(tr: list[str], va: list[str], model: lt.HeadlineModel, tcfg: lt.TrainConfig, out) -> lt.HeadlineModel:
    """One quiet training run of ``tcfg`` on ``tr`` in ``model``'s shape and vocabulary, validated on 64 headlines
    (the benches time training, not validation)."""
    return lt.train(tr, va[:64], model.vocab, model.config, tcfg, out, progress=False, log=lambda s: None)


def bench_training(data: list[str], cfg_from: lt.HeadlineModel, work: Path, rounds: int = 3) -> dict:
    """At equal precision (float32 against float32; bfloat16 autocast against the same autocast, where training
    autocasts), ``rounds`` times after a first round: one epoch of ours at its default batch, then the reference
    on as many tokens in its own shape (32 x 35) and in ours (our batch's columns x our mean headline length).
    Medians of the ratios: this shared machine drifts by 10-20% between minutes. The first round is kept apart
    (``first_round``), like generation's warm-up call: there every batch shape is new to the process, and oneDNN
    prepares its bfloat16 LSTM for each (speed.md), a cost of a training run's first epoch only."""
    from lstm_textgen.data import encode_all
    from lstm_textgen.mixed import bfloat16_training

    tr, va = training_split(data)
    vocab, cfg = cfg_from.vocab, cfg_from.config
    seqs = encode_all(tr, vocab)
    # our batches' shape: as many sequences, each as long as a headline on average
    matched_bptt = max(1, round(sum(len(s) - 1 for s in seqs) / len(seqs)))
    out: dict = {
        "matched_bptt": matched_bptt,
        "model": f"{cfg.num_layers}x{cfg.hidden_dim} emb {cfg.emb_dim}",
        "reference_shape": f"{REFERENCE_BATCH} x {REFERENCE_BPTT}",
    }
    for precision in ("float32", "bfloat16") if bfloat16_training(torch.device("cpu")) else ("float32",):
        amp = precision == "bfloat16"
        runs = []
        for r in range(rounds + 1):
            tcfg = lt.TrainConfig(epochs=1, seed=r, amp=amp)
            ours = one_epoch(tr, va, cfg_from, tcfg, work / f"ours{r}")
            assert (ours.metrics["autocast"] == "bfloat16") == amp
            row = ours.metrics["history"][0]
            tokens = row["tokens_per_s"] * row["seconds"]
            ref = reference_tokens_per_s(
                seqs, cfg, REFERENCE_BATCH, max_tokens=tokens, bptt=REFERENCE_BPTT, autocast=amp
            )
            matched = reference_tokens_per_s(
                seqs, cfg, tcfg.batch_size, max_tokens=tokens, bptt=matched_bptt, autocast=amp
            )
            runs.append({"ours": row["tokens_per_s"], "reference": ref, "reference_matched": matched})
            out["batch_size"], out["padding_share"] = tcfg.batch_size, row["padding_share"]
        first, runs = runs[0], runs[1:]
        out[precision] = {
            "first_round": dict(first, ratio=first["ours"] / first["reference"]),
            "ours_tokens_per_s": statistics.median(r["ours"] for r in runs),
            "reference_tokens_per_s": statistics.median(r["reference"] for r in runs),
            "reference_matched_tokens_per_s": statistics.median(r["reference_matched"] for r in runs),
            "ratio": statistics.median(r["ours"] / r["reference"] for r in runs),
            "ratio_matched": statistics.median(r["ours"] / r["reference_matched"] for r in runs),
            "rounds": runs,
        }
    return out


def bench_abc(abc: str, cfg_from: lt.HeadlineModel, work: Path) -> dict:
    """One epoch on the 74k-headline ABC corpus: throughput and peak memory (token ids only in memory)."""
    texts = lt.load_headlines(abc).texts
    tr, va = lt.split(texts, 10)
    vocab = lt.build_vocab((t.split() for t in tr), min_count=2)
    cfg = lt.ModelConfig(**{**cfg_from.config.to_dict(), "vocab_size": len(vocab)})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    m = lt.train(tr, va, vocab, cfg, lt.TrainConfig(epochs=1, seed=0), work / "abc", progress=False, log=lambda s: None)
    row = m.metrics["history"][0]
    return {
        "headlines": len(texts),
        "train_tokens": m.metrics["train_tokens"],
        "tokens_per_s": row["tokens_per_s"],
        "seconds_per_epoch": row["seconds"],
        "epoch_with_validation_s": time.perf_counter() - t,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": before / 1024,
        "val_ppl": row["val_ppl"],
    }


def bench_startup(checkpoint: str) -> dict:
    port = free_port()
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--checkpoint", checkpoint, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("app.py exited") from None
                time.sleep(0.05)
        startup = time.perf_counter() - t
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    t = time.perf_counter()
    lt.load_model(checkpoint)
    load = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gradio"], check=True)
    gradio_import = time.perf_counter() - t
    return {"startup_s": startup, "checkpoint_load_s": load, "import_gradio_s": gradio_import}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "nyt-headlines"), help="model to time")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "nyt"), help="training data for part 3")
    p.add_argument("--abc", help="the ABC headline corpus: also time one epoch on it")
    p.add_argument("--tutorial-checkpoint", help="a --arch tutorial checkpoint: also time its model with its algorithm")
    p.add_argument("--repeats", type=int, default=9, help="timed repeats of each generation (median)")
    p.add_argument("--requests", type=int, default=40, help="requests for the API latency percentiles")
    p.add_argument(
        "--train-rounds",
        type=int,
        default=5,
        help="rounds of the training comparison (median), after a first one kept apart",
    )
    p.add_argument("--browser-runs", type=int, default=15, help="clicks for the browser latencies (median)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="everyday check in under 3 minutes: 3 repeats, 10 requests, 1 training round (after the first), 5 clicks, "
        f"the step's perplexity on {QUICK_STEP_HEADLINES} validation headlines, no start-up",
    )
    p.add_argument("--work-dir", default="runs/speed", help="scratch folder for the training runs")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.requests, args.train_rounds, args.browser_runs = 3, 10, 1, 5
    work = Path(args.work_dir)
    model = lt.load_model(args.checkpoint)
    prompt = lt.suggested_prompts(model, 1)[0]
    result: dict = {"checkpoint": args.checkpoint, "prompt": prompt, "machine": machine(), "quick": args.quick}
    result["generation"] = bench_generation(model, prompt, args.repeats)
    # token by token through three steps: with every validation headline, most of a quick run (speed.md)
    result["step_precision"] = step_precision(model, args.data, limit=QUICK_STEP_HEADLINES if args.quick else None)
    if args.tutorial_checkpoint:
        result["generation_vs_tutorial_model"] = bench_tutorial_model(
            model, lt.load_model(args.tutorial_checkpoint), prompt, args.repeats
        )
    result["api"] = bench_api(model, prompt, args.requests)
    result["browser"] = bench_browser(model, prompt, args.browser_runs)
    result["training"] = bench_training([args.data], model, work, args.train_rounds)
    if not args.quick:
        result["startup"] = bench_startup(args.checkpoint)
    if args.abc:
        result["abc"] = bench_abc(args.abc, model, work)
    result.update(
        {
            "generate_speedup_vs_tutorial": result["generation"]["speedup_sampled"],
            "generate_speedup_vs_tutorial_range": result["generation"]["speedup_sampled_range"],
            "generate_speedup_vs_tutorial_float32": result["generation"]["speedup_sampled_float32"],
            "api_p50_ms": result["api"]["default"]["p50_ms"],
            "api_p95_ms": result["api"]["default"]["p95_ms"],
            "train_ratio_float32": result["training"]["float32"]["ratio"],
            "train_ratio_bfloat16": result["training"].get("bfloat16", {}).get("ratio"),
            "padding_share": result["training"]["padding_share"],
        }
    )
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        report(result)
    return 0


def _turns(g: dict, name: str) -> str:
    """A request's ratio to the tutorial, the range of its turns' own ratios, and how many reached the target."""
    lo, hi = g[f"speedup_{name}_range"]
    at, n = g[f"speedup_{name}_turns_at_target"], g["turns"]
    return f"{g[f'speedup_{name}']:.1f}x; turns {lo:.1f}-{hi:.1f}x, {at} of {n} at {GENERATION_TARGET}x or more"


def report(result: dict) -> None:
    m, g = result["machine"], result["generation"]
    print(
        f"machine: {m['cpu']} ({m.get('cpu_id', '?')}); avx2 {m['avx2']}, avx512f {m['avx512f']}, "
        f"avx512_bf16 {m['avx512_bf16']}, "
        f"amx_bf16 {m['amx_bf16']}; ATen kernels {m['aten_kernels']} {m['isa_overrides'] or ''}; "
        f"{m['threads']} threads; torch {m['torch']}; auto precision: {g['auto']}; sampler: {m.get('sampler', 'torch')}"
    )
    print(f"generation {N_HEADLINES}x{N_WORDS}, tutorial's algorithm (float32): {g['tutorial_ms']:.0f} ms")
    for p in g["precisions"]:
        print(
            f"  ours, {p} products{' (auto)' if p == g['auto'] else ''}: greedy {g[f'ours_greedy_{p}_ms']:.1f} ms "
            f"({g[f'speedup_greedy_{p}']:.1f}x), sampled {g[f'ours_sampled_{p}_ms']:.1f} ms "
            f"({_turns(g, f'sampled_{p}')})"
        )
    a = g["auto"]
    if f"ours_sampled_{a}_torch_ms" in g:
        print(
            f"  ours, {a}, words chosen by PyTorch's operations (no C compiler): sampled "
            f"{g[f'ours_sampled_{a}_torch_ms']:.1f} ms ({_turns(g, f'sampled_{a}_torch')})"
        )
    sp = result["step_precision"]
    print(
        f"validation perplexity through the generation step ({sp['headlines']} headlines): float32 "
        f"{sp['ppl_float32']:.3f}, bfloat16 {sp['ppl_bfloat16']:.3f}, int8 {sp['ppl_int8']:.3f} "
        f"(evaluate(): {sp['evaluate_ppl']:.3f})"
    )
    if "generation_vs_tutorial_model" in result:
        e = result["generation_vs_tutorial_model"]
        print(
            f"end to end: tutorial model + algorithm {e['tutorial_model_ms']:.0f} ms vs ours {e['ours_ms']:.1f} ms "
            f"({e['speedup']:.0f}x)"
        )
    for k, v in result["api"].items():
        print(f"api /generate {k} ({v['num']}x{v['max_words']}): p50 {v['p50_ms']:.0f} ms, p95 {v['p95_ms']:.0f} ms")
    b = result["browser"]
    if "skipped" in b:
        print(f"browser: skipped ({b['skipped']})")
    else:
        print(
            f"browser, app defaults (median of {b['runs']}): click -> first word {b['click_to_first_word_ms']:.0f} ms, "
            f"click -> last word {b['click_to_last_word_ms']:.0f} ms; the same request in-process "
            f"{b['in_process_ms']:.0f} ms"
        )
    tr = result["training"]
    for precision in ("float32", "bfloat16"):
        if precision in tr:
            t = tr[precision]
            print(
                f"training, {precision} both (median of {len(t['rounds'])}): ours {t['ours_tokens_per_s']:,.0f} tok/s "
                f"vs reference {t['reference_tokens_per_s']:,.0f} ({tr['reference_shape']}) = {t['ratio']:.2f}x, "
                f"vs {t['reference_matched_tokens_per_s']:,.0f} in our shape ({tr['batch_size']} x "
                f"{tr['matched_bptt']}) = {t['ratio_matched']:.2f}x; first round, every shape new "
                f"{t['first_round']['ratio']:.2f}x"
            )
    print(f"  padding {tr['padding_share']:.1%}, batch {tr['batch_size']}, model {tr['model']}")
    if "startup" in result:
        s = result["startup"]
        print(
            f"start-up {s['startup_s']:.1f} s (checkpoint load {s['checkpoint_load_s']:.2f} s, "
            f"import gradio {s['import_gradio_s']:.1f} s)"
        )
    if "abc" in result:
        b = result["abc"]
        print(
            f"ABC: {b['tokens_per_s']:,.0f} tok/s, {b['seconds_per_epoch']:.0f} s/epoch, "
            f"peak RSS {b['peak_rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    sys.exit(main())
