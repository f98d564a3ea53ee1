"""A behaviour fingerprint for refactors: hashes of seeded generations from the shipped model and of
seeded training runs (weights and per-epoch losses, not timings) on the test fixture.

Run it before and after a change that should not change behaviour; the hashes must match:

    python bench/fingerprint.py > /tmp/before.txt   # ...change...
    python bench/fingerprint.py | diff /tmp/before.txt -
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import lstm_textgen as lt


def digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def weights_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode() + v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def generations() -> None:
    model = lt.load_model(lt.default_checkpoint())
    for precision in ("float32", "auto"):
        for kw in ({}, {"temperature": 1.0, "top_k": 0, "top_p": 1.0}, {"temperature": 0}):
            runs = [
                lt.generate(model, p, num=5, max_words=15, seed=s, precision=precision, **kw)
                for p in ("", "trump says")
                for s in (0, 1)
            ]
            out = [[(h.words, h.text) for h in g.headlines] for g in runs]
            print(f"generate precision={precision} {kw}: {digest(out)}")


def trainings() -> None:
    hl = lt.load_headlines(ROOT / "tests" / "data" / "headlines.txt")
    tr, va = lt.split(hl.texts, 10)
    vocab = lt.build_vocab((t.split() for t in tr), min_count=2)
    cfg = lt.ModelConfig(vocab_size=len(vocab), emb_dim=32, hidden_dim=48, num_layers=5)
    for amp in (False, True):
        for ema in (0.0, 0.995):
            with tempfile.TemporaryDirectory() as tmp:
                tc = lt.TrainConfig(epochs=2, batch_size=16, lr=1e-2, warmup_steps=10, seed=0, amp=amp, ema=ema)
                m = lt.train(tr, va, vocab, cfg, tc, Path(tmp) / "m", progress=False, log=lambda s: None)
                hist = [{k: r[k] for k in ("epoch", "train_loss", "val_loss", "lr")} for r in m.metrics["history"]]
                print(f"train amp={amp} ema={ema}: weights {weights_digest(m)} history {digest(hist)}")


def recipes() -> None:
    """The command line's recipes: pre-training, a time split with a refit, mixed-in data."""
    from lstm_textgen.cli import main

    data = ROOT / "tests" / "data"
    tiny = ["--emb-dim", "32", "--hidden-dim", "48", "--batch-size", "16", "--lr", "0.01", "--warmup-steps", "10"]
    runs = {
        "pretrain": [
            "--data",
            data / "headlines.txt",
            "--pretrain-data",
            data / "pretrain.txt",
            "--pretrain-epochs",
            "1",
            "--epochs",
            "2",
        ],
        "refit+mix": [
            "--data",
            data / "headlines.txt",
            "--val-data",
            data / "cased.txt",
            "--refit",
            "--mix-data",
            data / "pretrain.txt",
            "--epochs",
            "2",
            "--min-count",
            "1",
        ],
        "tutorial": ["--data", data / "headlines.txt", "--arch", "tutorial", "--epochs", "1", "--no-amp"],
    }
    for name, args in runs.items():
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "m"
            assert main(["train", *map(str, args), *tiny, "--out", str(out), "--quiet"]) == 0
            m = lt.load_model(out)
            keep = ("data", "best", "refit", "pretrain", "train_headlines", "val_headlines", "stopped")
            record = {k: m.metrics.get(k) for k in keep}
            for part in (record["refit"] or {}, record["pretrain"] or {}):
                part.pop("history", None), part.pop("minutes", None)
            record["data"] = {k: v for k, v in record["data"].items() if k != "paths"}
            print(f"recipe {name}: weights {weights_digest(m)} vocab {digest(m.vocab.itos)} metrics {digest(record)}")


if __name__ == "__main__":
    torch.set_num_threads(1)  # identical reductions run to run
    generations()
    trainings()
    recipes()
