"""The checkpoint format, defined once: a folder of config.json, model.safetensors, vocab.json,
metrics.json and a model card README.md (plus training_state.safetensors for ``--resume``), on disk or
in a Hugging Face Hub model repo.

Nothing here unpickles: weights and training state are safetensors, everything else JSON.
Saves are atomic (a temp folder renamed into place), loads are strict.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import torch
from safetensors import SafetensorError

from .errors import CheckpointError
from .model import HeadlineModel, ModelConfig
from .vocab import Vocab

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
VOCAB_FILE = "vocab.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"
TRAIN_STATE_FILE = "training_state.safetensors"
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE)
HUB_FILES = [CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE, METRICS_FILE, CARD_FILE]
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
FORMAT = "lstm_textgen/1"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


# --- writing -----------------------------------------------------------------------------------


class Best(TypedDict):
    epoch: int  # 0: none yet
    val_loss: float | None  # None when nothing was validated (a refit)
    val_ppl: float | None


class Metrics(TypedDict, total=False):
    """metrics.json: how a model was made. Every key is optional: older checkpoints lack some, and a model
    built in Python has none until it is trained."""

    # the run, from train.train
    history: list[dict[str, Any]]  # an epoch a row: epoch, train_loss, val_loss, val_ppl, tokens_per_s, seconds,
    # lr, padding_share (+ train_pair_loss, val_pair_loss for the tutorial's model; rank_batches under torchrun)
    best: Best
    stopped: str  # "completed", "early_stopping" or "running"
    parameters: int
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    device: str
    autocast: str | None  # "bfloat16", "float16" or None (float32 throughout)
    world_size: int
    backend: str | None
    train_headlines: int
    val_headlines: int
    train_tokens: int
    example_prompts: list[str]  # common openings of the training headlines, offered as seeds
    # the recipe, from recipe.fit
    data: dict[str, Any]  # paths, summary, files, val_percent, val_data
    cli: dict[str, Any]  # the settings of the run, to --resume with
    command: str | None
    init_from: str | None
    pretrain: dict[str, Any] | None  # summary, epochs, minutes, val_ppl of the pre-training stage
    refit: dict[str, Any]  # epochs, headlines, seeds, history of the refit on training + validation data
    stage: str  # "pretrain" for a pre-training stage's own checkpoint
    # added afterwards
    test: dict[str, Any]  # perplexity, data, note: bench/quality.py --record-test
    soup: list[dict[str, Any]]  # the runs an averaged model was made of


def write_model(model: HeadlineModel, folder: str | os.PathLike) -> None:
    """Every file of a checkpoint but the training state, into an existing folder."""
    from huggingface_hub import ModelCard
    from safetensors.torch import save_file

    folder = Path(folder)
    if model.vocab is None:
        raise CheckpointError("cannot save a model without its vocabulary")
    (folder / CONFIG_FILE).write_text(json.dumps(model.config.to_dict(), sort_keys=True, indent=2))
    dtype = getattr(torch, model.config.weights_dtype)
    tensors = {
        k: (v.to(dtype) if v.is_floating_point() else v).detach().to("cpu").contiguous()
        for k, v in model.state_dict().items()
    }
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT})
    write_vocab(model.vocab, folder / VOCAB_FILE)
    (folder / METRICS_FILE).write_text(json.dumps(model.metrics, indent=1, sort_keys=True), encoding="utf-8")
    ModelCard(model_card_text(model)).save(folder / CARD_FILE)


VOCAB_FORMAT = "lstm_textgen.vocab/1"


def write_vocab(vocab: Vocab, file: str | os.PathLike) -> None:
    data: dict[str, Any] = {"format": VOCAB_FORMAT, "tokens": list(vocab.itos)}
    if vocab.forms:
        data["forms"] = dict(vocab.forms)
    Path(file).write_text(json.dumps(data, ensure_ascii=False, indent=0), encoding="utf-8")


def read_vocab(file: str | os.PathLike) -> Vocab:
    try:
        data = json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{file}: cannot read the vocabulary ({e})") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{file}: not a valid lstm_textgen vocabulary ({e})") from None
    try:
        if data.get("format") != VOCAB_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {VOCAB_FORMAT!r}")
        tokens = data["tokens"]
        if not all(isinstance(t, str) for t in tokens):
            raise ValueError("tokens must be strings")
        forms = data.get("forms", {})  # absent in checkpoints made before printed forms: plain headline case
        if not isinstance(forms, dict) or not all(isinstance(v, str) and v for v in forms.values()):
            raise ValueError("forms must map words to non-empty strings")
        return Vocab(tuple(tokens), forms)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{file}: not a valid lstm_textgen vocabulary ({e})") from None


# --- training state, for --resume: safetensors tensors + JSON ---------------------------------


@dataclass
class TrainState:
    """What ``--resume`` needs beyond the model files."""

    model: dict[str, torch.Tensor]  # the live weights
    optimizer: dict[str, Any]  # as ``Optimizer.state_dict()`` gives it
    averaged: dict[str, torch.Tensor]  # the weight average's (empty: none kept)
    best: dict[str, torch.Tensor]  # the best weights in full precision (model.safetensors may hold float16)
    rng: torch.Tensor | None  # torch's CPU generator, so dropout goes on where it left off
    progress: dict[str, Any]  # the loop's counters and history (``train.Progress`` as JSON)


_PREFIXES = ("model.", "ema.", "best.")  # the live weights, their average, the best; then optim.N.NAME, rng.torch


def pack_train_state(state: TrainState) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {
        f"{prefix}{k}": v
        for prefix, part in zip(_PREFIXES, (state.model, state.averaged, state.best))
        for k, v in part.items()
    }
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in state.optimizer["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{idx}.{k}"] = v
            else:
                scalars.setdefault(str(idx), {})[k] = v
    if state.rng is not None:
        tensors["rng.torch"] = state.rng
    meta = dict(state.progress, optim_groups=state.optimizer["param_groups"], optim_scalars=scalars)
    return tensors, meta


def unpack_train_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> TrainState:
    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    optim: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, name = k.split(".", 2)
            optim.setdefault(int(idx), {})[name] = v
    for idx, st in meta.get("optim_scalars", {}).items():
        optim.setdefault(int(idx), {}).update(st)
    progress = {k: v for k, v in meta.items() if k not in ("optim_groups", "optim_scalars")}
    return TrainState(
        model=part("model."),
        optimizer={"state": optim, "param_groups": meta["optim_groups"]},
        averaged=part("ema."),
        best=part("best."),
        rng=tensors.get("rng.torch"),
        progress=progress,
    )


def write_train_state(folder: Path, state: TrainState) -> None:
    from safetensors.torch import save_file

    tensors, meta = pack_train_state(state)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    save_file(tensors, str(folder / TRAIN_STATE_FILE), metadata={"format": FORMAT, "state": json.dumps(meta)})


def read_train_state(folder: str | os.PathLike) -> TrainState:
    file = Path(folder) / TRAIN_STATE_FILE
    tensors, meta = _read_tensors(file)
    try:
        return unpack_train_state(tensors, json.loads(meta["state"]))
    except (KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{file}: has no readable training state ({_first_line(e)})") from None


def _finish_tree(folder: Path) -> None:
    """Usual permissions (mkdtemp makes a private folder) and everything on disk before the rename."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for f in folder.iterdir():
        os.chmod(f, 0o666 & ~umask)
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _old_copies(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.old-*"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dead_temp_folders(path: Path) -> None:
    """Temp folders of saves whose process died (a kill mid-save) are garbage: remove them."""
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        try:
            pid = int(tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)


def recover_interrupted_save(path: str | os.PathLike) -> None:
    """If a save died between its two renames, put the previous checkpoint back; drop dead saves' temp folders."""
    path = Path(path)
    if path.parent.is_dir():
        _remove_dead_temp_folders(path)
    if path.exists():
        for old in _old_copies(path):
            shutil.rmtree(old, ignore_errors=True)
        return
    olds = _old_copies(path)
    if olds:
        os.rename(olds[-1], path)


def save_checkpoint(
    model: HeadlineModel,
    path: str | os.PathLike,
    train_state: TrainState | None = None,
) -> Path:
    """Write the whole folder beside ``path`` and rename it into place: a kill at any moment leaves
    either the old checkpoint or the new one, never half of one."""
    path = Path(path)
    tmp: Path | None = None
    try:
        if path.exists() and not path.is_dir():
            raise CheckpointError(f"{path}: exists and is not a folder; choose another output path")
        if path.is_dir() and any(path.iterdir()) and not (path / CONFIG_FILE).exists():
            raise CheckpointError(
                f"{path}: folder exists and is not an lstm_textgen checkpoint; choose another output path"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        recover_interrupted_save(path)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
        write_model(model, tmp)
        if train_state is not None:
            write_train_state(tmp, train_state)
        _finish_tree(tmp)
        if path.exists():
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
        tmp = None
    except (OSError, SafetensorError) as e:  # safetensors reports a failed write (disk full) as its own error
        reason = getattr(e, "strerror", None) or _first_line(e)
        raise CheckpointError(
            f"cannot save checkpoint to {path}: {reason}; any previous checkpoint there is unchanged"
        ) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return path


# --- finding -----------------------------------------------------------------------------------


def resolve(
    path_or_repo: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """A local checkpoint folder, or a Hugging Face Hub repo id downloaded to the local cache."""
    raw = str(path_or_repo)
    path = Path(raw).expanduser()
    if not path.exists():
        recover_interrupted_save(path)
    if path.is_file():
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise CheckpointError(
                f"{path}: pickle files are refused (loading one can run arbitrary code); "
                f"a checkpoint is a folder with {', '.join(REQUIRED_FILES)}"
            )
        raise CheckpointError(f"{path}: is a file; a checkpoint is a folder with {', '.join(REQUIRED_FILES)}")
    if path.is_dir():
        return path
    if raw.startswith((".", "/", "~")) or not _HUB_ID.match(raw):
        raise CheckpointError(
            f"{raw}: no such checkpoint folder. Train one with: python -m lstm_textgen train --data PATH --out {raw}"
        )
    return _download(
        raw,
        revision=revision,
        cache_dir=cache_dir,
        force_download=force_download,
        local_files_only=local_files_only,
        token=token,
    )


def _download(repo_id: str, **kwargs: Any) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:
        folder = Path(snapshot_download(repo_id=repo_id, allow_patterns=HUB_FILES, **kwargs))
    except HFValidationError as e:
        raise CheckpointError(f"{repo_id}: not a local folder nor a valid Hub repo id ({_first_line(e)})") from None
    except Exception as e:  # network, auth, offline mode, missing repo: all say the same to a user
        raise CheckpointError(
            f"{repo_id}: no such local folder, and it could not be fetched from the Hugging Face Hub "
            f"({type(e).__name__}: {_first_line(e)})"
        ) from None
    return folder


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


# --- reading -----------------------------------------------------------------------------------


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{file}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{file}: unreadable or not JSON ({_first_line(e)})") from None


def read_config(folder: Path) -> ModelConfig:
    file = folder / CONFIG_FILE
    data = _read_json(file)
    try:
        return ModelConfig.from_dict(data)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{file}: not a valid lstm_textgen model config ({e})") from None


def _read_tensors(file: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    if not file.exists():
        present = sorted(p.name for p in file.parent.iterdir())
        if any(name.endswith(PICKLE_SUFFIXES) for name in present):
            raise CheckpointError(
                f"{file}: missing; the folder has only pickle weights, which are refused "
                "(loading them can run arbitrary code)"
            )
        raise CheckpointError(f"{file}: missing")
    try:
        with safe_open(str(file), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    except Exception as e:  # safetensors raises its own error types for every kind of damage
        raise CheckpointError(
            f"{file}: not a valid safetensors file, truncated or corrupt ({_first_line(e)})"
        ) from None
    return tensors, meta


def load_model(
    path_or_repo: str | os.PathLike,
    device: str | torch.device = "cpu",
    **hub_kwargs: Any,
) -> HeadlineModel:
    """Load a checkpoint strictly, in eval mode, on ``device`` (a GPU-trained one loads on CPU too)."""
    folder = resolve(path_or_repo, **hub_kwargs)
    missing = [name for name in REQUIRED_FILES if not (folder / name).exists()]
    if CONFIG_FILE in missing:
        raise CheckpointError(
            f"{folder / CONFIG_FILE}: missing; {folder} is not an lstm_textgen checkpoint "
            f"(expected {', '.join(REQUIRED_FILES)})"
        )
    config = read_config(folder)
    vocab = read_vocab(folder / VOCAB_FILE) if (folder / VOCAB_FILE).exists() else None
    if vocab is None:
        raise CheckpointError(f"{folder / VOCAB_FILE}: missing")
    if len(vocab) != config.vocab_size:
        raise CheckpointError(
            f"{folder / VOCAB_FILE}: has {len(vocab)} tokens but {folder / CONFIG_FILE} says vocab_size "
            f"{config.vocab_size}; the vocabulary belongs to another model"
        )
    tensors, _ = _read_tensors(folder / WEIGHTS_FILE)
    model = HeadlineModel(config)
    expected = model.state_dict()
    problems = [f"missing {k}" for k in expected if k not in tensors]
    problems += [f"unexpected {k}" for k in tensors if k not in expected]
    problems += [
        f"{k} has shape {tuple(tensors[k].shape)}, expected {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    want = getattr(torch, config.weights_dtype)
    problems += [
        f"{k} is {str(t.dtype).removeprefix('torch.')}, config says weights_dtype {config.weights_dtype}"
        for k, t in tensors.items()
        if t.is_floating_point() and t.dtype != want
    ]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise CheckpointError(f"{folder / WEIGHTS_FILE}: does not match {folder / CONFIG_FILE} ({shown})")
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{folder / WEIGHTS_FILE}: tensors with NaN or infinite values ({', '.join(bad[:3])})")
    model.load_state_dict(tensors, strict=True)
    model.vocab = vocab
    metrics_file = folder / METRICS_FILE
    model.metrics = _read_json(metrics_file) if metrics_file.exists() else {}
    model.source = str(path_or_repo)
    model.eval()
    return model.to(torch_device(device))


def average_checkpoints(paths: list[str | os.PathLike]) -> HeadlineModel:
    """One model whose weights are the mean of several runs' (a "model soup", Wortsman et al. 2022).

    It pays off for runs fine-tuned from one pre-trained start, which stay in one basin; runs from different
    random starts do not average. The runs must share the model config and vocabulary; the first run's
    metrics are kept, with the others' best validation figures under "soup".
    """
    if len(paths) < 2:
        raise CheckpointError("averaging needs at least two checkpoints")
    models = [load_model(p) for p in paths]
    first = models[0]
    for path, m in zip(paths[1:], models[1:]):
        if m.config != first.config or m.vocab != first.vocab:
            raise CheckpointError(
                f"{path}: its model config or vocabulary differs from {paths[0]}'s; only runs of "
                "one recipe (e.g. other seeds) can be averaged"
            )
    states = [m.state_dict() for m in models]
    averaged = {
        k: (torch.stack([s[k].float() for s in states]).mean(0) if v.is_floating_point() else v)
        for k, v in states[0].items()
    }
    first.load_state_dict(averaged)
    first.metrics = dict(
        first.metrics, soup=[{"source": str(p), "best": m.metrics.get("best")} for p, m in zip(paths, models)]
    )
    return first


def torch_device(name: str | torch.device | None = None) -> torch.device:
    """'auto' (or None) picks CUDA, then Apple MPS, then CPU; a named device that is absent is a clear error."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"unknown device {name!r} ({_first_line(e)})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available on this machine")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {name!r} asked for, but Apple MPS is not available on this machine")
    return dev


# --- the model card ----------------------------------------------------------------------------


def model_card_text(model: HeadlineModel) -> str:
    cfg = model.config
    m = model.metrics or {}
    best = m.get("best", {})
    data = m.get("data", {})
    history = m.get("history", [])
    test = m.get("test", {})
    pretrained_on = pretraining(m)
    arch = (
        f"{cfg.num_layers}-layer LSTM, embedding {cfg.emb_dim}, hidden {cfg.hidden_dim}, "
        f"{'tied' if cfg.tie_weights else 'untied'} input/output embeddings"
        if cfg.arch == "lstm"
        else "the tutorial's 2-word-window model: Embedding(V,16) -> LSTM(16,64, 5 layers) -> Linear(128,V) -> "
        "ReLU -> Linear(V,V)"
    )
    lines = [
        "---",
        "library_name: lstm_textgen",
        "license: mit",
        "pipeline_tag: text-generation",
        "language: en",
        "tags:",
        *[f"- {t}" for t in ["headlines", "lstm", "lstm_textgen", "pytorch_model_hub_mixin", "text-generation"]],
        "---",
        "",
        "# lstm_textgen headline model",
        "",
        "A word-level language model that writes news headlines, trained with lstm_textgen.",
        "",
        "| | |",
        "|---|---|",
        f"| architecture | {arch} |",
        f"| parameters | {model.num_parameters():,} |",
        f"| vocabulary | {cfg.vocab_size:,} tokens (`<pad> <unk> <bos> <eos>` + words) |",
        f"| training data | {data.get('summary', 'not recorded')} |",
        *([f"| pre-trained on | {pretrained_on} |"] if pretrained_on else []),
        f"| best validation perplexity | {_num(best.get('val_ppl'), '.2f')} (epoch {best.get('epoch', '?')}) |",
    ]
    refit = m.get("refit") or {}
    if refit:
        lines.append(
            f"| refit | then trained again on training and validation data ({refit.get('headlines', '?'):,} "
            f"headlines) for the best epoch count, {refit.get('epochs')} |"
        )
    if test:
        note = f" ({test['note']})" if test.get("note") else ""
        lines.append(
            f"| test perplexity | {test.get('perplexity', float('nan')):.2f} on {test.get('data', '?')}{note} |"
        )
    if m.get("command"):
        lines += ["", "## Recipe", "", "```bash", m["command"], "```"]
    if history:
        lines += [
            "",
            "## Training curve",
            "",
            "| epoch | train loss | val loss | val ppl | tokens/s | seconds |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {h['epoch']} | {h['train_loss']:.3f} | {_num(h['val_loss'], '.3f')} | {_num(h['val_ppl'], '.1f')} | "
            f"{h['tokens_per_s']:.0f} | {h['seconds']:.0f} |"
            for h in history
        ]
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from lstm_textgen import load_model, generate",
        'model = load_model("PATH_OR_REPO_ID")',
        'for h in generate(model, "trump says", num=3, seed=0).headlines:',
        "    print(h.text)",
        "```",
        "",
        "Files: `config.json` (layer sizes), `model.safetensors` (weights), `vocab.json`, `metrics.json` "
        "(per-epoch history). No pickle files.",
        "",
    ]
    return "\n".join(lines)


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def pretraining(metrics: dict[str, Any]) -> str | None:
    """What a model was pre-trained on before its training data, if anything."""
    pre = metrics.get("pretrain") or {}
    if pre.get("summary"):
        return pre["summary"]
    paths = (metrics.get("cli") or {}).get("pretrain_data")
    return ", ".join(Path(p).name for p in paths) if paths else None


def describe(model: HeadlineModel) -> dict[str, Any]:
    """What a user may want to know of a loaded model (the app's Model tab shows this)."""
    cfg, m = model.config, model.metrics or {}
    best, test = m.get("best") or {}, m.get("test") or {}
    source = model.source or ""
    local = bool(source) and Path(source).exists()
    return {
        "source": Path(source).name if local else source,  # a folder's name, not where it lives on this machine
        "arch": cfg.arch,
        "layers": cfg.num_layers,
        "emb_dim": cfg.emb_dim,
        "hidden_dim": cfg.hidden_dim,
        "parameters": model.num_parameters(),
        "vocab_size": cfg.vocab_size,
        "training_data": (m.get("data") or {}).get("summary"),
        "pretraining": pretraining(m),
        "val_perplexity": best.get("val_ppl"),
        "best_epoch": best.get("epoch"),
        "test_perplexity": test.get("perplexity"),
        "test_data": test.get("data"),
        "test_note": test.get("note"),
        "history": [{k: h[k] for k in ("epoch", "train_loss", "val_loss", "val_ppl")} for h in m.get("history", [])],
        "command": m.get("command"),
    }


def suggested_prompts(model: HeadlineModel, n: int = 8) -> list[str]:
    """Seed phrases this model knows well: common headline openings from its training data."""
    assert model.vocab is not None
    saved = [p for p in (model.metrics or {}).get("example_prompts", []) if all(w in model.vocab for w in p.split())]
    return (saved or list(model.vocab.words[:n]))[:n]


def zip_checkpoint(folder: str | os.PathLike, zip_path: str | os.PathLike, name: str) -> Path:
    """The checkpoint's files (the Hub's set: no training state) in a .zip, inside one folder ``name``: unpacked,
    that folder is what ``--checkpoint`` and ``load_model`` take."""
    import zipfile

    folder, zip_path = Path(folder), Path(zip_path)
    tmp = zip_path.with_name(f".{zip_path.name}.tmp-{uuid.uuid4().hex[:8]}")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for file in HUB_FILES:
            if (folder / file).is_file():
                z.write(folder / file, f"{name}/{file}")
    os.replace(tmp, zip_path)
    return zip_path


def push(path: str | os.PathLike, repo_id: str, private: bool | None = None, token: str | None = None) -> str:
    """Upload a local checkpoint to the Hub (the training state stays behind)."""
    from huggingface_hub import HfApi

    model = load_model(path)
    try:
        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            write_model(model, tmp)
            commit = api.upload_folder(
                repo_id=repo_id, folder_path=tmp, commit_message="Upload lstm_textgen headline model"
            )
        return str(commit.commit_url)
    except Exception as e:  # network, auth, offline mode
        raise CheckpointError(f"cannot push to {repo_id}: {type(e).__name__}: {_first_line(e)}") from None


BUNDLED_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "nyt-headlines"


def default_checkpoint() -> str | None:
    """``$LSTM_TEXTGEN_CHECKPOINT``, else the model that ships in the repo's checkpoints/ folder."""
    env = os.environ.get("LSTM_TEXTGEN_CHECKPOINT", "").strip()
    if env:
        return env
    return str(BUNDLED_CHECKPOINT) if (BUNDLED_CHECKPOINT / CONFIG_FILE).exists() else None
