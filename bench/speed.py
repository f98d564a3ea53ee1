"""Speed, side by side in one run (absolute times on a shared 2-core machine drift; ratios hold).

    python bench/speed.py [--checkpoint checkpoints/nyt-headlines] [--data ../shared/data/nyt] [--json]
    python bench/speed.py --abc ../shared/data/abc      # also one epoch on the larger ABC corpus

1. Generation, 10 headlines x 20 words with the bundled checkpoint: ours (one batch, state carried)
   vs the tutorial's algorithm (one headline at a time; every step re-runs the model on the last two
   words, takes the argmax and finds the word by scanning the whole vocabulary dict).
2. The app's /generate endpoint through gradio_client on a local server: p50/p95 latency.
3. Training throughput: our loop vs a plain loop in the style of PyTorch's
   examples/word_language_model (same model size, data and batch size), and our padding share.
4. Start-up: `python app.py` until the first page is served; checkpoint load time.
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
from torch import nn

import lstm_textgen as lt
from lstm_textgen.mixed import stepper

N_HEADLINES, N_WORDS = 10, 20


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


def interleaved_medians(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed in turns (a, b, c, a, b, c, ...) after a warm-up call each,
    so that a slow minute on this shared machine slows every contender alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


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


def bench_generation(model: lt.HeadlineModel, prompt: str, repeats: int) -> dict:
    """The tutorial's algorithm (float32, as the tutorial runs) vs ours at the default precision ("auto":
    bfloat16 products on this CPU), and ours in float32 too, to show what the algorithm alone gives."""
    assert all(len(h.words) == N_WORDS for h in ours(model, prompt).headlines)
    t = interleaved_medians(
        {
            "tutorial": lambda: [tutorial_generate(model, prompt, N_WORDS) for _ in range(N_HEADLINES)],
            "greedy": lambda: ours(model, prompt, temperature=0),
            "sampled": lambda: ours(model, prompt),
            "greedy_float32": lambda: ours(model, prompt, temperature=0, precision="float32"),
            "sampled_float32": lambda: ours(model, prompt, precision="float32"),
        },
        repeats,
    )
    out = {"tutorial_ms": t["tutorial"] * 1e3, "step_dtype": str(lt.Options().step_dtype(model.device))}
    for name in ("greedy", "sampled", "greedy_float32", "sampled_float32"):
        out[f"ours_{name}_ms"] = t[name] * 1e3
        out[f"speedup_{name}"] = t["tutorial"] / t[name]
    return out


def step_precision(model: lt.HeadlineModel, data: str, batch_size: int = 64) -> dict:
    """Perplexity of the checkpoint's own validation headlines read through the generation step, with float32
    and with bfloat16 products: what the faster step costs in quality (the test month is never read)."""
    from lstm_textgen.data import encode_all, pad_batch
    from lstm_textgen.vocab import PAD_ID

    val_percent = model.metrics.get("data", {}).get("val_percent", lt.Recipe.val_percent)
    _, va = lt.split(lt.load_headlines(data).texts, val_percent)  # --data: the folder the checkpoint was trained on
    seqs = encode_all(va, model.vocab)
    out = {"headlines": len(va), "data": data}
    with torch.inference_mode():
        for dtype in (torch.float32, torch.bfloat16):
            step = stepper(model, dtype)
            nll, tokens = 0.0, 0
            for i in range(0, len(seqs), batch_size):
                x = pad_batch(seqs[i : i + batch_size])
                state = model.initial_state(x.size(0))
                for t in range(x.size(1) - 1):
                    logits, state = step(x[:, t], state)
                    nll += F.cross_entropy(logits, x[:, t + 1], ignore_index=PAD_ID, reduction="sum").item()
                tokens += int((x[:, 1:] != PAD_ID).sum())
            out[f"ppl_{str(dtype).removeprefix('torch.')}"] = math.exp(nll / tokens)
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
        x, y = data[i : i + seq_len], data[i + 1 : i + 1 + seq_len].reshape(-1)
        if hidden is not None:
            hidden = tuple(h.detach() for h in hidden)
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            output, hidden = model(x, hidden)
        output, hidden = output.float(), tuple(h.float() for h in hidden)
        loss = criterion(output.view(-1, cfg.vocab_size), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        tokens += y.numel()
        if tokens >= max_tokens:
            break
    return tokens / (time.perf_counter() - t0)


def bench_training(data: list[str], cfg_from: lt.HeadlineModel, work: Path, rounds: int = 3) -> dict:
    """``rounds`` times: one epoch of ours, then the reference on as many tokens; medians of the ratios
    (this shared machine's speed drifts by 10-20% between minutes)."""
    from lstm_textgen.data import encode_all

    texts = lt.load_headlines(data).texts
    tr, va = lt.split(texts, lt.Recipe.val_percent)
    vocab = cfg_from.vocab
    cfg = cfg_from.config
    seqs = encode_all(tr, vocab)
    # the same batch size in sequences, but with as many tokens a step as our headline batches hold
    matched_bptt = max(1, round(sum(len(s) - 1 for s in seqs) / len(seqs)))
    runs = []
    for r in range(rounds):
        tcfg = lt.TrainConfig(epochs=1, seed=r)
        ours = lt.train(tr, va[:64], vocab, cfg, tcfg, work / f"ours{r}", progress=False, log=lambda s: None)
        row = ours.metrics["history"][0]
        tokens = row["tokens_per_s"] * row["seconds"]
        ref = reference_tokens_per_s(seqs, cfg, tcfg.batch_size, max_tokens=tokens)
        ref_matched = reference_tokens_per_s(seqs, cfg, tcfg.batch_size, max_tokens=tokens, bptt=matched_bptt)
        run = {
            "ours": row["tokens_per_s"],
            "reference": ref,
            "reference_matched": ref_matched,
            "ratio": row["tokens_per_s"] / ref,
            "ratio_matched": row["tokens_per_s"] / ref_matched,
            "padding_share": row["padding_share"],
            "autocast": ours.metrics["autocast"],
        }
        if ours.metrics["autocast"]:  # the reference with the same bfloat16 products, to show where the gain is from
            ref_amp = reference_tokens_per_s(seqs, cfg, tcfg.batch_size, max_tokens=tokens, autocast=True)
            run.update(reference_autocast=ref_amp, ratio_autocast=row["tokens_per_s"] / ref_amp)
        runs.append(run)

    def med(key: str) -> float | None:
        return statistics.median(run[key] for run in runs) if key in runs[0] else None

    return {
        "ours_tokens_per_s": med("ours"),
        "reference_tokens_per_s": med("reference"),
        "ratio": med("ratio"),
        "reference_matched_tokens_per_s": med("reference_matched"),
        "ratio_matched": med("ratio_matched"),
        "reference_autocast_tokens_per_s": med("reference_autocast"),
        "ratio_autocast": med("ratio_autocast"),
        "autocast": runs[0]["autocast"],
        "matched_bptt": matched_bptt,
        "padding_share": runs[0]["padding_share"],
        "batch_size": tcfg.batch_size,
        "model": f"{cfg.num_layers}x{cfg.hidden_dim} emb {cfg.emb_dim}",
        "rounds": runs,
    }


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
    p.add_argument("--train-rounds", type=int, default=5, help="rounds of the training comparison (median)")
    p.add_argument("--work-dir", default="runs/speed", help="scratch folder for the training runs")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    work = Path(args.work_dir)
    model = lt.load_model(args.checkpoint)
    prompt = lt.suggested_prompts(model, 1)[0]
    result: dict = {"checkpoint": args.checkpoint, "prompt": prompt, "threads": torch.get_num_threads()}
    result["generation"] = bench_generation(model, prompt, args.repeats)
    result["step_precision"] = step_precision(model, args.data)
    if args.tutorial_checkpoint:
        result["generation_vs_tutorial_model"] = bench_tutorial_model(
            model, lt.load_model(args.tutorial_checkpoint), prompt, args.repeats
        )
    result["api"] = bench_api(model, prompt, args.requests)
    result["training"] = bench_training([args.data], model, work, args.train_rounds)
    result["startup"] = bench_startup(args.checkpoint)
    if args.abc:
        result["abc"] = bench_abc(args.abc, model, work)
    result.update(
        {
            "generate_speedup_vs_tutorial": result["generation"]["speedup_sampled"],
            "api_p50_ms": result["api"]["default"]["p50_ms"],
            "api_p95_ms": result["api"]["default"]["p95_ms"],
            "train_tokens_per_s_ratio_vs_reference": result["training"]["ratio"],
            "padding_share": result["training"]["padding_share"],
            "startup_s": result["startup"]["startup_s"],
        }
    )
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        g, a, tr, s = result["generation"], result["api"], result["training"], result["startup"]
        print(
            f"generation {N_HEADLINES}x{N_WORDS}: tutorial {g['tutorial_ms']:.0f} ms | ours ({g['step_dtype']}) "
            f"greedy {g['ours_greedy_ms']:.1f} ms ({g['speedup_greedy']:.1f}x), "
            f"sampled {g['ours_sampled_ms']:.1f} ms "
            f"({g['speedup_sampled']:.1f}x) | ours in float32: greedy {g['ours_greedy_float32_ms']:.1f} ms "
            f"({g['speedup_greedy_float32']:.1f}x), sampled {g['ours_sampled_float32_ms']:.1f} ms "
            f"({g['speedup_sampled_float32']:.1f}x)"
        )
        sp = result["step_precision"]
        print(
            f"validation perplexity through the generation step ({sp['headlines']} headlines): float32 "
            f"{sp['ppl_float32']:.2f}, bfloat16 {sp['ppl_bfloat16']:.2f} (evaluate(): {sp['evaluate_ppl']:.2f})"
        )
        if "generation_vs_tutorial_model" in result:
            e = result["generation_vs_tutorial_model"]
            print(
                f"end to end: tutorial model + algorithm {e['tutorial_model_ms']:.0f} ms vs ours {e['ours_ms']:.1f} ms "
                f"({e['speedup']:.0f}x)"
            )
        for k, v in a.items():
            print(
                f"api /generate {k} ({v['num']}x{v['max_words']}): p50 {v['p50_ms']:.0f} ms, p95 {v['p95_ms']:.0f} ms"
            )
        print(
            f"training (median of {len(tr['rounds'])}): ours {tr['ours_tokens_per_s']:,.0f} tok/s vs reference "
            f"{tr['reference_tokens_per_s']:,.0f} tok/s (bptt 35) = {tr['ratio']:.2f}x, "
            f"vs {tr['reference_matched_tokens_per_s']:,.0f} tok/s "
            f"(bptt {tr['matched_bptt']}, tokens a step matched) = {tr['ratio_matched']:.2f}x; "
            f"padding {tr['padding_share']:.1%}; ours autocast: {tr['autocast']}"
        )
        if tr["ratio_autocast"] is not None:
            print(
                f"  the reference under the same bfloat16 autocast: "
                f"{tr['reference_autocast_tokens_per_s']:,.0f} tok/s = {tr['ratio_autocast']:.2f}x"
            )
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
