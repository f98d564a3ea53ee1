"""Training: AdamW, warm-up + cosine learning rate, gradient clipping, validation every epoch,
early stopping, the best model kept, resumable, and DistributedDataParallel under torchrun.

One process: ``python -m lstm_textgen train ...``. Several: ``torchrun --nproc_per_node N -m
lstm_textgen train ...`` (gloo on CPU, NCCL on CUDA); only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DistributedSampler

from . import checkpoint as ckpt
from .data import bucketed_batches, common_openings, encode_all, pad_batch, padding_share
from .distributed import Dist, all_reduce_sum, gather_digests, init_distributed, leave
from .errors import CheckpointError
from .evaluate import evaluate
from .mixed import bfloat16_training
from .model import HeadlineModel, ModelConfig, config_field, next_token_nll, pair_nll
from .vocab import PAD_ID, Vocab


@dataclass(frozen=True)
class TrainConfig:
    """How to train (the model's shape is in ModelConfig)."""

    epochs: int = config_field(12, "most epochs")
    # 160 headlines (about 1,450 tokens) a step, at a learning rate tuned for it: more tokens a second than 32 at
    # 3e-3 or 128 at 2e-2, with the same validation perplexity (bench/results/speed.md, "Batch size")
    batch_size: int = config_field(160, "headlines a batch")
    lr: float = config_field(2.5e-2, "AdamW peak learning rate")
    weight_decay: float = config_field(0.1, "AdamW weight decay (on weight matrices, not biases)")
    clip: float = config_field(0.5, "gradient norm clip, 0 = off")
    warmup_steps: int = config_field(20, "linear warm-up steps before the cosine decay")
    min_lr_ratio: float = config_field(0.05, "final learning rate as a share of --lr")
    patience: int = config_field(6, "stop after this many epochs without a better validation loss")
    seed: int = config_field(0, "random seed for a reproducible run")
    device: str = config_field("auto", "auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:1, mps")
    amp: bool = config_field(
        True,
        "mixed precision where it pays: CUDA, or bfloat16 on a CPU with AMX or an AMD CPU with AVX512-BF16",
        flag="no-amp",
    )
    ema: float = config_field(
        0.995, "keep (and validate) an exponential moving average of the weights with this decay a step; 0 = off"
    )
    stop_after: int = config_field(
        0, "stop after this many epochs of the schedule (0: run it all); for a refit", flag=None
    )
    max_minutes: float = config_field(
        0.0,
        "a time budget: the epoch running when it ends is cut short there, validated, and training stops "
        "(the best epoch is kept); 0 = none",
    )

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not 0 <= self.stop_after <= self.epochs:
            raise ValueError(f"stop_after must be from 0 to epochs ({self.epochs}), got {self.stop_after!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError("lr must be a positive number")
        if self.weight_decay < 0 or self.clip < 0 or self.warmup_steps < 0 or self.patience < 1:
            raise ValueError("weight_decay, clip and warmup_steps must be >= 0, patience >= 1")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("min_lr_ratio must be in [0, 1]")
        if not 0 <= self.ema < 1:
            raise ValueError("ema must be in [0, 1)")
        if not (self.max_minutes >= 0 and math.isfinite(self.max_minutes)):
            raise ValueError("max_minutes must be 0 (no budget) or more")

    @property
    def last_epoch(self) -> int:
        return self.stop_after or self.epochs


@dataclass
class Progress:
    """Where a run is: saved with the training state, so ``--resume`` goes on from here."""

    epoch: int = 0
    step: int = 0
    best_val_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def best(self, validated: bool) -> dict[str, Any]:
        judged = validated and math.isfinite(self.best_val_loss)
        loss = self.best_val_loss if judged else None
        return {"epoch": self.best_epoch, "val_loss": loss, "val_ppl": math.exp(loss) if judged else None}


@dataclass
class _Run:
    """One training run's parts, built once by :func:`_setup`."""

    cfg: TrainConfig
    model: HeadlineModel
    net: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None  # the autocast precision; None: float32 throughout
    averaged: AveragedModel | None  # the weight average, validated and kept instead of the live weights
    device: torch.device
    dist: Dist
    seqs: list[list[int]]
    lengths: list[int]  # of seqs, for bucketing every epoch
    sampler: DistributedSampler
    progress: Progress = field(default_factory=Progress)
    best_weights: dict[str, torch.Tensor] | None = None  # on the CPU


class StopTraining(Exception):
    """Raised between batches when ``train``'s ``should_stop`` says so (a Stop button)."""


ENDINGS = {
    "early_stopping": "stopping early: no better validation loss for {patience} epochs",
    "time_budget": "stopping: the time budget ({minutes:g} min) is spent",
}


class _StopRequest:
    """Ctrl-C (SIGINT) or SIGTERM asks the loop to stop at the next batch; a second Ctrl-C stops at once.

    A flag checked between batches, rather than a KeyboardInterrupt raised wherever Python happens
    to be (inside a destructor it would be ignored), so the stop is certain and clean. ``should_stop``
    is asked there too (a Stop button in the app).
    """

    def __init__(self, should_stop: Callable[[], bool] | None = None) -> None:
        import signal
        import threading

        self.asked = should_stop or (lambda: False)
        self.requested = False
        self._old: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        import signal

        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _lr_lambda(cfg: TrainConfig, total_steps: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def _make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """Weight decay on weight matrices only, not on biases."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    device = next(model.parameters()).device
    # the fused kernel: the per-tensor loop was a large share of a CPU step at this model size (speed.md)
    fused = device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99), fused=fused)


def _digest(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8") + b"\n")
    return h.hexdigest()[:16]


def transfer_weights(model: HeadlineModel, source: HeadlineModel) -> dict[str, int]:
    """Start from a pre-trained model (e.g. on a bigger corpus): copy every tensor whose shape fits;
    embedding rows and decoder biases are copied word by word, so the vocabularies may differ."""
    assert model.vocab is not None and source.vocab is not None
    dst, src = model.state_dict(), source.state_dict()
    copied = rows = 0
    row_map = [(i, source.vocab.stoi[w]) for i, w in enumerate(model.vocab.itos) if w in source.vocab.stoi]
    di = torch.tensor([a for a, _ in row_map])
    si = torch.tensor([b for _, b in row_map])
    with torch.no_grad():
        for name, t in dst.items():
            if name not in src:
                continue
            s = src[name]
            if (
                name in ("net.embedding.weight", "net.decoder_bias", "net.decoder.weight", "net.decoder.bias")
                and s.shape[1:] == t.shape[1:]
            ):
                t[di] = s[si].to(t.dtype)
                rows += len(row_map)
                copied += 1
            elif s.shape == t.shape:
                t.copy_(s)
                copied += 1
    return {"tensors": copied, "shared_words": len(row_map), "words": len(model.vocab)}


def train(
    train_texts: Sequence[str],
    val_texts: Sequence[str],
    vocab: Vocab,
    model_config: ModelConfig,
    cfg: TrainConfig,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    init_from: HeadlineModel | None = None,
    info: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    budget_from: float | None = None,
) -> HeadlineModel:
    """Train and keep the best model (by validation loss) at ``out``; returns it (on CPU, eval mode).

    ``info`` goes into the checkpoint's metrics; ``on_epoch`` gets each epoch's history row once it is saved
    (``out`` then holds the best model so far). Ctrl-C, or ``should_stop()`` turning true, stops and keeps the
    best model so far at ``out``. ``cfg.max_minutes`` counts from ``budget_from`` (a ``time.perf_counter()``
    value) or else from the first epoch. With no ``val_texts`` the last epoch is kept: a refit for an epoch
    count that an earlier, validated run chose (``cfg.stop_after``).
    """
    _check(train_texts, val_texts, cfg)
    out = Path(out)
    run = _setup(train_texts, vocab, model_config, cfg, init_from, log)
    say = _talker(run.dist, log)
    snapshot = HeadlineModel(model_config)  # a CPU copy that holds the best weights for saving
    snapshot.vocab = vocab
    _add_average(run, model_config, vocab)
    data_digest = _digest(train_texts) + _digest(val_texts)
    rng = _restore(run, out, model_config, data_digest, say) if resume else None
    metrics = dict(info or {}, **_run_metrics(run, train_texts, val_texts, vocab))
    if rng is not None:  # last, so nothing above (building models) shifts the dropout masks
        torch.set_rng_state(rng)

    def save(stopped: str) -> None:
        if run.dist.main:
            _fill(snapshot, run, metrics, stopped, bool(val_texts))
            ckpt.save_checkpoint(snapshot, out, train_state=_train_state(run, data_digest))

    stopped, stop, finished = "completed", _StopRequest(should_stop), False
    deadline = (budget_from or time.perf_counter()) + cfg.max_minutes * 60 if cfg.max_minutes else None
    try:
        while run.progress.epoch < cfg.last_epoch:
            epoch = run.progress.epoch + 1
            row = _train_epoch(run, epoch, stop, progress and run.dist.main, deadline)
            row.update(_validate(run, val_texts, epoch))
            improved = _record(run, epoch, row)
            say(_epoch_line(run, row, improved, bool(val_texts)))
            ending = _ending(run, deadline)
            save(ending or ("running" if epoch < cfg.last_epoch else stopped))
            if on_epoch is not None:  # after the save: ``out`` holds the best model so far
                on_epoch(dict(row, best_epoch=run.progress.best_epoch))
            if ending:
                stopped = ending
                say(ENDINGS[ending].format(patience=cfg.patience, minutes=cfg.max_minutes))
                break
        finished = True
    except StopTraining:
        if not run.progress.best_epoch:
            raise StopTraining("stopped before the first epoch ended: there is no model to keep") from None
        stopped, finished = "stopped", True
        save(stopped)
        say(f"stopped: the best model so far (epoch {run.progress.best_epoch}) is at {out}")
    except KeyboardInterrupt:
        best = run.progress.best_epoch
        say(
            f"interrupted: the best checkpoint so far (epoch {best}) is at {out}"
            if best
            else "interrupted before the first epoch ended: nothing saved"
        )
        raise
    finally:
        stop.restore()
        leave(run.dist, finished)
    _fill(snapshot, run, metrics, stopped, bool(val_texts))
    return snapshot.eval()


def _check(train_texts: Sequence[str], val_texts: Sequence[str], cfg: TrainConfig) -> None:
    if not train_texts:
        raise ValueError("no training headlines")
    if not val_texts and not cfg.stop_after:
        raise ValueError(
            "no validation headlines (use more data or a larger val_percent); training without "
            "validation needs a fixed epoch count (stop_after)"
        )


def _add_average(run: _Run, model_config: ModelConfig, vocab: Vocab) -> None:
    """The weight average (``cfg.ema`` > 0), on the model's device. Built like the model, so it draws from the
    random generator as it always has: seeded runs repeat."""
    if run.cfg.ema > 0:
        averaged = HeadlineModel(model_config).to(run.device)
        run.averaged = AveragedModel(averaged, multi_avg_fn=_ema_update(run.cfg.ema))
        run.averaged.module.vocab = vocab
        run.averaged.update_parameters(run.model)  # the first "average" is the starting weights


def _ending(run: _Run, deadline: float | None) -> str | None:
    """Why training ends after this epoch, if it does (the schedule's own end aside)."""
    if run.progress.bad_epochs >= run.cfg.patience:
        return "early_stopping"
    if deadline is not None and time.perf_counter() >= deadline:
        return "time_budget"
    return None


def _talker(dist_info: Dist, log: Callable[[str], None] | None) -> Callable[[str], None]:
    """Where progress lines go: ``log`` or stderr, from rank 0 only."""
    if not dist_info.main:
        return lambda s: None
    return log or (lambda s: print(s, file=sys.stderr))


def _setup(
    train_texts: Sequence[str],
    vocab: Vocab,
    model_config: ModelConfig,
    cfg: TrainConfig,
    init_from: HeadlineModel | None,
    log: Callable[[str], None] | None,
) -> _Run:
    """The model (from ``init_from``'s weights if given), optimizer, schedule, precision and data order."""
    device = ckpt.torch_device(cfg.device)
    dist_info, device = init_distributed(device)
    torch.manual_seed(cfg.seed)
    model = HeadlineModel(model_config)
    model.vocab = vocab
    if init_from is not None:
        stats = transfer_weights(model, init_from)
        _talker(dist_info, log)(
            f"initialised from a pre-trained model: {stats['tensors']} tensors, "
            f"{stats['shared_words']}/{stats['words']} vocabulary rows"
        )
    model.to(device)
    opt = _make_optimizer(model, cfg)
    seqs = encode_all(train_texts, vocab)
    sampler = DistributedSampler(
        range(len(seqs)), num_replicas=dist_info.world_size, rank=dist_info.rank, shuffle=True, seed=cfg.seed
    )
    steps_per_epoch = math.ceil(len(sampler) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, steps_per_epoch * cfg.epochs))
    # CPU autocast runs the LSTM and decoder products in bfloat16 where that was measured faster than float32
    # (mixed.bfloat16_training), with the same validation perplexity (bench/results/speed.md)
    amp = cfg.amp and (device.type == "cuda" or bfloat16_training(device))
    amp_dtype = torch.bfloat16 if device.type != "cuda" or torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)
    net: torch.nn.Module = model
    if dist_info.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    lengths = [len(s) for s in seqs]
    amp_dtype = amp_dtype if amp else None
    return _Run(cfg, model, net, opt, sched, scaler, amp_dtype, None, device, dist_info, seqs, lengths, sampler)


def _ema_update(decay: float) -> Callable[[list, list, torch.Tensor], None]:
    """AveragedModel's update, with a decay that ramps up to ``decay`` so the random start weighs little."""

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        n = int(num_averaged)
        torch._foreach_lerp_(averaged, current, 1 - min(decay, n / (9 + n)))

    return update


def _restore(run: _Run, out: Path, model_config: ModelConfig, data_digest: str, say: Callable) -> torch.Tensor | None:
    """Load a saved run's weights, optimizer, average and progress; returns its random state, to set last."""
    ckpt.recover_interrupted_save(out)
    try:
        state = ckpt.read_train_state(out)
        saved_config = ckpt.read_config(out)
    except CheckpointError as e:
        raise CheckpointError(f"cannot resume from {out}: {e}") from None
    if saved_config != model_config:
        raise CheckpointError(f"cannot resume from {out}: its model config differs from this run's")
    if state.progress.get("data_digest") != data_digest:
        raise CheckpointError(f"cannot resume from {out}: it was trained on other data or another split")
    run.model.load_state_dict(state.model, strict=True)
    run.opt.load_state_dict(state.optimizer)
    fields = {f.name for f in dataclasses.fields(Progress)}
    run.progress = Progress(**{k: v for k, v in state.progress.items() if k in fields})
    if run.averaged is not None:
        run.averaged.module.load_state_dict(state.averaged)
        run.averaged.n_averaged.fill_(run.progress.step + 1)
    run.best_weights = state.best or ckpt.load_model(out).state_dict()
    step = run.progress.step
    run.sched.last_epoch = step
    for group in run.opt.param_groups:
        group["lr"] = group["initial_lr"] * run.sched.lr_lambdas[0](step)
    say(f"resuming from {out} after epoch {run.progress.epoch} (best val loss {run.progress.best_val_loss:.4f})")
    return state.rng


def _train_epoch(run: _Run, epoch: int, stop: _StopRequest, show: bool, deadline: float | None) -> dict[str, Any]:
    """One pass over this rank's share of the data (cut short at ``deadline``); the row it adds to the history."""
    cfg, model, p = run.cfg, run.model, run.progress
    run.sampler.set_epoch(epoch)
    mine = list(run.sampler)
    batches = bucketed_batches(run.lengths, mine, cfg.batch_size, random.Random(cfg.seed * 100_003 + epoch))
    tutorial = model.config.arch == "tutorial"
    params = list(model.parameters())
    autocast = torch.autocast(run.device.type, dtype=run.amp_dtype) if run.amp_dtype else contextlib.nullcontext()
    run.net.train()
    t0 = time.perf_counter()
    loss_sum, tokens = 0.0, 0
    pair_sum, pairs = 0.0, 0  # the tutorial's own figure, for --arch tutorial (see pair_nll)
    bar = _progress(batches, f"epoch {epoch}/{cfg.epochs}", enabled=show)
    done = 0
    for b in bar:
        if stop.requested:
            raise KeyboardInterrupt
        if stop.asked():
            raise StopTraining
        if deadline is not None and done and time.perf_counter() >= deadline:
            break
        # forward: predict each next token of a padded, time-major batch
        x = pad_batch([run.seqs[i] for i in b]).to(run.device, non_blocking=True)
        inp, tgt = x[:, :-1], x[:, 1:]
        with autocast:
            if tutorial:  # its logits, for the tutorial's own figure too
                logits, _ = run.net(inp, time_major=True)
            else:  # the loss without the [T, B, V] logits (model.decoder_nll)
                loss, _ = run.net(inp, targets=tgt)
        if tutorial:
            loss = next_token_nll(logits, tgt)
            nll = pair_nll(logits, tgt)
            pair_sum, pairs = pair_sum + float(nll.sum()), pairs + nll.numel()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at step {p.step}; try a lower --lr")
        # backward, clip, step, and the learning rate's next value
        run.opt.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.unscale_(run.opt)
        if cfg.clip > 0:
            _clip_gradients(params, cfg.clip)
        run.scaler.step(run.opt)
        run.scaler.update()
        run.sched.step()
        # the weight average follows the new weights
        if run.averaged is not None:
            run.averaged.update_parameters(model)
        p.step += 1
        # bookkeeping: the epoch's mean loss a token, and the bar
        n_tok = int((tgt != PAD_ID).sum())
        loss_sum += loss.item() * n_tok
        tokens += n_tok
        done += 1
        if hasattr(bar, "set_postfix"):
            tok_s = tokens * run.dist.world_size / (time.perf_counter() - t0)
            bar.set_postfix(loss=f"{loss_sum / tokens:.3f}", tok_s=f"{tok_s:,.0f}", refresh=False)
    seconds = time.perf_counter() - t0
    if run.dist.world_size > 1:
        loss_sum, tokens = all_reduce_sum(loss_sum, tokens, run.device)
        if tutorial:
            pair_sum, pairs = all_reduce_sum(pair_sum, pairs, run.device)
    row = {
        "epoch": epoch,
        "train_loss": loss_sum / tokens,
        "tokens_per_s": tokens / seconds,
        "seconds": seconds,
        "lr": run.sched.get_last_lr()[0],
        "padding_share": padding_share(run.seqs, batches),
    }
    if done < len(batches):
        row["batches"] = f"{done}/{len(batches)}"  # cut short by the time budget
    if tutorial:
        row["train_pair_loss"] = pair_sum / max(pairs, 1)
    if run.dist.world_size > 1:
        row["rank_batches"] = gather_digests(mine, run.device)
    return row


def _validate(run: _Run, val_texts: Sequence[str], epoch: int) -> dict[str, Any]:
    """The weights that would be kept (the average, if one is kept), scored on the validation headlines."""
    if not val_texts:  # a refit: every epoch is the latest, and so the one kept
        return {"val_loss": None, "val_ppl": None, "_rank": -float(epoch)}
    judged = run.averaged.module if run.averaged is not None else run.model
    val = evaluate(judged, val_texts, batch_size=max(run.cfg.batch_size, 64))
    row = {"val_loss": val.loss, "val_ppl": val.perplexity, "_rank": val.loss}
    if run.model.config.arch == "tutorial":
        row["val_pair_loss"] = val.pair_loss
    return row


def _record(run: _Run, epoch: int, row: dict[str, Any]) -> bool:
    """Add the epoch to the history; keep its weights if they are the best yet. Whether they were."""
    p = run.progress
    rank = row.pop("_rank")  # validation loss, or for a refit the latest epoch first
    p.history.append(row)
    p.epoch = epoch
    if rank >= p.best_val_loss:
        p.bad_epochs += 1
        return False
    p.best_val_loss, p.best_epoch, p.bad_epochs = rank, epoch, 0
    source = run.averaged.module if run.averaged is not None else run.model
    run.best_weights = {k: v.detach().cpu().clone() for k, v in source.state_dict().items()}
    return True


def _epoch_line(run: _Run, row: dict[str, Any], improved: bool, validated: bool) -> str:
    judged = f"val loss {row['val_loss']:.3f}  val ppl {row['val_ppl']:.1f}  " if validated else "(no validation)  "
    if "train_pair_loss" in row:  # the figure the tutorial prints: its pairs only
        val_pair = row.get("val_pair_loss", math.nan)
        judged = f"pair loss {row['train_pair_loss']:.3f} (train), {val_pair:.3f} (val)  " + judged
    if not validated:
        kept = "  (saved)"
    else:
        kept = "  (best, saved)" if improved else f"  (best: epoch {run.progress.best_epoch})"
    return (
        f"epoch {row['epoch']}: train loss {row['train_loss']:.3f}  {judged}{row['tokens_per_s']:,.0f} tok/s  "
        f"{row['seconds']:.0f}s{kept}"
    )


def _run_metrics(run: _Run, train_texts: Sequence[str], val_texts: Sequence[str], vocab: Vocab) -> dict[str, Any]:
    """What metrics.json records of the run itself (the recipe adds the data and command: see recipe.py)."""
    lengths = run.lengths
    return {
        "parameters": run.model.num_parameters(),
        "model_config": run.model.config.to_dict(),
        "train_config": dataclasses.asdict(run.cfg),
        "device": str(run.device),
        "autocast": str(run.amp_dtype).removeprefix("torch.") if run.amp_dtype else None,
        "world_size": run.dist.world_size,
        "backend": run.dist.backend,
        "train_headlines": len(train_texts),
        "val_headlines": len(val_texts),
        "train_tokens": sum(lengths) - len(lengths),
        "example_prompts": common_openings(train_texts, vocab, 12),
    }


def _fill(snapshot: HeadlineModel, run: _Run, metrics: dict[str, Any], stopped: str, validated: bool) -> None:
    """Put the best weights so far, and the metrics as of now, into ``snapshot``."""
    weights = run.best_weights
    if weights is None:
        weights = {k: v.detach().cpu() for k, v in run.model.state_dict().items()}
    snapshot.load_state_dict(weights)
    p = run.progress
    snapshot.metrics = dict(metrics, history=p.history, stopped=stopped, best=p.best(validated))


def _train_state(run: _Run, data_digest: str) -> ckpt.TrainState:
    averaged = run.averaged.module.state_dict() if run.averaged is not None else {}
    progress = dict(dataclasses.asdict(run.progress), data_digest=data_digest)
    return ckpt.TrainState(
        model=run.model.state_dict(),
        optimizer=run.opt.state_dict(),
        averaged=averaged,
        best=run.best_weights or {},
        rng=torch.get_rng_state(),
        progress=progress,
    )


def _clip_gradients(params: list[torch.Tensor], max_norm: float) -> None:
    """``clip_grad_norm_``, except that on a CPU the gradients are scaled only when their norm is over max_norm.

    torch always multiplies them (by exactly 1.0 below it) to spare a GPU a synchronisation; on a CPU that
    pass over every gradient is a measurable share of a step (bench/results/speed.md). The result is identical.
    """
    total = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    if total.device.type != "cpu" or float(total) + 1e-6 > max_norm:
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)


def _progress(batches: list, desc: str, enabled: bool):
    if not enabled:
        return batches
    from tqdm.auto import tqdm

    return tqdm(batches, desc=desc, unit="batch", leave=False, dynamic_ncols=True, file=sys.stderr)
