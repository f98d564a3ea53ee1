"""Memory under many visitors (issue 16): a real `python app.py` keeps a bounded number of sessions, so new
sessions past the bound leave its memory flat. Gradio alone keeps about 90 KB a session for up to 10,000."""

from __future__ import annotations

import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from soak import new_sessions, per_session_kb, rss_kb, start_server

pytestmark = pytest.mark.slow  # a server and hundreds of requests


def test_new_sessions_past_the_bound_leave_memory_flat(tiny_checkpoint):
    proc, url = start_server(str(tiny_checkpoint), max_sessions=40, extra=["--no-training"])
    try:
        points = new_sessions(url, proc.pid, 360, every=20, small=True)
        growth = per_session_kb(points, warm=120)
        assert growth < 20, f"{growth:.1f} KB kept a session past the bound; RSS by session: {points}"
        assert rss_kb(proc.pid) - points[5][1] < 8 * 1024  # under 8 MB more than at 120 sessions
    finally:
        proc.terminate()
        log = proc.communicate(timeout=30)[1]
    assert "Traceback" not in log
