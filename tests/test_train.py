import json

import pytest
import torch
from conftest import TINY_MODEL

from lstm_textgen import ModelConfig, TrainConfig, build_vocab, load_headlines, load_model, split, train
from lstm_textgen.errors import CheckpointError


@pytest.fixture(scope="module")
def corpus(headlines_txt):
    tr, va = split(load_headlines(headlines_txt).texts, 10)
    vocab = build_vocab((t.split() for t in tr), min_count=2)
    return tr, va, vocab, ModelConfig(vocab_size=len(vocab), **TINY_MODEL)


FAST = {"batch_size": 16, "lr": 1e-2, "warmup_steps": 10, "seed": 0}


def test_validation_loss_falls(tiny_checkpoint):
    history = json.loads((tiny_checkpoint / "metrics.json").read_text())["history"]
    assert history[-1]["val_loss"] < history[0]["val_loss"] - 0.5
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(h["tokens_per_s"] > 0 and h["seconds"] > 0 for h in history)


@pytest.mark.slow
def test_same_seed_same_model(corpus, tmp_path):
    tr, va, vocab, cfg = corpus
    a = train(tr, va, vocab, cfg, TrainConfig(epochs=2, **FAST), tmp_path / "a", progress=False)
    b = train(tr, va, vocab, cfg, TrainConfig(epochs=2, **FAST), tmp_path / "b", progress=False)
    c = train(tr, va, vocab, cfg, TrainConfig(epochs=2, **{**FAST, "seed": 1}), tmp_path / "c", progress=False)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.slow
@pytest.mark.parametrize("ema, dtype", [(0.0, "float32"), (0.9, "float32"), (0.9, "float16")])
def test_interrupt_then_resume_gives_the_uninterrupted_model(corpus, tmp_path, ema, dtype):
    import dataclasses

    tr, va, vocab, cfg = corpus
    cfg = dataclasses.replace(cfg, weights_dtype=dtype)  # float16 files must not round the resumed run's weights
    tc = TrainConfig(epochs=3, ema=ema, **FAST)
    straight = train(tr, va, vocab, cfg, tc, tmp_path / "straight", progress=False)

    def ctrl_c_in_epoch_2(line: str) -> None:
        if line.startswith("epoch 2:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tr, va, vocab, cfg, tc, tmp_path / "run", progress=False, log=ctrl_c_in_epoch_2)
    kept = load_model(tmp_path / "run")
    assert [h["epoch"] for h in kept.metrics["history"]] == [1]  # the best checkpoint so far survives
    resumed = train(tr, va, vocab, cfg, tc, tmp_path / "run", resume=True, progress=False)
    assert [h["epoch"] for h in resumed.metrics["history"]] == [1, 2, 3]
    s1, s2 = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)


def test_resume_refuses_other_data_or_config(corpus, tmp_path):
    tr, va, vocab, cfg = corpus
    train(tr, va, vocab, cfg, TrainConfig(epochs=1, **FAST), tmp_path / "r", progress=False)
    with pytest.raises(CheckpointError, match="other data"):
        train(tr[:-5], va, vocab, cfg, TrainConfig(epochs=2, **FAST), tmp_path / "r", resume=True, progress=False)
    other = ModelConfig(vocab_size=cfg.vocab_size, emb_dim=32, hidden_dim=40)
    with pytest.raises(CheckpointError, match="model config differs"):
        train(tr, va, vocab, other, TrainConfig(epochs=2, **FAST), tmp_path / "r", resume=True, progress=False)


@pytest.mark.slow
def test_weight_averaging_keeps_the_averaged_weights(corpus, tmp_path):
    tr, va, vocab, cfg = corpus
    m = train(tr, va, vocab, cfg, TrainConfig(epochs=3, ema=0.95, **FAST), tmp_path / "ema", progress=False)
    from lstm_textgen import evaluate

    best = min(m.metrics["history"], key=lambda h: h["val_loss"])
    assert evaluate(load_model(tmp_path / "ema"), va).loss == pytest.approx(best["val_loss"], rel=1e-5)


@pytest.mark.slow
def test_early_stopping_keeps_the_best_epoch(corpus, tmp_path):
    tr, va, vocab, cfg = corpus
    # validated on the headlines read backwards: once the model has learnt the word order of the training
    # text, the better it gets the worse it does there, so validation loss climbs within a few epochs
    va = [" ".join(reversed(t.split())) for t in va]
    m = train(
        tr,
        va,
        vocab,
        cfg,
        TrainConfig(epochs=30, patience=2, batch_size=8, lr=0.01, warmup_steps=0, seed=0),
        tmp_path / "es",
        progress=False,
    )
    hist = m.metrics["history"]
    assert m.metrics["stopped"] == "early_stopping" and len(hist) < 30
    best = min(hist, key=lambda h: h["val_loss"])
    assert m.metrics["best"]["epoch"] == best["epoch"]
    from lstm_textgen import evaluate

    assert evaluate(load_model(tmp_path / "es"), va).loss == pytest.approx(best["val_loss"], rel=1e-5)


def test_tutorial_arch_trains_too(corpus, tmp_path):
    tr, va, vocab, _ = corpus
    m = train(
        tr, va, vocab, ModelConfig.tutorial(len(vocab)), TrainConfig(epochs=2, **FAST), tmp_path / "tut", progress=False
    )
    h = m.metrics["history"]
    assert h[-1]["val_loss"] < h[0]["val_loss"]
    assert load_model(tmp_path / "tut").config.arch == "tutorial"


def test_pretrained_start_copies_shared_words(corpus, tiny_checkpoint, tmp_path):
    from lstm_textgen.model import HeadlineModel
    from lstm_textgen.train import transfer_weights

    _tr, _va, vocab, cfg = corpus
    src = load_model(tiny_checkpoint)
    fresh = HeadlineModel(cfg)
    fresh.vocab = vocab
    stats = transfer_weights(fresh, src)
    assert stats["shared_words"] == len(vocab) and stats["tensors"] == len(fresh.state_dict())
    assert torch.equal(fresh.net.embedding.weight, src.net.embedding.weight)


BAD_TRAIN_CONFIGS = [
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"lr": 0}, "lr must be"),
    ({"lr": float("nan")}, "lr must be"),
    ({"patience": 0}, "patience"),
    ({"epochs": 3, "stop_after": 4}, "stop_after must be from 0 to epochs"),
]


@pytest.mark.parametrize("bad, message", BAD_TRAIN_CONFIGS)
def test_train_config_validation(bad, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**bad)


@pytest.mark.slow
def test_a_refit_trains_without_validation_for_a_fixed_part_of_the_schedule(corpus, tmp_path):
    tr, va, vocab, cfg = corpus
    with pytest.raises(ValueError, match="fixed epoch count"):
        train(tr + va, [], vocab, cfg, TrainConfig(epochs=4, **FAST), tmp_path / "no", progress=False)
    full = train(tr, va, vocab, cfg, TrainConfig(epochs=4, **FAST), tmp_path / "full", progress=False)
    cut = train(tr, va, vocab, cfg, TrainConfig(epochs=4, stop_after=2, **FAST), tmp_path / "cut", progress=False)
    # the same schedule, stopped after epoch 2: the first two epochs are the full run's
    assert [h["lr"] for h in cut.metrics["history"]] == [h["lr"] for h in full.metrics["history"][:2]]
    refit = train(tr + va, [], vocab, cfg, TrainConfig(epochs=4, stop_after=2, **FAST), tmp_path / "r", progress=False)
    hist = refit.metrics["history"]
    assert [h["epoch"] for h in hist] == [1, 2] and all(h["val_loss"] is None and h["val_ppl"] is None for h in hist)
    assert refit.metrics["best"] == {"epoch": 2, "val_loss": None, "val_ppl": None}
    assert "| 2 |" in (tmp_path / "r" / "README.md").read_text()  # the model card prints an unvalidated curve


@pytest.mark.slow
def test_mixed_precision_where_the_cpu_has_bfloat16(corpus, tmp_path):
    """Where bfloat16 training pays (mixed.bfloat16_training) it autocasts to bfloat16 (recorded in the metrics)
    and learns as well as float32; --no-amp (amp=False) trains in float32 throughout."""
    from lstm_textgen.mixed import bfloat16_training

    tr, va, vocab, cfg = corpus
    mixed = train(tr, va, vocab, cfg, TrainConfig(epochs=2, **FAST), tmp_path / "mixed", progress=False)
    plain = train(tr, va, vocab, cfg, TrainConfig(epochs=2, amp=False, **FAST), tmp_path / "plain", progress=False)
    assert plain.metrics["autocast"] is None
    assert load_model(tmp_path / "plain").metrics["autocast"] is None
    if not bfloat16_training(torch.device("cpu")):
        assert mixed.metrics["autocast"] is None
        return
    assert mixed.metrics["autocast"] == "bfloat16"
    sm, sp = mixed.state_dict(), plain.state_dict()
    assert not all(torch.equal(sm[k], sp[k]) for k in sm)  # other arithmetic...
    loss_m, loss_p = mixed.metrics["best"]["val_loss"], plain.metrics["best"]["val_loss"]
    assert abs(loss_m - loss_p) < 0.02 * loss_p  # ...the same learning


def test_clipping_scales_only_gradients_over_the_limit():
    from lstm_textgen.train import _clip_gradients

    small = [torch.nn.Parameter(torch.zeros(3)) for _ in range(2)]
    for p, g in zip(small, ([0.1, 0.2, 0.0], [0.0, 0.1, 0.1])):
        p.grad = torch.tensor(g)
    before = [p.grad.clone() for p in small]
    _clip_gradients(small, 0.5)
    assert all(torch.equal(p.grad, b) for p, b in zip(small, before))  # left exactly as they were
    big = [torch.nn.Parameter(torch.zeros(2)) for _ in range(2)]
    big[0].grad, big[1].grad = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 4.0])  # norm 5
    _clip_gradients(big, 0.5)
    assert torch.allclose(torch.cat([p.grad for p in big]).norm(), torch.tensor(0.5), atol=1e-6)
    assert torch.allclose(big[0].grad, torch.tensor([0.3, 0.0]), atol=1e-6)


def test_a_time_budget_cuts_the_running_epoch_and_keeps_the_best(corpus, tmp_path):
    """A budget far shorter than the run: the epoch it ends in is cut there, validated, and training stops."""
    import time

    tr, va, vocab, cfg = corpus
    rows = []
    t0 = time.perf_counter()
    m = train(
        tr * 20,
        va,
        vocab,
        cfg,
        TrainConfig(epochs=50, max_minutes=0.05, **FAST),
        tmp_path / "m",
        progress=False,
        on_epoch=rows.append,
    )
    took = time.perf_counter() - t0
    assert m.metrics["stopped"] == "time_budget" and took < 3 * 60 * 0.05 + 10
    assert rows == [{**h, "best_epoch": rows[i]["best_epoch"]} for i, h in enumerate(m.metrics["history"])]
    assert "batches" in rows[-1]  # the last epoch was cut short: "done/total"
    assert m.metrics["best"]["epoch"] >= 1 and load_model(tmp_path / "m").metrics["stopped"] == "time_budget"


def test_should_stop_keeps_the_best_model_so_far(corpus, tmp_path):
    from lstm_textgen.train import StopTraining

    tr, va, vocab, cfg = corpus
    rows = []
    m = train(
        tr,
        va,
        vocab,
        cfg,
        TrainConfig(epochs=50, **FAST),
        tmp_path / "m",
        progress=False,
        on_epoch=rows.append,
        should_stop=lambda: len(rows) >= 2,
    )
    assert m.metrics["stopped"] == "stopped" and len(m.metrics["history"]) == 2
    assert load_model(tmp_path / "m").metrics["stopped"] == "stopped"
    with pytest.raises(StopTraining, match="before the first epoch ended"):
        train(
            tr, va, vocab, cfg, TrainConfig(epochs=5, **FAST), tmp_path / "n", progress=False, should_stop=lambda: True
        )
