"""The training recipe that ``python -m lstm_textgen train`` runs, for Python users too: read the headlines,
split them (by a hash, or by files: a time split), build the vocabulary, pre-train on another corpus and
mix it into fine-tuning if asked, train, and refit on training + validation data if asked.

    from lstm_textgen import Recipe, TrainConfig, fit
    model = fit(Recipe(data=("nyt/",), val_data=("nyt/ArticlesMarch2018.csv",), refit=True), "out/model")
"""

from __future__ import annotations

import copy
import ctypes
import dataclasses
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import checkpoint as ckpt
from .data import Headlines, load_headlines, split
from .errors import DataError
from .generate import generate
from .model import HeadlineModel, ModelConfig, config_field
from .train import TrainConfig, train
from .vocab import Vocab, build_vocab

Log = Callable[[str], None]


@dataclass(frozen=True)
class Recipe:
    """What to train on, and the stages around the training run (its settings are in TrainConfig)."""

    data: tuple[str, ...] = config_field(
        (),
        "headline files, folders or globs (.csv with a headline/headline_text/title column, or .txt one "
        "headline a line)",
        metavar="PATH",
        group="data",
    )
    column: str | None = config_field(None, "the CSV column holding headlines (default: found by name)", group="data")
    val_data: tuple[str, ...] = config_field(
        (),
        "validate on these files instead of a random share (e.g. the latest month: a time-based split); "
        "their headlines are taken out of --data",
        metavar="PATH",
        group="data",
    )
    val_percent: float = config_field(
        10.0,
        "share of headlines held out for validation, by a hash of the headline; ignored with --val-data",
        group="data",
    )
    min_count: int = config_field(2, "words seen fewer times become <unk>", group="data")
    max_vocab: int | None = config_field(None, "keep at most this many tokens (default: no limit)", group="data")
    refit: bool = config_field(
        False,
        "after the validated run (kept beside --out as OUT.validation), train again from the same start "
        "on the training and validation headlines together for the best epoch count found, and keep that model",
        group="data",
    )
    refit_seeds: int = config_field(
        1,
        "with --refit: refit this many times (seeds --seed, --seed+1, ...) and average the weights into one "
        "model of the same size (a model soup)",
        group="data",
    )
    init_from: str | None = config_field(
        None,
        "start from a pre-trained checkpoint's weights (e.g. trained on a bigger corpus); its vocabulary may differ",
        metavar="CKPT",
    )
    pretrain_data: tuple[str, ...] = config_field(
        (),
        "first train on these headlines (e.g. the larger ABC corpus), with the vocabulary of --data, then "
        "fine-tune on --data; the pre-trained model is kept beside --out as OUT.pretrain and reused when "
        "complete",
        metavar="PATH",
    )
    pretrain_epochs: int = config_field(4, "most epochs of pre-training")
    pretrain_lr: float | None = config_field(None, "peak learning rate of pre-training (default: --lr)")
    pretrain_min_count: int = config_field(
        0,
        "also put in the vocabulary the words of --pretrain-data seen this often there (after --data's "
        "words; --max-vocab still caps the total); 0 = off",
    )
    mix_data: tuple[str, ...] = config_field(
        (),
        "also train on these headlines (e.g. a pre-training corpus, so fine-tuning does not forget it); "
        "they add no words to the vocabulary and are never validated on",
        metavar="PATH",
    )

    def __post_init__(self) -> None:
        for name in ("data", "val_data", "pretrain_data", "mix_data"):  # a single path is a one-path list
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, (str, Path)) else tuple(value or ()))
        if not self.data:
            raise ValueError("no data: give one or more headline files (--data PATH...)")
        if self.refit_seeds < 1 or (self.refit_seeds > 1 and not self.refit):
            raise ValueError("--refit-seeds must be at least 1, and needs --refit")
        if self.init_from and self.pretrain_data:
            raise ValueError("--init-from and --pretrain-data both give starting weights; use one")

    def to_dict(self) -> dict[str, Any]:
        """The recipe as JSON (metrics.json's "cli"): what ``--resume`` repeats."""
        return {k: (list(map(str, v)) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


def quick_plan(headlines: int, minutes: float) -> tuple[dict[str, Any], TrainConfig]:
    """(ModelConfig fields, TrainConfig) for a small file and a time budget, as the app's Train tab trains: a
    5-layer LSTM always, narrower for a smaller file, stopped by validation or by the budget, whichever comes
    first. The widths were chosen on validation data (bench/budget.py; bench/results/quality.md)."""
    width = 128 if headlines < 3_000 else 192 if headlines < 20_000 else 256
    batch = 16 if headlines < 3_000 else 32
    fields = {"num_layers": 5, "emb_dim": width, "hidden_dim": width}
    cfg = TrainConfig(epochs=40, batch_size=batch, lr=3e-3, patience=6, warmup_steps=50, max_minutes=minutes)
    return fields, cfg


MIN_QUICK_HEADLINES = 50  # fewer leave a validation share of a handful of headlines: no judge of the model


def quick_data(headlines: Headlines) -> tuple[list[str], list[str], Vocab]:
    """(training headlines, validation headlines, vocabulary) as :func:`quick_fit` trains on them (a preview
    shows the same figures). Raises DataError on too few headlines."""
    if len(headlines) < MIN_QUICK_HEADLINES:
        raise DataError(
            f"only {len(headlines)} usable headlines ({headlines.summary()}); training needs at least "
            f"{MIN_QUICK_HEADLINES}, and a few hundred learn far better"
        )
    train_texts, val_texts = split(headlines.texts, Recipe.val_percent)
    vocab = build_vocab((t.split() for t in train_texts), min_count=Recipe.min_count, form_counts=headlines.form_counts)
    return train_texts, val_texts, vocab


def quick_fit(
    headlines: Headlines,
    out: str | Path,
    minutes: float,
    *,
    samples: int = 3,
    seed: int = 0,
    device: str = "auto",
    amp: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    log: Log | None = None,
) -> HeadlineModel:
    """Train on one set of headlines within ``minutes`` of the call, as the app's Train tab does: a hash split,
    the training split's vocabulary (with the files' printed forms), and :func:`quick_plan`'s model and schedule.

    ``on_epoch`` gets each epoch's history row with ``samples`` headlines written by the best model so far (the
    one a stop would keep), so a watcher sees it learn. Raises DataError on too few headlines.
    """
    started = time.perf_counter()
    train_texts, val_texts, vocab = quick_data(headlines)
    fields, cfg = quick_plan(len(train_texts), minutes)
    cfg = dataclasses.replace(cfg, seed=seed, device=device, amp=amp)
    info = {"data": {"summary": headlines.summary(), "files": [f.summary() for f in headlines.files]}}

    def report(row: dict[str, Any]) -> None:
        if on_epoch is None:
            return
        if samples:
            best = ckpt.load_model(out)
            row = dict(row, samples=[h.text for h in generate(best, num=samples, seed=seed + row["epoch"]).headlines])
        on_epoch(row)

    return train(
        train_texts,
        val_texts,
        vocab,
        model_config(len(vocab), **fields),
        cfg,
        out,
        info=info,
        log=log or (lambda line: None),
        progress=False,
        on_epoch=report,
        should_stop=should_stop,
        budget_from=started,
    )


def quick_fit_stream(
    headlines: Headlines, out: str | Path, minutes: float, *, tick_s: float = 1.0, **options: Any
) -> Iterator[dict[str, Any]]:
    """:func:`quick_fit` in a worker thread, as a stream for a page or an API to show: ``{"elapsed": s}`` every
    ``tick_s`` seconds, ``{"elapsed": s, "epoch": row}`` after each epoch (the row has ``samples``), and last
    ``{"elapsed": s, "done": True, "stopped": why, "best": {...}}`` once the model is at ``out``. Closing the
    stream stops the training at the next batch; an error in training is raised here. A caller's own
    ``on_epoch`` and ``should_stop`` are called too, in the training thread."""
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    asked = options.pop("should_stop", None) or (lambda: False)
    told = options.pop("on_epoch", None) or (lambda row: None)

    def epoch(row: dict[str, Any]) -> None:
        told(row)
        events.put(("epoch", row))

    def work() -> None:
        try:
            model = quick_fit(
                headlines,
                out,
                minutes,
                on_epoch=epoch,
                should_stop=lambda: stop.is_set() or asked(),
                **options,
            )
            events.put(("done", {"stopped": model.metrics["stopped"], "best": model.metrics["best"]}))
        except BaseException as e:  # handed to the consumer, raised there
            events.put(("error", e))

    start = time.perf_counter()
    worker = threading.Thread(target=work, name="quick_fit", daemon=True)
    worker.start()
    try:
        while True:
            try:
                kind, value = events.get(timeout=tick_s)
            except queue.Empty:
                yield {"elapsed": time.perf_counter() - start}
                continue
            elapsed = time.perf_counter() - start
            if kind == "error":
                raise value
            if kind == "epoch":
                yield {"elapsed": elapsed, "epoch": value}
            else:
                yield {"elapsed": elapsed, "done": True, **value}
                return
    finally:
        stop.set()
        worker.join()
        trim_heap()


def trim_heap() -> bool:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``), as a long-running server wants
    after a training: each training thread leaves its peak's worth of freed memory in glibc's arenas, kept for
    reuse. Measured in a server (bench/results/speed.md, "eleventh session"). False where there is no glibc."""
    try:  # glibc's own name: ctypes.util.find_library would run ldconfig in a subprocess at every training
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):  # not glibc: musl, macOS, Windows
        return False


def model_config(vocab_size: int, **fields: Any) -> ModelConfig:
    """The model config for a vocabulary of ``vocab_size``: the tutorial's sizes with ``arch="tutorial"``."""
    if fields.get("arch") == "tutorial":
        return ModelConfig.tutorial(vocab_size, fields.get("weights_dtype", "float32"))
    return ModelConfig(vocab_size=vocab_size, **fields)


def fit(
    recipe: Recipe,
    out: str | Path,
    model: Mapping[str, Any] | None = None,
    train_config: TrainConfig | None = None,
    *,
    resume: bool = False,
    command: str | None = None,
    cli: dict[str, Any] | None = None,
    log: Log | None = None,
    progress: bool = True,
) -> HeadlineModel:
    """Run ``recipe`` and keep the model at ``out``; returns it. ``model`` holds ModelConfig fields (all but
    vocab_size, which the data decides); ``resume`` goes on with an interrupted run in ``out``."""
    say = log or _stderr
    out, cfg = Path(out), train_config or TrainConfig()
    headlines, val_headlines, train_texts, val_texts = _read(recipe, say)
    if recipe.refit and resume:
        raise ValueError(
            "--refit runs cannot be resumed; run the same command again: a finished validated run in "
            "OUT.validation is reused"
        )
    pretrain = load_headlines(list(recipe.pretrain_data)) if recipe.pretrain_data and not resume else None
    if resume:
        resumed = ckpt.load_model(out)
        vocab, config, pretrain_info = resumed.vocab, resumed.config, resumed.metrics.get("pretrain")
        assert vocab is not None
        val_vocab = vocab
    else:
        vocab, val_vocab = _vocabularies(recipe, train_texts, val_texts, [headlines, val_headlines, pretrain])
        config = model_config(len(vocab), **(model or {}))
        pretrain_info = None
    init_from = ckpt.load_model(recipe.init_from) if recipe.init_from and not resume else None
    if pretrain is not None:
        pre_cfg = dataclasses.replace(cfg, epochs=recipe.pretrain_epochs, lr=recipe.pretrain_lr or cfg.lr)
        init_from = _pretrain(pretrain, recipe, vocab, config, pre_cfg, out, say, progress)
        pretrain_info = _pretrain_summary(init_from)
    info = _recipe_metrics(recipe, headlines, command, cli, pretrain_info)
    if recipe.mix_data:  # more training headlines that shape neither the vocabulary nor the validation
        mixed = load_headlines(list(recipe.mix_data), column=recipe.column)
        say(f"mixed into training: {mixed.summary()}")
        held_out = set(val_texts)
        train_texts = sorted(set(train_texts) | {t for t in mixed.texts if t not in held_out})
    say(f"vocabulary {len(vocab):,} tokens; {len(train_texts):,} training and {len(val_texts):,} validation headlines")
    if recipe.refit:
        return _validate_then_refit(
            train_texts,
            val_texts,
            vocab,
            val_vocab,
            config,
            cfg,
            out,
            init_from,
            info,
            recipe.refit_seeds,
            say,
            progress,
        )
    return train(
        train_texts,
        val_texts,
        vocab,
        config,
        cfg,
        out,
        resume=resume,
        init_from=init_from,
        info=info,
        log=say,
        progress=progress,
    )


def _read(recipe: Recipe, say: Log) -> tuple[Headlines, Headlines | None, list[str], list[str]]:
    """The headlines of --data (and --val-data), and the training and validation split of them."""
    headlines = load_headlines(list(recipe.data), column=recipe.column)
    say(headlines.summary())
    for rep in headlines.files:
        say("  " + rep.summary())
    val_headlines = None
    if recipe.val_data:
        val_headlines = load_headlines(list(recipe.val_data), column=recipe.column)
        say(f"validation: {val_headlines.summary()}")
        train_texts, val_texts = split_by_files(headlines.texts, val_headlines.texts)
        if not train_texts:
            raise DataError("no training headlines left: every headline of --data is also in --val-data")
    else:
        train_texts, val_texts = split(headlines.texts, recipe.val_percent)
    return headlines, val_headlines, train_texts, val_texts


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def split_by_files(texts: list[str], val_texts: list[str]) -> tuple[list[str], list[str]]:
    """(training, validation) for --val-data: a headline in both (months overlap at their edges) validates only."""
    held_out = set(val_texts)
    return [t for t in texts if t not in held_out], list(val_texts)


def merge_form_counts(*sources: Headlines | None) -> dict[str, Any]:
    """The printed-form counts of every text a model trains on, added up."""
    merged: dict[str, Any] = {}
    for headlines in sources:
        for token, counts in (headlines.form_counts if headlines is not None else {}).items():
            merged[token] = merged[token] + counts if token in merged else counts.copy()
    return merged


def _vocabularies(
    recipe: Recipe, train_texts: list[str], val_texts: list[str], sources: list[Headlines | None]
) -> tuple[Vocab, Vocab]:
    """(the model's vocabulary, the validated run's). A refit's model trains on the validation headlines too:
    its vocabulary is built from all it sees; the validated run before it knows only its training words, or
    validation would score words it never trained on."""
    pretrain = sources[-1]
    extra_min = recipe.pretrain_min_count if pretrain is not None else 0
    form_counts = merge_form_counts(*sources)

    def vocab_of(texts: list[str]) -> Vocab:
        extra = (t.split() for t in pretrain.texts) if extra_min and pretrain is not None else ()
        return build_vocab(
            (t.split() for t in texts),
            min_count=recipe.min_count,
            max_vocab=recipe.max_vocab,
            form_counts=form_counts,
            extra=extra,
            extra_min_count=extra_min,
        )

    vocab = vocab_of([*train_texts, *val_texts] if recipe.refit else train_texts)
    return vocab, vocab_of(train_texts) if recipe.refit else vocab


def _recipe_metrics(
    recipe: Recipe, headlines: Headlines, command: str | None, cli: dict[str, Any] | None, pretrain: Any
) -> dict[str, Any]:
    """What metrics.json records of the recipe (the run adds its own figures: see train.py)."""
    return {
        "data": {
            "paths": [str(p) for p in recipe.data],
            "summary": headlines.summary(),
            "files": [dataclasses.asdict(r) for r in headlines.files],
            "val_percent": None if recipe.val_data else recipe.val_percent,
            "val_data": [str(p) for p in recipe.val_data] or None,
        },
        "cli": cli if cli is not None else recipe.to_dict(),
        "command": command,
        "init_from": recipe.init_from,
        "pretrain": pretrain,
    }


def _finished_stage(
    folder: Path, config: ModelConfig, vocab: Vocab, cfg: TrainConfig, headlines: tuple[int, int], say: Log
) -> tuple[HeadlineModel | None, bool]:
    """(the finished run in ``folder`` if it was trained with these settings on as many (training, validation)
    headlines, whether to resume an unfinished one)."""
    if not (folder / ckpt.CONFIG_FILE).exists():
        return None, False
    done = ckpt.load_model(folder)
    m = done.metrics
    same = (
        done.config == config
        and done.vocab == vocab
        and m.get("train_config") == dataclasses.asdict(cfg)
        and (m.get("train_headlines"), m.get("val_headlines")) == headlines
    )
    if same and m.get("stopped") in ("completed", "early_stopping"):
        say(f"reusing the finished run in {folder}")
        return done, False
    return None, same and (folder / ckpt.TRAIN_STATE_FILE).exists()


def _pretrain(
    headlines: Headlines,
    recipe: Recipe,
    vocab: Vocab,
    config: ModelConfig,
    cfg: TrainConfig,
    out: Path,
    say: Log,
    progress: bool,
) -> HeadlineModel:
    """Stage 1 of --pretrain-data: train on the other corpus with the final vocabulary, beside ``out``."""
    pre_out = out.with_name(out.name + ".pretrain")
    say(f"pre-training on {headlines.summary()} -> {pre_out}")
    tr, va = split(headlines.texts, recipe.val_percent)
    done, resume = _finished_stage(pre_out, config, vocab, cfg, (len(tr), len(va)), say)
    if done is not None:
        return done
    data = {
        "paths": [str(p) for p in recipe.pretrain_data],
        "summary": headlines.summary(),
        "val_percent": recipe.val_percent,
    }
    info = {"data": data, "stage": "pretrain"}
    return train(tr, va, vocab, config, cfg, pre_out, resume=resume, info=info, log=say, progress=progress)


def _pretrain_summary(model: HeadlineModel) -> dict[str, Any]:
    history = model.metrics.get("history", [])
    return {
        "summary": model.metrics.get("data", {}).get("summary"),
        "epochs": len(history),
        "minutes": sum(h["seconds"] for h in history) / 60,
        "val_ppl": model.metrics.get("best", {}).get("val_ppl"),
    }


def _validate_then_refit(
    train_texts: list[str],
    val_texts: list[str],
    vocab: Vocab,
    val_vocab: Vocab,
    config: ModelConfig,
    cfg: TrainConfig,
    out: Path,
    init_from: HeadlineModel | None,
    info: dict[str, Any],
    seeds: int,
    say: Log,
    progress: bool,
) -> HeadlineModel:
    """--refit: a validated run (beside ``out``, on ``val_vocab``: the training headlines' words) picks the epoch
    count, then the same start trains on all the headlines for that many epochs of the same schedule, on
    ``vocab``. The model keeps the validated run's curve."""
    val_out = out.with_name(out.name + ".validation")
    val_config = dataclasses.replace(config, vocab_size=len(val_vocab))
    validated, resume = _finished_stage(val_out, val_config, val_vocab, cfg, (len(train_texts), len(val_texts)), say)
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
            log=say,
            progress=progress,
        )
    best_epoch = validated.metrics["best"]["epoch"]
    everything = [*train_texts, *val_texts]
    soup = f", {seeds} times (seeds {cfg.seed}..{cfg.seed + seeds - 1}), averaged" if seeds > 1 else ""
    say(
        f"refit: {len(everything):,} headlines (training and validation) for {best_epoch} epoch(s), the "
        f"validated run's best{soup}"
    )
    folders = [out] if seeds == 1 else [out.with_name(f"{out.name}.refit-{i}") for i in range(seeds)]
    refits = [
        train(
            everything,
            [],
            vocab,
            config,
            dataclasses.replace(cfg, stop_after=best_epoch, seed=cfg.seed + i),
            folder,
            init_from=init_from,
            info=info,
            log=say,
            progress=progress,
        )
        for i, folder in enumerate(folders)
    ]
    model = refits[0] if seeds == 1 else ckpt.average_checkpoints(folders)
    refit = {
        "epochs": best_epoch,
        "headlines": len(everything),
        "seeds": seeds,
        "history": refits[0].metrics["history"],
    }
    m = validated.metrics
    model.metrics.update(history=m["history"], best=m["best"], stopped=m["stopped"], refit=refit)
    model.metrics.pop("soup", None)
    ckpt.save_checkpoint(model, out)
    return model
