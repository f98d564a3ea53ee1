"""A soak test of a real server (issue 16): `python app.py` in a subprocess, its resident memory (RSS) read
from /proc against new sessions and against requests, with mixed request shapes from several clients.

    python bench/soak.py                                   # 800 new sessions, then 2,000 requests from 5 clients
    python bench/soak.py --sessions 800 --requests 2000 --clients 5 --max-sessions 200 --json
    python bench/soak.py --trainings 27                    # 27 /train requests instead, cycling over 9 files

A new session is what a new visitor (or a new gradio_client.Client) makes: requests under a session hash
the server has not seen. Each is one /generate request sent over plain HTTP (the queue's join and data
routes, as the page does), so thousands take minutes, not the hour gradio_client's set-up would take.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROMPTS = ["", "the senate", "new york", "trump says", "zyzzyva quux blorf", "a " * 40, "north korea " * 200]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def mixed_request(rng: random.Random) -> list:
    """A request as visitors send them: empty, common, unknown and over-long seeds; every length and setting."""
    return [
        rng.choice(PROMPTS),
        rng.randint(1, 40),
        round(rng.uniform(0, 2), 2),
        rng.randint(1, 10),
        rng.choice([0, 0, 5, 50]),
        rng.choice([1.0, 0.9, 0.5]),
        rng.randint(0, 10**6),
        None,  # model_id: the bundled model
    ]


def generate(url: str, fn_index: int, data: list, session_hash: str | None = None) -> str:
    """One /generate request, read to its end, under ``session_hash`` (a new one when None); returns it."""
    session_hash = session_hash or uuid.uuid4().hex[:11]
    body = {"data": data, "event_data": None, "fn_index": fn_index, "trigger_id": None, "session_hash": session_hash}
    req = urllib.request.Request(
        url + "gradio_api/queue/join", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
    with urllib.request.urlopen(url + f"gradio_api/queue/data?session_hash={session_hash}", timeout=60) as r:
        for line in r:
            if b'"process_completed"' in line:
                if b'"success": true' not in line and b'"success":true' not in line:
                    raise RuntimeError(f"request failed: {line[:300]!r}")
                break
    return session_hash


def start_server(checkpoint: str, max_sessions: int | None, extra: list[str] = ()) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "app.py", "--checkpoint", checkpoint, "--port", str(port), *extra]
    if max_sessions is not None:
        cmd += ["--max-sessions", str(max_sessions)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "config", timeout=2) as r:
                r.read()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited: {proc.stderr.read()[-2000:]}") from None
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("app.py did not start in 120 s")
    return proc, url


def generate_fn_index(url: str) -> int:
    with urllib.request.urlopen(url + "config", timeout=10) as r:
        config = json.loads(r.read())
    return next(i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == "generate")


def new_sessions(url: str, pid: int, n: int, every: int, small: bool, seed: int = 0) -> list[tuple[int, int]]:
    """``n`` new sessions, one request each; (sessions so far, RSS KB) every ``every`` sessions."""
    rng, fn, points = random.Random(seed), generate_fn_index(url), []
    for i in range(1, n + 1):
        data = ["the senate", 3, 0.8, 1, 0, 0.9, i, None] if small else mixed_request(rng)
        generate(url, fn, data)
        if i % every == 0:
            points.append((i, rss_kb(pid)))
    return points


def per_session_kb(points: list[tuple[int, int]], warm: int) -> float:
    """RSS growth a session after ``warm`` sessions: the least-squares slope of the points past it."""
    xs = [(n, kb) for n, kb in points if n >= warm]
    mx, my = statistics.mean(n for n, _ in xs), statistics.mean(kb for _, kb in xs)
    return sum((n - mx) * (kb - my) for n, kb in xs) / sum((n - mx) ** 2 for n, _ in xs)


def many_requests(url: str, pid: int, n: int, clients: int, every: int, seed: int = 0) -> list[tuple[int, int]]:
    """``n`` mixed requests from ``clients`` concurrent clients (each its own session); RSS every ``every``."""
    fn, done, points, lock, errors = generate_fn_index(url), [0], [], threading.Lock(), []

    def client(k: int) -> None:
        rng, session = random.Random(seed * 1000 + k), uuid.uuid4().hex[:11]
        while True:
            with lock:
                if done[0] >= n or errors:
                    return
                done[0] += 1
                i = done[0]
            try:
                generate(url, fn, mixed_request(rng), session)
            except Exception as e:  # recorded, and the run stops
                errors.append(f"{type(e).__name__}: {e}")
                return
            if i % every == 0:
                with lock:
                    points.append((i, rss_kb(pid)))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} request(s) failed; first: {errors[0]}")
    return sorted(points)


DATA = ROOT.parent / "shared" / "data"


def default_train_files() -> list[Path]:
    """The 8 NYT months and the 16k-headline news file (../shared/data), the files a server was measured with."""
    return sorted((DATA / "nyt").glob("Articles*.csv")) + sorted((DATA / "news").glob("*.txt"))


def many_trainings(url: str, pid: int, files: list[Path], n: int) -> list[dict]:
    """``n`` /train requests of one minute at most, one at a time from one client, cycling over ``files``;
    RSS after each. The server keeps the last --max-user-models models, so beyond that many each new model
    replaces one: memory should level off there."""
    from gradio_client import Client, handle_file

    client, points = Client(url, verbose=False), []
    for i in range(1, n + 1):
        path = files[(i - 1) % len(files)]
        t = time.time()
        *_, last = client.submit(handle_file(str(path)), 1, api_name="/train")
        if not last.get("done"):
            raise RuntimeError(f"training on {path.name} did not finish: {str(last)[:300]}")
        points.append({"training": i, "file": path.name, "seconds": time.time() - t, "rss_mb": rss_kb(pid) / 1024})
        print(
            f"  training {i:3d} ({path.name}, {points[-1]['seconds']:.0f} s): {points[-1]['rss_mb']:.0f} MB",
            file=sys.stderr,
            flush=True,
        )
    return points


def soak_trainings(args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.train_files] if args.train_files else default_train_files()
    if not files:
        raise SystemExit(f"no training files: pass --train-files (none found under {DATA})")
    proc, url = start_server(args.checkpoint, args.max_sessions, args.server_args)
    try:
        start_kb = rss_kb(proc.pid)
        points = many_trainings(url, proc.pid, files, args.trainings)
    finally:
        proc.terminate()
        log = proc.communicate(timeout=30)[1]
    rss = [p["rss_mb"] for p in points]
    result = {
        "server_args": args.server_args,
        "start_rss_mb": start_kb / 1024,
        "trainings": args.trainings,
        "files": [f.name for f in files],
        "rss_by_training": points,
        "tracebacks_in_log": log.count("Traceback"),
    }
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        marks = sorted({1, len(files), 2 * len(files), len(rss)} & set(range(1, len(rss) + 1)))
        by = ", ".join(f"after {k}: {rss[k - 1]:.0f}" for k in marks)
        print(
            f"start {result['start_rss_mb']:.0f} MB; RSS (MB) {by}; "
            f"tracebacks in the log: {result['tracebacks_in_log']}"
        )
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "nyt-headlines"), help="model to serve")
    p.add_argument("--sessions", type=int, default=800, help="new sessions, one request each (default 800)")
    p.add_argument("--warm", type=int, default=300, help="sessions before the per-session slope is taken (300)")
    p.add_argument("--requests", type=int, default=2000, help="mixed requests after the sessions (default 2000)")
    p.add_argument("--clients", type=int, default=5, help="concurrent clients for the requests (default 5)")
    p.add_argument("--max-sessions", type=int, default=None, help="app.py --max-sessions (default: the app's)")
    p.add_argument("--every", type=int, default=50, help="read RSS every this many sessions or requests (50)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--trainings",
        type=int,
        default=0,
        help="instead: this many /train requests (1 minute each at most), RSS after each",
    )
    p.add_argument(
        "--train-files", nargs="+", help="files for --trainings, in turn (default: ../shared/data's NYT and news)"
    )
    p.add_argument(
        "--server-args",
        nargs=argparse.REMAINDER,
        default=[],
        help="the rest of the line goes to app.py (e.g. --kernel-cache 1024)",
    )
    args = p.parse_args()
    if args.trainings:
        return soak_trainings(args)
    proc, url = start_server(args.checkpoint, args.max_sessions)
    try:
        start_kb = rss_kb(proc.pid)
        t = time.time()
        sessions = new_sessions(url, proc.pid, args.sessions, args.every, small=False)
        sessions_s = time.time() - t
        warm_kb = rss_kb(proc.pid)
        t = time.time()
        requests = many_requests(url, proc.pid, args.requests, args.clients, args.every)
        requests_s = time.time() - t
        end_kb = rss_kb(proc.pid)
    finally:
        proc.terminate()
        log = proc.communicate(timeout=30)[1]
    result = {
        "max_sessions": args.max_sessions,
        "start_rss_mb": start_kb / 1024,
        "sessions": args.sessions,
        "sessions_s": sessions_s,
        "kb_per_session_after_warm_up": per_session_kb(sessions, args.warm),
        "warm": args.warm,
        "rss_after_sessions_mb": warm_kb / 1024,
        "requests": args.requests,
        "clients": args.clients,
        "requests_s": requests_s,
        "rss_after_requests_mb": end_kb / 1024,
        "requests_growth_mb": (end_kb - warm_kb) / 1024,
        "tracebacks_in_log": log.count("Traceback"),
        "rss_by_session": sessions,
        "rss_by_request": requests,
    }
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(
            f"start {result['start_rss_mb']:.0f} MB; {args.sessions} new sessions in {sessions_s:.0f} s: "
            f"{result['kb_per_session_after_warm_up']:.1f} KB a session after {args.warm}, "
            f"{result['rss_after_sessions_mb']:.0f} MB after them"
        )
        print(
            f"{args.requests} mixed requests from {args.clients} clients in {requests_s:.0f} s: "
            f"{result['rss_after_requests_mb']:.0f} MB ({result['requests_growth_mb']:+.1f} MB); "
            f"tracebacks in the server's log: {result['tracebacks_in_log']}"
        )
        for n, kb in sessions:
            print(f"  session {n:5d}: {kb / 1024:7.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
