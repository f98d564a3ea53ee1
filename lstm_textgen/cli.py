"""``python -m lstm_textgen {train,generate,evaluate,push}`` (also installed as ``lstm-textgen``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import LstmTextgenError
from .model import ModelConfig
from .recipe import Recipe
from .train import TrainConfig

_TYPES = {"int": int, "float": float, "str": str}


def _flag(f: dataclasses.Field) -> str | None:
    """A config field's flag name (``--NAME``), or None for a field with no flag."""
    if "help" not in f.metadata or f.metadata.get("flag", "") is None:
        return None
    return f.metadata.get("flag") or f.name.replace("_", "-")


def add_field_flags(parser: Any, cls: type, group: str | None = None) -> None:
    """One flag a field of the dataclass ``cls`` (its help and name from the field's metadata, see
    ``model.config_field``), all defaulting to None: "not given", so ``--resume`` can tell what to repeat."""
    for f in dataclasses.fields(cls):
        meta, flag = f.metadata, _flag(f)
        if flag is None or meta.get("group") != group:
            continue
        kwargs: dict[str, Any] = {"help": meta["help"], "dest": flag.replace("-", "_")}
        if isinstance(f.default, bool):
            kwargs["action"] = "store_true"
        elif isinstance(f.default, tuple):
            kwargs.update(nargs="+", metavar=meta.get("metavar", "PATH"))
        else:
            kwargs["type"] = _TYPES[str(f.type).split("|")[0].strip()]
            kwargs.update({k: meta[k] for k in ("choices", "metavar") if k in meta})
            if f.default is not None and "default" not in meta["help"]:
                kwargs["help"] += f" (default {f.default})"
        parser.add_argument(f"--{flag}", default=None, **kwargs)


def field_values(cls: type, settings: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``cls`` that ``settings`` (flag dests) give, as the dataclass takes them."""
    values = {}
    for f in dataclasses.fields(cls):
        flag = _flag(f)
        value = settings.get(flag.replace("-", "_")) if flag else None
        if value is None:
            continue
        if isinstance(f.default, bool) and flag.startswith("no-"):
            value = not value
        values[f.name] = tuple(value) if isinstance(f.default, tuple) else value
    return values


def _add_generation_flags(p: argparse.ArgumentParser) -> None:
    from .generate import MAX_NUM, MAX_WORDS, PRECISIONS, SAMPLERS, Options

    d = Options()
    p.add_argument(
        "--prompt",
        default="",
        help="seed words the headlines start with (cleaned like training text; empty: from scratch)",
    )
    p.add_argument("--num", type=int, default=d.num, help=f"how many headlines (1-{MAX_NUM}; default {d.num})")
    p.add_argument(
        "--max-words",
        type=int,
        default=d.max_words,
        help=f"most new words a headline (1-{MAX_WORDS}; default {d.max_words}); it stops earlier at <eos>",
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=d.temperature,
        help=f"sampling temperature; 0 = greedy (always the likeliest word); default {d.temperature}",
    )
    p.add_argument(
        "--top-k", type=int, default=d.top_k, help="sample only from the k likeliest words (0 = off, default)"
    )
    p.add_argument(
        "--top-p",
        type=float,
        default=d.top_p,
        help=f"sample only from the likeliest words that together reach this probability (1 = off; default {d.top_p})",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed; the same seed and options give the same headlines (default: random, printed with --json)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=d.precision,
        help="precision of the LSTM's products while generating: auto = int8 on an x86 CPU, bfloat16 on a GPU "
        "that has it, else float32 (the faster choices change perplexity by under 0.1%%) (default auto)",
    )
    p.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default=d.sampler,
        help="what chooses each word: auto = the compiled sampler where this machine has a C compiler and top-k is "
        "off, else PyTorch's operations; torch = PyTorch's operations always (the same words for a seed) "
        "(default auto)",
    )


def build_parser() -> argparse.ArgumentParser:
    from .checkpoint import default_checkpoint

    parser = argparse.ArgumentParser(
        prog="lstm_textgen",
        description="Train a 5-layer LSTM on news headlines, evaluate it, and generate new headlines.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,generate,evaluate,average,push}")
    ckpt_help = f"checkpoint folder or Hugging Face Hub repo id (default: {default_checkpoint() or 'none found'})"

    t = sub.add_parser(
        "train",
        help="train a model on headline files",
        description="Train a headline model. Flags left out take their defaults, or on --resume the values the "
        "run was started with.",
    )
    t.add_argument("--out", help="checkpoint folder to write (written again after every epoch)")
    t.add_argument(
        "--resume",
        metavar="DIR",
        help="continue an interrupted run from its checkpoint folder (uses its saved data paths and settings "
        "unless given again)",
    )
    add_field_flags(t, Recipe)
    add_field_flags(t.add_argument_group("data"), Recipe, group="data")
    add_field_flags(t.add_argument_group("model"), ModelConfig)
    add_field_flags(t.add_argument_group("optimisation"), TrainConfig)
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    gen = sub.add_parser("generate", help="write headlines", description="Generate headlines from a checkpoint.")
    gen.add_argument("--checkpoint", default=None, help=ckpt_help)
    _add_generation_flags(gen)
    gen.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    gen.add_argument("--json", action="store_true", help="print the result as JSON (words, probabilities, ...)")

    ev = sub.add_parser(
        "evaluate",
        help="perplexity on headline files",
        description="Per-word perplexity over all tokens (<eos> included) of held-out headlines.",
    )
    ev.add_argument("--checkpoint", default=None, help=ckpt_help)
    ev.add_argument("--data", nargs="+", required=True, metavar="PATH", help="headline files, folders or globs")
    ev.add_argument("--column", help="the CSV column holding headlines (default: found by name)")
    ev.add_argument("--batch-size", type=int, default=64, help="headlines a batch (default 64)")
    ev.add_argument("--device", default="auto", help="auto (default), cpu, cuda or mps")
    ev.add_argument("--json", action="store_true", help="print perplexity, unk_rate, headlines, tokens as JSON")

    av = sub.add_parser(
        "average",
        help="average the weights of several runs (a model soup)",
        description="Average the weights of runs of one recipe fine-tuned from one pre-trained start "
        "(e.g. --seed 0, 1, 2 with --init-from the same checkpoint) into one model of the same "
        "size.",
    )
    av.add_argument("--checkpoints", nargs="+", required=True, metavar="DIR", help="the runs' checkpoint folders")
    av.add_argument("--out", required=True, help="checkpoint folder to write")

    pu = sub.add_parser(
        "push",
        help="upload a checkpoint to the Hugging Face Hub",
        description="Upload a checkpoint folder (without its training state) to a Hub model repo.",
    )
    pu.add_argument("--checkpoint", required=True, help="local checkpoint folder")
    pu.add_argument("--repo-id", required=True, help="USER/NAME of the Hub model repo (created if missing)")
    pu.add_argument("--private", action="store_true", help="create the repo as private")
    pu.add_argument("--token", default=None, help="Hub token (default: the one from `hf auth login` or HF_TOKEN)")
    return parser


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


def _checkpoint_arg(value: str | None) -> str:
    from .checkpoint import default_checkpoint

    chosen = value or default_checkpoint()
    if not chosen:
        raise LstmTextgenError(
            "no --checkpoint given and no bundled checkpoint found; train one with: "
            "python -m lstm_textgen train --data PATH --out DIR"
        )
    return str(chosen)


def _say(*parts: Any) -> None:
    """Print to stderr, once: under torchrun only rank 0 talks."""
    import os

    if os.environ.get("RANK", "0") == "0":
        print(*parts, file=sys.stderr)


def cmd_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from . import checkpoint as ckpt
    from .recipe import fit

    saved: dict[str, Any] = {}
    command = "python -m lstm_textgen " + " ".join(shlex.quote(a) for a in argv)
    if args.resume:
        if args.out and Path(args.out).resolve() != Path(args.resume).resolve():
            raise LstmTextgenError("--out and --resume name different folders; --resume continues in place")
        args.out = args.resume
        ckpt.recover_interrupted_save(args.resume)
        if not (Path(args.resume) / ckpt.TRAIN_STATE_FILE).exists():
            raise LstmTextgenError(f"{Path(args.resume) / ckpt.TRAIN_STATE_FILE}: missing; nothing to resume")
        resumed = ckpt.load_model(args.resume)
        saved = resumed.metrics.get("cli", {})
        command = resumed.metrics.get("command") or command  # the command that started the run: the recipe
    if not args.out:
        raise LstmTextgenError("--out DIR is required (the checkpoint folder to write)")
    given = {k: v for k, v in vars(args).items() if k not in _NOT_RECORDED and v is not None}
    settings = {**saved, **given}
    if not settings.get("data"):
        raise LstmTextgenError("--data PATH... is required")
    recipe = Recipe(**field_values(Recipe, {**settings, "init_from": args.init_from}))
    model = fit(
        recipe,
        args.out,
        field_values(ModelConfig, settings),
        TrainConfig(**field_values(TrainConfig, settings)),
        resume=bool(args.resume),
        command=command,
        cli=settings,
        log=_say,
        progress=not args.quiet,
    )
    best = model.metrics.get("best", {})
    _say(
        f"best validation perplexity {best.get('val_ppl') or float('nan'):.2f} at epoch {best.get('epoch')}; "
        f"checkpoint: {args.out}"
    )
    return 0


_NOT_RECORDED = ("command", "resume", "out", "quiet", "init_from")  # not repeated by --resume


def cmd_generate(args: argparse.Namespace) -> int:
    from .checkpoint import load_model
    from .generate import generate, make_options

    opts = make_options(
        num=args.num,
        max_words=args.max_words,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        precision=args.precision,
        sampler=args.sampler,
    )
    model = load_model(_checkpoint_arg(args.checkpoint), device=args.device)
    result = generate(model, args.prompt, options=opts)
    if result.unknown_words:
        print("note: not in the vocabulary, read as <unk>: " + ", ".join(result.unknown_words), file=sys.stderr)
    if result.truncated:
        print("note: the prompt was long; only its last words were used", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    else:
        for h in result.headlines:
            print(h.text)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .checkpoint import load_model
    from .data import load_headlines
    from .evaluate import evaluate

    model = load_model(_checkpoint_arg(args.checkpoint), device=args.device)
    headlines = load_headlines(args.data, column=args.column)
    print(headlines.summary(), file=sys.stderr)
    ev = evaluate(model, headlines.texts, batch_size=args.batch_size)
    if args.json:
        print(
            json.dumps(
                {"perplexity": ev.perplexity, "unk_rate": ev.unk_rate, "headlines": ev.headlines, "tokens": ev.tokens}
            )
        )
    else:
        print(
            f"perplexity {ev.perplexity:.2f} over {ev.tokens:,} tokens of {ev.headlines:,} headlines "
            f"(<eos> included); unknown words {ev.unk_rate:.1%}"
        )
    return 0


def cmd_average(args: argparse.Namespace) -> int:
    from .checkpoint import average_checkpoints, save_checkpoint

    model = average_checkpoints(args.checkpoints)
    save_checkpoint(model, args.out)
    _say(f"averaged {len(args.checkpoints)} checkpoints into {args.out}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from .checkpoint import push

    url = push(args.checkpoint, args.repo_id, private=args.private or None, token=args.token)
    print(f"pushed {args.checkpoint} to {url}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args, argv)
        if args.command == "generate":
            return cmd_generate(args)
        if args.command == "evaluate":
            return cmd_evaluate(args)
        if args.command == "average":
            return cmd_average(args)
        return cmd_push(args)
    except (LstmTextgenError, ValueError, FloatingPointError) as e:
        _err(str(e))
        return 1
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except MemoryError:
        _err("out of memory; try a smaller --batch-size or model")
        return 1
