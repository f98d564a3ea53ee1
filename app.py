"""lstm_textgen's Gradio app: seed words, length and temperature in; streaming headlines out.

UI only: every number and word it shows comes from the lstm_textgen package's public API.
``python app.py`` serves it on http://127.0.0.1:7860; ``--share`` asks for a public link; the
same file runs unchanged as a Hugging Face Space.
"""

from __future__ import annotations

import argparse
import html
import math
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr
import torch
from gradio import FileData

import lstm_textgen as lt
from lstm_textgen.cli import add_field_flags, field_values
from lstm_textgen.model import config_field

# Per-request caps for a public link or a Space, open to anyone (the library allows more from Python and the CLI).
PUBLIC_MAX_WORDS = 40
PUBLIC_MAX_NUM = 10
PUBLIC_MAX_TOP_K = 1000
PUBLIC_MAX_PROMPT_CHARS = 2000  # longer seed text is cut before cleaning; the model sees at most its last words


@dataclass(frozen=True)
class Param:
    """One setting of a request: one name in the API and in ``lt.Options``, one range for the page and the API."""

    name: str
    title: str
    lo: float
    hi: float
    default: float | None  # None: blank, as the random seed is
    step: float  # 1: a whole number
    hint: str = ""  # after the title, on the page
    info: str = ""
    advanced: bool = False  # under "Advanced"


# The request after the seed words, in the API's order. Defaults are the library's, picked from the
# output-quality measurements in bench/results/quality.md.
PARAMS = (
    Param(
        "max_words",
        "Max words",
        lo=1,
        hi=PUBLIC_MAX_WORDS,
        default=lt.Options.max_words,
        step=1,
        info="most new words a headline; it usually ends earlier on its own",
    ),
    Param(
        "temperature",
        "Temperature",
        lo=0,
        hi=2,
        default=lt.Options.temperature,
        step=0.05,
        hint=" (0 = greedy)",
        info="low: safe and repetitive; high: surprising",
    ),
    Param("num", "Number of headlines", lo=1, hi=PUBLIC_MAX_NUM, default=lt.Options.num, step=1),
    Param(
        "top_k",
        "Top-k",
        lo=0,
        hi=PUBLIC_MAX_TOP_K,
        default=lt.Options.top_k,
        step=1,
        hint=" (0 = off)",
        info="sample only from the k likeliest words",
        advanced=True,
    ),
    Param(
        "top_p",
        "Top-p",
        lo=0.01,
        hi=1,
        default=lt.Options.top_p,
        step=0.01,
        hint=" (1 = off)",
        info="sample only from the likeliest words that together reach p",
        advanced=True,
    ),
    Param(
        "seed",
        "Random seed",
        lo=0,
        hi=2**63 - 1,
        default=None,
        step=1,
        hint=" (blank = random)",
        info="the same seed and settings give the same headlines",
        advanced=True,
    ),
)
DEFAULTS = {p.name: p.default for p in PARAMS}
CONCURRENCY = 4  # requests generating at once (this is CPU work)
STREAM_EVERY_S = 0.05  # at most one streamed update a request per 50 ms: each costs server time (speed.md)
MAX_QUEUE = 64  # requests waiting; more are refused at once
# Sessions (page loads, API clients) whose state the server keeps; the least recently used is dropped beyond
# this. Gradio keeps about 90 KB a session (a copy of every component's settings): 200 is about 18 MB.
MAX_SESSIONS = 200
SESSION_TTL_S = 3600  # a session's word view and models list are freed an hour after their last update

PROB_BANDS = [(0.5, "likely (≥ 50%)"), (0.1, "plausible (10–50%)"), (0.01, "surprising (1–10%)"), (0.0, "rare (< 1%)")]
COLOR_MAP = {
    "seed": "#cbd5e1",
    "likely (≥ 50%)": "#22c55e",
    "plausible (10–50%)": "#a3e635",
    "surprising (1–10%)": "#fbbf24",
    "rare (< 1%)": "#f87171",
}
CSS = """
.headlines ol { margin: 0; padding-left: 1.6em; }
.headlines li { font-size: 1.15em; line-height: 1.6; margin: 0.2em 0; }
.headlines .seed { color: var(--body-text-color-subdued); font-weight: 600; }
.headlines .gen { color: var(--body-text-color); }
.headlines .capped { color: var(--body-text-color-subdued); font-size: 0.8em; }
.request-error { border: 1px solid var(--error-border-color, #ef4444); color: var(--error-text-color, #b91c1c);
  background: var(--error-background-fill, #fef2f2); border-radius: 6px; padding: 0.6em 0.8em; }
.chosen { font-size: 1.05em; }
.chosen .chosen-word { font-weight: 700; font-size: 1.2em; }
.chosen .chosen-p { font-weight: 600; }
#word-view span { cursor: pointer; }
/* the Model tab on a phone: labels never break inside a word; long values wrap instead */
#model-info td:first-child, #model-info th:first-child { white-space: nowrap; word-break: normal;
  overflow-wrap: normal; }
#model-info td { word-break: normal; overflow-wrap: anywhere; }
#model-info pre { padding-right: 2.8em; }
#model-info pre, #model-info pre code { white-space: pre-wrap; overflow-wrap: anywhere; }
/* a long headline in the picker ends before the arrow */
#pick-headline input { padding-right: 28px; text-overflow: ellipsis; }
.curve svg { width: 100%; height: auto; max-width: 720px; }
.curve .tick { font-size: 11px; fill: var(--body-text-color-subdued); }
.curve .x-tick, .curve .axis-title { text-anchor: middle; }
.curve .y-tick { text-anchor: end; }
.curve .axis { stroke: var(--border-color-primary); }
.curve .axis-title { font-size: 12px; fill: var(--body-text-color-subdued); }
.curve-title { font-weight: 600; margin-bottom: 0.3em; }
"""


# --- checking a request (UI and API alike) -------------------------------------------------------


def reject(message: str) -> gr.Error:
    """A user's mistake: one line in the server's log, no traceback (that is for real faults)."""
    print(f"rejected request: {message}", file=sys.stderr)
    return gr.Error(message, print_exception=False)


def _number(name: str, value: Any, lo: float, hi: float, whole: bool) -> float | int:
    span = f"{lo:d} to {hi:d}" if whole else f"{lo:g} to {hi:g}"  # type: ignore[str-format]
    kind = "a whole number" if whole else "a number"
    if isinstance(value, str):
        text = value.strip()
        try:  # exactly, as an integer where it is one: a float would round 2**63 - 1
            value = int(text) if text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            raise reject(f"{name} must be {kind} from {span}.") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise reject(f"{name} must be {kind} from {span}.")
    if (whole and value != int(value)) or not lo <= value <= hi:
        got = f"{value:g}" if isinstance(value, float) else str(value)
        raise reject(f"{name} must be {kind} from {span}; got {got}.")
    return int(value) if whole else float(value)


def check_request(prompt: Any, *values: Any) -> tuple[str, lt.Options, bool]:
    """(prompt, options, prompt was cut) from the seed words and the values of :data:`PARAMS`, or a gr.Error
    with a message a user can act on."""
    if prompt is None:
        prompt = ""
    if not isinstance(prompt, str):
        raise reject("The seed words must be text.")
    cut = len(prompt) > PUBLIC_MAX_PROMPT_CHARS
    prompt = prompt[-PUBLIC_MAX_PROMPT_CHARS:]
    if len(values) != len(PARAMS):
        raise reject(f"Expected {len(PARAMS)} settings after the seed words, got {len(values)}.")
    checked = {}
    for p, value in zip(PARAMS, values):
        blank = value is None or (isinstance(value, str) and not value.strip())
        checked[p.name] = None if p.default is None and blank else _number(p.title, value, p.lo, p.hi, p.step == 1)
    try:
        opts = lt.make_options(**checked)
    except ValueError as e:  # the library's own check; the app's ranges are narrower, so rare
        raise reject(str(e)) from None
    return prompt, opts, cut


# --- turning results into what the page shows ----------------------------------------------------


def percent(p: float) -> str:
    """A probability as people read it: "34%", "0.4%", "<0.1%"; never "0%" for a word that was drawn."""
    if p >= 0.01:
        return f"{p:.0%}"
    return f"{p:.1%}" if p >= 0.001 else "<0.1%"


def headlines_html(result: lt.Generation) -> str:
    """The headlines, seed words set apart from generated ones. Everything is escaped: never markup."""
    items = []
    for h in result.headlines:
        words = h.printed
        seed_part = " ".join(words[: len(h.prompt_words)])
        gen_part = " ".join(words[len(h.prompt_words) :])
        capped = "" if h.ended or not result.done else ' <span class="capped">(length cap)</span>'
        items.append(
            f'<li><span class="seed">{html.escape(seed_part)}</span> '
            f'<span class="gen">{html.escape(gen_part)}</span>{capped}</li>'
        )
    done = f' data-seed="{result.seed}"' if result.done else ""  # which request the finished list shows
    return f'<div class="headlines"{done}><ol>' + "".join(items) + "</ol></div>"


def error_html(message: str) -> str:
    return f'<div class="request-error" role="alert">{html.escape(message)}</div>'


def notices(result: lt.Generation, cut: bool) -> str:
    """What the user should know about the request and its seed text."""
    lines = []
    if result.unknown_words:
        lines.append(
            "⚠️ Not in the model's vocabulary, read as an unknown word: **"
            + html.escape(", ".join(result.unknown_words))
            + "**"
        )
    if result.truncated or cut:
        lines.append(
            f"✂️ Long seed text: only its last {len(result.prompt_words)} words were used: they start the "
            "headlines (a headline seldom runs longer)."
        )
    if not result.prompt_words:
        lines.append("No seed words: headlines written from scratch.")
    lines.append(f"Random seed used: `{result.seed}` (enter it under Advanced to get these headlines again).")
    return "\n\n".join(lines)


def band(p: float) -> str:
    return next(label for lo, label in PROB_BANDS if p >= lo)


def _headline(data: dict | None, index: int | None) -> dict | None:
    if not data or index is None or not 0 <= index < len(data["headlines"]):
        return None
    return data["headlines"][index]


def word_view(data: dict | None, index: int | None) -> list[tuple[str, str | None]]:
    """One headline, word by word: seed words grey, generated ones coloured by their probability."""
    h = _headline(data, index)
    if h is None:
        return []
    cased = h["text"].split()  # one printed word a token: printed forms hold no spaces
    n_seed = len(h["prompt_words"])
    out: list[tuple[str, str | None]] = [(w + " ", "seed") for w in cased[:n_seed]]
    out += [(f"{w} ", band(p)) for w, p in zip(cased[n_seed:], h["probs"])]
    return out


def position_choices(data: dict | None, index: int | None) -> list[tuple[str, int]]:
    h = _headline(data, index)
    if h is None:
        return []
    printed = h["text"].split()[len(h["prompt_words"]) :]  # one printed word a token
    return [(f"{i + 1}. {w}  ({percent(p)})", i) for i, (w, p) in enumerate(zip(printed, h["probs"]))]


def chosen_html(data: dict | None, index: int | None, position: int | None) -> str:
    """The word that was chosen at ``position``, its probability and its rank among the model's favourites."""
    h = _headline(data, index)
    if h is None or position is None or not 0 <= position < len(h["words"]):
        return ""
    printed = h["text"].split()[len(h["prompt_words"]) + position]
    alts = h["alternatives"][position]
    rank = next((i + 1 for i, (w, _) in enumerate(alts) if w == h["words"][position]), None)
    ranked = f"rank {rank} of the model's top {len(alts)}" if rank else f"not among the model's top {len(alts)}"
    end = next((q for w, q in alts if w == "<eos>"), None)
    ending = f" · ending the headline here: {percent(end)}" if end is not None else ""
    return (
        f'<div class="chosen">Chosen: <span class="chosen-word">{html.escape(printed)}</span> '
        f'<span class="chosen-p">{percent(h["probs"][position])}</span> · {ranked}{ending}</div>'
    )


def alternative_choices(data: dict | None, index: int | None, position: int | None) -> list[tuple[str, str]]:
    """The model's top words at ``position`` (the end of headline left out), as (label, word) radio choices."""
    h = _headline(data, index)
    if h is None or position is None or not 0 <= position < len(h["alternatives"]):
        return []
    return [(f"{w} · {percent(q)}", w) for w, q in h["alternatives"][position] if w != "<eos>"]


def branch_seed(data: dict | None, index: int | None, position: int | None, word: str | None) -> str:
    """The seed that continues headline ``index`` from ``word`` at ``position``: its words before, then it."""
    h = _headline(data, index)
    if h is None or position is None or not word:
        return gr.skip()
    before = h["text"].split()[: len(h["prompt_words"]) + position]
    return " ".join([*before, word])


def headline_text(data: dict | None, index: int | None) -> str:
    h = _headline(data, index)
    return h["text"] if h is not None else ""


# --- training a visitor's model (the Train tab and /train) ---------------------------------------

TRAIN_MINUTES = (1, 2, 5, 10)  # the page's choices (up to the server's cap)
TRAIN_SUFFIXES = (".csv", ".txt")
BUNDLED = ""  # the model picker's value for the model the server loaded
UPLOAD_KEEP_S = 900  # what was read from an upload waits this long for its Train press (the file is gone already)


@dataclass(frozen=True)
class TrainLimits:
    """What a server lets its visitors train: a public link or a Space is open to anyone. app.py's training
    flags are built from these fields (as the CLI's are from its config dataclasses)."""

    concurrency: int = config_field(1, "trainings at once; more wait in the queue", flag="train-concurrency")
    max_minutes: float = config_field(10.0, "the longest time budget a visitor may ask for", flag="max-train-minutes")
    max_models: int = config_field(
        8, "trained models kept, all visitors together; the oldest is freed first", flag="max-user-models"
    )
    keep_minutes: float = config_field(60.0, "how long a trained model is kept", flag="keep-minutes")
    kernel_cache: int = config_field(
        128,
        "matrix shapes each of oneDNN's two kernel caches keeps: every new shape costs about 0.6 MB, and "
        "visitors' files bring new ones (at oneDNN's own 1,024 a server held 266 MB more after 9 trainings)",
        flag="kernel-cache",
    )
    max_bytes: int = 5 * 1024**2
    max_rows: int = 100_000

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_models < 1 or self.kernel_cache < 1:
            raise ValueError("--train-concurrency, --max-user-models and --kernel-cache must be at least 1")
        if not MIN_TRAIN_MINUTES <= self.max_minutes < math.inf:
            raise ValueError(f"--max-train-minutes must be at least {MIN_TRAIN_MINUTES:g}")
        if not 0 < self.keep_minutes < math.inf:
            raise ValueError("--keep-minutes must be a positive number of minutes")


@dataclass
class Studio:
    """The server's side of training: its limits, the models trained so far, and each running training's
    stop flag (by browser session: the Stop button's session is the training's)."""

    limits: TrainLimits
    shelf: lt.ModelShelf
    device: torch.device
    stops: dict[str, threading.Event] = field(default_factory=dict)

    def stop(self, session: str | None) -> None:
        flag = self.stops.get(session or "")
        if flag is not None:
            flag.set()


def on_gpu(fn: Callable, duration: int | Callable[..., int]) -> Callable:
    """``fn`` holding a ZeroGPU Space's GPU while it runs (``spaces.GPU``), where the ``spaces`` package is
    installed (it is on Spaces); elsewhere ``fn`` itself."""
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        return fn
    return spaces.GPU(duration=duration)(fn)


# generation is short; a training holds the GPU for its budget plus its start and the last validation
GPU_STREAM = on_gpu(lt.stream, 30)
GPU_TRAIN = on_gpu(lt.quick_fit_stream, lambda headlines, out, minutes, **kw: int(minutes * 60) + 60)


def _upload_path(file: Any) -> Path | None:
    """The server path of an uploaded file: a path from the page, a FileData dict from the API."""
    if isinstance(file, dict):
        file = file.get("path")
    return Path(file) if isinstance(file, (str, os.PathLike)) and str(file) else None


def _delete_upload(path: Path) -> None:
    """Uploads are deleted once read: nothing a visitor sends is kept or served back."""
    try:
        path.unlink(missing_ok=True)
        path.parent.rmdir()  # Gradio's per-upload folder, if now empty
    except OSError:
        pass


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def read_upload(file: Any, limits: TrainLimits) -> lt.Headlines:
    """An uploaded headline file, read by the package's reader (the CLI's messages, with the file's own name)
    within the server's caps, and then deleted."""
    path = _upload_path(file)
    if path is None:
        raise reject("Choose a .csv or .txt file of headlines first.")
    name = path.name
    try:
        if path.suffix.lower() not in TRAIN_SUFFIXES:
            raise reject(f"{name}: not a .csv or .txt file; upload headlines as CSV or plain text.")
        size = path.stat().st_size if path.is_file() else 0
        if size > limits.max_bytes:
            raise reject(f"{name}: {_size(size)} is more than this server takes ({_size(limits.max_bytes)}).")
        try:
            headlines = lt.load_headlines(path)
        except lt.DataError as e:
            raise reject(str(e).replace(str(path), name).replace(" or name it with --column", "")) from None
        rows = headlines.totals()["rows"]
        if rows > limits.max_rows:
            raise reject(f"{name}: {rows:,} rows is more than this server trains on ({limits.max_rows:,}).")
        for report in headlines.files:
            report.path = name
        lt.quick_data(headlines)  # too few headlines to train on: said now, not after a wait in the queue
        return headlines
    except lt.DataError as e:
        raise reject(str(e)) from None
    finally:
        _delete_upload(path)


def upload_preview(headlines: lt.Headlines) -> str:
    """What was read, before any training: rows kept and dropped, the split, the vocabulary, a few headlines
    as the model will see them."""
    train_texts, val_texts, vocab = lt.quick_data(headlines)
    report, t = headlines.files[0], headlines.totals()
    column = f" (column `{report.column}`)" if report.column else ""
    encoding = "" if report.encoding == "utf-8" else f"; read as {report.encoding}, not UTF-8"
    step = max(1, len(headlines.texts) // 5)
    examples = "\n".join(f"- {html.escape(t)}" for t in headlines.texts[::step][:5])
    return (
        f"**{len(headlines):,} headlines** from `{html.escape(report.path)}`{column}: {t['rows']:,} rows; dropped "
        f"{t['unknown']:,} 'Unknown', {t['empty']:,} empty, {t['duplicates']:,} repeated, "
        f"{t['too_long']:,} too long{encoding}.\n\n"
        f"It will train on {len(train_texts):,} and hold out {len(val_texts):,} to judge itself; vocabulary "
        f"**{len(vocab):,}** words and markers (words seen at least twice).\n\n"
        f"A few, as the model sees them (lower case, no punctuation):\n\n{examples}"
    )


MIN_TRAIN_MINUTES = 0.05  # 3 seconds: a few epochs on a small file (the tests' budget)


def _minutes(value: Any, limits: TrainLimits) -> float:
    return float(_number("Minutes", value, MIN_TRAIN_MINUTES, limits.max_minutes, whole=False))


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def training_run(
    studio: Studio, headlines: lt.Headlines, minutes: float, session: str | None
) -> Iterator[dict[str, Any]]:
    """Train a visitor's model: progress messages (``"done": False``), then the finished model's summary with
    its ``model_id`` (``"done": True``). Stop (this session's) keeps the best model so far.

    Stop closes the training stream rather than reaching into it: on a ZeroGPU Space the stream runs in another
    process, which takes only picklable arguments. Each epoch is saved as it ends, so the folder holds the best
    model so far whichever way the stream ends."""
    model_id, folder = studio.shelf.reserve()
    key = session or model_id
    stop = studio.stops[key] = threading.Event()
    history: list[dict[str, Any]] = []
    samples: list[str] = []
    budget = minutes * 60
    name = headlines.files[0].path if headlines.files else "headlines"
    stream = GPU_TRAIN(headlines, folder, minutes, device=str(studio.device))
    try:
        for event in stream:
            if "epoch" in event:
                history.append({k: event["epoch"].get(k) for k in ("epoch", "train_loss", "val_loss", "val_ppl")})
                samples = event["epoch"]["samples"]
            if event.get("done") or stop.is_set():
                break
            yield {
                "done": False,
                "epoch": len(history),
                "elapsed_s": round(event["elapsed"], 1),
                "remaining_s": round(max(0.0, budget - event["elapsed"]), 1),
                "history": history,
                "samples": samples,
            }
        stream.close()  # a stop: training ends at its next batch, and the folder is final
        if not (folder / "config.json").exists():
            raise reject("Stopped before the first epoch ended: there is no model to keep.")
        model = studio.shelf.put(model_id, folder, name, device=str(studio.device))
    except BaseException:
        stream.close()
        studio.shelf.discard(folder)
        raise
    finally:
        if studio.stops.get(key) is stop:
            del studio.stops[key]
    best = model.metrics["best"]
    yield {
        "done": True,
        "model_id": model_id,
        "name": name,
        "epochs": len(model.metrics["history"]),
        "best_epoch": best["epoch"],
        "val_perplexity": best["val_ppl"],
        "vocab_size": model.config.vocab_size,
        "headlines_used": model.metrics["train_headlines"] + model.metrics["val_headlines"],
        "stopped": model.metrics["stopped"],
        "samples": samples,
        "history": history,
        "keep_minutes": studio.limits.keep_minutes,
    }


STOPPED = {
    "completed": "ran its whole schedule",
    "early_stopping": "stopped learning, so it stopped early",
    "time_budget": "used its time budget",
    "stopped": "was stopped; the best epoch so far is kept",
}


def train_status(msg: dict[str, Any]) -> str:
    if not msg["done"]:
        epoch = f"epoch {msg['epoch'] + 1}" if msg["epoch"] else "reading and starting (epoch 1)"
        return (
            f"**Training**: {epoch} · {_clock(msg['elapsed_s'])} elapsed · at most {_clock(msg['remaining_s'])} "
            "left (it stops sooner once it no longer improves)"
        )
    return (
        f"**Your model is ready**: {msg['epochs']} epochs; it {STOPPED.get(msg['stopped'], msg['stopped'])}. "
        f"Best epoch {msg['best_epoch']}, held-out perplexity **{msg['val_perplexity']:.1f}**; vocabulary "
        f"{msg['vocab_size']:,}. Pick it in the Generate tab (kept here for {msg['keep_minutes']:g} minutes; "
        "download it to keep it)."
    )


def samples_md(samples: list[str], epoch: int) -> str:
    if not samples:
        return ""
    listed = "\n".join(f"1. {html.escape(s)}" for s in samples)
    return f"**What it writes now** (the best model after epoch {epoch}):\n\n{listed}"


def model_choices(mine: list[tuple[str, str]] | None) -> list[tuple[str, str]]:
    return [("The bundled model (New York Times headlines)", BUNDLED), *(mine or [])]


def model_finder(bundled: lt.HeadlineModel, studio: Studio | None) -> Callable[[Any], lt.HeadlineModel]:
    """The model a request names: the bundled one, or a visitor's by its id."""

    def find(model_id: Any) -> lt.HeadlineModel:
        if model_id is None or model_id == BUNDLED:
            return bundled
        if studio is None:
            raise reject("This server does not train models, so it takes no model_id.")
        try:
            return studio.shelf.get(model_id)
        except lt.UnknownModel as e:
            raise reject(f"{str(e)[:1].upper()}{str(e)[1:]}.") from None

    return find


def preview_ui(studio: Studio, file: Any) -> tuple:
    """A file was uploaded: (what was read, the headlines to train on, the Train button)."""
    try:
        headlines = read_upload(file, studio.limits)
    except gr.Error as e:
        return error_html(e.message), None, gr.update(interactive=False)
    return upload_preview(headlines), headlines, gr.update(interactive=True)


def train_ui(
    studio: Studio, headlines: lt.Headlines | None, minutes: Any, mine: list | None, session: str | None
) -> Iterator[tuple]:
    """The Train button: (status, curve, samples, download, model picker, this session's models), streamed. A
    refused or failed start shows its message in the status and changes nothing else."""
    skip3 = (gr.skip(),) * 3
    try:
        if headlines is None:
            raise reject("Upload a .csv or .txt file of headlines first.")
        for msg in training_run(studio, headlines, _minutes(minutes, studio.limits), session):
            curve = curve_svg({"history": msg["history"]})
            samples = samples_md(msg["samples"], msg["epoch"] if not msg["done"] else msg["best_epoch"])
            if not msg["done"]:
                yield (train_status(msg), curve, samples, *skip3)
                continue
            held = set(studio.shelf.ids())
            label = f"Your model: {msg['name']} (perplexity {msg['val_perplexity']:.0f})"
            mine = [m for m in (mine or []) if m[1] in held] + [(label, msg["model_id"])]
            yield (
                train_status(msg),
                curve,
                samples,
                gr.update(value=str(studio.shelf.zip(msg["model_id"])), visible=True),
                gr.update(choices=model_choices(mine), value=msg["model_id"], visible=True),
                mine,
            )
    except gr.Error as e:
        yield (error_html(e.message), gr.skip(), gr.skip(), *skip3)


def api_train(studio: Studio, file: Any, minutes: Any, session: str | None) -> Iterator[dict]:
    """Train a model on a headline file (.csv with a headline/headline_text/title column, or .txt one headline
    a line) for at most ``minutes``. Streams progress: {"done": false, "epoch", "elapsed_s", "remaining_s",
    "history", "samples"}; the last message: {"done": true, "model_id", "epochs", "best_epoch",
    "val_perplexity", "vocab_size", "headlines_used", "stopped", "samples", "history", "keep_minutes"}.
    Pass the model_id to /generate. One training runs at a time; others wait in the queue."""
    headlines = read_upload(file, studio.limits)
    yield from training_run(studio, headlines, _minutes(minutes, studio.limits), session)


@dataclass
class TrainTab:
    """The Train tab's components."""

    file: gr.File
    preview: gr.Markdown
    headlines: gr.State  # what was read from the upload (the file itself is deleted at once)
    minutes: gr.Radio
    go: gr.Button
    stop: gr.Button
    status: gr.Markdown
    curve: gr.HTML
    samples: gr.Markdown
    download: gr.DownloadButton
    use: gr.Button  # to the Generate tab


def train_tab(limits: TrainLimits) -> TrainTab:
    gr.Markdown(
        "Train a headline model of your own: upload a `.csv` (a `headline`, `headline_text` or `title` column) "
        "or a `.txt` file (one headline a line), check what was read, pick a time budget and press **Train**. "
        f"Files up to {_size(limits.max_bytes)} and {limits.max_rows:,} rows; the file is deleted once read."
    )
    file = gr.File(label="Headlines file", file_types=list(TRAIN_SUFFIXES), elem_id="train-file")
    preview = gr.Markdown(elem_id="train-preview")
    headlines = gr.State(time_to_live=UPLOAD_KEEP_S)
    choices = [m for m in TRAIN_MINUTES if m <= limits.max_minutes] or [limits.max_minutes]
    with gr.Row(equal_height=True):
        minutes = gr.Radio(
            [(f"{m:g} min", m) for m in choices],
            value=2 if 2 in choices else choices[0],
            label="Time budget",
            info="training stops sooner once it no longer improves",
            scale=3,
            elem_id="train-minutes",
        )
        go = gr.Button("Train", variant="primary", interactive=False, scale=1, elem_id="train")
        stop = gr.Button("Stop", variant="stop", visible=False, scale=1, elem_id="train-stop")
    status = gr.Markdown(elem_id="train-status")
    curve = gr.HTML(elem_id="train-curve")
    samples = gr.Markdown(elem_id="train-samples")
    with gr.Row():
        download = gr.DownloadButton("Download your model (.zip)", visible=False, elem_id="train-download")
        use = gr.Button("Generate with it", visible=False, elem_id="use-model")
    return TrainTab(file, preview, headlines, minutes, go, stop, status, curve, samples, download, use)


def wire_training(
    studio: Studio, tab: TrainTab, pick: gr.Dropdown, mine: gr.State, tabs: gr.Tabs
) -> Callable[[gr.Request], None]:
    """The Train tab's events, and /train. Returns what stops a session's training."""
    private = {"api_visibility": "private"}
    tab.file.upload(partial(preview_ui, studio), tab.file, [tab.preview, tab.headlines, tab.go], **private)
    tab.file.clear(
        lambda: ("", None, gr.update(interactive=False)), None, [tab.preview, tab.headlines, tab.go], **private
    )
    outputs = [tab.status, tab.curve, tab.samples, tab.download, pick, mine]

    def train_page(headlines: lt.Headlines | None, minutes: Any, mine: list | None, request: gr.Request):
        yield from train_ui(studio, headlines, minutes, mine, request.session_hash)

    running = tab.go.click(
        lambda: (gr.update(visible=False), gr.update(visible=True)), None, [tab.go, tab.stop], queue=False, **private
    ).then(
        train_page,
        [tab.headlines, tab.minutes, mine],
        outputs,
        concurrency_id="train",
        concurrency_limit=studio.limits.concurrency,
        show_progress="full",
        **private,
    )
    running.then(
        lambda mine: (gr.update(visible=True), gr.update(visible=False), gr.update(visible=bool(mine))),
        mine,
        [tab.go, tab.stop, tab.use],
        queue=False,
        **private,
    )

    def stop_training(request: gr.Request) -> None:
        studio.stop(request.session_hash)

    tab.stop.click(stop_training, None, None, queue=False, **private)
    tab.use.click(lambda: gr.Tabs(selected="generate"), None, tabs, queue=False, **private)

    def train(file: FileData, minutes: float = 2, request: gr.Request = None) -> Iterator[dict]:
        yield from api_train(studio, file, minutes, request.session_hash if request else None)

    train.__doc__ = api_train.__doc__
    gr.api(train, api_name="train", concurrency_id="train", concurrency_limit=studio.limits.concurrency)
    return stop_training


# --- the app --------------------------------------------------------------------------------------

MODEL_EXPLAINED = """
**Perplexity** measures how unsure the model is about the next word of headlines it never saw: a
perplexity of 130 means it is, on average, as unsure as if it had to choose among 130 equally likely
words. Lower is better; a model that knew nothing would score the vocabulary's size.

**Kneser-Ney** is the classic way to predict the next word by counting: how often the last few words
were followed by each word in the training text, with careful smoothing for word sequences never seen.
It is the yardstick a neural language model has to beat.

**'Unknown' rows**: in the Kaggle New York Times files a missing headline is written as the word
"Unknown"; those rows are dropped before training, as are empty and duplicate ones.
"""


def model_markdown(info: dict[str, Any]) -> str:
    def fmt(x: Any, spec: str = ".1f") -> str:
        return "—" if x is None else format(x, spec)

    rows = [
        ("Checkpoint", f"`{info['source']}`"),
        (
            "Architecture",
            f"{info['layers']}-layer LSTM, embedding {info['emb_dim']}, hidden {info['hidden_dim']}"
            if info["arch"] == "lstm"
            else "the tutorial's 2-word-window LSTM",
        ),
        ("Parameters", f"{info['parameters']:,}"),
        ("Vocabulary", f"{info['vocab_size']:,} words and markers"),
        ("Training data", info["training_data"] or "—"),
        ("Pre-trained on", info["pretraining"] or "—"),
        ("Validation perplexity", f"{fmt(info['val_perplexity'])} (best epoch {info['best_epoch'] or '—'})"),
        (
            "Test perplexity",
            fmt(info["test_perplexity"])
            + (f" on {info['test_data']}" if info["test_data"] else "")
            + (f" ({info['test_note']})" if info["test_note"] else ""),
        ),
    ]
    table = "| About this model | |\n|---|---|\n" + "\n".join(
        f"| {k} | {html.escape(str(v)) if k != 'Checkpoint' else v} |" for k, v in rows
    )
    recipe = f"\n\nTrained with:\n\n```bash\n{info['command']}\n```" if info.get("command") else ""
    return table + recipe


def curve_svg(info: dict[str, Any], width: int = 640, height: int = 260) -> str:
    """The training curve as an SVG: a tick at every whole epoch, and each point's rounded values on hover."""
    series = [(key, label, colour) for key, label, colour in CURVES if any(h[key] is not None for h in info["history"])]
    points = [(h["epoch"], h[key]) for h in info["history"] for key, _, _ in series if h[key] is not None]
    if not points:
        return '<p class="curve-empty">No training curve recorded.</p>'
    left, right, top, bottom = 52, 12, 12, 36
    epochs = sorted({e for e, _ in points})
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    lo, hi = (lo - 0.05, hi + 0.05) if hi - lo < 0.1 else (lo, hi)

    def x(e: float) -> float:
        return left + (e - epochs[0]) / max(epochs[-1] - epochs[0], 1) * (width - left - right)

    def y(v: float) -> float:
        return top + (hi - v) / (hi - lo) * (height - top - bottom)

    step = max(1, math.ceil(len(epochs) / 12))  # at most a dozen labels; ticks stay on whole epochs
    parts = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" class="axis"/>']
    for e in epochs[::step]:
        parts.append(f'<text x="{x(e):.1f}" y="{height - bottom + 16}" class="tick x-tick">{e}</text>')
    for v in (lo, (lo + hi) / 2, hi):
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" class="tick y-tick">{v:.2f}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 2}" class="axis-title">epoch</text>')
    for key, label, colour in series:
        pts = [(h["epoch"], h[key]) for h in info["history"] if h[key] is not None]
        path = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for e, v in pts:
            parts.append(
                f'<circle cx="{x(e):.1f}" cy="{y(v):.1f}" r="4" fill="{colour}" class="point">'
                f"<title>epoch {e}: {label} loss {v:.3f}</title></circle>"
            )
    legend = " ".join(f'<span style="color:{c}">●</span> {label}' for _, label, c in series)
    return (
        f'<div class="curve"><div class="curve-title">Training curve: loss (nats a word; lower is better)</div>'
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="training curve">{"".join(parts)}</svg>'
        f'<div class="curve-legend">{legend}</div></div>'
    )


CURVES = [("train_loss", "training", "#2563eb"), ("val_loss", "validation", "#ea580c")]


def generate_ui(
    find: Callable[[Any], lt.HeadlineModel], prompt: Any, *values: Any, stream_every: float = STREAM_EVERY_S
) -> Iterator[tuple]:
    """The Generate button: (headlines, notices, result) as the headlines stream in word by word. ``values``
    are those of PARAMS, then the model picked. A refused request shows its message where the headlines go,
    and clears the rest: nothing stale looks current."""
    *values, model_id = values
    try:
        model = find(model_id)
        prompt, opts, cut = check_request(prompt, *values)
    except gr.Error as e:
        yield error_html(e.message), "", None
        return
    for result in GPU_STREAM(model, prompt, every=stream_every, options=opts):
        if not result.done:
            yield headlines_html(result), gr.skip(), gr.skip()
        else:
            yield headlines_html(result), notices(result, cut), result.to_dict()


def show_result(data: dict | None) -> tuple:
    """The word-by-word view of a finished result (or an empty one): the selection, the headline list, and
    the first headline's text, words and first new word."""
    headlines = data["headlines"] if data else []
    choices = [(f"{i + 1}. {h['text']}", i) for i, h in enumerate(headlines)]
    sel, *shown = pick_headline(data, 0 if choices else None)
    return (sel, gr.update(choices=choices, value=sel["index"]), *shown)


def pick_headline(data: dict | None, index: int | None) -> tuple:
    """The selection (headline ``index``, its first new word), the headline's text, word view and word list,
    and what was chosen at its first new word."""
    first = 0 if position_choices(data, index) else None
    return (_selected(index, first), headline_text(data, index), word_view(data, index), *show_word(data, index, first))


def show_word(data: dict | None, index: int | None, position: int | None) -> tuple:
    """The word list set to ``position``, the word chosen there and the model's alternatives to it."""
    return (
        gr.update(choices=position_choices(data, index), value=position),
        chosen_html(data, index, position),
        gr.update(choices=alternative_choices(data, index, position), value=None),
    )


# The page's handlers. What is selected (headline, word) is kept in a per-session State, set from what the user
# picked: a dropdown's value is display only, as the browser may not have taken a programmatic update yet.


def _selected(index: int | None, position: int | None) -> dict[str, int | None]:
    return {"index": index, "position": position}


def on_position(data: dict | None, sel: dict | None, position: int | None) -> tuple:
    index = (sel or {}).get("index")
    return (_selected(index, position), *show_word(data, index, position))


def on_word_click(data: dict | None, sel: dict | None, evt: gr.SelectData) -> tuple:
    """A click on a word of the word view selects it (a seed word has no alternatives to show)."""
    index = (sel or {}).get("index")
    h = _headline(data, index)
    if h is None or evt.index is None:
        return (gr.skip(),) * 4
    position = (evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index) - len(h["prompt_words"])
    if not 0 <= position < len(h["words"]):
        return (gr.skip(),) * 4
    return (_selected(index, position), *show_word(data, index, position))


def on_branch(data: dict | None, sel: dict | None, word: str | None) -> str:
    sel = sel or {}
    return branch_seed(data, sel.get("index"), sel.get("position"), word)


def on_continue(data: dict | None, sel: dict | None) -> str:
    return headline_text(data, (sel or {}).get("index")) or gr.skip()


def api_generate(
    model: lt.HeadlineModel, prompt: Any, *values: Any, stream_every: float = STREAM_EVERY_S
) -> Iterator[dict]:
    """Generate headlines. Streams the growing result; the last message has "done": true. ``model_id``
    (optional, last): a model trained with /train; default the bundled model.

    Each message: {"headlines": [{"text", "prompt_words", "words", "probs", "ended", "alternatives"}],
    "prompt_words", "unknown_words", "truncated", "seed", "done"}.
    """
    prompt, opts, cut = check_request(prompt, *values)
    for result in GPU_STREAM(model, prompt, every=stream_every, options=opts):
        data = result.to_dict()
        data["done"] = result.done
        data["truncated"] = result.truncated or cut
        yield data


def setting_input(p: Param) -> gr.components.Component:
    """The page's input for one setting: a slider, or a text box for one that may stay blank (a number box
    would fill itself with 0 when first shown)."""
    common = {"label": p.title + p.hint, "info": p.info or None, "elem_id": p.name.replace("_", "-")}
    if p.default is None:
        return gr.Textbox(value="", placeholder="blank", max_length=24, **common)
    return gr.Slider(p.lo, p.hi, value=p.default, step=p.step, **common)


def build_demo(
    model: lt.HeadlineModel, stream_every: float = STREAM_EVERY_S, studio: Studio | None = None
) -> gr.Blocks:
    """The app for one loaded model; with a ``studio``, visitors train their own too (the Train tab and /train).
    ``stream_every`` spaces the streamed updates (0: every word)."""
    info = lt.describe(model)
    assert model.vocab is not None
    prompts = [model.vocab.headline(p.split(), complete=False) for p in lt.suggested_prompts(model, 8)]
    find = model_finder(model, studio)
    keep_s = studio.limits.keep_minutes * 60 if studio else 3600
    with gr.Blocks(title="lstm_textgen: headline generator", delete_cache=(600, int(keep_s))) as demo:
        gr.Markdown(
            "# Headline generator\nA 5-layer LSTM trained on New York Times headlines writes new ones. "
            "Type a few seed words, pick a length and a temperature, and press **Generate**."
            + (" Or train one on your own headlines in the **Train** tab." if studio else "")
        )
        with gr.Tabs() as tabs:
            with gr.Tab("Generate", id="generate"):
                mine = gr.State([], time_to_live=keep_s)  # this session's trained models: [(label, model_id)]
                pick = gr.Dropdown(model_choices([]), value=BUNDLED, label="Model", visible=False, elem_id="model-pick")
                seed_box, go, stop, chips, settings = request_inputs(prompts)
                out = gr.HTML(label="Headlines", elem_id="headlines")
                note = gr.Markdown(elem_id="notices")
                view = word_by_word()
            if studio is not None:
                with gr.Tab("Train", id="train"):
                    training = train_tab(studio.limits)
            with gr.Tab("Model", id="model", elem_id="model-tab"):
                model_tab(info)

        inputs = [seed_box, *(settings[p.name] for p in PARAMS), pick]
        shown = [view.sel, view.pick, view.text, view.words, *view.word_outputs]
        request = partial(generate_ui, find, stream_every=stream_every)
        run = Chain(request, inputs, [out, note, view.state], view.state, shown, go, stop).run
        runs = [run(go.click), run(seed_box.submit)]
        private = {"api_visibility": "private", "queue": False}
        runs.append(run(chips.click(lambda sample: sample[0], chips, seed_box, **private).then))
        runs.append(run(view.cont.click(on_continue, [view.state, view.sel], seed_box, **private).then))
        runs.append(run(view.alts.input(on_branch, [view.state, view.sel, view.alts], seed_box, **private).then))
        stop.click(_idle, None, [go, stop], cancels=runs, **private)
        wire_word_view(view)
        if studio is not None:
            stop_training = wire_training(studio, training, pick, mine, tabs)
            demo.unload(stop_training)  # a visitor who leaves mid-training frees the training slot

        def generate(  # the API's contract: PARAMS, in their order, with their defaults, then model_id (tested)
            prompt: str = "",
            max_words: int = DEFAULTS["max_words"],
            temperature: float = DEFAULTS["temperature"],
            num: int = DEFAULTS["num"],
            top_k: int = DEFAULTS["top_k"],
            top_p: float = DEFAULTS["top_p"],
            seed: int | None = None,
            model_id: str | None = None,
        ) -> Iterator[dict]:
            values = (max_words, temperature, num, top_k, top_p, seed)
            yield from api_generate(find(model_id), prompt, *values, stream_every=stream_every)

        generate.__doc__ = api_generate.__doc__
        gr.api(generate, api_name="generate", concurrency_id="generate")
    return demo


def request_inputs(prompts: list[str]) -> tuple:
    """The seed words, Generate and Stop, the example chips and the settings (by name)."""
    with gr.Row(equal_height=True):
        seed_box = gr.Textbox(
            label="Seed words",
            placeholder=f"e.g. {prompts[0] if prompts else 'Trump Says'}",
            scale=4,
            max_length=PUBLIC_MAX_PROMPT_CHARS,
            elem_id="seed-words",
        )
        go = gr.Button("Generate", variant="primary", scale=1, elem_id="generate")
        stop = gr.Button("Stop", variant="stop", scale=1, visible=False, elem_id="stop")
    chips = gr.Dataset(components=[seed_box], samples=[[p] for p in prompts], label="Try", elem_id="examples")
    settings = {}
    with gr.Row():
        settings.update({p.name: setting_input(p) for p in PARAMS if not p.advanced})
    with gr.Accordion("Advanced", open=False), gr.Row():
        settings.update({p.name: setting_input(p) for p in PARAMS if p.advanced})
    return seed_box, go, stop, chips, settings


def wire_word_view(view: WordView) -> None:
    private = {"api_visibility": "private", "queue": False}
    selected = [view.sel, *view.word_outputs]
    view.pick.input(
        pick_headline, [view.state, view.pick], [view.sel, view.text, view.words, *view.word_outputs], **private
    )
    view.position.input(on_position, [view.state, view.sel, view.position], selected, **private)
    view.words.select(on_word_click, [view.state, view.sel], selected, **private)


def _busy() -> tuple:
    return gr.update(visible=False), gr.update(visible=True)


def _idle() -> tuple:
    return gr.update(visible=True), gr.update(visible=False)


@dataclass
class Chain:
    """What a request on the page runs: ``fn`` streams into ``outputs``; then ``finish`` fills ``view`` from
    the result (in ``result``), in one plain update that the browser takes reliably, and Generate is back."""

    fn: Any
    inputs: list
    outputs: list
    result: gr.State
    view: list
    go: gr.Button
    stop: gr.Button

    def run(self, trigger: Any) -> Any:
        """Wire ``trigger`` to the request; returns the streaming event, for Stop to cancel. Generate turns into
        Stop from inside that event, so Stop never shows before there is something for it to cancel."""
        skip = (gr.skip(),) * len(self.outputs)

        def with_stop(*args: Any) -> Iterator[tuple]:
            yield (*_busy(), *skip)
            for update in self.fn(*args):
                yield (gr.skip(), gr.skip(), *update)

        private = {"api_visibility": "private"}
        running = trigger(
            with_stop,
            self.inputs,
            [self.go, self.stop, *self.outputs],
            concurrency_id="generate",
            show_progress="minimal",
            **private,
        )
        running.then(
            lambda data: (*_idle(), *show_result(data)),
            self.result,
            [self.go, self.stop, *self.view],
            queue=False,
            **private,
        )
        return running


@dataclass
class WordView:
    """The word-by-word section's components."""

    state: gr.State  # the last result, as a dict
    sel: gr.State  # the headline and word selected in it: {"index", "position"}
    pick: gr.Dropdown  # which headline
    text: gr.Textbox  # its text, with a copy button
    cont: gr.Button  # "continue this one"
    words: gr.HighlightedText  # its words, coloured by probability; click one to select it
    position: gr.Dropdown  # which word
    chosen: gr.HTML  # the word chosen there, its probability and rank
    alts: gr.Radio  # the model's top words there; pick one to continue the headline from it

    @property
    def word_outputs(self) -> list:
        """What shows one word: the word list, the chosen word, the alternatives (show_word's outputs)."""
        return [self.position, self.chosen, self.alts]


def word_by_word() -> WordView:
    with gr.Accordion("Word by word: how likely was each word?", open=True):
        state, sel = gr.State(time_to_live=SESSION_TTL_S), gr.State(time_to_live=SESSION_TTL_S)
        pick = gr.Dropdown(label="Headline", choices=[], interactive=True, elem_id="pick-headline")
        with gr.Row(equal_height=True):
            text = gr.Textbox(
                label="This headline", interactive=False, buttons=["copy"], scale=4, elem_id="headline-text"
            )
            cont = gr.Button("Continue this one", scale=1, elem_id="continue")
        words = gr.HighlightedText(
            label="Each generated word, coloured by the model's probability (click a word)",
            color_map=COLOR_MAP,
            show_legend=True,
            combine_adjacent=False,
            elem_id="word-view",
        )
        position = gr.Dropdown(
            label="Word",
            choices=[],
            interactive=True,
            info="pick a word (or click it above) to see what else the model considered there",
            elem_id="word",
        )
        chosen = gr.HTML(elem_id="chosen")
        alts = gr.Radio(
            label="The model's favourites here: pick one to continue the headline from it",
            choices=[],
            elem_id="alternatives",
        )
    return WordView(state, sel, pick, text, cont, words, position, chosen, alts)


def model_tab(info: dict[str, Any]) -> None:
    """What the model is, in plain words, how it was trained, and its training curve."""
    gr.Markdown(model_markdown(info), elem_id="model-info")
    gr.Markdown(MODEL_EXPLAINED, elem_id="model-explained")
    gr.HTML(curve_svg(info), elem_id="training-curve")


def launch_options(training: TrainLimits | None = None) -> dict[str, Any]:
    """What Gradio 6 takes at launch rather than in Blocks(). Uploads: the Train tab's cap, else 1 MB (there is
    nothing else to upload)."""
    max_file_size = training.max_bytes if training else "1mb"
    return {"theme": gr.themes.Soft(), "css": CSS, "show_error": False, "max_file_size": max_file_size}


def serve(
    model: lt.HeadlineModel,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    max_queue: int = MAX_QUEUE,
    concurrency: int = CONCURRENCY,
    stream_every: float = STREAM_EVERY_S,
    training: TrainLimits | None = TrainLimits(),
    max_sessions: int = MAX_SESSIONS,
    block: bool = True,
) -> tuple[gr.Blocks, str]:
    """Build, queue and launch the app: the queue's limits are set here only, for app.py, the tests and the
    benchmarks alike. ``training=None``: no Train tab and no /train. ``block=False`` returns at once (quietly)
    with the running app and its URL."""
    studio = None
    if training is not None:
        lt.bound_kernel_caches(training.kernel_cache)  # before the first product: oneDNN reads it once
        shelf = lt.ModelShelf(training.max_models, training.keep_minutes * 60)
        studio = Studio(training, shelf, next(model.parameters()).device)
    demo = build_demo(model, stream_every, studio)
    demo.queue(max_size=max_queue, default_concurrency_limit=concurrency)
    # one small request while the server starts, so that the first visitor's click does not wait for the
    # generation step to be compiled and the sampler built (170-500 ms on a fresh machine: speed.md)
    warm_up = {"num": 1, "max_words": 1, "seed": 0}
    threading.Thread(target=lt.generate, args=(model, ""), kwargs=warm_up, daemon=True).start()
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        quiet=not block,
        state_session_capacity=max_sessions,
        **launch_options(training),
    )
    return demo, demo.local_url


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Serve the headline generator in a browser.")
    p.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        help="port (default: $GRADIO_SERVER_PORT or 7860)",
    )
    p.add_argument("--share", action="store_true", help="also ask for a public *.gradio.live link")
    p.add_argument(
        "--checkpoint",
        default=None,
        help="checkpoint folder or Hub repo id "
        "(default: $LSTM_TEXTGEN_CHECKPOINT, else the bundled checkpoints/nyt-headlines)",
    )
    p.add_argument("--device", default="auto", help="auto (GPU when present; default), cpu, cuda or mps")
    p.add_argument(
        "--concurrency", type=int, default=CONCURRENCY, help=f"requests generating at once (default {CONCURRENCY})"
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=MAX_QUEUE,
        help=f"requests allowed to wait; more are refused (default {MAX_QUEUE})",
    )
    p.add_argument(
        "--max-sessions",
        type=int,
        default=MAX_SESSIONS,
        help=f"sessions (page loads, API clients) whose state is kept; the least recently used is dropped "
        f"beyond this (default {MAX_SESSIONS})",
    )
    p.add_argument("--no-training", action="store_true", help="no Train tab and no /train endpoint")
    add_field_flags(p.add_argument_group("training by visitors"), TrainLimits)
    args = p.parse_args(argv)
    for name in ("concurrency", "max_queue", "max_sessions"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    try:
        args.training = None if args.no_training else TrainLimits(**field_values(TrainLimits, vars(args)))
    except ValueError as e:
        p.error(str(e))
    return args


def load(checkpoint: str | None, device: str) -> lt.HeadlineModel:
    """The model, loaded once at start-up; a missing one is one clear message, not a traceback."""
    chosen = checkpoint or lt.default_checkpoint()
    if not chosen:
        sys.exit(
            "error: no checkpoint found (checkpoints/nyt-headlines is missing). Train one with:\n"
            "  python -m lstm_textgen train --data path/to/Articles*.csv --out checkpoints/nyt-headlines\n"
            "or pass --checkpoint DIR_OR_HUB_ID."
        )
    try:
        return lt.load_model(chosen, device=lt.torch_device(device))
    except (lt.LstmTextgenError, ValueError) as e:
        sys.exit(f"error: {e}")


def main(argv: list[str] | None = None) -> None:
    # a server's log is often a pipe (docker, a Space, `| tee`): print its URL and notices as they happen, not
    # when a block of output fills up or never, if the server is stopped
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # a real text stream (not one a host swapped in)
            stream.reconfigure(line_buffering=True)
    args = parse_args(argv)
    serve(
        load(args.checkpoint, args.device),
        args.host,
        args.port,
        share=args.share,
        max_queue=args.max_queue,
        concurrency=args.concurrency,
        training=args.training,
        max_sessions=args.max_sessions,
    )


if __name__ == "__main__":
    main()
