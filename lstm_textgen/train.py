"""Training: AdamW, warm-up + cosine learning rate, gradient clipping, validation every epoch,
early stopping, the best model kept, resumable, and DistributedDataParallel under torchrun.

One process: ``python -m lstm_textgen train ...``. Several: ``torchrun --nproc_per_node N -m
lstm_textgen train ...`` (gloo on CPU, NCCL on CUDA); only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import checkpoint as ckpt
from .data import bucketed_batches, common_openings, encode_all, pad_batch, padding_share
from .errors import CheckpointError
from .evaluate import evaluate
from .model import HeadlineModel, ModelConfig, native_bfloat16, next_token_nll, pair_nll
from .vocab import PAD_ID, Vocab


@dataclass(frozen=True)
class TrainConfig:
    """How to train (the model's shape is in ModelConfig)."""

    epochs: int = 12
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.1
    clip: float = 0.5
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05  # the cosine schedule ends at lr * this
    patience: int = 6  # epochs without a better validation loss before stopping
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # mixed precision where the hardware has it: CUDA, or bfloat16 on a CPU with AVX512-BF16/AMX
    ema: float = 0.995  # if > 0, validate and keep an exponential moving average of the weights (decay a step)
    stop_after: int = 0  # stop after this many epochs of the ``epochs``-long schedule (0: run it all); for a refit

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


@dataclass
class Dist:
    """This process's place in a torchrun job (world_size 1 when run alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the torchrun process group if launched by torchrun; pick this rank's GPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Dist(rank, world, local_rank, backend), device


class _StopRequest:
    """Ctrl-C (SIGINT) or SIGTERM asks the loop to stop at the next batch; a second Ctrl-C stops at once.

    A flag checked between batches, rather than a KeyboardInterrupt raised wherever Python happens
    to be (inside a destructor it would be ignored), so the stop is certain and clean.
    """

    def __init__(self) -> None:
        import signal
        import threading

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
    # the fused kernel is ~10x faster than the per-tensor loop on CPU: at this model size it was a third of a step
    fused = device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99), fused=fused)


def _digest(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8") + b"\n")
    return h.hexdigest()[:16]


# --- training state for --resume, as safetensors tensors + JSON (no pickle) -----------------------


def _pack_state(
    model: HeadlineModel,
    opt: torch.optim.Optimizer,
    meta: dict[str, Any],
    ema: dict[str, torch.Tensor] | None,
    best: dict[str, torch.Tensor] | None,
) -> tuple[dict, dict]:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in (ema or {}).items()})
    # the best weights in full precision (model.safetensors may hold them in float16)
    tensors.update({f"best.{k}": v for k, v in (best or {}).items()})
    sd = opt.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{idx}.{k}"] = v
            else:
                scalars.setdefault(str(idx), {})[k] = v
    tensors["rng.torch"] = torch.get_rng_state()
    meta = dict(meta, optim_groups=sd["param_groups"], optim_scalars=scalars)
    return tensors, meta


def _unpack_state(
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    model: HeadlineModel,
    opt: torch.optim.Optimizer,
    ema: dict[str, torch.Tensor] | None,
) -> torch.Tensor | None:
    """Restore model and optimizer (and the weight average, in place); returns the RNG state, to set
    just before training goes on."""
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, name = k.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    for idx, st in meta.get("optim_scalars", {}).items():
        state.setdefault(int(idx), {}).update(st)
    opt.load_state_dict({"state": state, "param_groups": meta["optim_groups"]})
    if ema is not None:
        for k, v in ema.items():
            v.copy_(tensors[f"ema.{k}"])
    return tensors.get("rng.torch")


# --- the loop -------------------------------------------------------------------------------------


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
) -> HeadlineModel:
    """Train and keep the best model (by validation loss) at ``out``; returns it (on CPU, eval mode).

    ``info`` is stored in the checkpoint's metrics (data summary, command line).
    Ctrl-C stops after saving nothing new: the best checkpoint so far stays at ``out``.
    With no ``val_texts`` nothing is validated and the last epoch is kept: a refit on all the data for an
    epoch count that an earlier, validated run chose (``cfg.stop_after``).
    """
    if not train_texts:
        raise ValueError("no training headlines")
    if not val_texts and not cfg.stop_after:
        raise ValueError(
            "no validation headlines (use more data or a larger val_percent); training without "
            "validation needs a fixed epoch count (stop_after)"
        )
    out = Path(out)
    device = ckpt.torch_device(cfg.device)
    dist_info, device = init_distributed(device)
    say = (log or (lambda s: print(s, file=sys.stderr))) if dist_info.main else (lambda s: None)

    torch.manual_seed(cfg.seed)
    model = HeadlineModel(model_config)
    model.vocab = vocab
    if init_from is not None:
        stats = transfer_weights(model, init_from)
        say(
            f"initialised from a pre-trained model: {stats['tensors']} tensors, "
            f"{stats['shared_words']}/{stats['words']} vocabulary rows"
        )
    model.to(device)
    opt = _make_optimizer(model, cfg)

    train_seqs = encode_all(train_texts, vocab)
    lengths = [len(s) for s in train_seqs]
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(
        range(len(train_seqs)), num_replicas=dist_info.world_size, rank=dist_info.rank, shuffle=True, seed=cfg.seed
    )
    steps_per_epoch = math.ceil(len(sampler) / cfg.batch_size)
    lr_at = _lr_lambda(cfg, steps_per_epoch * cfg.epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)

    meta: dict[str, Any] = {
        "epoch": 0,
        "step": 0,
        "best_val_loss": math.inf,
        "best_epoch": 0,
        "bad_epochs": 0,
        "history": [],
    }
    data_digest = _digest(train_texts) + _digest(val_texts)
    # the weight average: float32 copies of every floating tensor, updated after each step
    ema = {k: v.detach().clone().float() for k, v in model.state_dict().items()} if cfg.ema > 0 else None
    best_state = None
    rng_state = None
    if resume:
        ckpt.recover_interrupted_save(out)
        try:
            tensors, saved = ckpt.read_train_state(out)
            saved_cfg = ckpt.read_config(out)
        except CheckpointError as e:
            raise CheckpointError(f"cannot resume from {out}: {e}") from None
        if saved_cfg != model_config:
            raise CheckpointError(f"cannot resume from {out}: its model config differs from this run's")
        if saved.get("data_digest") != data_digest:
            raise CheckpointError(f"cannot resume from {out}: it was trained on other data or another split")
        rng_state = _unpack_state(tensors, saved, model, opt, ema)
        meta.update({k: saved[k] for k in meta})
        best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")} or ckpt.load_model(
            out
        ).state_dict()
        sched.last_epoch = meta["step"]
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] * lr_at(meta["step"])
        say(f"resuming from {out} after epoch {meta['epoch']} (best val loss {meta['best_val_loss']:.4f})")

    # CPU autocast runs the LSTM and decoder products in bfloat16: 1.4x the tokens/s where the CPU has bfloat16
    # instructions, with the same validation perplexity (bench/results/speed.md); elsewhere it would be emulated
    use_amp = cfg.amp and (device.type == "cuda" or native_bfloat16(device))
    amp_dtype = torch.bfloat16 if device.type != "cuda" or torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    ddp_model: torch.nn.Module = model
    if dist_info.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ddp_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    params = list(model.parameters())
    snapshot = HeadlineModel(model_config)  # CPU copy that holds the best weights for saving
    snapshot.vocab = vocab
    judge = None
    if ema is not None:  # a second model on the device, to validate the averaged weights
        judge = HeadlineModel(model_config).to(device)
        judge.vocab = vocab
    base_metrics = dict(info or {})
    base_metrics.update(
        {
            "parameters": model.num_parameters(),
            "model_config": model_config.to_dict(),
            "train_config": dataclasses.asdict(cfg),
            "device": str(device),
            "autocast": str(amp_dtype).removeprefix("torch.") if use_amp else None,
            "world_size": dist_info.world_size,
            "backend": dist_info.backend,
            "train_headlines": len(train_texts),
            "val_headlines": len(val_texts),
            "train_tokens": sum(lengths) - len(lengths),
            "example_prompts": common_openings(train_texts, vocab, 12),
        }
    )

    def fill_snapshot(stopped: str) -> None:
        if best_state is not None:
            snapshot.load_state_dict(best_state)
        else:
            snapshot.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
        best_loss = meta["best_val_loss"]
        judged = bool(val_texts) and math.isfinite(best_loss)
        best = {
            "epoch": meta["best_epoch"],
            "val_loss": best_loss if judged else None,
            "val_ppl": math.exp(best_loss) if judged else None,
        }
        snapshot.metrics = dict(base_metrics, history=meta["history"], stopped=stopped, best=best)

    def save(stopped: str) -> None:
        if not dist_info.main:
            return
        fill_snapshot(stopped)
        state = _pack_state(model, opt, dict(meta, data_digest=data_digest), ema, best_state)
        ckpt.save_checkpoint(snapshot, out, train_state=state)

    if ema is not None:  # the same tensors every step: the average and the weights it follows, in one order
        ema_tensors = list(ema.values())
        live = model.state_dict()
        live_tensors = [live[k] for k in ema]
    if rng_state is not None:  # last, so nothing above (model building) shifts the dropout masks
        torch.set_rng_state(rng_state)
    tutorial = model_config.arch == "tutorial"
    stopped = "completed"
    stop = _StopRequest()
    finished = False
    try:
        while meta["epoch"] < (cfg.stop_after or cfg.epochs):
            epoch = meta["epoch"] + 1
            sampler.set_epoch(epoch)
            mine = list(sampler)
            batches = bucketed_batches(lengths, mine, cfg.batch_size, random.Random(cfg.seed * 100_003 + epoch))
            pad = padding_share(train_seqs, batches)
            ddp_model.train()
            t0 = time.perf_counter()
            loss_sum, tokens = 0.0, 0
            pair_sum, pairs = 0.0, 0  # the tutorial's own figure, for --arch tutorial (see pair_nll)
            bar = _progress(batches, f"epoch {epoch}/{cfg.epochs}", enabled=progress and dist_info.main)
            for b in bar:
                if stop.requested:
                    raise KeyboardInterrupt
                x = pad_batch([train_seqs[i] for i in b]).to(device, non_blocking=True)
                inp, tgt = x[:, :-1], x[:, 1:]
                n_tok = int((tgt != PAD_ID).sum())
                with torch.autocast(device.type, dtype=amp_dtype) if use_amp else contextlib.nullcontext():
                    logits, _ = ddp_model(inp, time_major=True)
                loss = next_token_nll(logits, tgt)
                if tutorial:
                    nll = pair_nll(logits, tgt)
                    pair_sum, pairs = pair_sum + float(nll.sum()), pairs + nll.numel()
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"training loss became {loss.item()} at step {meta['step']}; try a lower --lr"
                    )
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                if cfg.clip > 0:
                    _clip_gradients(params, cfg.clip)
                scaler.step(opt)
                scaler.update()
                sched.step()
                if ema is not None:  # the decay ramps up, so the random start weighs little
                    decay = min(cfg.ema, (1 + meta["step"]) / (10 + meta["step"]))
                    with torch.no_grad():
                        torch._foreach_lerp_(ema_tensors, live_tensors, 1 - decay)
                meta["step"] += 1
                loss_sum += loss.item() * n_tok
                tokens += n_tok
                if hasattr(bar, "set_postfix"):
                    el = time.perf_counter() - t0
                    bar.set_postfix(
                        loss=f"{loss_sum / tokens:.3f}",
                        tok_s=f"{tokens * dist_info.world_size / el:,.0f}",
                        refresh=False,
                    )
            seconds = time.perf_counter() - t0
            if dist_info.world_size > 1:
                loss_sum, tokens = _all_reduce_sum(loss_sum, tokens, device)
                if tutorial:
                    pair_sum, pairs = _all_reduce_sum(pair_sum, pairs, device)
            if not val_texts:  # a refit: every epoch is the latest, and so the one kept
                val_loss, val_ppl = -float(epoch), None
            elif ema is not None:  # judge (and keep) the averaged weights
                judge.load_state_dict(ema)
                val = evaluate(judge, val_texts, batch_size=max(cfg.batch_size, 64))
                val_loss, val_ppl = val.loss, val.perplexity
            else:
                val = evaluate(model, val_texts, batch_size=max(cfg.batch_size, 64))
                val_loss, val_ppl = val.loss, val.perplexity
            if tutorial:
                extra = {"train_pair_loss": pair_sum / max(pairs, 1)}
                if val_texts:
                    extra["val_pair_loss"] = val.pair_loss
            row = {
                "epoch": epoch,
                "train_loss": loss_sum / tokens,
                "val_loss": val_loss if val_texts else None,
                "val_ppl": val_ppl,
                "tokens_per_s": tokens / seconds,
                "seconds": seconds,
                "lr": sched.get_last_lr()[0],
                "padding_share": pad,
                **(extra if tutorial else {}),
            }
            if dist_info.world_size > 1:
                row["rank_batches"] = _gather_digests(mine, device)
            meta["history"].append(row)
            meta["epoch"] = epoch
            improved = val_loss < meta["best_val_loss"]
            if improved:
                meta.update(best_val_loss=val_loss, best_epoch=epoch, bad_epochs=0)
                source = ema if ema is not None else model.state_dict()
                best_state = {k: v.detach().cpu().clone() for k, v in source.items()}
            else:
                meta["bad_epochs"] += 1
            judged = f"val loss {val_loss:.3f}  val ppl {val_ppl:.1f}  " if val_texts else "(no validation)  "
            if tutorial:  # the figure the tutorial prints: its pairs only
                judged = (
                    f"pair loss {row['train_pair_loss']:.3f} (train), {row.get('val_pair_loss', math.nan):.3f} (val)  "
                    + judged
                )
            kept = (
                "  (saved)"
                if not val_texts
                else "  (best, saved)"
                if improved
                else f"  (best: epoch {meta['best_epoch']})"
            )
            say(
                f"epoch {epoch}: train loss {row['train_loss']:.3f}  {judged}{row['tokens_per_s']:,.0f} tok/s  "
                f"{seconds:.0f}s{kept}"
            )
            if meta["bad_epochs"] >= cfg.patience:
                stopped = "early_stopping"
                save(stopped)
                say(f"stopping early: no better validation loss for {cfg.patience} epochs")
                break
            save("running" if epoch < (cfg.stop_after or cfg.epochs) else stopped)
        finished = True
    except KeyboardInterrupt:
        say(
            f"interrupted: the best checkpoint so far (epoch {meta['best_epoch']}) is at {out}"
            if meta["best_epoch"]
            else "interrupted before the first epoch ended: nothing saved"
        )
        raise
    finally:
        stop.restore()
        if dist_info.world_size > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                if finished:
                    dist.barrier()  # leave together: rank 0 may still be saving
                dist.destroy_process_group()
    fill_snapshot(stopped)
    snapshot.eval()
    return snapshot


def _clip_gradients(params: list[torch.Tensor], max_norm: float) -> None:
    """``clip_grad_norm_``, except that on a CPU the gradients are scaled only when their norm is over max_norm.

    torch always multiplies them (by exactly 1.0 below it) to spare a GPU a synchronisation; on a CPU that
    pass over every gradient was 5% of a training step. The result is identical.
    """
    total = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    if total.device.type != "cpu" or float(total) + 1e-6 > max_norm:
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)


def _progress(batches: list, desc: str, enabled: bool):
    if not enabled:
        return batches
    from tqdm.auto import tqdm

    return tqdm(batches, desc=desc, unit="batch", leave=False, dynamic_ncols=True, file=sys.stderr)


def _all_reduce_sum(loss_sum: float, tokens: int, device: torch.device) -> tuple[float, int]:
    import torch.distributed as dist

    t = torch.tensor([loss_sum, float(tokens)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t[0]), int(t[1])


def _gather_digests(indices: list[int], device: torch.device) -> list[dict[str, Any]]:
    """What each rank trained on this epoch (count and a digest of its example ids), for checking the split."""
    import torch.distributed as dist

    digest = int.from_bytes(hashlib.sha256(json.dumps(sorted(indices)).encode()).digest()[:7], "big")
    mine = torch.tensor([len(indices), digest], dtype=torch.int64, device=device)
    everyone = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(everyone, mine)
    return [{"examples": int(t[0]), "digest": f"{int(t[1]):014x}"} for t in everyone]
