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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import gradio as gr

import lstm_textgen as lt

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


def _throttled(results: Iterator[lt.Generation], every: float) -> Iterator[lt.Generation]:
    """The growing result at most once per ``every`` seconds, and always the finished one."""
    last = time.perf_counter()
    for result in results:
        now = time.perf_counter()
        if result.done or now - last >= every:
            last = now
            yield result


def generate_ui(
    model: lt.HeadlineModel, prompt: Any, *values: Any, stream_every: float = STREAM_EVERY_S
) -> Iterator[tuple]:
    """The Generate button: (headlines, notices, result) as the headlines stream in word by word. A refused
    request shows its message where the headlines go, and clears the rest: nothing stale looks current."""
    try:
        prompt, opts, cut = check_request(prompt, *values)
    except gr.Error as e:
        yield error_html(e.message), "", None
        return
    for result in _throttled(lt.stream(model, prompt, options=opts), stream_every):
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
    """Generate headlines. Streams the growing result; the last message has "done": true.

    Each message: {"headlines": [{"text", "prompt_words", "words", "probs", "ended", "alternatives"}],
    "prompt_words", "unknown_words", "truncated", "seed", "done"}.
    """
    prompt, opts, cut = check_request(prompt, *values)
    for result in _throttled(lt.stream(model, prompt, options=opts), stream_every):
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


def build_demo(model: lt.HeadlineModel, stream_every: float = STREAM_EVERY_S) -> gr.Blocks:
    """The app for one loaded model. ``stream_every`` spaces the streamed updates (0: every word)."""
    info = lt.describe(model)
    assert model.vocab is not None
    prompts = [model.vocab.headline(p.split(), complete=False) for p in lt.suggested_prompts(model, 8)]

    with gr.Blocks(title="lstm_textgen: headline generator") as demo:
        gr.Markdown(
            "# Headline generator\nA 5-layer LSTM trained on New York Times headlines writes new ones. "
            "Type a few seed words, pick a length and a temperature, and press **Generate**."
        )
        with gr.Tab("Generate"):
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
            out = gr.HTML(label="Headlines", elem_id="headlines")
            note = gr.Markdown(elem_id="notices")
            view = word_by_word()
        with gr.Tab("Model", elem_id="model-tab"):
            model_tab(info)

        inputs = [seed_box, *(settings[p.name] for p in PARAMS)]
        shown = [view.sel, view.pick, view.text, view.words, *view.word_outputs]
        request = partial(generate_ui, model, stream_every=stream_every)
        run = Chain(request, inputs, [out, note, view.state], view.state, shown, go, stop).run
        runs = [run(go.click), run(seed_box.submit)]
        private = {"api_visibility": "private", "queue": False}
        runs.append(run(chips.click(lambda sample: sample[0], chips, seed_box, **private).then))
        runs.append(run(view.cont.click(on_continue, [view.state, view.sel], seed_box, **private).then))
        runs.append(run(view.alts.input(on_branch, [view.state, view.sel, view.alts], seed_box, **private).then))
        stop.click(_idle, None, [go, stop], cancels=runs, **private)
        selected = [view.sel, *view.word_outputs]
        view.pick.input(
            pick_headline, [view.state, view.pick], [view.sel, view.text, view.words, *view.word_outputs], **private
        )
        view.position.input(on_position, [view.state, view.sel, view.position], selected, **private)
        view.words.select(on_word_click, [view.state, view.sel], selected, **private)

        def generate(  # the API's contract: PARAMS, in their order, with their defaults (tests check it)
            prompt: str = "",
            max_words: int = DEFAULTS["max_words"],
            temperature: float = DEFAULTS["temperature"],
            num: int = DEFAULTS["num"],
            top_k: int = DEFAULTS["top_k"],
            top_p: float = DEFAULTS["top_p"],
            seed: int | None = None,
        ) -> Iterator[dict]:
            values = (max_words, temperature, num, top_k, top_p, seed)
            yield from api_generate(model, prompt, *values, stream_every=stream_every)

        generate.__doc__ = api_generate.__doc__
        gr.api(generate, api_name="generate", concurrency_id="generate")
    return demo


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
        state, sel = gr.State(), gr.State()
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


def launch_options() -> dict[str, Any]:
    """What Gradio 6 takes at launch rather than in Blocks()."""
    return {"theme": gr.themes.Soft(), "css": CSS, "show_error": False, "max_file_size": "1mb"}


def serve(
    model: lt.HeadlineModel,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    max_queue: int = MAX_QUEUE,
    concurrency: int = CONCURRENCY,
    stream_every: float = STREAM_EVERY_S,
    block: bool = True,
) -> tuple[gr.Blocks, str]:
    """Build, queue and launch the app: the queue's limits are set here only, for app.py, the tests and the
    benchmarks alike. ``block=False`` returns at once (quietly) with the running app and its URL."""
    demo = build_demo(model, stream_every)
    demo.queue(max_size=max_queue, default_concurrency_limit=concurrency)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        quiet=not block,
        **launch_options(),
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
    return p.parse_args(argv)


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
    )


if __name__ == "__main__":
    main()
