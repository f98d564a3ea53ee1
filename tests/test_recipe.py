"""The training recipe from Python: the same stages and the same model as the command line."""

import importlib
import itertools
import json
import subprocess
import sys

import pytest
import torch
from conftest import DATA, ROOT, TINY_MODEL, run_cli

from lstm_textgen import Recipe, TrainConfig, fit, load_model

TRAIN = {"batch_size": 16, "lr": 0.01, "warmup_steps": 10, "epochs": 2}


@pytest.mark.slow
def test_fit_in_python_is_the_command_lines_recipe(tmp_path):
    recipe = Recipe(data=[DATA / "headlines.txt"], pretrain_data=[DATA / "pretrain.txt"], pretrain_epochs=1)
    model = fit(recipe, tmp_path / "py", model=TINY_MODEL, train_config=TrainConfig(**TRAIN), progress=False)
    assert (tmp_path / "py.pretrain" / "config.json").exists()
    assert model.metrics["pretrain"]["epochs"] == 1 and len(model.metrics["history"]) == 2
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**TINY_MODEL, **TRAIN}.items()]
    proc = run_cli(
        "train",
        "--data",
        DATA / "headlines.txt",
        "--pretrain-data",
        DATA / "pretrain.txt",
        "--pretrain-epochs",
        1,
        "--out",
        tmp_path / "cli",
        "--quiet",
        *[f.replace("num-layers", "layers") for f in flags],
    )
    assert proc.returncode == 0, proc.stderr
    cli = load_model(tmp_path / "cli")
    assert cli.vocab == model.vocab and cli.config == model.config
    same = [torch.equal(a, b) for a, b in zip(cli.state_dict().values(), model.state_dict().values())]
    assert all(same)
    saved = json.loads((tmp_path / "py" / "metrics.json").read_text())
    assert saved["cli"]["pretrain_data"] == [str(DATA / "pretrain.txt")] and saved["command"] is None


def test_a_recipe_refuses_what_cannot_work():
    with pytest.raises(ValueError, match="no data"):
        Recipe()
    with pytest.raises(ValueError, match="needs --refit"):
        Recipe(data=["x.txt"], refit_seeds=2)
    with pytest.raises(ValueError, match="both give starting weights"):
        Recipe(data=["x.txt"], init_from="ckpt", pretrain_data=["y.txt"])


def test_the_quick_plan_keeps_five_layers_and_the_budget():
    from lstm_textgen.recipe import quick_plan

    small, cfg = quick_plan(831, 2)
    big, _ = quick_plan(50_000, 10)
    assert small["num_layers"] == big["num_layers"] == 5
    assert small["hidden_dim"] < big["hidden_dim"]
    assert cfg.max_minutes == 2 and cfg.patience < cfg.epochs


@pytest.mark.slow
def test_the_quick_stream_reports_each_epoch_and_closing_it_stops_the_training(tmp_path, monkeypatch):
    """What the app's Train tab runs: ticks, epochs with headlines from the best model so far, then the end;
    a watcher who leaves (the stream closed) stops the training at the next batch and keeps the best so far,
    and the freed memory of the training goes back to the system."""
    import threading

    from lstm_textgen import DataError, load_headlines, quick_fit_stream

    recipe = importlib.import_module("lstm_textgen.recipe")
    trims = []
    monkeypatch.setattr(recipe, "trim_heap", lambda: trims.append(threading.enumerate()) or True)
    headlines = load_headlines(DATA / "headlines.txt")
    seen = []  # a caller's own on_epoch is called too
    stream = quick_fit_stream(headlines, tmp_path / "m", 1.0, tick_s=0.2, samples=2, on_epoch=seen.append)
    events = []
    for event in stream:
        events.append(event)
        if "epoch" in event and event["epoch"]["epoch"] == 2:
            stream.close()  # the app's request was cancelled
    epochs = [e["epoch"] for e in events if "epoch" in e]
    assert [r["epoch"] for r in epochs] == [1, 2] and all(len(r["samples"]) == 2 for r in epochs)
    assert [r["epoch"] for r in seen[:2]] == [1, 2]
    assert all(e["elapsed"] <= f["elapsed"] for e, f in itertools.pairwise(events))
    assert not any(t.name == "quick_fit" for t in threading.enumerate())  # the worker has ended
    assert len(trims) == 1 and not any(t.name == "quick_fit" for t in trims[0])  # trimmed once, after the worker
    model = load_model(tmp_path / "m")
    assert model.metrics["best"]["epoch"] in (1, 2) and len(model.metrics["history"]) <= 3
    with pytest.raises(DataError, match=r"only 18 usable headlines .*at least 50"):
        next(quick_fit_stream(load_headlines(DATA / "cased.txt"), tmp_path / "few", 1.0))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads RSS from /proc; malloc_trim is glibc's")
def test_trimming_the_heap_gives_back_what_a_finished_thread_freed():
    """A training thread's freed tensors stay in glibc's arenas, counted in the server's memory, until trimmed: a
    server grew by 1.1 GB over 9 trainings without it (speed.md, "eleventh session")."""
    probe = """
import threading, torch
from lstm_textgen.recipe import trim_heap
def rss_mb():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:")) / 1024
def work():
    block = torch.ones(4 << 20)  # 16 MB, mmapped: freeing it raises glibc's mmap threshold to 16 MB
    del block
    pieces = [torch.ones(1 << 20) for _ in range(100)]  # 400 MB in 4 MB pieces, from the thread's arena
    del pieces
thread = threading.Thread(target=work)
thread.start()
thread.join()
before = rss_mb()
trimmed = trim_heap()
print(before, rss_mb(), trimmed)
"""
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    before, after, trimmed = out.stdout.split()
    assert trimmed == "True"
    assert float(before) - float(after) > 150, out.stdout  # MB; measured here: 426-624 down to 223
