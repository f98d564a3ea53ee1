"""Training in the app, over its API (issue 14): /train streams its progress and returns a model id that
/generate takes; one training runs at a time; bad files are one clear message; the oldest model is freed
beyond the server's limit. A real server (app.serve) and real trainings of a few seconds."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
from conftest import DATA, running_app
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status

import app
import lstm_textgen as lt

pytestmark = pytest.mark.slow  # trainings and a server

LIMITS = app.TrainLimits(concurrency=1, max_minutes=1, max_models=2, max_bytes=50_000, max_rows=2_000)
QUICK = 0.05  # minutes: 3 seconds of training, a few epochs of the small files


@pytest.fixture(scope="module")
def url(tiny_checkpoint):
    with running_app(tiny_checkpoint, training=LIMITS) as url:
        yield url


def _copy(src: Path, tmp_path: Path, name: str | None = None) -> str:
    """Uploads are deleted on the server, not here; but a copy with its own name can be looked for there."""
    dst = tmp_path / (name or src.name)
    shutil.copy(src, dst)
    return str(dst)


def _vocabulary(path: Path) -> set[str]:
    return {w for t in lt.load_headlines(path).texts for w in t.split()}


def _generated(client: Client, model_id: str | None) -> set[str]:
    result = client.predict(prompt="", num=10, seed=0, model_id=model_id, api_name="/generate")
    return {w.lower() for h in result["headlines"] for w in h["words"]}


def test_two_users_train_one_at_a_time_each_generates_from_their_own_and_the_oldest_is_freed(url, tmp_path):
    alice, bob = Client(url, verbose=False), Client(url, verbose=False)
    first = alice.submit(handle_file(_copy(DATA / "headlines.txt", tmp_path)), QUICK, api_name="/train")
    deadline = time.time() + 60
    while first.status().code not in (Status.ITERATING, Status.FINISHED) and time.time() < deadline:
        time.sleep(0.05)
    second = bob.submit(handle_file(_copy(DATA / "recipes.txt", tmp_path)), QUICK, api_name="/train")
    seen = []  # (Alice's training done, Bob's status, Bob's progress messages so far)
    while not second.done():
        seen.append((first.done(), second.status(), len(second.outputs())))
        time.sleep(0.05)
    # Bob waited in the queue, his place shown, and his training began only once Alice's model was done
    assert any(s.code == Status.IN_QUEUE and s.rank is not None for _, s, _ in seen)
    assert all(alice_done for alice_done, _, progress in seen if progress)
    a, b = first.result(), second.result()
    progress = first.outputs()[:-1]
    assert progress and all(not m["done"] for m in progress) and a["done"]
    assert any(m["samples"] for m in progress)  # headlines written as it learns
    assert {"model_id", "epochs", "val_perplexity", "vocab_size", "headlines_used", "samples"} <= set(a)
    assert a["headlines_used"] == 400 and b["headlines_used"] == 160 and a["epochs"] >= 1
    assert a["model_id"] != b["model_id"] and min(len(a["model_id"]), len(b["model_id"])) >= 24  # >= 144 bits
    # each generates from their own model; the bundled one is the default
    recipes, news = _vocabulary(DATA / "recipes.txt"), _vocabulary(DATA / "headlines.txt")
    from_a, from_b = _generated(alice, a["model_id"]), _generated(bob, b["model_id"])
    assert from_a <= news | {"<unk>"} and from_b <= recipes | {"<unk>"}
    assert from_b & (recipes - news) and from_a & (news - recipes)
    assert not _generated(bob, None) & (recipes - news)
    # the server keeps 2 models: a third frees the oldest (Alice's first), and says so when it is asked for
    third = alice.predict(handle_file(_copy(DATA / "recipes.txt", tmp_path, "more.txt")), QUICK, api_name="/train")
    with pytest.raises(AppError, match=r"Unknown model_id .*freed \(this server keeps the last 2 trained models"):
        _generated(alice, a["model_id"])
    assert _generated(bob, b["model_id"]) and _generated(alice, third["model_id"])


def test_an_unknown_model_id_is_a_clear_error(url):
    client = Client(url, verbose=False)
    with pytest.raises(AppError, match=r"Unknown model_id 'made-up'.*train it again") as e:
        _generated(client, "made-up")
    assert "Traceback" not in str(e.value)


BAD_FILES = [
    ("weights.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, r"looks like a binary file"),
    ("empty.txt", b"", r"no usable headlines in empty\.txt"),
    ("nocol.csv", b"id,body\n1,hello\n2,world\n", r"nocol\.csv: no headline column .*columns found: 'id', 'body'"),
    ("few.txt", b"One Headline\nAnother One\nA Third\n", r"only 3 usable headlines .*at least 50"),
    (
        "rows.txt",
        "".join(f"Headline {i}\n" for i in range(2_500)).encode(),
        r"rows\.txt: 2,500 rows is more .*\(2,000\)",
    ),
    ("notes.pdf", b"%PDF-1.4 headlines", r"notes\.pdf: not a \.csv or \.txt file"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_is_one_clear_message_deleted_and_the_app_keeps_serving(url, tmp_path, name, content, message):
    unique = f"{tmp_path.name}-{name}"
    (tmp_path / unique).write_bytes(content)
    client = Client(url, verbose=False)
    stem = name.split(".")[0]
    with pytest.raises(AppError, match=message.replace(stem, f"[^ ]*{stem}")) as e:
        client.predict(handle_file(str(tmp_path / unique)), QUICK, api_name="/train")
    assert "Traceback" not in str(e.value) and str(tmp_path) not in str(e.value)
    assert not list(Path(tempfile.gettempdir(), "gradio").rglob(unique))  # deleted once read
    assert client.predict(prompt="", seed=0, api_name="/generate")["done"]


def test_a_file_over_the_servers_cap_is_refused_before_it_is_sent(url, tmp_path):
    (tmp_path / "big.txt").write_bytes(b"Big News Today\n" * 5_000)
    with pytest.raises(ValueError, match=r"big\.txt exceeds the maximum file size of 50000 bytes"):
        Client(url, verbose=False).predict(handle_file(str(tmp_path / "big.txt")), QUICK, api_name="/train")


def test_a_budget_over_the_servers_cap_is_refused(url, tmp_path):
    client = Client(url, verbose=False)
    with pytest.raises(AppError, match=r"Minutes must be a number from 0\.05 to 1; got 5"):
        client.predict(handle_file(_copy(DATA / "headlines.txt", tmp_path)), 5, api_name="/train")
