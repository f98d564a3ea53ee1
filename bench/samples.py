"""Output quality of sampled headlines, per sampling setting: fluency as judged by a Kneser-Ney 4-gram
fitted on text the model did not train on (the judge's perplexity of the samples, beside its perplexity
of real headlines it did not see either), how many copy a training headline verbatim, distinct-2, how
many end on their own (<eos>) before the length cap, and their length against real headlines, with a
few examples of each. bench/results/quality.md explains the app's default temperature and top-p from
these figures.

    python bench/samples.py --checkpoint runs/tt/NAME --train TRAINING FILES \
        --judge-data JUDGE FILES --judge-reference REAL FILES [--grid] [--show 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kn import KneserNey, perplexities

import lstm_textgen as lt
from lstm_textgen.vocab import BOS_ID, EOS_ID, PAD_ID

# 20 varied seed phrases: common openings, topics, question words, rare or unknown words, and none at all
SEEDS = [
    "",
    "trump",
    "the",
    "how to",
    "why",
    "a new",
    "new york",
    "china",
    "what",
    "after the",
    "north korea",
    "climate",
    "women",
    "the best",
    "your",
    "police",
    "my",
    "health care",
    "when the",
    "banana",
]
PER_SEED = 10
GRID = [(t, p) for t in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0) for p in (0.8, 0.9, 0.95, 1.0)]


def judge_ppl(judge: KneserNey | None, vocab: lt.Vocab, texts: list[str], ended: list[bool]) -> float | None:
    """The judge's perplexity of headlines (<eos> scored where a headline ended on its own)."""
    if judge is None:
        return None
    seqs = [[BOS_ID, *vocab.encode(t.split()), *([EOS_ID] if e else [])] for t, e in zip(texts, ended)]
    return perplexities(judge, [s for s in seqs if len(s) > 1])["ppl"]


def measure(
    model: lt.HeadlineModel,
    train: set[str],
    real_len: float,
    temperature: float,
    top_p: float,
    max_words: int,
    seed: int = 0,
    judge: KneserNey | None = None,
) -> dict:
    texts, ended, lengths, ends = [], 0, [], []
    for i, prompt in enumerate(SEEDS):
        r = lt.generate(
            model, prompt, num=PER_SEED, max_words=max_words, temperature=temperature, top_p=top_p, seed=seed + i
        )
        for h in r.headlines:
            words = h.prompt_words + h.words
            texts.append(" ".join(words))
            lengths.append(len(words))
            ended += h.ended
            ends.append(h.ended)
    bigrams = [(a, b) for t in texts for a, b in zip(t.split(), t.split()[1:])]
    return {
        "temperature": temperature,
        "top_p": top_p,
        "headlines": len(texts),
        "judge_ppl": judge_ppl(judge, model.vocab, texts, ends),
        "copied_share": sum(t in train for t in texts) / len(texts),
        "distinct_2": len(set(bigrams)) / max(1, len(bigrams)),
        "ended_share": ended / len(texts),
        "mean_words": statistics.mean(lengths),
        "real_mean_words": real_len,
        "examples": texts[10:13] + texts[30:32],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/nyt-headlines", help="model to sample from")
    p.add_argument("--train", nargs="+", required=True, help="the model's training headlines (to find verbatim copies)")
    d = lt.Options
    p.add_argument(
        "--temperature",
        type=float,
        default=d.temperature,
        help=f"sampling temperature (without --grid; default {d.temperature}, the app's)",
    )
    p.add_argument("--top-p", type=float, default=d.top_p, help=f"nucleus size (without --grid; default {d.top_p})")
    p.add_argument(
        "--max-words", type=int, default=d.max_words, help=f"the length cap (default {d.max_words}, the app's)"
    )
    p.add_argument("--grid", action="store_true", help="measure a grid of temperatures and top-p values")
    p.add_argument(
        "--judge-data",
        nargs="+",
        help="fit the judge (a Kneser-Ney 4-gram, the model's vocabulary) on "
        "these headlines: text the model did not train on",
    )
    p.add_argument(
        "--judge-reference",
        nargs="+",
        help="real headlines the model did not see: half of them (by "
        "headline hash) is held out of the judge's data, and the judge's perplexity of that half is the "
        "figure a setting's samples are read against",
    )
    p.add_argument(
        "--show",
        type=int,
        default=0,
        help="also print the first N headlines from no seed words, "
        "random seed 0, at the given temperature and top-p (unpicked)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)
    model = lt.load_model(args.checkpoint)
    train = set(lt.load_headlines(args.train).texts)
    real_len = statistics.mean(len(t.split()) for t in train)
    vocab = model.vocab
    judge = reference = None
    if args.judge_data:
        judge_texts = lt.load_headlines(args.judge_data).texts
        real: list[str] = []
        if args.judge_reference:  # half of them (by headline hash) is the reference, and the judge never sees it
            _, real = lt.split(lt.load_headlines(args.judge_reference).texts, 50)
            judge_texts = sorted(set(judge_texts) - set(real))
        judge = KneserNey([vocab.encode_headline(t.split()) for t in judge_texts], 4, len(vocab), BOS_ID, [PAD_ID])
        if real:
            reference = perplexities(judge, [vocab.encode_headline(t.split()) for t in real])["ppl"]
    settings = GRID if args.grid else [(args.temperature, args.top_p)]
    rows = [measure(model, train, real_len, t, tp, args.max_words, judge=judge) for t, tp in settings]
    shown = []
    if args.show:
        r = lt.generate(
            model, "", num=args.show, max_words=args.max_words, temperature=args.temperature, top_p=args.top_p, seed=0
        )
        shown = [h.text for h in r.headlines]
    if args.json:
        print(json.dumps({"rows": rows, "judge_reference_ppl": reference, "shown": shown}, indent=1))
        return 0
    if reference is not None:
        print(f"judge's perplexity of real headlines it did not see: {reference:.1f}\n")
    print("| temperature | top-p | judge ppl | copied | distinct-2 | ended with <eos> | mean words (real) | examples |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        examples = " / ".join(vocab.headline(t.split()) for t in r["examples"][:3])
        jp = "—" if r["judge_ppl"] is None else f"{r['judge_ppl']:.1f}"
        print(
            f"| {r['temperature']} | {r['top_p']} | {jp} | {r['copied_share']:.1%} | {r['distinct_2']:.3f} | "
            f"{r['ended_share']:.1%} | {r['mean_words']:.1f} ({r['real_mean_words']:.1f}) | {examples} |"
        )
    for i, text in enumerate(shown, 1):
        print(f"{i}. {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
