"""A small file and a small time budget (issue 14's Train tab): our quick recipe against the tutorial's model
trained to its best epoch, both on the tutorial's own file, scored on another month neither saw.

    python bench/budget.py --data ../shared/data/nyt/ArticlesApril2017.csv \
        --test ../shared/data/nyt/ArticlesMay2017.csv --minutes 2
    python bench/budget.py ... --widths 64 128 256 --no-test   # the validation sweep behind the recipe's widths

Both models share one vocabulary (the training split's words), so their perplexities compare directly. Widths
are chosen on the validation split only; the other month is read once, for the final figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch

import lstm_textgen as lt
from lstm_textgen.kernels import cpu_info


def run(args: argparse.Namespace) -> dict:
    headlines = lt.load_headlines(args.data)
    tr, va, vocab = lt.quick_data(headlines)  # the split and vocabulary the app's Train tab uses
    test = lt.load_headlines(args.test).texts if not args.no_test else None
    out: dict = {"headlines": len(headlines), "train": len(tr), "val": len(va), "vocab": len(vocab), "runs": []}
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}))
    tmp = Path(tempfile.mkdtemp())
    for width in args.widths or [None]:
        t0 = time.perf_counter()
        if width:  # the validation sweep: quick_plan's schedule at another width
            fields, cfg = lt.quick_plan(len(tr), args.minutes)
            fields = dict(fields, emb_dim=width, hidden_dim=width)
            config = lt.ModelConfig(vocab_size=len(vocab), **fields)
            cfg = dataclasses.replace(cfg, amp=not args.no_amp)
            model = lt.train(tr, va, vocab, config, cfg, tmp / f"ours-{width}", progress=False, log=lambda s: None)
        else:  # exactly what the Train tab runs, samples after each epoch included
            model = lt.quick_fit(headlines, tmp / "ours", args.minutes, amp=not args.no_amp, on_epoch=lambda row: None)
            fields = {k: model.config.to_dict()[k] for k in ("num_layers", "emb_dim", "hidden_dim")}
        row = {
            "model": "ours",
            **fields,
            "seconds": time.perf_counter() - t0,
            "epochs": len(model.metrics["history"]),
            "best_epoch": model.metrics["best"]["epoch"],
            "val_ppl": model.metrics["best"]["val_ppl"],
            "stopped": model.metrics["stopped"],
        }
        if test:
            ev = lt.evaluate(model, test)
            row["test_ppl"], row["test_unk_rate"] = ev.perplexity, ev.unk_rate
        out["runs"].append(row)
        print(json.dumps(row), flush=True)
    t0 = time.perf_counter()
    # the tutorial's training: Adam at its default 1e-3, no decay, no clipping, no averaging, 50 epochs
    tutorial_cfg = lt.TrainConfig(
        epochs=50, patience=50, lr=1e-3, weight_decay=0.0, clip=0.0, ema=0.0, warmup_steps=0, min_lr_ratio=1.0
    )
    tutorial = lt.train(
        tr,
        va,
        vocab,
        lt.ModelConfig.tutorial(len(vocab)),
        tutorial_cfg,
        tmp / "tutorial",
        progress=False,
        log=lambda s: None,
    )
    row = {
        "model": "tutorial (best of 50 epochs, Adam 1e-3)",
        "seconds": time.perf_counter() - t0,
        "best_epoch": tutorial.metrics["best"]["epoch"],
        "val_ppl": tutorial.metrics["best"]["val_ppl"],
    }
    if test:
        row["test_ppl"] = lt.evaluate(tutorial, test).perplexity
    out["runs"].append(row)
    print(json.dumps(row), flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="the training file (the tutorial's: ArticlesApril2017.csv)")
    p.add_argument("--test", required=True, help="another month, read once for the final figure")
    p.add_argument("--minutes", type=float, default=2.0, help="the time budget (default 2)")
    p.add_argument("--widths", type=int, nargs="*", help="override the recipe's width (a validation sweep)")
    p.add_argument("--no-test", action="store_true", help="validation figures only (for tuning)")
    p.add_argument("--no-amp", action="store_true", help="float32 throughout (the path of CPUs without bfloat16)")
    args = p.parse_args()
    torch.manual_seed(0)
    info = cpu_info()
    cpu, flags = info.get("model name", "?"), set(info.get("flags", "").split())
    print(f"cpu: {cpu}; bf16 {'avx512_bf16' in flags}; avx512f {'avx512f' in flags}; threads {torch.get_num_threads()}")
    result = run(args)
    ours = [r for r in result["runs"] if r["model"] == "ours"]
    tut = result["runs"][-1]
    if "test_ppl" in tut:
        for r in ours:
            print(
                f"ours (width {r['emb_dim']}) {r['test_ppl']:.1f} vs tutorial {tut['test_ppl']:.1f} on the test "
                f"month: {r['test_ppl'] / tut['test_ppl']:.3f}x, in {r['seconds']:.0f} s"
            )


if __name__ == "__main__":
    main()
