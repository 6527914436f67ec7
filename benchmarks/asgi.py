"""ASGI throughput: wrk against a FastAPI JSON hello and a view that awaits 10 ms, side by side in one run:
warp's default against each server as its users start it by hand.

Bounded: a 2 s warm-up, then one wrk run per view and connection count (3 s with --quick, 8 s in a full
run), in rounds (1 with --quick, 3 in a full run); every configuration runs once in each round, so a ratio
compares two runs of the same round.
"""

from __future__ import annotations

import os
import re
import sys
import shutil
import subprocess
from pathlib import Path

from benchmarks.common import (
    REPO, WARP, BenchError, Section, Summary, clean_environ, first_200, free_port, is_quick, make_home, ratios, run,
    scratch_tree, start_server, stop,
)
from benchmarks.throughput import parse_wrk

APP = REPO / "tests" / "apps" / "fastapi_app" / "main.py"
#: What the project depends on: no server, so that warp picks its default (fastapi[standard] brings uvicorn)...
REQUIREMENTS = "fastapi[standard]\n"
#: ...and what is installed next to it for the servers started by hand.
BY_HAND = ("uvicorn-worker", "gunicorn", "granian", "hypercorn")
VIEWS = {"hello": "/", "await 10 ms": "/io"}
CONNECTIONS = (50, 500)


def commands(env: Path, port: int, processes: int) -> dict[str, list[str]]:
    """label -> argv; warp's default first, `uvicorn main:app` (the ratios' base) second."""
    bin_ = env / "bin"
    bind = ["--bind", f"127.0.0.1:{port}"]
    n = str(processes)
    return {
        "warp start (default)": [*WARP, "start", "--host", "127.0.0.1", "--port", str(port)],
        "uvicorn main:app": [bin_ / "uvicorn", "--port", str(port), "main:app"],
        "fastapi run": [bin_ / "fastapi", "run", "--host", "127.0.0.1", "--port", str(port), "main.py"],
        f"uvicorn --workers {n}": [bin_ / "uvicorn", "--port", str(port), "--workers", n, "main:app"],
        f"gunicorn -k uvicorn_worker.UvicornWorker -w {n}": [bin_ / "gunicorn", *bind, "-k", "uvicorn_worker.UvicornWorker", "-w", n, "main:app"],
        f"gunicorn -k asgi -w {n}": [bin_ / "gunicorn", *bind, "-k", "asgi", "-w", n, "main:app"],
        f"granian --interface asgi --workers {n}": [bin_ / "granian", "--interface", "asgi", "--port", str(port), "--workers", n, "main:app"],
        f"hypercorn -w {n}": [bin_ / "hypercorn", *bind, "-w", n, "main:app"],
    }


def wrk(port: int, path: str, connections: int, seconds: int):
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"`{' '.join(argv)}` exited {out.returncode}\n{out.stdout}{out.stderr}")
    return parse_wrk(out.stdout)


def bench(runs: int, log) -> Section:
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
    rounds, seconds = (1, 3) if is_quick(runs) else (3, 8)
    with scratch_tree("warp-bench-asgi") as root:
        src = root / "app"
        src.mkdir()
        shutil.copy(APP, src / "main.py")
        (src / "requirements.txt").write_text(REQUIREMENTS)
        env = clean_environ(WARP_HOME=str(make_home(root)))
        log("building the FastAPI project with warp")
        run([*WARP, "build"], cwd=src, env=env)
        env_path = Path(run([*WARP, "exec", "sh", "-c", "echo $VIRTUAL_ENV"], cwd=src, env=env).stdout.strip())
        run([sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", env_path / "bin" / "python", *BY_HAND], cwd=src, env=env)
        processes = len(os.sched_getaffinity(0))
        dry = run([*WARP, "start", "--dry-run"], cwd=src, env=env).stdout
        default = re.search(r"^server\s+(\S+)", dry, re.M).group(1) + " × " + re.search(r"processes x threads\s+(\d+)", dry).group(1)
        hand_env = clean_environ(VIRTUAL_ENV=str(env_path), PATH=f"{env_path / 'bin'}:{os.environ.get('PATH', '')}")
        results: dict[tuple[str, str, int], list] = {}
        for number in range(rounds):
            for label in commands(env_path, 0, processes):
                port = free_port()
                argv = commands(env_path, port, processes)[label]
                log(f"round {number + 1}/{rounds}: {label}")
                proc = start_server(argv, cwd=src, env=env if label.startswith("warp") else hand_env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    first_200(port, proc)
                    wrk(port, "/", 50, 2)  # warm-up, not counted
                    for view, path in VIEWS.items():
                        for connections in CONNECTIONS:
                            results.setdefault((label, view, connections), []).append(wrk(port, path, connections, seconds))
                finally:
                    stop(proc)
    return make_section(results, default, processes, rounds, seconds)


def make_section(results, default: str, processes: int, rounds: int, seconds: int) -> Section:
    section = Section(
        "ASGI throughput (FastAPI)",
        f"`wrk -t2 -d{seconds}s --latency` at 50 and 500 connections after a 2 s warm-up, {rounds} round(s), every "
        f"configuration once per round; by hand with {processes} process(es) where the command takes a count. warp's "
        f"default here: {default}. Ratio: requests/s over `uvicorn main:app`'s in the same round.",
        ["configuration", "view", "conns", "requests/s", "ratio", "p99", "errors"],
    )
    labels = list(dict.fromkeys(label for label, _, _ in results))
    for label in labels:
        for view in VIEWS:
            for connections in CONNECTIONS:
                runs = results[(label, view, connections)]
                base = results[("uvicorn main:app", view, connections)]
                rps = Summary.of([r.rps for r in runs])
                section.rows.append([
                    label, view, str(connections), f"{rps.median:,.0f} ({rps.low:,.0f}–{rps.high:,.0f})",
                    ratios([r.rps for r in runs], [r.rps for r in base]).ratio(),
                    f"{Summary.of([r.p99 for r in runs]).median * 1000:.0f} ms",
                    str(sum(r.socket_errors + r.non2xx for r in runs)),
                ])
    section.notes.append("wrk runs on the same CPUs as the servers: every figure includes the load generator's share of the machine.")
    return section
