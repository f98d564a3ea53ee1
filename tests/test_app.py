"""The Gradio app: its functions called directly, then a real server driven by gradio_client."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

import gradio as gr
import pytest
from conftest import ROOT, free_port

import app
import lstm_textgen as lt

# --- the UI's functions, called directly -----------------------------------------------------------


def test_check_request_accepts_the_ui_values():
    prompt, opts, cut = app.check_request("trump says", 15, 0.8, 5, 0, 0.95, None)
    assert prompt == "trump says" and not cut
    assert (opts.max_words, opts.temperature, opts.num, opts.top_k, opts.top_p, opts.seed) == (
        15,
        0.8,
        5,
        0,
        0.95,
        None,
    )
    assert app.check_request("x", "10", "0.5", 3.0, 0, 1, "42")[1].seed == 42  # numbers sent as text
    assert app.check_request(None, 10, 0, 1, 0, 1, "")[1].seed is None  # blank seed: random


@pytest.mark.parametrize(
    "args, message",
    [
        (("x", 0, 0.8, 5, 0, 0.9, None), "Max words"),
        (("x", 41, 0.8, 5, 0, 0.9, None), "Max words"),
        (("x", 10, -0.1, 5, 0, 0.9, None), "Temperature"),
        (("x", 10, math.nan, 5, 0, 0.9, None), "Temperature"),
        (("x", 10, math.inf, 5, 0, 0.9, None), "Temperature"),
        (("x", 10, 0.8, 11, 0, 0.9, None), "Number of headlines"),
        (("x", 10, 0.8, 2.5, 0, 0.9, None), "Number of headlines"),
        (("x", 10, 0.8, 5, -1, 0.9, None), "Top-k"),
        (("x", 10, 0.8, 5, 0, 0, None), "Top-p"),
        (("x", 10, 0.8, 5, 0, 0.9, -3), "Random seed"),
        (("x", "ten", 0.8, 5, 0, 0.9, None), "Max words"),
        (("x", 10, True, 5, 0, 0.9, None), "Temperature"),
        ((["a list"], 10, 0.8, 5, 0, 0.9, None), "seed words must be text"),
    ],
)
def test_check_request_refuses_bad_values_with_a_message(args, message):
    with pytest.raises(gr.Error) as e:
        app.check_request(*args)
    assert message in e.value.message


def test_headlines_html_sets_seed_apart_and_escapes_everything():
    h = lt.Headline(
        prompt_words=["<script>alert(1)</script>"], words=["<b>bold</b>", "news"], probs=[0.5, 0.5], ended=True
    )
    result = lt.Generation([h], h.prompt_words, [], False, seed=1, done=True)
    page = app.headlines_html(result)
    assert "<script>" not in page and "<b>" not in page
    assert '<span class="seed">&lt;script&gt;alert(1)&lt;/script&gt;</span>' in page
    assert '<span class="gen">&lt;b&gt;bold&lt;/b&gt; News</span>' in page


def test_updates_are_spaced_but_the_first_words_and_the_last_always_come(tiny_model):
    every_word = list(app.api_generate(tiny_model, "the", 10, 1.0, 2, 0, 1.0, 3, stream_every=0))
    spaced = list(app.api_generate(tiny_model, "the", 10, 1.0, 2, 0, 1.0, 3, stream_every=60))
    assert len(every_word) > 3 and len(spaced) == 2
    assert [len(h["words"]) for h in spaced[0]["headlines"]] == [1, 1] and not spaced[0]["done"]  # at once
    assert spaced[-1]["done"] and spaced[-1]["headlines"] == every_word[-1]["headlines"]


def test_generate_ui_streams_then_fills_the_word_view(tiny_model):
    steps = list(
        app.generate_ui(app.model_finder(tiny_model, None), "trump zyzzyva", 8, 0.8, 3, 0, 0.95, 5, "", stream_every=0)
    )
    assert len(steps) > 2
    first_html = steps[0][0]
    assert first_html.count("<li>") == 3 and 'class="seed">Trump Zyzzyva' in first_html
    last = steps[-1]
    html_out, note, data = last
    sel, _pick, text, view, _position, chosen, alts = app.show_result(data)
    assert sel == {"index": 0, "position": 0}
    assert "zyzzyva" in note and "Random seed used: `5`" in note
    assert data["unknown_words"] == ["zyzzyva"] and len(data["headlines"]) == 3
    assert text == data["headlines"][0]["text"]
    assert view[0] == ("Trump ", "seed") and view[1] == ("Zyzzyva ", "seed")
    assert all(label in app.COLOR_MAP for _, label in view)
    first = data["headlines"][0]
    assert f'class="chosen-word">{text.split()[2]}</span>' in chosen
    top = [w for w, _ in first["alternatives"][0] if w != "<eos>"]
    assert [value for _, value in alts["choices"]] == top
    # same seed, same headlines; the page shows the library's headline-case text
    again = lt.generate(tiny_model, "trump zyzzyva", max_words=8, temperature=0.8, num=3, top_p=0.95, seed=5)
    for h in again.headlines:
        words = h.text.split()
        assert " ".join(words[2:]) in html_out


def test_word_view_bands_and_alternatives():
    data = {
        "headlines": [
            {
                "prompt_words": ["the"],
                "words": ["gop", "votes"],
                "probs": [0.7, 0.005],
                "text": "The G.O.P. Votes",
                "alternatives": [[["gop", 0.7], ["<eos>", 0.1]], [["votes", 0.005]]],
            }
        ]
    }
    assert app.word_view(data, 0) == [("The ", "seed"), ("G.O.P. ", "likely (≥ 50%)"), ("Votes ", "rare (< 1%)")]
    assert app.alternative_choices(data, 0, 0) == [("gop · 70%", "gop")]  # the end of headline is not a word
    assert app.position_choices(data, 0) == [("1. G.O.P.  (70%)", 0), ("2. Votes  (0.5%)", 1)]
    chosen = app.chosen_html(data, 0, 0)
    assert "G.O.P.</span>" in chosen and "70%" in chosen and "rank 1 of the model's top 2" in chosen
    assert "ending the headline here: 10%" in chosen
    assert app.branch_seed(data, 0, 1, "wins") == "The G.O.P. wins"
    assert (
        app.word_view(data, 3) == [] and app.alternative_choices(data, 0, 9) == [] and app.chosen_html(None, 0, 0) == ""
    )


def test_probabilities_read_as_people_read_them():
    assert [app.percent(p) for p in (0.5, 0.034, 0.0099, 0.004, 0.0009, 0.0)] == [
        "50%",
        "3%",
        "1.0%",
        "0.4%",
        "<0.1%",
        "<0.1%",
    ]


def test_model_tab_content(tiny_model):
    info = lt.describe(tiny_model)
    md = app.model_markdown(info)
    assert "5-layer LSTM" in md and f"{info['parameters']:,}" in md and f"{info['vocab_size']:,} words" in md
    assert "Validation perplexity" in md and "Test perplexity" in md and md.startswith("| About this model |")
    svg = app.curve_svg(info)
    epochs = [h["epoch"] for h in info["history"]]
    assert [int(t) for t in re.findall(r'class="tick x-tick">(\d+)<', svg)] == epochs  # whole epochs only
    titles = re.findall(r"<title>(.*?)</title>", svg)
    assert len(titles) == 2 * len(epochs) and all(re.fullmatch(r"epoch \d+: \w+ loss \d+\.\d{3}", t) for t in titles)


# --- a real server, driven by gradio_client -------------------------------------------------------


def test_api_generate_returns_plain_data(server):
    _, client = server
    r = client.predict("trump", 10, 0.8, 3, 0, 0.95, 7, api_name="/generate")
    assert r["done"] and r["seed"] == 7 and r["unknown_words"] == []
    assert len(r["headlines"]) == 3
    for h in r["headlines"]:
        assert h["text"].startswith("Trump") and len(h["words"]) == len(h["probs"]) <= 10
    same = client.predict("trump", 10, 0.8, 3, 0, 0.95, 7, api_name="/generate")
    assert same["headlines"] == r["headlines"]


def test_api_text_is_printed_with_the_models_forms_and_words_stay_tokens(cased_checkpoint):
    """The API's ``text`` and the page print "What’s Going On With the G.O.P."; ``words`` are the model's tokens."""
    from conftest import running_app
    from gradio_client import Client

    from lstm_textgen import generate, load_model

    with running_app(cased_checkpoint) as url:
        r = Client(url, verbose=False).predict("whats going on with the gop", 3, 0, 2, 0, 1, 0, api_name="/generate")
    h = r["headlines"][0]
    assert h["text"].startswith("What’s Going On With the G.O.P.")
    assert h["prompt_words"] == ["whats", "going", "on", "with", "the", "gop"]
    assert all(w == w.lower() and "." not in w for w in h["words"])
    page = app.headlines_html(generate(load_model(cased_checkpoint), "mr trump and the gop", num=1, seed=0))
    assert "Mr. Trump and the G.O.P." in page


def test_api_streams_word_by_word(server):
    _, client = server
    job = client.submit("the", 10, 0.8, 2, 0, 0.95, 3, api_name="/generate")
    messages = list(job)
    assert len(messages) >= 3
    sizes = [sum(len(h["words"]) for h in m["headlines"]) for m in messages]
    assert sizes == sorted(sizes) and sizes[0] == 2 < sizes[-1]  # the first message: each headline's first word
    assert messages[-1]["done"] and not messages[0]["done"]


def test_api_unknown_words_and_empty_seed(server):
    _, client = server
    r = client.predict("zyzzyva congress", 6, 0.8, 2, 0, 0.95, 1, api_name="/generate")
    assert r["unknown_words"] == ["zyzzyva"] and all(h["text"].startswith("Zyzzyva Congress") for h in r["headlines"])
    empty = client.predict("", 6, 0.8, 2, 0, 0.95, 1, api_name="/generate")
    assert empty["prompt_words"] == [] and all(h["words"] for h in empty["headlines"])


@pytest.mark.parametrize(
    "args, message",
    [
        (("x", 500, 0.8, 2, 0, 0.9, 1), "Max words"),
        (("x", 10, 9.5, 2, 0, 0.9, 1), "Temperature"),
        (("x", 10, 0.8, 1000, 0, 0.9, 1), "Number of headlines"),
        (("x", "many", 0.8, 2, 0, 0.9, 1), "Max words"),
        (("x", 10, 0.8, 2, 0, 0.9, -1), "Random seed"),
        (("x", 10, "hot", 2, 0, 0.9, 1), "Temperature"),
    ],
)
def test_api_bad_values_get_a_clear_error_and_the_server_stays_up(server, args, message):
    from gradio_client.exceptions import AppError

    _, client = server
    with pytest.raises(AppError) as e:
        client.predict(*args, api_name="/generate")
    assert message in str(e.value) and "Traceback" not in str(e.value)
    assert client.predict("ok", 3, 0, 1, 0, 1, 0, api_name="/generate")["done"]


def test_only_generation_and_training_are_in_the_api(server, tiny_model):
    _, client = server
    api = client.view_api(print_info=False, return_format="dict")
    assert sorted(api["named_endpoints"]) == ["/generate", "/train"]
    assert api["unnamed_endpoints"] == {}
    # --no-training: no Train tab, no /train, and /generate takes no model_id but the bundled model's
    assert app.parse_args(["--no-training"]).training is None
    assert app.launch_options(None)["max_file_size"] == "1mb"  # nothing to upload then
    demo = app.build_demo(tiny_model, studio=None)
    config = demo.get_config_file()
    assert [d["api_name"] for d in config["dependencies"] if d.get("api_visibility") == "public"] == ["generate"]
    assert not [c for c in config["components"] if c.get("props", {}).get("elem_id") == "train-file"]
    with pytest.raises(app.gr.Error, match="does not train models"):
        app.model_finder(tiny_model, None)("some-id")


def test_page_is_served(server):
    url, _ = server
    with urllib.request.urlopen(url, timeout=10) as resp:
        page = resp.read().decode()
    assert resp.status == 200 and "lstm_textgen" in page


# --- launching app.py as a user does ----------------------------------------------------------------


def _wait_for(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"app.py exited early: {proc.communicate()[1]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds}s")


def _share_outcome(line: str) -> bool:
    return "Could not create share link" in line or "Running on public URL" in line


@pytest.mark.slow
@pytest.mark.parametrize("share", [False, True])
def test_python_app_py_serves_and_share_without_internet_keeps_serving(tiny_checkpoint, share):
    port = free_port()
    cmd = [sys.executable, "app.py", "--checkpoint", str(tiny_checkpoint), "--port", str(port)] + (
        ["--share"] if share else []
    )
    # as from a plain shell: the URL must reach a pipe without PYTHONUNBUFFERED (which this machine's env sets)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    printed: list[str] = []
    threading.Thread(target=lambda: [printed.append(line) for line in proc.stdout], daemon=True).start()
    try:
        _wait_for(f"http://127.0.0.1:{port}/", proc)
        if share:  # the share attempt ends (here it fails: no internet) and says so; the local server must stay
            deadline = time.time() + 60
            while not any(_share_outcome(line) for line in printed) and time.time() < deadline:
                time.sleep(0.2)
            assert any(_share_outcome(line) for line in printed), printed
            _wait_for(f"http://127.0.0.1:{port}/", proc, seconds=10)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert any(f"127.0.0.1:{port}" in line for line in printed)


def test_env_vars_pick_host_and_port(monkeypatch):
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    args = app.parse_args([])
    assert (args.host, args.port) == ("0.0.0.0", 7999)
    assert app.parse_args(["--port", "8001"]).port == 8001


def test_a_training_server_bounds_onednns_kernel_caches(server):
    """Visitors' files bring new matrix shapes, each kept by oneDNN: serve() bounds its caches (--kernel-cache)
    before the first product, unless the environment already does."""
    assert app.parse_args(["--kernel-cache", "64"]).training.kernel_cache == 64
    with pytest.raises(SystemExit):
        app.parse_args(["--kernel-cache", "0"])
    assert all(name in os.environ for name in lt.products.KERNEL_CACHES)


@pytest.mark.slow
def test_missing_checkpoint_is_one_clear_message(tmp_path):
    proc = subprocess.run(
        [sys.executable, "app.py", "--checkpoint", str(tmp_path / "nope")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "Train one with" in proc.stderr


def test_the_checkpoint_named_by_the_environment_is_the_one_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("LSTM_TEXTGEN_CHECKPOINT", str(tmp_path / "env"))
    with pytest.raises(SystemExit) as e:
        app.load(None, "cpu")
    assert str(e.value).startswith("error: ") and str(tmp_path / "env") in str(e.value)


def test_the_api_takes_the_pages_settings_in_their_order_and_defaults(server):
    """One description of a request (app.PARAMS) behind the page, the checks and the /generate API."""
    _url, client = server
    params = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/generate"]["parameters"]
    assert [p["parameter_name"] for p in params] == ["prompt", *(p.name for p in app.PARAMS), "model_id"]
    assert [p.get("parameter_default") for p in params[1:]] == [*(p.default for p in app.PARAMS), None]


@pytest.mark.slow
def test_the_server_builds_the_generation_step_before_the_first_click(tiny_checkpoint):
    """serve() starts one small request in the background: by the time a visitor clicks, the compiled step and
    the kept start are there, so the first click does not pay for them."""
    model = lt.load_model(tiny_checkpoint)
    assert not model.step_cache
    demo, _ = app.serve(model, "127.0.0.1", free_port(), training=None, block=False)
    try:
        deadline = time.monotonic() + 30
        while not any(name.startswith("after <bos>") for name in model.step_cache) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(name.startswith("after <bos>") for name in model.step_cache), list(model.step_cache)
    finally:
        demo.close()
