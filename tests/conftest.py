"""Shared fixtures: small data files in tests/data (written for these tests; headlines.txt is 400
template headlines, so a tiny model learns them in seconds), and a tiny trained checkpoint."""

from __future__ import annotations

import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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

TINY_MODEL = {"emb_dim": 32, "hidden_dim": 48, "num_layers": 5}


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
    train(
        tr,
        va,
        vocab,
        cfg,
        TrainConfig(epochs=6, batch_size=16, lr=1e-2, warmup_steps=10, seed=0),
        out,
        info={"data": {"summary": hl.summary()}},
        progress=False,
    )
    return out


@pytest.fixture(scope="session")
def cased_checkpoint(tmp_path_factory, headlines_txt) -> Path:
    """A tiny model that learned printed forms: trained on headlines.txt and cased.txt (title-case headlines
    with "What’s Going On", "G.O.P.", "Mr.", "TV", "iPhone"), every word in its vocabulary."""
    from lstm_textgen import ModelConfig, TrainConfig, build_vocab, load_headlines, split, train

    out = tmp_path_factory.mktemp("cased") / "cased"
    hl = load_headlines([headlines_txt, DATA / "cased.txt"])
    tr, va = split(hl.texts, 10)
    vocab = build_vocab((t.split() for t in hl.texts), min_count=1, form_counts=hl.form_counts)
    cfg = ModelConfig(vocab_size=len(vocab), **TINY_MODEL)
    train(
        tr, va, vocab, cfg, TrainConfig(epochs=2, batch_size=16, lr=1e-2, warmup_steps=10, seed=0), out, progress=False
    )
    return out


@pytest.fixture()
def tiny_model(tiny_checkpoint):
    from lstm_textgen import load_model

    return load_model(tiny_checkpoint)


def cli_command(*args) -> list[str]:
    """The command line of ``python -m lstm_textgen ARGS`` with this interpreter (for subprocesses)."""
    return [sys.executable, "-m", "lstm_textgen", *map(str, args)]


def run_cli(*args, timeout: float = 120, env: dict | None = None):
    """``python -m lstm_textgen ARGS`` in a real subprocess, from the repository root."""
    import subprocess

    return subprocess.run(
        cli_command(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})}
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(
    checkpoint: Path,
    max_queue: int | None = None,
    concurrency: int | None = None,
    stream_every: float = 0.0,
    training: Any = "default",
):
    """The real app (app.py's build_demo and launch options) served in-process on a free port; yields its URL.

    Streams every word (stream_every 0), where the app spaces updates 50 ms apart: the tiny test model
    writes a headline faster than that, and the tests want to see the stream. ``training``: app.TrainLimits,
    or None for no Train tab (default: the app's default limits).
    """
    import app
    from lstm_textgen import load_model

    demo, url = app.serve(
        load_model(checkpoint),
        "127.0.0.1",
        free_port(),
        max_queue=max_queue or app.MAX_QUEUE,
        concurrency=concurrency or app.CONCURRENCY,
        stream_every=stream_every,
        training=app.TrainLimits() if training == "default" else training,
        block=False,
    )
    try:
        yield url
    finally:
        demo.close()


@pytest.fixture(scope="session")
def server(tiny_checkpoint):
    """(url, gradio_client.Client) of the app serving the tiny model, shared by the tests that need one."""
    from gradio_client import Client

    with running_app(tiny_checkpoint) as url:
        yield url, Client(url, verbose=False)
