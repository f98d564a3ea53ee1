"""Bad input, load and faults: nothing crashes, nothing is lost, nothing leaks.

Every case here is listed, with its outcome, in bench/results/robustness.md.
"""

from __future__ import annotations

import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import DATA, ROOT, cli_command, run_cli, running_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app
import lstm_textgen as lt
from lstm_textgen.data import load_headlines
from lstm_textgen.errors import DataError
from lstm_textgen.generate import MAX_PROMPT_WORDS

HOSTILE_SEEDS = {
    "empty": "",
    "whitespace": " \t\n  ",
    "100k characters": "senate " * 14_286,
    "emoji": "🔥🚀 trump 🇺🇸 says 😀",
    "CJK": "東京 オリンピック 开幕 trump",
    "right-to-left": "مرحبا بالعالم שלום congress",
    "control characters": "trump\x00says\x07\x1b[31mred\x7f",
    "NUL only": "\x00\x00\x00",
    "script tag": "<script>alert('x')</script> senate",
    "img onerror": '<img src=x onerror="alert(1)"> the',
    "digits only": "2018 100 3",
    "punctuation only": "!!! ??? ... — “ ” ’",
    "unicode line separators": "trump\u2028says\u2029now",
}


# --- bad input: the UI functions ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(HOSTILE_SEEDS))
def test_hostile_seeds_generate_and_never_become_markup(tiny_model, name):
    seed = HOSTILE_SEEDS[name]
    steps = list(app.generate_ui(app.model_finder(tiny_model, None), seed, 6, 0.8, 2, 0, 0.95, 1, ""))
    page, note, data = steps[-1][0], steps[-1][1], steps[-1][2]
    assert data["headlines"] and all(h["words"] or h["prompt_words"] for h in data["headlines"])
    for tag in ("<script", "<img", "<b>", "\x00"):
        assert tag not in page
    assert page.count("<li>") == 2
    if name == "100k characters":
        assert "only its last" in note  # the user is told the seed was cut


def test_a_100k_character_seed_is_bounded(tiny_model):
    prompt, _opts, cut = app.check_request("a " * 50_000, 5, 0.8, 1, 0, 1, 0)
    assert cut and len(prompt) <= app.PUBLIC_MAX_PROMPT_CHARS
    r = lt.generate(tiny_model, "word " * 100_000, num=1, max_words=2, seed=0)
    assert r.truncated and len(r.prompt_words) == MAX_PROMPT_WORDS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prompt=st.text(max_size=300),
    num=st.integers(1, 4),
    max_words=st.integers(1, 12),
    temperature=st.floats(0, 3, allow_nan=False),
    top_k=st.integers(0, 100),
    top_p=st.floats(0.01, 1.0),
    seed=st.one_of(st.none(), st.integers(0, 2**63 - 1)),
)
def test_any_text_with_any_in_range_options_gives_headlines(
    tiny_model, prompt, num, max_words, temperature, top_k, top_p, seed
):
    try:
        r = lt.generate(
            tiny_model,
            prompt,
            num=num,
            max_words=max_words,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
        )
    except ValueError as e:  # the one allowed failure: a clear, single-line message
        assert str(e) and "\n" not in str(e)
        return
    assert len(r.headlines) == num
    for h in r.headlines:
        assert len(h.words) <= max_words and (h.prompt_words or h.words)
        assert all(0 < p <= 1 and math.isfinite(p) for p in h.probs)
        assert h.text == lt.headline_case(h.prompt_words + h.words)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.tuples(
        st.one_of(
            st.integers(-(10**6), 10**6),
            st.floats(allow_nan=True, allow_infinity=True),
            st.text(max_size=5),
            st.none(),
            st.booleans(),
        ),
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5), st.none()),
    )
)
def test_any_number_field_value_is_accepted_or_refused_with_a_message(values):
    import gradio as gr

    words, temp = values
    try:
        app.check_request("x", words, temp, 2, 0, 0.9, None)
    except gr.Error as e:
        assert e.message and "Traceback" not in e.message


# --- bad input through a real server ---------------------------------------------------------------


def _raw_call(url: str, body: bytes) -> tuple[int, str]:
    """POST to /generate as any HTTP client can, with JSON that gradio_client refuses to send (NaN, Infinity)."""
    req = urllib.request.Request(
        url + "gradio_api/call/generate", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            event = json.loads(r.read())["event_id"]
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    with urllib.request.urlopen(url + f"gradio_api/call/generate/{event}", timeout=30) as r:
        return r.status, r.read().decode()


def _assert_no_leak(text: str) -> None:
    for secret in ("Traceback", 'File "', str(ROOT), os.path.expanduser("~") + "/", "site-packages"):
        assert secret not in text, f"{secret!r} leaked in {text[:300]!r}"


@pytest.mark.parametrize(
    "name",
    [
        "empty",
        "100k characters",
        "emoji",
        "CJK",
        "right-to-left",
        "control characters",
        "script tag",
        "img onerror",
        "digits only",
        "punctuation only",
    ],
)
def test_hostile_seeds_through_the_api(server, name):
    _, client = server
    r = client.predict(HOSTILE_SEEDS[name], 6, 0.8, 2, 0, 0.95, 3, api_name="/generate")
    assert r["done"] and len(r["headlines"]) == 2
    text = json.dumps(r)
    assert "<script" not in text and "<img" not in text
    if name == "100k characters":
        assert r["truncated"]


@pytest.mark.parametrize(
    "body, message",
    [
        (b'["x", 10, NaN, 2, 0, 0.9, 1, null]', "Temperature"),
        (b'["x", Infinity, 0.8, 2, 0, 0.9, 1, null]', "Max words"),
        (b'["x", 10, -Infinity, 2, 0, 0.9, 1, null]', "Temperature"),
        (b'["x", 10, 0.8, -2, 0, 0.9, 1, null]', "Number of headlines"),
        (b'["x", 10, 0.8, 2, 0, NaN, 1, null]', "Top-p"),
        (b'["x", 10, 0.8, 2, 1e300, 0.9, 1, null]', "Top-k"),
        (b'["x", 10, 0.8, 2, 0, 0.9, "abc", null]', "Random seed"),
        (b'["x", [1, 2], 0.8, 2, 0, 0.9, 1, null]', "Max words"),
        (b'[{"a": 1}, 10, 0.8, 2, 0, 0.9, 1, null]', "seed words must be text"),
        (b'["x", 10, 0.8, 2, 0, 0.9, 1, 7]', "Unknown model_id '7'"),
        (b'["x", 10, 0.8, 2, 0, 0.9, 1.5, null]', "Random seed"),
    ],
)
def test_nan_inf_negative_and_wrong_types_get_a_clear_error(server, body, message):
    url, client = server
    status, text = _raw_call(url, b'{"data": ' + body + b"}")
    assert status == 200 and "event: error" in text and message in text, text
    _assert_no_leak(text)
    assert client.predict("still up", 3, 0, 1, 0, 1, 0, api_name="/generate")["done"]


def test_malformed_requests_are_refused_without_detail(server):
    url, client = server
    for body in (b"garbage", b'{"data": "not a list"}', b'{"data": ["too few"]}'):
        status, text = _raw_call(url, body)
        assert status in (200, 422)
        _assert_no_leak(text)
    assert client.predict("still up", 3, 0, 1, 0, 1, 0, api_name="/generate")["done"]


# --- load ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_120_requests_from_12_clients_no_failures_and_seeds_hold(server):
    from gradio_client import Client

    url, client = server
    alone = client.predict("the senate", 10, 1.0, 3, 0, 1.0, 4242, api_name="/generate")["headlines"]

    def worker(i: int) -> list[tuple[float, object]]:
        c = Client(url, verbose=False)
        out = []
        for j in range(10):
            seed = 4242 if j == 5 else i * 100 + j
            t = time.perf_counter()
            r = c.predict("the senate" if seed == 4242 else "trump", 10, 1.0, 3, 0, 1.0, seed, api_name="/generate")
            out.append((time.perf_counter() - t, r["headlines"] if seed == 4242 else None))
        return out

    t0 = time.perf_counter()
    with ThreadPoolExecutor(12) as pool:  # three times the app's 4 requests generating at once
        results = [x for chunk in pool.map(worker, range(12)) for x in chunk]
    wall = time.perf_counter() - t0
    assert len(results) == 120  # any failure would have raised in its worker
    under_load = [h for _, h in results if h is not None]
    assert len(under_load) == 12 and all(h == alone for h in under_load)  # no shared random state
    lat = sorted(t for t, _ in results)
    p50, p95 = statistics.median(lat), lat[int(0.95 * len(lat)) - 1]
    print(f"\nload: 120 requests, 12 clients, {wall:.1f}s wall, p50 {p50 * 1e3:.0f} ms, p95 {p95 * 1e3:.0f} ms")
    assert p95 < 30


@pytest.mark.slow
def test_past_the_queue_limit_requests_are_refused_at_once(tiny_checkpoint):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    with running_app(tiny_checkpoint, max_queue=2, concurrency=1) as url:

        def one(i: int) -> tuple[str, float]:
            t = time.perf_counter()
            try:
                Client(url, verbose=False).predict(
                    "trump", app.PUBLIC_MAX_WORDS, 2.0, app.PUBLIC_MAX_NUM, 0, 1.0, i, api_name="/generate"
                )
                return "ok", time.perf_counter() - t
            except (AppError, Exception) as e:
                return str(e), time.perf_counter() - t

        with ThreadPoolExecutor(16) as pool:
            outcomes = list(pool.map(one, range(16)))
    refused = [(m, t) for m, t in outcomes if m != "ok"]
    print(
        f"\nqueue: {16 - len(refused)} of 16 served, {len(refused)} refused, slowest refusal "
        f"{max((t for _, t in refused), default=0):.2f} s, slowest request {max(t for _, t in outcomes):.2f} s"
    )
    assert refused and len(refused) < 16, outcomes
    assert all("Queue is full" in m for m, _ in refused), refused
    assert all(t < 20 for _, t in outcomes)  # refused promptly, never hung


# --- faults in training and saving --------------------------------------------------------------------

TRAIN = cli_command(
    "train", "--data", DATA / "headlines.txt", "--batch-size", "16", "--lr", "0.01", "--warmup-steps", "10", "--quiet"
)


def _history(out: Path) -> int:
    return len(json.loads((out / "metrics.json").read_text())["history"])


def _resume_and_finish(out: Path) -> None:
    before = _history(out)
    proc = run_cli("train", "--resume", out, "--epochs", before + 1, "--quiet", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"resuming from {out} after epoch {before}" in proc.stderr
    assert _history(out) == before + 1
    lt.load_model(out)


@pytest.mark.slow
def test_sigkill_mid_epoch_keeps_the_last_checkpoint_and_resume_continues(tmp_path):
    out, log = tmp_path / "m", tmp_path / "stderr.txt"
    loud = [a for a in TRAIN if a != "--quiet"]  # the progress bar shows when the second epoch starts
    cmd = [*loud, "--out", str(out), "--epochs", "1000", "--patience", "1000", "--emb-dim", "32", "--hidden-dim", "48"]
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stderr=err)
    try:
        deadline = time.time() + 120
        while "epoch 2/1000" not in log.read_text() and time.time() < deadline:
            time.sleep(0.05)
        assert (out / "metrics.json").exists(), log.read_text()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    model = lt.load_model(out)
    assert model.metrics["history"]
    _resume_and_finish(out)


@pytest.mark.slow
def test_sigkill_mid_save_keeps_the_previous_checkpoint_and_resume_continues(tmp_path):
    out = tmp_path / "m"
    # a larger model, so each save (weights, optimizer state, fsync) takes long enough to be caught in the act
    proc = subprocess.Popen(
        [
            *TRAIN,
            "--out",
            str(out),
            "--epochs",
            "1000",
            "--patience",
            "1000",
            "--emb-dim",
            "256",
            "--hidden-dim",
            "256",
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    caught = False
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not caught:
            if (out / "metrics.json").exists() and any(p.name.startswith(".m.tmp-") for p in tmp_path.iterdir()):
                proc.send_signal(signal.SIGKILL)
                caught = True
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert caught, "never caught a save in progress"
    assert any(p.name.startswith(".m.tmp-") for p in tmp_path.iterdir())  # the half-written save is there...
    model = lt.load_model(out)  # ...and the previous checkpoint still loads
    assert model.metrics["history"]
    _resume_and_finish(out)
    assert not any(p.name.startswith(".m.tmp-") for p in tmp_path.iterdir())  # the dead save's folder is cleaned


def _save_in_child(model_dir: Path, target: Path, setup: str) -> subprocess.CompletedProcess:
    code = f"""
import os, resource, signal, sys
import lstm_textgen as lt
m = lt.load_model({str(model_dir)!r})
{setup}
try:
    lt.save_checkpoint(m, {str(target)!r})
except lt.CheckpointError as e:
    print(e); sys.exit(3)
"""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.slow
def test_a_save_into_a_read_only_folder_fails_clearly_and_keeps_the_old_checkpoint(tiny_model, tmp_path):
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(prefix="lstm_textgen-ro-"))  # under /tmp, so "nobody" can reach it
    os.chmod(tmp_path, 0o755)
    parent = tmp_path / "ro"
    target = parent / "ckpt"
    lt.save_checkpoint(tiny_model, target)
    before = _snapshot(target)
    os.chmod(parent, 0o555)
    os.chmod(tmp_path, 0o755)
    src = tmp_path / "src"
    lt.save_checkpoint(tiny_model, src)
    os.chmod(src, 0o755)
    for f in src.iterdir():
        os.chmod(f, 0o644)
    # root ignores permissions, so the save runs as the unprivileged user "nobody" when we are root
    drop = "os.setgid(65534); os.setuid(65534)" if os.geteuid() == 0 else ""
    try:
        proc = _save_in_child(src, target, drop)
    finally:
        os.chmod(parent, 0o755)
    assert proc.returncode == 3, proc.stderr
    assert "cannot save checkpoint" in proc.stdout and "Permission denied" in proc.stdout
    assert "previous checkpoint there is unchanged" in proc.stdout
    assert _snapshot(target) == before
    assert lt.load_model(target)
    import shutil

    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.slow
def test_a_full_disk_fails_the_save_clearly_and_keeps_the_old_checkpoint(tiny_model, tmp_path):
    target = tmp_path / "ckpt"
    lt.save_checkpoint(tiny_model, target)
    before = _snapshot(target)
    # the kernel refuses writes past 64 KiB in the child (EFBIG), as a full disk would (ENOSPC)
    limit = "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))"
    proc = _save_in_child(target, target, limit)
    assert proc.returncode == 3, proc.stderr
    assert "cannot save checkpoint" in proc.stdout and "File too large" in proc.stdout
    assert _snapshot(target) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ckpt.tmp-")]  # no debris


# --- faults in data ----------------------------------------------------------------------------------


def test_broken_quoting_is_a_clear_error(tmp_path):
    f = tmp_path / "broken.csv"
    f.write_text('id,headline\n1,"An unclosed quote, here\n2,Next row\n')
    with pytest.raises(DataError, match=r"broken\.csv: not a readable CSV"):
        load_headlines(f)


def test_latin1_bytes_are_decoded_and_said(tmp_path):
    f = tmp_path / "latin1.csv"
    f.write_bytes(b"headline\nCaf\xe9 Soci\xe9t\xe9 Opens\nNa\xefve Plan Fails\n")
    hl = load_headlines(f)
    assert hl.texts == ["café société opens", "naïve plan fails"]
    assert hl.files[0].encoding == "cp1252" and "read as cp1252" in hl.files[0].summary()


def test_a_utf8_bom_does_not_hide_the_header(tmp_path):
    f = tmp_path / "bom.csv"
    f.write_bytes("headline\nStorm Hits Coast\n".encode("utf-8-sig"))
    hl = load_headlines(f)
    assert hl.files[0].column == "headline" and hl.texts == ["storm hits coast"]


def test_a_10mb_field_is_skipped_and_counted(tmp_path):
    f = tmp_path / "huge.csv"
    f.write_text('headline,body\n"' + "word " * 2_000_000 + '",x\nReal Headline Here,y\n')
    assert f.stat().st_size > 10_000_000
    hl = load_headlines(f)
    assert hl.texts == ["real headline here"] and hl.files[0].too_long == 1
    assert "1 too long" in hl.summary()


@pytest.mark.slow
def test_no_usable_rows_never_trains_an_empty_model(tmp_path):
    f = tmp_path / "junk.csv"
    f.write_text("headline\nUnknown\n\n—\n   \n")
    proc = run_cli("train", "--data", f, "--out", tmp_path / "o")
    assert proc.returncode == 1 and "no usable headlines" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_too_little_data_to_validate_is_a_clear_error(tmp_path):
    f = tmp_path / "three.txt"
    f.write_text("one headline\nanother one\na third\n")
    proc = run_cli("train", "--data", f, "--out", tmp_path / "o")
    assert proc.returncode == 1 and "validation headlines" in proc.stderr and "Traceback" not in proc.stderr


# --- exposure -------------------------------------------------------------------------------------------


def test_only_generation_is_reachable(server):
    _url, client = server
    api = client.view_api(print_info=False, return_format="dict")
    assert sorted(api["named_endpoints"]) == ["/generate", "/train"] and not api["unnamed_endpoints"]
    for fn_index in range(5):  # the UI's own events are private
        with pytest.raises(ValueError, match="Invalid function index"):
            client.predict("x", fn_index=fn_index)


@pytest.mark.parametrize(
    "path",
    [
        "gradio_api/file=/etc/passwd",
        "gradio_api/file=app.py",
        "gradio_api/file=../../etc/passwd",
        "file=/etc/passwd",
        "gradio_api/file=" + str(ROOT / "checkpoints" / "nyt-headlines" / "config.json"),
    ],
)
def test_no_file_can_be_read_through_the_server(server, path):
    url, _ = server
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url + path, timeout=10)
    assert e.value.code in (403, 404)


def test_uploads_are_capped(server):
    """At the Train tab's cap (5 MB; 1 MB where no training is offered, tested in test_app.py)."""
    url, _ = server
    boundary = "xxBOUNDARYxx"
    payload = b"0" * (app.TrainLimits.max_bytes + 1024)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    req = urllib.request.Request(
        url + "gradio_api/upload", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 413
    _assert_no_leak(e.value.read().decode(errors="replace"))


def test_the_page_shows_no_local_paths(server, tiny_checkpoint):
    url, _ = server
    with urllib.request.urlopen(url + "config", timeout=10) as r:
        config = r.read().decode()
    assert str(tiny_checkpoint.parent) not in config and str(ROOT) not in config
