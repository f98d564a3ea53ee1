"""Shared fixtures: small data files in tests/data (written for these tests; headlines.txt is 400
template headlines, so a tiny model learns them in seconds), and a tiny trained checkpoint."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # app.py lives at the repository root
    sys.path.insert(0, str(ROOT))
DATA = Path(__file__).resolve().parent / "data"
SHARED_NYT = ROOT.parent / "shared" / "data" / "nyt"
SHARED_ABC = ROOT.parent / "shared" / "data" / "abc"

needs_nyt = pytest.mark.skipif(
    not SHARED_NYT.is_dir(), reason=f"real NYT headlines not found at {SHARED_NYT} (only CI and dev machines have them)"
)

TINY_MODEL = dict(emb_dim=32, hidden_dim=48, num_layers=5)


@pytest.fixture(scope="session")
def headlines_txt() -> Path:
    return DATA / "headlines.txt"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, headlines_txt) -> Path:
    """A 5-layer LSTM trained for a few epochs on tests/data/headlines.txt (a few seconds on CPU)."""
    from lstm_textgen import ModelConfig, TrainConfig, build_vocab, load_headlines, split, train

    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    hl = load_headlines(headlines_txt)
    tr, va = split(hl.texts, 10)
    vocab = build_vocab((t.split() for t in tr), min_count=2)
    cfg = ModelConfig(vocab_size=len(vocab), **TINY_MODEL)
    train(tr, va, vocab, cfg, TrainConfig(epochs=6, batch_size=16, lr=1e-2, warmup_steps=10, seed=0), out,
          info={"data": {"summary": hl.summary()}}, progress=False)  # fmt: skip
    return out


@pytest.fixture()
def tiny_model(tiny_checkpoint):
    from lstm_textgen import load_model

    return load_model(tiny_checkpoint)
