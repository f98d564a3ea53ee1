"""Models that a server's visitors trained (the app's Train tab), kept for a bounded time and number.

A server open to anyone cannot keep every model it is asked to train: the shelf holds the newest
``max_models`` for ``keep_s`` seconds each, in memory and in one private temporary folder, and frees the
rest. Each model's id is unguessable (``secrets.token_urlsafe``): it is the only way to reach the model.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .checkpoint import load_model, zip_checkpoint
from .errors import LstmTextgenError
from .model import HeadlineModel


class UnknownModel(LstmTextgenError):
    """A model id the shelf does not hold (never issued, expired, or freed for a newer model)."""


@dataclass
class Shelved:
    model: HeadlineModel
    folder: Path  # its checkpoint folder, inside the shelf's private folder
    name: str  # what the user called it (their file's name)
    created: float = field(default_factory=time.monotonic)


class ModelShelf:
    """Thread-safe: training and generation requests run in several worker threads at once."""

    def __init__(self, max_models: int = 8, keep_s: float = 3600.0, clock: Callable[[], float] = time.monotonic):
        if max_models < 1 or keep_s <= 0:
            raise ValueError("max_models must be at least 1 and keep_s positive")
        self.max_models, self.keep_s, self._clock = max_models, keep_s, clock
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Shelved] = OrderedDict()  # oldest first
        self.root = Path(tempfile.mkdtemp(prefix="lstm_textgen-models-"))  # mode 0700: this user only
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.root), True)  # at exit or when dropped

    def reserve(self) -> tuple[str, Path]:
        """A fresh id and the (not yet existing) folder to train its model into."""
        model_id = secrets.token_urlsafe(18)
        return model_id, self.root / model_id

    def put(self, model_id: str, folder: Path, name: str, device: str | None = None) -> HeadlineModel:
        """Load the checkpoint trained in ``folder`` and keep it under ``model_id``; frees the oldest beyond
        ``max_models``. Returns the model."""
        model = load_model(folder, device=device)
        with self._lock:
            self._items[model_id] = Shelved(model, Path(folder), name, self._clock())
            freed = self._expire_locked()
            while len(self._items) > self.max_models:
                freed.append(self._items.popitem(last=False)[1])
        _remove(freed)
        return model

    def get(self, model_id: str) -> HeadlineModel:
        return self.entry(model_id).model

    def entry(self, model_id: str) -> Shelved:
        with self._lock:
            freed = self._expire_locked()
            item = self._items.get(model_id) if isinstance(model_id, str) else None
        _remove(freed)
        if item is None:
            raise UnknownModel(
                f"unknown model_id {str(model_id)[:40]!r}: it was never issued here, or it has been freed "
                f"(this server keeps the last {self.max_models} trained models for "
                f"{self.keep_s / 60:g} minutes); train it again"
            )
        return item

    def ids(self) -> list[str]:
        """The ids held now, oldest first."""
        with self._lock:
            freed = self._expire_locked()
            ids = list(self._items)
        _remove(freed)
        return ids

    def zip(self, model_id: str, name: str | None = None) -> Path:
        """The model's checkpoint as a .zip (one folder inside, loadable with ``--checkpoint`` once unpacked)."""
        item = self.entry(model_id)
        base = _safe_name(name or item.name)
        return zip_checkpoint(item.folder, item.folder.parent / f"{model_id}.zip", base)

    def discard(self, folder: Path) -> None:
        """Remove a training run's folder that never made it onto the shelf (stopped or failed)."""
        if Path(folder).parent == self.root:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            self._items.clear()
        self._cleanup()

    def _expire_locked(self) -> list[Shelved]:
        now = self._clock()
        old = [k for k, v in self._items.items() if now - v.created >= self.keep_s]
        return [self._items.pop(k) for k in old]


def _remove(items: list[Shelved]) -> None:
    for item in items:
        shutil.rmtree(item.folder, ignore_errors=True)
        zipped = item.folder.parent / f"{item.folder.name}.zip"
        if zipped.exists():
            os.remove(zipped)


def _safe_name(name: str) -> str:
    """A folder name from a user's file name: letters, digits, dot, dash and underscore only."""
    stem = Path(name).stem if name else ""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem).strip("-.")[:60]
    return f"{safe or 'headlines'}-model"
