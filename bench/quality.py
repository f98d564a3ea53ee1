"""Held-out perplexity: our LSTM vs a unigram, Kneser-Ney 3-/4-grams and the tutorial's model, on the same tokens.

    python bench/quality.py --train ../shared/data/nyt/Articles{Jan,Feb,March,April,May}2017.csv \\
        ../shared/data/nyt/Articles{Jan,Feb}2018.csv --test ../shared/data/nyt/ArticlesMarch2018.csv \\
        --checkpoint runs/quality-lstm [--tutorial-checkpoint runs/quality-tutorial] [--json]

With ``--checkpoint`` the baselines use that checkpoint's cleaning and vocabulary and are fitted
on all of ``--train``. Without it, the default recipe (``lstm_textgen train`` with no model
flags) and the tutorial's model are trained first, into ``--work-dir``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kn import KneserNey, Unigram, perplexities

import lstm_textgen as lt
from lstm_textgen.cli import main as cli_main
from lstm_textgen.vocab import BOS_ID, PAD_ID

# The tutorial's optimisation: Adam at 1e-3, constant, no clipping; batches of 64 (w, w) -> w pairs,
# which is about 8 headlines. Its 50 epochs would take hours here (a V x V layer): capped.
TUTORIAL_FLAGS = [
    "--arch",
    "tutorial",
    "--lr",
    "1e-3",
    "--weight-decay",
    "0",
    "--clip",
    "0",
    "--warmup-steps",
    "0",
    "--min-lr-ratio",
    "1",
    "--batch-size",
    "8",
    "--patience",
    "3",
]


def train_default(train: list[str], out: Path, extra: list[str]) -> float:
    t0 = time.time()
    if not (out / "config.json").exists():
        code = cli_main(["train", "--data", *train, "--out", str(out), *extra])
        if code:
            raise SystemExit(f"training {out} failed")
    return time.time() - t0


def training_seconds(model: lt.HeadlineModel) -> float:
    return sum(h["seconds"] for h in model.metrics.get("history", []))


def mixture(main: KneserNey, other: KneserNey, seqs: list[list[int]]) -> dict:
    """main and other interpolated per token, lam * P_main + (1 - lam) * P_other, with the lam that scores
    best on ``seqs`` themselves: an oracle weight, so this baseline is if anything too strong."""
    a = [main.sequence_logprobs(s) for s in seqs]
    b = [other.sequence_logprobs(s) for s in seqs]
    best = None
    for lam in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        nll = nll2 = 0.0
        n = n2 = 0
        for xs, ys in zip(a, b):
            lps = [math.log(lam * math.exp(x) + (1 - lam) * math.exp(y)) for x, y in zip(xs, ys)]
            nll, n, nll2, n2 = nll - sum(lps), n + len(lps), nll2 - sum(lps[2:]), n2 + max(0, len(lps) - 2)
        row = {"ppl": math.exp(nll / n), "ppl_pos2": math.exp(nll2 / n2), "tokens": n, "weight": lam}
        if best is None or row["ppl"] < best["ppl"]:
            best = row
    return best


def run(args: argparse.Namespace) -> dict:
    work = Path(args.work_dir)
    if args.checkpoint:
        lstm_dir = Path(args.checkpoint)
    else:
        lstm_dir = work / "lstm"
        train_default(args.train, lstm_dir, ["--pretrain-data", *args.pretrain_data] if args.pretrain_data else [])
        if not args.tutorial_checkpoint:
            args.tutorial_checkpoint = str(work / "tutorial")
            train_default(
                args.train, Path(args.tutorial_checkpoint), [*TUTORIAL_FLAGS, "--epochs", str(args.tutorial_epochs)]
            )
    lstm = lt.load_model(lstm_dir)
    vocab = lstm.vocab
    assert vocab is not None
    train = lt.load_headlines(args.train, column=args.column).texts
    test = lt.load_headlines(args.test, column=args.column).texts
    train_seqs = [vocab.encode_headline(t.split()) for t in train]
    test_seqs = [vocab.encode_headline(t.split()) for t in test]

    models: dict[str, dict] = {}
    timings: dict[str, float] = {}
    t0 = time.time()
    models["unigram"] = perplexities(Unigram(train_seqs, len(vocab), BOS_ID, [PAD_ID]), test_seqs)
    for n in (3, 4):
        t = time.time()
        models[f"kn{n}"] = perplexities(KneserNey(train_seqs, n, len(vocab), BOS_ID, [PAD_ID]), test_seqs)
        timings[f"kn{n}_fit_and_eval_s"] = time.time() - t
    if args.baseline_extra:  # Kneser-Ney on all the text the LSTM saw: --train plus the pre-training corpora
        t = time.time()
        extra = [vocab.encode_headline(t.split()) for t in lt.load_headlines(args.baseline_extra).texts]
        models["kn4_all_text"] = perplexities(KneserNey(train_seqs + extra, 4, len(vocab), BOS_ID, [PAD_ID]), test_seqs)
        models["kn4_by_corpus"] = mixture(
            KneserNey(train_seqs, 4, len(vocab), BOS_ID, [PAD_ID]),
            KneserNey(extra, 4, len(vocab), BOS_ID, [PAD_ID]),
            test_seqs,
        )
        timings["kn4_all_text_s"] = time.time() - t
    for name, path in (("tutorial", args.tutorial_checkpoint), ("lstm", lstm_dir)):
        if not path:
            continue
        model = lstm if name == "lstm" else lt.load_model(path)
        if model.vocab != vocab:
            raise SystemExit(f"{path}: its vocabulary differs from {lstm_dir}'s; the comparison needs the same tokens")
        ev = lt.evaluate(model, test)
        models[name] = {
            "ppl": ev.perplexity,
            "ppl_pos2": ev.perplexity_pos2,
            "tokens": ev.tokens,
            "train_seconds": training_seconds(model),
            "epochs": len(model.metrics.get("history", [])),
            "best_epoch": model.metrics.get("best", {}).get("epoch"),
            "val_ppl": model.metrics.get("best", {}).get("val_ppl"),
            "parameters": model.num_parameters(),
        }
    best_kn = min(("kn3", "kn4"), key=lambda k: models[k]["ppl"])
    if args.baseline_extra:
        ratios_all = {k: models["lstm"]["ppl"] / models[k]["ppl"] for k in ("kn4_all_text", "kn4_by_corpus")}
    ratio = models["lstm"]["ppl"] / models[best_kn]["ppl"]
    return {
        "models": models,
        "best_kn": best_kn,
        "lstm_vs_best_kn": ratio,
        "lstm_vs_kn4_all_text": max(ratios_all.values()) if args.baseline_extra else None,  # vs the better one
        "test": {
            "headlines": len(test),
            "tokens": models["lstm"]["tokens"],
            "unk_rate": lt.evaluate(lstm, test).unk_rate,
        },
        "train_headlines": len(train),
        "vocab_size": len(vocab),
        "checkpoint": str(lstm_dir),
        "seconds": time.time() - t0,
        **timings,
    }


def record_test_result(result: dict, args: argparse.Namespace) -> None:
    """Write the held-out result into another checkpoint's metrics (the shipped model, trained on every month,
    cannot be tested on one of them: it reports what the same recipe scored without that month)."""
    target = lt.load_model(args.record_in)
    lstm = result["models"]["lstm"]
    target.metrics["test"] = {
        "perplexity": lstm["ppl"],
        "data": ", ".join(Path(t).name for t in args.test),
        "note": f"the same recipe trained without that month; {result['lstm_vs_best_kn']:.3f}x the best Kneser-Ney "
        f"({result['best_kn']}, {result['models'][result['best_kn']]['ppl']:.1f})"
        + (
            f", {result['lstm_vs_kn4_all_text']:.3f}x a Kneser-Ney 4-gram fitted on all the text it saw"
            if result.get("lstm_vs_kn4_all_text")
            else ""
        ),
        "baselines": {k: round(v["ppl"], 2) for k, v in result["models"].items() if k != "lstm"},
    }
    lt.save_checkpoint(target, args.record_in)


def table(result: dict) -> str:
    kn4 = result["models"]["kn4"]["ppl"]
    lines = ["| model | test ppl | ppl, positions >= 2 | vs KN 4-gram |", "|---|---:|---:|---:|"]
    for name, m in result["models"].items():
        lines.append(f"| {name} | {m['ppl']:.1f} | {m['ppl_pos2']:.1f} | {m['ppl'] / kn4:.3f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--train", nargs="+", required=True, help="training headline files (the baselines fit on all of them)"
    )
    p.add_argument("--test", nargs="+", required=True, help="held-out headline files")
    p.add_argument("--checkpoint", help="our LSTM checkpoint to evaluate (default: train the default recipe)")
    p.add_argument("--tutorial-checkpoint", help="a --arch tutorial checkpoint with the same vocabulary, to include")
    p.add_argument("--work-dir", default="runs/quality", help="where to train when no checkpoint is given")
    p.add_argument("--tutorial-epochs", type=int, default=8, help="epoch cap for the tutorial's model (default 8)")
    p.add_argument(
        "--pretrain-data",
        nargs="+",
        help="when training the default recipe: pre-train on these first (the recipe uses ../shared/data/abc)",
    )
    p.add_argument("--column", help="CSV column with the headlines (default: found by name)")
    p.add_argument(
        "--baseline-extra",
        nargs="+",
        metavar="PATH",
        help="the pre-training corpora: also fit Kneser-Ney "
        "4-grams on --train plus these (pooled, and interpolated by corpus) for the fair comparison",
    )
    p.add_argument(
        "--record-in",
        metavar="DIR",
        help="also write the LSTM's test perplexity into this checkpoint's "
        "metrics (for the shipped model: what its recipe scores on a month it was not trained on)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    try:
        result = run(args)
    except lt.LstmTextgenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.record_in:
        record_test_result(result, args)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(table(result))
        print(
            f"\nLSTM / best Kneser-Ney ({result['best_kn']}): {result['lstm_vs_best_kn']:.3f}x "
            f"on {result['test']['tokens']:,} test tokens (unknown words {result['test']['unk_rate']:.1%})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
