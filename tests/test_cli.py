"""The command line, run as a user runs it: a real subprocess, real files."""

import json
import signal
import subprocess
import time

import pytest
from conftest import DATA, ROOT, cli_command
from conftest import run_cli as run

pytestmark = pytest.mark.slow  # every test runs the command line in a subprocess

TINY = ["--emb-dim", "32", "--hidden-dim", "48", "--batch-size", "16", "--lr", "0.01", "--warmup-steps", "10"]


def assert_clean_error(proc, *fragments):
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.fixture(scope="module")
def cli_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model"
    proc = run("train", "--data", DATA / "headlines.txt", "--out", out, "--epochs", "3", *TINY)
    assert proc.returncode == 0, proc.stderr
    assert "400 headlines from 1 file(s)" in proc.stderr
    assert "epoch 3: train loss" in proc.stderr
    assert "batch/s" in proc.stderr or "batch]" in proc.stderr  # the tqdm progress bar
    assert "best validation perplexity" in proc.stderr
    return out


def test_train_writes_a_checkpoint(cli_checkpoint):
    metrics = json.loads((cli_checkpoint / "metrics.json").read_text())
    assert len(metrics["history"]) == 3
    assert metrics["command"].startswith("python -m lstm_textgen train --data")
    assert metrics["model_config"]["num_layers"] == 5


def test_generate_prints_headlines(cli_checkpoint):
    proc = run("generate", "--checkpoint", cli_checkpoint, "--prompt", "trump", "--num", "4", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("Trump") for line in lines)
    again = run("generate", "--checkpoint", cli_checkpoint, "--prompt", "trump", "--num", "4", "--seed", "3")
    assert again.stdout == proc.stdout


def test_generate_json_and_unknown_words(cli_checkpoint):
    proc = run(
        "generate",
        "--checkpoint",
        cli_checkpoint,
        "--prompt",
        "senate zyzzyva",
        "--num",
        "2",
        "--temperature",
        "0",
        "--top-k",
        "5",
        "--top-p",
        "0.9",
        "--max-words",
        "6",
        "--seed",
        "1",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["unknown_words"] == ["zyzzyva"] and data["seed"] == 1
    assert len(data["headlines"]) == 2 and len(data["headlines"][0]["words"]) <= 6
    assert "not in the vocabulary, read as <unk>: zyzzyva" in proc.stderr


def test_generate_bad_option_is_a_clear_error(cli_checkpoint):
    assert_clean_error(run("generate", "--checkpoint", cli_checkpoint, "--temperature", "-1"), "temperature")
    assert_clean_error(run("generate", "--checkpoint", cli_checkpoint, "--num", "0"), "num must be from 1")
    from lstm_textgen.cli import build_parser

    with pytest.raises(SystemExit) as e:  # argparse's own refusal: exit 2 with its message (checked in-process)
        build_parser().parse_args(["generate", "--precision", "fp8"])
    assert e.value.code == 2


def test_generate_in_the_precision_asked_for(cli_checkpoint):
    """--precision float32 gives exactly the library's float32 probabilities; bfloat16 and int8 products change
    them."""
    from lstm_textgen import generate, load_model

    args = ("generate", "--checkpoint", cli_checkpoint, "--prompt", "trump", "--num", "3", "--seed", "3", "--json")
    probs = {}
    for precision in ("float32", "bfloat16", "int8"):
        proc = run(*args, "--precision", precision)
        assert proc.returncode == 0, proc.stderr
        probs[precision] = [h["probs"][0] for h in json.loads(proc.stdout)["headlines"]]
    want = generate(load_model(cli_checkpoint), "trump", num=3, seed=3, precision="float32")
    assert probs["float32"] == [h.probs[0] for h in want.headlines]
    assert probs["bfloat16"] != probs["float32"] and probs["int8"] != probs["float32"]


def test_evaluate_json(cli_checkpoint):
    proc = run("evaluate", "--checkpoint", cli_checkpoint, "--data", DATA / "headlines.txt", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"perplexity", "unk_rate", "headlines", "tokens"}
    assert data["headlines"] == 400 and data["tokens"] > 400 and 1 < data["perplexity"] < 100
    plain = run("evaluate", "--checkpoint", cli_checkpoint, "--data", DATA / "headlines.txt")
    assert plain.stdout.startswith("perplexity ")


def test_data_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,body\n1,x\n")
    assert_clean_error(run("train", "--data", bad, "--out", tmp_path / "o"), "bad.csv", "columns found: 'id', 'body'")
    assert_clean_error(
        run("train", "--data", str(tmp_path / "nothing*.csv"), "--out", tmp_path / "o"), "matches no files"
    )
    assert not (tmp_path / "o").exists()


def test_checkpoint_errors_are_one_line(tmp_path):
    assert_clean_error(run("generate", "--checkpoint", tmp_path / "none"), "Train one with")
    assert_clean_error(
        run("evaluate", "--checkpoint", tmp_path / "none", "--data", DATA / "headlines.txt"),
        "no such checkpoint folder",
    )


def test_push_without_network_is_a_clear_error(cli_checkpoint):
    proc = run("push", "--checkpoint", cli_checkpoint, "--repo-id", "someone/headlines", env={"HF_HUB_OFFLINE": "1"})
    assert_clean_error(proc, "cannot push to someone/headlines")


def test_every_flag_has_help():
    from lstm_textgen.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(sub.choices) == {"train", "generate", "evaluate", "average", "push"}
    for name, p in sub.choices.items():
        for action in p._actions:
            assert action.help, f"{name} {action.option_strings} has no help"
        p.format_help()  # every help string formats (a stray % would fail here)
    train_help = run("train", "--help")  # and as a user sees it, in a real process
    assert train_help.returncode == 0 and "--max-minutes" in train_help.stdout and "(default 12)" in train_help.stdout


def test_ctrl_c_keeps_the_best_checkpoint(tmp_path):
    out = tmp_path / "m"
    cmd = cli_command(
        "train", "--data", DATA / "headlines.txt", "--out", out, "--epochs", "500", "--patience", "500", *TINY
    )
    with open(tmp_path / "stderr.txt", "w+") as log:  # a file, not a pipe: a full pipe would stall the trainer
        proc = subprocess.Popen(cmd, cwd=ROOT, stderr=log, text=True)
        deadline = time.time() + 120
        while not (out / "metrics.json").exists() and time.time() < deadline:
            time.sleep(0.2)
        assert (out / "metrics.json").exists()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 130
    assert "interrupted: the best checkpoint so far" in err and "Traceback" not in err
    done = run("generate", "--checkpoint", out, "--num", "1", "--seed", "0")
    assert done.returncode == 0 and done.stdout.strip()
    resumed = run(
        "train", "--resume", out, "--epochs", str(len(json.loads((out / "metrics.json").read_text())["history"]) + 1)
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr


def test_pretrain_then_fine_tune_in_one_command(tmp_path):
    out = tmp_path / "ft"
    args = [
        "train",
        "--data",
        DATA / "headlines.txt",
        "--pretrain-data",
        DATA / "pretrain.txt",
        "--pretrain-epochs",
        "2",
        "--out",
        out,
        "--epochs",
        "2",
        "--quiet",
        *TINY,
    ]
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    assert "pre-training on 300 headlines" in proc.stderr and "initialised from a pre-trained model" in proc.stderr
    pre = json.loads((tmp_path / "ft.pretrain" / "metrics.json").read_text())
    assert pre["stage"] == "pretrain" and len(pre["history"]) == 2
    assert json.loads((tmp_path / "ft.pretrain" / "vocab.json").read_text()) == json.loads(
        (out / "vocab.json").read_text()
    )
    assert "markets" not in json.loads((out / "vocab.json").read_text())["tokens"]  # a word of pretrain.txt only
    wider = run(
        "train",
        "--data",
        DATA / "headlines.txt",
        "--pretrain-data",
        DATA / "pretrain.txt",
        "--pretrain-epochs",
        "1",
        "--pretrain-min-count",
        "2",
        "--out",
        tmp_path / "wide",
        "--epochs",
        "1",
        "--quiet",
        *TINY,
    )
    assert wider.returncode == 0, wider.stderr
    assert "markets" in json.loads((tmp_path / "wide" / "vocab.json").read_text())["tokens"]
    again = run(*args)  # the finished pre-training is reused, not redone
    assert again.returncode == 0 and "reusing the finished run in" in again.stderr and "ft.pretrain" in again.stderr


def test_time_split_refit_and_printed_forms(tmp_path):
    """--val-data validates on other files (taken out of --data), --refit trains again on everything for the
    best epoch count, and the vocabulary learns how words are printed; the model prints them."""
    out = tmp_path / "model"
    proc = run(
        "train",
        "--data",
        DATA / "headlines.txt",
        DATA / "cased.txt",
        "--val-data",
        DATA / "cased.txt",
        "--refit",
        "--min-count",
        "1",
        "--out",
        out,
        "--epochs",
        "3",
        "--quiet",
        *TINY,
    )
    assert proc.returncode == 0, proc.stderr
    assert "400 training and 18 validation headlines" in proc.stderr  # cased.txt's 18 left training
    assert "refit: 418 headlines (training and validation) for" in proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    validated = json.loads((tmp_path / "model.validation" / "metrics.json").read_text())
    assert metrics["best"] == validated["best"] and metrics["history"] == validated["history"]
    assert metrics["refit"]["epochs"] == validated["best"]["epoch"] and metrics["refit"]["headlines"] == 418
    assert len(metrics["refit"]["history"]) == validated["best"]["epoch"]
    assert metrics["data"]["val_data"] == [str(DATA / "cased.txt")] and metrics["data"]["val_percent"] is None
    # the validated run knows only its training words (validating on words it never trained on would mislead
    # early stopping); the refit, which trains on the validation headlines too, knows theirs
    assert "gop" not in json.loads((tmp_path / "model.validation" / "vocab.json").read_text())["tokens"]
    assert "gop" in json.loads((out / "vocab.json").read_text())["tokens"]
    forms = json.loads((out / "vocab.json").read_text(encoding="utf-8"))["forms"]
    assert forms["gop"] == "G.O.P." and forms["whats"] == "What’s" and forms["going on"] == "On"
    gen = run(
        "generate",
        "--checkpoint",
        out,
        "--prompt",
        "whats going on with the gop",
        "--temperature",
        "0",
        "--max-words",
        "2",
        "--json",
    )
    data = json.loads(gen.stdout)
    assert data["headlines"][0]["text"].startswith("What’s Going On With the G.O.P.")
    assert data["headlines"][0]["prompt_words"] == ["whats", "going", "on", "with", "the", "gop"]  # tokens stay


def test_val_data_errors_are_clear(tmp_path):
    proc = run(
        "train",
        "--data",
        DATA / "headlines.txt",
        "--val-data",
        tmp_path / "missing.csv",
        "--out",
        tmp_path / "m",
        *TINY,
    )
    assert_clean_error(proc, "missing.csv", "no such file")
    proc = run(
        "train", "--data", DATA / "headlines.txt", "--val-data", DATA / "headlines.txt", "--out", tmp_path / "m", *TINY
    )
    assert_clean_error(proc, "no training headlines")


def test_tutorial_arch_reports_the_tutorials_own_loss(tmp_path):
    out = tmp_path / "tut"
    proc = run(
        "train",
        "--data",
        DATA / "headlines.txt",
        "--out",
        out,
        "--arch",
        "tutorial",
        "--epochs",
        "2",
        "--ema",
        "0",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    assert "pair loss" in proc.stderr
    row = json.loads((out / "metrics.json").read_text())["history"][-1]
    # the pairs leave out <eos> and the first two words: another figure than the loss over every position
    assert row["train_pair_loss"] > 0 and row["val_pair_loss"] > 0 and row["train_pair_loss"] != row["train_loss"]


def test_average_makes_one_model_of_the_runs_mean_weights(tiny_checkpoint, cased_checkpoint, tmp_path):
    import shutil

    import torch

    from lstm_textgen import ModelConfig, TrainConfig, load_model, train

    first = load_model(tiny_checkpoint)
    other = train(
        ["apple backs a new tax plan"] * 4 + ["senate votes"] * 4,
        ["apple votes"],
        first.vocab,
        ModelConfig(vocab_size=len(first.vocab), emb_dim=32, hidden_dim=48),
        TrainConfig(epochs=1, seed=5),
        tmp_path / "other",
        progress=False,
    )
    proc = run("average", "--checkpoints", tiny_checkpoint, tmp_path / "other", "--out", tmp_path / "soup")
    assert proc.returncode == 0, proc.stderr
    soup = load_model(tmp_path / "soup")
    a, b, m = first.state_dict(), other.state_dict(), soup.state_dict()
    assert all(torch.allclose(m[k], (a[k] + b[k]) / 2, atol=1e-6) for k in m)
    assert [s["source"] for s in soup.metrics["soup"]] == [str(tiny_checkpoint), str(tmp_path / "other")]
    assert run("generate", "--checkpoint", tmp_path / "soup", "--seed", "0").returncode == 0
    shutil.rmtree(tmp_path / "soup")
    assert_clean_error(
        run("average", "--checkpoints", tiny_checkpoint, cased_checkpoint, "--out", tmp_path / "x"),
        "differs",
        "only runs of one recipe",
    )
    assert_clean_error(run("average", "--checkpoints", tiny_checkpoint, "--out", tmp_path / "x"), "at least two")


def test_refit_seeds_average_the_refits(tmp_path):
    out = tmp_path / "soup"
    proc = run(
        "train",
        "--data",
        DATA / "headlines.txt",
        "--val-data",
        DATA / "cased.txt",
        "--refit",
        "--refit-seeds",
        "2",
        "--out",
        out,
        "--epochs",
        "2",
        "--quiet",
        *TINY,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 times (seeds 0..1), averaged" in proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["refit"]["seeds"] == 2 and "soup" not in metrics
    assert (tmp_path / "soup.refit-0").is_dir() and (tmp_path / "soup.refit-1").is_dir()
    assert_clean_error(
        run("train", "--data", DATA / "headlines.txt", "--refit-seeds", "2", "--out", tmp_path / "x"), "needs --refit"
    )


def test_mix_data_trains_on_more_headlines_without_new_words(tmp_path):
    out = tmp_path / "mix"
    proc = run(
        "train",
        "--data",
        DATA / "headlines.txt",
        "--mix-data",
        DATA / "pretrain.txt",
        "--out",
        out,
        "--epochs",
        "1",
        "--quiet",
        *TINY,
    )
    assert proc.returncode == 0, proc.stderr
    assert "mixed into training: 300 headlines" in proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_headlines"] > 600 and metrics["val_headlines"] < 60  # validation: headlines.txt only
    assert "markets" not in json.loads((out / "vocab.json").read_text())["tokens"]  # pretrain.txt's own word


def test_with_onednn_held_below_bfloat16_training_runs_in_float32(tmp_path):
    """ONEDNN_MAX_CPU_ISA=AVX512_CORE holds oneDNN below its bfloat16 instructions, as on a CPU without them, where
    bfloat16 would be emulated: on any CPU the run then trains in float32, and says so."""
    out = tmp_path / "model"
    proc = run(
        "train", "--data", DATA / "headlines.txt", "--out", out, "--epochs", "1", *TINY,
        env={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "metrics.json").read_text())["autocast"] is None
