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
"""


# --- checking a request (UI and API alike) -------------------------------------------------------


def _number(name: str, value: Any, lo: float, hi: float, whole: bool) -> float | int:
    span = f"{lo:d} to {hi:d}" if whole else f"{lo:g} to {hi:g}"  # type: ignore[str-format]
    kind = "a whole number" if whole else "a number"
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise gr.Error(f"{name} must be {kind} from {span}.") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise gr.Error(f"{name} must be {kind} from {span}.")
    if (whole and value != int(value)) or not lo <= value <= hi:
        raise gr.Error(f"{name} must be {kind} from {span}; got {value:g}.")
    return int(value) if whole else float(value)


def check_request(prompt: Any, *values: Any) -> tuple[str, lt.Options, bool]:
    """(prompt, options, prompt was cut) from the seed words and the values of :data:`PARAMS`, or a gr.Error
    with a message a user can act on."""
    if prompt is None:
        prompt = ""
    if not isinstance(prompt, str):
        raise gr.Error("The seed words must be text.")
    cut = len(prompt) > PUBLIC_MAX_PROMPT_CHARS
    prompt = prompt[-PUBLIC_MAX_PROMPT_CHARS:]
    if len(values) != len(PARAMS):
        raise gr.Error(f"Expected {len(PARAMS)} settings after the seed words, got {len(values)}.")
    checked = {}
    for p, value in zip(PARAMS, values):
        blank = value is None or (isinstance(value, str) and not value.strip())
        checked[p.name] = None if p.default is None and blank else _number(p.title, value, p.lo, p.hi, p.step == 1)
    try:
        opts = lt.make_options(**checked)
    except ValueError as e:  # the library's own check; the app's ranges are narrower, so rare
        raise gr.Error(str(e)) from None
    return prompt, opts, cut


# --- turning results into what the page shows ----------------------------------------------------


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
    return '<div class="headlines"><ol>' + "".join(items) + "</ol></div>"


def notices(result: lt.Generation, cut: bool) -> str:
    lines = []
    if result.unknown_words:
        lines.append(
            "⚠️ Not in the model's vocabulary, read as an unknown word: **"
            + html.escape(", ".join(result.unknown_words))
            + "**"
        )
    if result.truncated or cut:
        lines.append(f"✂️ Long seed text: only its last {len(result.prompt_words)} words were used.")
    if not result.prompt_words:
        lines.append("No seed words: headlines written from scratch.")
    lines.append(f"Random seed used: `{result.seed}` (enter it under Advanced to get these headlines again).")
    return "\n\n".join(lines)


def band(p: float) -> str:
    return next(label for lo, label in PROB_BANDS if p >= lo)


def word_view(data: dict | None, index: int | None) -> list[tuple[str, str | None]]:
    """One headline, word by word: seed words grey, generated ones coloured by their probability."""
    if not data or index is None or not 0 <= index < len(data["headlines"]):
        return []
    h = data["headlines"][index]
    cased = h["text"].split()  # one printed word a token: printed forms hold no spaces
    n_seed = len(h["prompt_words"])
    out: list[tuple[str, str | None]] = [(w + " ", "seed") for w in cased[:n_seed]]
    out += [(f"{w} ", band(p)) for w, p in zip(cased[n_seed:], h["probs"])]
    return out


def position_choices(data: dict | None, index: int | None) -> list[tuple[str, int]]:
    if not data or index is None or not 0 <= index < len(data["headlines"]):
        return []
    h = data["headlines"][index]
    printed = h["text"].split()[len(h["prompt_words"]) :]  # one printed word a token
    return [(f"{i + 1}. {w}  ({p:.0%})", i) for i, (w, p) in enumerate(zip(printed, h["probs"]))]


def alternatives(data: dict | None, index: int | None, position: int | None) -> dict[str, float] | None:
    """The model's top-5 next words at one position, with their probabilities."""
    if not data or index is None or position is None or not 0 <= index < len(data["headlines"]):
        return None
    alts = data["headlines"][index]["alternatives"]
    if not 0 <= position < len(alts):
        return None
    return {("⟨end of headline⟩" if w == "<eos>" else w): p for w, p in alts[position]}


# --- the app --------------------------------------------------------------------------------------


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
        ("Vocabulary", f"{info['vocab_size']:,} tokens"),
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
    table = "| This model | |\n|---|---|\n" + "\n".join(
        f"| {k} | {html.escape(str(v)) if k != 'Checkpoint' else v} |" for k, v in rows
    )
    recipe = f"\n\nTrained with:\n\n```bash\n{info['command']}\n```" if info.get("command") else ""
    return table + recipe


def curve_frame(info: dict[str, Any]):
    import pandas as pd

    rows = [
        {"epoch": h["epoch"], "loss": h[key], "split": split}
        for h in info["history"]
        for key, split in (("train_loss", "train"), ("val_loss", "validation"))
    ]
    return pd.DataFrame(rows, columns=["epoch", "loss", "split"])


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
    """The Generate button: headlines stream in word by word, then the word-by-word view fills in."""
    prompt, opts, cut = check_request(prompt, *values)
    skip = (gr.skip(),) * 6
    for result in _throttled(lt.stream(model, prompt, options=opts), stream_every):
        if not result.done:
            yield (headlines_html(result), *skip)
            continue
        if result.unknown_words:
            gr.Warning("Not in the vocabulary: " + ", ".join(result.unknown_words))
        data = result.to_dict()
        choices = [(f"{i + 1}. {h.text}", i) for i, h in enumerate(result.headlines)]
        yield (
            headlines_html(result),
            notices(result, cut),
            data,
            gr.update(choices=choices, value=0),
            *pick_headline(data, 0),
        )


def pick_headline(data: dict | None, index: int | None) -> tuple:
    """The word view of one headline, its word list, and the alternatives at its first word."""
    positions = position_choices(data, index)
    return (
        word_view(data, index),
        gr.update(choices=positions, value=0 if positions else None),
        alternatives(data, index, 0),
    )


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
    """The page's input for one setting: a slider, or a number box for one that may stay blank."""
    common = {"label": p.title + p.hint, "info": p.info or None, "elem_id": p.name.replace("_", "-")}
    if p.default is None:
        return gr.Number(value=None, precision=0, minimum=p.lo, **common)
    return gr.Slider(p.lo, p.hi, value=p.default, step=p.step, **common)


def build_demo(model: lt.HeadlineModel, stream_every: float = STREAM_EVERY_S) -> gr.Blocks:
    """The app for one loaded model. ``stream_every`` spaces the streamed updates (0: every word)."""
    info = lt.describe(model)
    prompts = lt.suggested_prompts(model, 8)

    with gr.Blocks(title="lstm_textgen: headline generator") as demo:
        gr.Markdown(
            "# Headline generator\nA 5-layer LSTM trained on New York Times headlines writes new ones. "
            "Type a few seed words, pick a length and a temperature, and press **Generate**."
        )
        with gr.Tab("Generate"):
            with gr.Row(equal_height=True):
                seed_box = gr.Textbox(
                    label="Seed words",
                    placeholder=f"e.g. {prompts[0] if prompts else 'trump says'}",
                    scale=4,
                    max_length=PUBLIC_MAX_PROMPT_CHARS,
                    elem_id="seed-words",
                )
                go = gr.Button("Generate", variant="primary", scale=1, elem_id="generate")
            gr.Examples(
                examples=[[p] for p in prompts],
                inputs=[seed_box],
                cache_examples=False,
                label="Try",
                api_visibility="private",
            )
            settings = {}
            with gr.Row():
                settings.update({p.name: setting_input(p) for p in PARAMS if not p.advanced})
            with gr.Accordion("Advanced", open=False), gr.Row():
                settings.update({p.name: setting_input(p) for p in PARAMS if p.advanced})
            out = gr.HTML(label="Headlines", elem_id="headlines")
            note = gr.Markdown(elem_id="notices")
            state, pick, view, position, alts = word_by_word()
        with gr.Tab("Model", elem_id="model-tab"):
            model_tab(info)

        inputs = [seed_box, *(settings[p.name] for p in PARAMS)]
        outputs = [out, note, state, pick, view, position, alts]
        for trigger in (go.click, seed_box.submit):
            trigger(
                partial(generate_ui, model, stream_every=stream_every),
                inputs,
                outputs,
                api_visibility="private",
                concurrency_id="generate",
                show_progress="minimal",
            )
        pick.input(pick_headline, [state, pick], [view, position, alts], api_visibility="private", queue=False)
        position.input(alternatives, [state, pick, position], alts, api_visibility="private", queue=False)

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


def word_by_word() -> tuple[gr.State, gr.Dropdown, gr.HighlightedText, gr.Dropdown, gr.Label]:
    """The word-by-word view: (the last result, its headline picker, the coloured words, the word picker, the
    alternatives at that word)."""
    with gr.Accordion("Word by word: how likely was each word?", open=True):
        state = gr.State()
        pick = gr.Dropdown(label="Headline", choices=[], interactive=True)
        view = gr.HighlightedText(
            label="Each generated word, coloured by the model's probability",
            color_map=COLOR_MAP,
            show_legend=True,
            combine_adjacent=False,
        )
        position = gr.Dropdown(
            label="Word",
            choices=[],
            interactive=True,
            info="pick a word to see what else the model considered there",
        )
        alts = gr.Label(label="Top-5 alternatives at this word", num_top_classes=5)
    return state, pick, view, position, alts


def model_tab(info: dict[str, Any]) -> None:
    """What the model is, how it was trained, and its training curve."""
    gr.Markdown(model_markdown(info))
    gr.LinePlot(
        curve_frame(info),
        x="epoch",
        y="loss",
        color="split",
        title="Training curve",
        x_title="epoch",
        y_title="cross-entropy loss (nats/token)",
        height=320,
    )


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
