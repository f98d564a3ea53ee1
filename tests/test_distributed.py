"""Training under torchrun with DistributedDataParallel: 2 CPU processes (gloo) on tiny data."""

import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import DATA, ROOT

from lstm_textgen import generate, load_model

pytestmark = pytest.mark.slow  # torchrun with two processes


def test_two_processes_train_on_different_batches_and_rank_0_writes_one_checkpoint(tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "lstm_textgen",
        "train",
        "--data",
        str(DATA / "headlines.txt"),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--emb-dim",
        "32",
        "--hidden-dim",
        "48",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
        "--warmup-steps",
        "10",
        "--device",
        "cpu",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:  # a hung rendezvous must not leave workers behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert err.count("best validation perplexity") == 1  # rank 0 alone reports
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["backend"] == "gloo"
    for row in metrics["history"]:
        ranks = row["rank_batches"]
        assert len(ranks) == 2 and ranks[0]["digest"] != ranks[1]["digest"]  # different examples
        assert ranks[0]["examples"] + ranks[1]["examples"] >= metrics["train_headlines"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ddp.")]  # no temp folders left behind
    model = load_model(out)
    assert model.config.num_layers == 5
    assert generate(model, "trump", num=2, seed=0).headlines[0].words
