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

_MODEL_FLAGS = {  # flag -> ModelConfig field
    "arch": "arch",
    "layers": "num_layers",
    "emb_dim": "emb_dim",
    "hidden_dim": "hidden_dim",
    "emb_dropout": "emb_dropout",
    "input_dropout": "input_dropout",
    "hidden_dropout": "hidden_dropout",
    "output_dropout": "output_dropout",
    "weight_drop": "weight_drop",
}
_TRAIN_FLAGS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "weight_decay": "weight_decay",
    "clip": "clip",
    "warmup_steps": "warmup_steps",
    "min_lr_ratio": "min_lr_ratio",
    "patience": "patience",
    "seed": "seed",
    "device": "device",
    "ema": "ema",
}
DATA_DEFAULTS = {"min_count": 2, "max_vocab": None, "val_percent": 10.0, "column": None}


def _defaults() -> tuple[dict[str, Any], dict[str, Any]]:
    from .model import ModelConfig
    from .train import TrainConfig

    m = {f.name: f.default for f in dataclasses.fields(ModelConfig) if f.default is not dataclasses.MISSING}
    t = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    return m, t


def _add_generation_flags(p: argparse.ArgumentParser) -> None:
    from .generate import MAX_NUM, MAX_WORDS, PRECISIONS, Options

    d = Options()
    p.add_argument(
        "--prompt",
        default="",
        help="seed words the headlines start with (cleaned like training text; empty: from scratch)",
    )
    p.add_argument("--num", type=int, default=5, help=f"how many headlines (1-{MAX_NUM}; default 5)")
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
        help="precision of the LSTM's products "
        "while generating: auto = bfloat16 where the CPU/GPU has it (2-3x faster), else float32 "
        "(default auto)",
    )


def build_parser() -> argparse.ArgumentParser:
    from .checkpoint import default_checkpoint

    mdef, tdef = _defaults()
    parser = argparse.ArgumentParser(
        prog="lstm_textgen",
        description="Train a 5-layer LSTM on news headlines, evaluate it, and generate new headlines.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,generate,evaluate,average,push}")
    ckpt_help = f"checkpoint folder or Hugging Face Hub repo id (default: {default_checkpoint() or 'none found'})"

    t = sub.add_parser(
        "train",
        help="train a model on headline files",
        description="Train a headline model. "
        "Flags left out take their defaults, or on --resume the values the run was started with.",
    )
    t.add_argument(
        "--data",
        nargs="+",
        metavar="PATH",
        help="headline files, folders or globs (.csv with a "
        "headline/headline_text/title column, or .txt one headline a line)",
    )
    t.add_argument("--column", help="the CSV column holding headlines (default: found by name)")
    t.add_argument("--out", help="checkpoint folder to write (written again after every epoch)")
    t.add_argument(
        "--resume",
        metavar="DIR",
        help="continue an interrupted run from its checkpoint folder "
        "(uses its saved data paths and settings unless given again)",
    )
    t.add_argument(
        "--init-from",
        metavar="CKPT",
        help="start from a pre-trained checkpoint's weights "
        "(e.g. trained on a bigger corpus); its vocabulary may differ",
    )
    t.add_argument(
        "--pretrain-data",
        nargs="+",
        metavar="PATH",
        help="first train on these headlines (e.g. the "
        "larger ABC corpus), with the vocabulary of --data, then fine-tune on --data; the pre-trained "
        "model is kept beside --out as OUT.pretrain and reused when complete",
    )
    t.add_argument("--pretrain-epochs", type=int, help="most epochs of pre-training (default 4)")
    t.add_argument("--pretrain-lr", type=float, help="peak learning rate of pre-training (default: --lr)")
    t.add_argument(
        "--mix-data",
        nargs="+",
        metavar="PATH",
        help="also train on these headlines (e.g. a "
        "pre-training corpus, so fine-tuning does not forget it); they add no words to the vocabulary "
        "and are never validated on",
    )
    t.add_argument(
        "--pretrain-min-count",
        type=int,
        help="also put in the vocabulary the words of --pretrain-data "
        "seen this often there (after --data's words; --max-vocab still caps the total); 0 = off (default)",
    )
    g = t.add_argument_group("model")
    g.add_argument(
        "--arch",
        choices=["lstm", "tutorial"],
        help="lstm: our regularised LSTM (default); tutorial: "
        "the tutorial's 2-word-window model, to reproduce and compare",
    )
    g.add_argument("--layers", type=int, help=f"LSTM layers (default {mdef['num_layers']})")
    g.add_argument("--emb-dim", type=int, help=f"word embedding size (default {mdef['emb_dim']}; tutorial 16)")
    g.add_argument("--hidden-dim", type=int, help=f"LSTM hidden size (default {mdef['hidden_dim']}; tutorial 64)")
    g.add_argument(
        "--emb-dropout", type=float, help=f"share of words dropped from the embedding (default {mdef['emb_dropout']})"
    )
    g.add_argument(
        "--input-dropout", type=float, help=f"locked dropout on the LSTM input (default {mdef['input_dropout']})"
    )
    g.add_argument(
        "--hidden-dropout", type=float, help=f"locked dropout between LSTM layers (default {mdef['hidden_dropout']})"
    )
    g.add_argument(
        "--output-dropout", type=float, help=f"locked dropout before the decoder (default {mdef['output_dropout']})"
    )
    g.add_argument(
        "--weight-drop", type=float, help=f"DropConnect on hidden-to-hidden weights (default {mdef['weight_drop']})"
    )
    g.add_argument(
        "--no-tie", action="store_true", default=None, help="separate output layer instead of tied embeddings"
    )
    g.add_argument(
        "--no-residual",
        action="store_true",
        default=None,
        help="no residual connections between LSTM layers (the plain stack barely trains at 5 layers)",
    )
    g.add_argument(
        "--weights-dtype",
        choices=["float32", "float16", "bfloat16"],
        help="how model.safetensors stores weights (default float32; float16 halves the file, "
        "e.g. to stay under a Space's 10 MB per file; computation stays float32)",
    )
    d = t.add_argument_group("data")
    d.add_argument(
        "--min-count", type=int, help=f"words seen fewer times become <unk> (default {DATA_DEFAULTS['min_count']})"
    )
    d.add_argument("--max-vocab", type=int, help="keep at most this many tokens (default: no limit)")
    d.add_argument(
        "--val-percent",
        type=float,
        help=f"share of headlines held out for validation, by a hash of the "
        f"headline (default {DATA_DEFAULTS['val_percent']}); ignored with --val-data",
    )
    d.add_argument(
        "--refit-seeds",
        type=int,
        help="with --refit: refit this many times (seeds --seed, --seed+1, "
        "...) and average the weights into one model of the same size (a model soup; default 1)",
    )
    d.add_argument(
        "--val-data",
        nargs="+",
        metavar="PATH",
        help="validate on these files instead of a random share "
        "(e.g. the latest month: a time-based split); their headlines are taken out of --data",
    )
    d.add_argument(
        "--refit",
        action="store_true",
        default=None,
        help="after the validated run (kept beside --out as "
        "OUT.validation), train again from the same start on the training and validation headlines "
        "together for the best epoch count found, and keep that model",
    )
    o = t.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, help=f"most epochs (default {tdef['epochs']})")
    o.add_argument("--batch-size", type=int, help=f"headlines a batch (default {tdef['batch_size']})")
    o.add_argument("--lr", type=float, help=f"AdamW peak learning rate (default {tdef['lr']})")
    o.add_argument("--weight-decay", type=float, help=f"AdamW weight decay (default {tdef['weight_decay']})")
    o.add_argument("--clip", type=float, help=f"gradient norm clip, 0 = off (default {tdef['clip']})")
    o.add_argument(
        "--warmup-steps",
        type=int,
        help=f"linear warm-up steps before the cosine decay (default {tdef['warmup_steps']})",
    )
    o.add_argument(
        "--min-lr-ratio", type=float, help=f"final learning rate as a share of --lr (default {tdef['min_lr_ratio']})"
    )
    o.add_argument(
        "--patience",
        type=int,
        help=f"stop after this many epochs without a better validation loss (default {tdef['patience']})",
    )
    o.add_argument("--seed", type=int, help=f"random seed for a reproducible run (default {tdef['seed']})")
    o.add_argument(
        "--ema",
        type=float,
        help="keep (and validate) an exponential moving average of the weights "
        f"with this decay a step; 0 = off (default {tdef['ema']})",
    )
    o.add_argument("--device", help="auto (CUDA, then Apple MPS, then CPU; default), cpu, cuda, cuda:1, mps")
    o.add_argument(
        "--no-amp",
        action="store_true",
        default=None,
        help="train in float32 throughout: no mixed "
        "precision (used on CUDA, and as bfloat16 on a CPU with AVX512-BF16/AMX)",
    )
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
    from .data import load_headlines, split
    from .model import ModelConfig
    from .train import TrainConfig, train
    from .vocab import build_vocab

    mdef, tdef = _defaults()
    saved: dict[str, Any] = {}
    resumed = None
    if args.resume:
        if args.out and Path(args.out).resolve() != Path(args.resume).resolve():
            raise LstmTextgenError("--out and --resume name different folders; --resume continues in place")
        args.out = args.resume
        ckpt.recover_interrupted_save(args.resume)
        if not (Path(args.resume) / ckpt.TRAIN_STATE_FILE).exists():
            raise LstmTextgenError(f"{Path(args.resume) / ckpt.TRAIN_STATE_FILE}: missing; nothing to resume")
        resumed = ckpt.load_model(args.resume)
        saved = resumed.metrics.get("cli", {})
    if not args.out:
        raise LstmTextgenError("--out DIR is required (the checkpoint folder to write)")

    def pick(name: str, default: Any) -> Any:
        value = getattr(args, name, None)
        return value if value is not None else saved.get(name, default)

    data_paths = pick("data", None)
    if not data_paths:
        raise LstmTextgenError("--data PATH... is required")
    column = pick("column", None)
    headlines = load_headlines(data_paths, column=column)
    _say(headlines.summary())
    for rep in headlines.files:
        _say("  " + rep.summary())
    val_percent = pick("val_percent", DATA_DEFAULTS["val_percent"])
    val_data = pick("val_data", None)
    val_headlines = None
    pretrain_data = pick("pretrain_data", None)
    pretrain_headlines = load_headlines(pretrain_data) if pretrain_data and not args.resume else None
    if val_data:
        val_headlines = load_headlines(val_data, column=column)
        _say(f"validation: {val_headlines.summary()}")
        train_texts, val_texts = split_by_files(headlines.texts, val_headlines.texts)
        if not train_texts:
            raise LstmTextgenError("no training headlines left: every headline of --data is also in --val-data")
    else:
        train_texts, val_texts = split(headlines.texts, val_percent)
    refit = bool(pick("refit", False))
    if pick("refit_seeds", 1) < 1 or (pick("refit_seeds", 1) > 1 and not refit):
        raise LstmTextgenError("--refit-seeds must be at least 1, and needs --refit")
    if refit and args.resume:
        raise LstmTextgenError(
            "--refit runs cannot be resumed; run the same command again: a finished "
            "validated run in OUT.validation is reused"
        )

    init_from = ckpt.load_model(args.init_from) if args.init_from and not args.resume else None
    if resumed is not None:
        model_config = resumed.config
        vocab = resumed.vocab
    else:
        min_count, max_vocab = pick("min_count", DATA_DEFAULTS["min_count"]), pick("max_vocab", None)
        extra_min = pick("pretrain_min_count", 0) if pretrain_headlines is not None else 0
        form_counts = merge_form_counts(headlines, val_headlines, pretrain_headlines)

        def vocab_of(texts: list[str]) -> Any:
            return build_vocab(
                (t.split() for t in texts),
                min_count=min_count,
                max_vocab=max_vocab,
                form_counts=form_counts,
                extra=(t.split() for t in pretrain_headlines.texts) if extra_min else (),
                extra_min_count=extra_min,
            )

        # a refit's model trains on the validation headlines too: its vocabulary is built from all it sees; the
        # validated run before it knows only its training words, or validation would score words it never trained on
        vocab = vocab_of([*train_texts, *val_texts] if refit else train_texts)
        val_vocab = vocab_of(train_texts) if refit else vocab
        arch = pick("arch", mdef["arch"])
        if arch == "tutorial":
            model_config = ModelConfig.tutorial(len(vocab), pick("weights_dtype", mdef["weights_dtype"]))
        else:
            fields = {f: pick(flag, mdef[f]) for flag, f in _MODEL_FLAGS.items()}
            fields["tie_weights"] = not pick("no_tie", False)
            fields["residual"] = not pick("no_residual", False)
            fields["weights_dtype"] = pick("weights_dtype", mdef["weights_dtype"])
            model_config = ModelConfig(vocab_size=len(vocab), **fields)
    assert vocab is not None
    tfields = {f: pick(flag, tdef[f]) for flag, f in _TRAIN_FLAGS.items()}
    tfields["amp"] = not pick("no_amp", False)
    train_config = TrainConfig(**tfields)
    if pretrain_headlines is not None:
        if init_from is not None:
            raise LstmTextgenError("--init-from and --pretrain-data both give starting weights; use one")
        pre_cfg = dataclasses.replace(
            train_config, epochs=pick("pretrain_epochs", 4), lr=pick("pretrain_lr", train_config.lr)
        )
        init_from = _pretrain(
            pretrain_headlines,
            pretrain_data,
            val_percent,
            vocab,
            model_config,
            pre_cfg,
            Path(args.out),
            quiet=args.quiet,
        )
        pre_history = init_from.metrics.get("history", [])
        pretrain_info = {
            "summary": init_from.metrics.get("data", {}).get("summary"),
            "epochs": len(pre_history),
            "minutes": sum(h["seconds"] for h in pre_history) / 60,
            "val_ppl": init_from.metrics.get("best", {}).get("val_ppl"),
        }
    else:
        pretrain_info = resumed.metrics.get("pretrain") if resumed is not None else None

    cli_record = {
        k: v
        for k, v in vars(args).items()
        if k not in ("command", "resume", "out", "quiet", "init_from") and v is not None
    }
    cli_record = {**saved, **cli_record}
    info = {
        "data": {
            "paths": [str(p) for p in data_paths],
            "summary": headlines.summary(),
            "files": [dataclasses.asdict(r) for r in headlines.files],
            "val_percent": None if val_data else val_percent,
            "val_data": [str(p) for p in val_data] if val_data else None,
        },
        "cli": cli_record,
        # the command that started the run (a resumed run keeps it: it is the recipe)
        "command": (resumed.metrics.get("command") if resumed is not None else None)
        or "python -m lstm_textgen " + " ".join(shlex.quote(a) for a in argv),
        "init_from": args.init_from,
        "pretrain": pretrain_info,
    }
    mix_data = pick("mix_data", None)
    if mix_data:  # more training headlines that shape neither the vocabulary nor the validation
        mixed = load_headlines(mix_data, column=column)
        _say(f"mixed into training: {mixed.summary()}")
        held_out = set(val_texts)
        train_texts = sorted(set(train_texts) | {t for t in mixed.texts if t not in held_out})
    _say(f"vocabulary {len(vocab):,} tokens; {len(train_texts):,} training and {len(val_texts):,} validation headlines")
    if refit:
        model = _validate_then_refit(
            train_texts,
            val_texts,
            vocab,
            val_vocab,
            model_config,
            train_config,
            Path(args.out),
            init_from=init_from,
            info=info,
            quiet=args.quiet,
            seeds=pick("refit_seeds", 1),
        )
    else:
        model = train(
            train_texts,
            val_texts,
            vocab,
            model_config,
            train_config,
            args.out,
            resume=bool(args.resume),
            init_from=init_from,
            info=info,
            progress=not args.quiet,
        )
    best = model.metrics.get("best", {})
    _say(
        f"best validation perplexity {best.get('val_ppl') or float('nan'):.2f} at epoch {best.get('epoch')}; "
        f"checkpoint: {args.out}"
    )
    return 0


def split_by_files(texts: list[str], val_texts: list[str]) -> tuple[list[str], list[str]]:
    """(training, validation) for --val-data: a headline in both (months overlap at their edges) validates only."""
    held_out = set(val_texts)
    return [t for t in texts if t not in held_out], list(val_texts)


def _finished_stage(
    folder: Path, model_config: Any, vocab: Any, cfg: Any, headlines: tuple[int, int]
) -> tuple[Any, bool]:
    """(the finished run in ``folder`` if it was trained with these settings on as many (training, validation)
    headlines, whether to resume an unfinished one)."""
    from . import checkpoint as ckpt

    if not (folder / ckpt.CONFIG_FILE).exists():
        return None, False
    done = ckpt.load_model(folder)
    same = (
        done.config == model_config
        and done.vocab == vocab
        and done.metrics.get("train_config") == dataclasses.asdict(cfg)
        and (done.metrics.get("train_headlines"), done.metrics.get("val_headlines")) == headlines
    )
    if same and done.metrics.get("stopped") in ("completed", "early_stopping"):
        _say(f"reusing the finished run in {folder}")
        return done, False
    return None, same and (folder / ckpt.TRAIN_STATE_FILE).exists()


def _validate_then_refit(
    train_texts: list[str],
    val_texts: list[str],
    vocab: Any,
    val_vocab: Any,
    model_config: Any,
    cfg: Any,
    out: Path,
    init_from: Any,
    info: dict[str, Any],
    quiet: bool,
    seeds: int = 1,
) -> Any:
    """--refit: a validated run (beside ``out``, on ``val_vocab``: the training headlines' words) picks the epoch
    count, then the same start trains on all the headlines for that many epochs of the same schedule, on
    ``vocab``. The model keeps the validated run's curve."""
    import copy

    from .checkpoint import average_checkpoints, save_checkpoint
    from .train import train

    val_out = out.with_name(out.name + ".validation")
    val_config = dataclasses.replace(model_config, vocab_size=len(val_vocab))
    validated, resume = _finished_stage(val_out, val_config, val_vocab, cfg, (len(train_texts), len(val_texts)))
    if validated is None:
        start = copy.deepcopy(init_from)  # training does not change it, but the refit must get the same start
        validated = train(
            train_texts,
            val_texts,
            val_vocab,
            val_config,
            cfg,
            val_out,
            resume=resume,
            init_from=start,
            info=info,
            progress=not quiet,
        )
    best_epoch = validated.metrics["best"]["epoch"]
    everything = [*train_texts, *val_texts]
    soup = f", {seeds} times (seeds {cfg.seed}..{cfg.seed + seeds - 1}), averaged" if seeds > 1 else ""
    _say(
        f"refit: {len(everything):,} headlines (training and validation) for {best_epoch} epoch(s), the "
        f"validated run's best{soup}"
    )
    refits = []
    for i in range(seeds):
        refit_cfg = dataclasses.replace(cfg, stop_after=best_epoch, seed=cfg.seed + i)
        where = out if seeds == 1 else out.with_name(f"{out.name}.refit-{i}")
        refits.append(
            train(
                everything,
                [],
                vocab,
                model_config,
                refit_cfg,
                where,
                init_from=init_from,
                info=info,
                progress=not quiet,
            )
        )
    model = (
        refits[0] if seeds == 1 else average_checkpoints([out.with_name(f"{out.name}.refit-{i}") for i in range(seeds)])
    )
    refit_history = refits[0].metrics["history"]
    model.metrics.update(
        history=validated.metrics["history"],
        best=validated.metrics["best"],
        stopped=validated.metrics["stopped"],
        refit={"epochs": best_epoch, "headlines": len(everything), "seeds": seeds, "history": refit_history},
    )
    model.metrics.pop("soup", None)
    save_checkpoint(model, out)
    return model


def merge_form_counts(*sources: Any) -> dict[str, Any]:
    """The printed-form counts of every text a model trains on (``Headlines`` or None each), added up."""
    merged: dict[str, Any] = {}
    for headlines in sources:
        for token, counts in (headlines.form_counts if headlines is not None else {}).items():
            merged[token] = merged[token] + counts if token in merged else counts.copy()
    return merged


def _pretrain(
    headlines: Any,
    paths: list[str],
    val_percent: float,
    vocab: Any,
    model_config: Any,
    cfg: Any,
    out: Path,
    quiet: bool,
) -> Any:
    """Stage 1 of --pretrain-data: train on the other corpus with the final vocabulary, beside ``out``."""
    from .data import split
    from .train import train

    pre_out = out.with_name(out.name + ".pretrain")
    _say(f"pre-training on {headlines.summary()} -> {pre_out}")
    tr, va = split(headlines.texts, val_percent)
    done, resume = _finished_stage(pre_out, model_config, vocab, cfg, (len(tr), len(va)))
    if done is not None:
        return done
    info = {
        "data": {"paths": [str(p) for p in paths], "summary": headlines.summary(), "val_percent": val_percent},
        "stage": "pretrain",
    }
    return train(tr, va, vocab, model_config, cfg, pre_out, resume=resume, info=info, progress=not quiet)


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
