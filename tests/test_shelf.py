"""The trained-model shelf of a server (lstm_textgen.shelf): bounded in number and time, unguessable ids, a
private folder, and a download that loads. No server needed: the clock is the test's."""

from __future__ import annotations

import shutil
import stat
import zipfile

import pytest

import app
import lstm_textgen as lt


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _shelve(shelf: lt.ModelShelf, checkpoint, name: str = "mine.txt") -> str:
    model_id, folder = shelf.reserve()
    shutil.copytree(checkpoint, folder)
    shelf.put(model_id, folder, name)
    return model_id


def test_the_oldest_is_freed_beyond_the_limit_and_its_folder_removed(tiny_checkpoint):
    shelf = lt.ModelShelf(max_models=2, keep_s=3600)
    ids = [_shelve(shelf, tiny_checkpoint) for _ in range(3)]
    assert shelf.ids() == ids[1:]
    with pytest.raises(lt.UnknownModel, match=r"keeps the last 2 trained models for 60 minutes"):
        shelf.get(ids[0])
    assert not (shelf.root / ids[0]).exists() and (shelf.root / ids[2]).is_dir()
    shelf.close()
    assert not shelf.root.exists()


def test_a_model_is_freed_after_its_time(tiny_checkpoint):
    clock = Clock()
    shelf = lt.ModelShelf(max_models=8, keep_s=60, clock=clock)
    old = _shelve(shelf, tiny_checkpoint)
    clock.now = 30
    new = _shelve(shelf, tiny_checkpoint)
    clock.now = 61
    assert shelf.ids() == [new]
    with pytest.raises(lt.UnknownModel):
        shelf.get(old)
    assert not (shelf.root / old).exists()
    shelf.close()


def test_ids_are_unguessable_and_the_folder_private(tiny_checkpoint):
    shelf = lt.ModelShelf()
    ids = {shelf.reserve()[0] for _ in range(1000)}
    assert len(ids) == 1000 and min(len(i) for i in ids) >= 24  # 18 random bytes each
    assert stat.S_IMODE(shelf.root.stat().st_mode) == 0o700
    for bad in (None, 3, "", "../etc"):
        with pytest.raises(lt.UnknownModel):
            shelf.get(bad)
    shelf.close()


def test_the_download_is_one_folder_that_loads(tiny_checkpoint, tmp_path):
    shelf = lt.ModelShelf()
    model_id = _shelve(shelf, tiny_checkpoint, name="My Blog's Titles.csv")
    zipped = shelf.zip(model_id)
    with zipfile.ZipFile(zipped) as z:
        names = z.namelist()
        z.extractall(tmp_path)
    assert {n.split("/")[0] for n in names} == {"My-Blog-s-Titles-model"}
    assert not any("training_state" in n for n in names)
    loaded = lt.load_model(tmp_path / "My-Blog-s-Titles-model")
    assert lt.generate(loaded, seed=1).to_dict() == lt.generate(shelf.get(model_id), seed=1).to_dict()
    shelf.close()


def test_an_upload_is_read_within_the_caps_and_deleted(tmp_path):
    limits = app.TrainLimits(max_bytes=1_500, max_rows=100)
    big = tmp_path / "u1" / "big.txt"
    big.parent.mkdir()
    big.write_text("Some Headline Here\n" * 100)
    with pytest.raises(app.gr.Error, match=r"big\.txt: 1\.9 kB is more than this server takes \(1\.5 kB\)"):
        app.read_upload(str(big), limits)
    assert not big.exists() and not big.parent.exists()
    ok = tmp_path / "ok.csv"
    ok.write_text("title\n" + "".join(f"Story {i}\n" for i in range(60)))
    headlines = app.read_upload({"path": str(ok)}, limits)
    assert len(headlines) == 60 and headlines.files[0].path == "ok.csv" and not ok.exists()
    preview = app.upload_preview(headlines)
    assert "**60 headlines** from `ok.csv` (column `title`)" in preview and "vocabulary" in preview
