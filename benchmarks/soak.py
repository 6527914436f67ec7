"""Soak: 100 connections held for 60 s against `warp start` on each server, one worker killed mid-run.

Not part of the default benchmark run (it takes about five minutes). Run it as
``python -m benchmarks.soak`` (or ``python -m benchmarks --only soak``); it
writes docs/soak.md. For each server: wrk holds the connections, one worker
process is sent SIGKILL a third of the way in, and the report gives requests,
non-2xx responses, socket errors, the RSS of warp's process tree before and
after, and how `warp start` stopped afterwards (exit code, leftovers, port).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import (
    REPO, WARP, BenchError, Section, clean_environ, first_200, free_port, make_home, run, scratch_tree, start_server, stop,
)
from benchmarks.start import SERVERS, app_python
from benchmarks.throughput import Wrk, parse_wrk
from warp.proc import find_descendants, is_running, scan_process_table

CONNECTIONS, WRK_THREADS = 100, 2
OUTPUT = REPO / "docs" / "soak.md"


@dataclass(frozen=True)
class Soak:
    """One server's run."""

    server: str
    wrk: Wrk
    killed: str
    rss_before: float  # MiB, warp's process tree after a warm-up
    rss_after: float
    workers_before: int
    workers_after: int
    stop_code: int
    stop_seconds: float
    leftovers: int
    listening: bool


def read_rss(pids) -> float:
    """Sum of VmRSS over ``pids``, in MiB (shared pages counted once per process, as ps does)."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def read_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def find_workers(root: int) -> list[int]:
    """The processes that run the app: mod_wsgi's daemon processes, else the leaves below the master
    (gunicorn's workers, uWSGI's workers, the Waitress processes warp's launcher forks). Never the root."""
    table = scan_process_table()
    tree = find_descendants(root, table)
    daemons = [pid for pid in tree if "(wsgi:" in read_cmdline(pid)]
    if daemons:
        return sorted(daemons)
    parents = {table[pid][1] for pid in tree if pid in table}
    return sorted(pid for pid in tree if pid not in parents and pid != root)


def is_listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wrk(port: int, seconds: int) -> Wrk:
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout", "10s", f"http://127.0.0.1:{port}/"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"`{' '.join(argv)}` exited {out.returncode}\n{out.stdout}{out.stderr}")
    return parse_wrk(out.stdout)


def soak_one(server: str, src: Path, environ: dict, logs: Path, seconds: int, log, kill: bool = True) -> Soak:
    port = free_port()
    argv = [*WARP, "start", "--server", server, "--host", "127.0.0.1", "--port", str(port)]
    with open(logs / f"{server}.log", "w") as out:
        proc = start_server(argv, cwd=src, env=environ, stdout=out, stderr=subprocess.STDOUT)
        try:
            first_200(port, proc)
            wrk(port, 5)  # warm-up: every worker has imported the app and served
            tree = find_descendants(proc.pid) | {proc.pid}
            rss_before, workers = read_rss(tree), find_workers(proc.pid)
            killed = {"what": "none (--no-kill)" if not kill else "none (no worker process found)"}

            def kill_one() -> None:
                time.sleep(seconds / 3)
                victims = find_workers(proc.pid)
                if kill and victims:
                    os.kill(victims[0], signal.SIGKILL)
                    killed["what"] = f"1 of {len(victims)} at {seconds / 3:.0f} s"

            killer = threading.Thread(target=kill_one)
            killer.start()
            log(f"soak: {server}: wrk -c{CONNECTIONS} -d{seconds}s on port {port}")
            result = wrk(port, seconds)
            killer.join()
            time.sleep(1)
            tree = find_descendants(proc.pid) | {proc.pid}
            rss_after, workers_after = read_rss(tree), find_workers(proc.pid)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            stop_seconds = time.monotonic() - started
            time.sleep(0.5)
            left = [pid for pid in tree if pid != proc.pid and is_running(pid)]
            return Soak(server, result, killed["what"], rss_before, rss_after, len(workers), len(workers_after),
                        code, stop_seconds, len(left), is_listening(port))
        finally:
            if proc.poll() is None:
                stop(proc)


def build(src: Path, environ: dict, log, servers=SERVERS) -> dict[str, str]:
    """Every server into the one env; returns the servers that could not be built, with why."""
    skipped = {}
    for server in servers:
        log(f"soak: warp build --server {server}")
        try:
            run([*WARP, "build", "--server", server], cwd=src, env=environ)
        except BenchError as exc:
            skipped[server] = " / ".join(str(exc).strip().splitlines()[-2:])
    return skipped


def bench(runs: int, log, seconds: int = 60, servers=SERVERS, kill: bool = True) -> Section:
    """``runs`` is ignored: one soak per server is the measurement."""
    with scratch_tree("warp-bench-soak") as root:
        src, logs = root / "flask_wsgi", root / "logs"
        subprocess.run(["cp", "-r", str(REPO / "tests/apps/flask_wsgi"), str(src)], check=True)
        logs.mkdir()
        environ = clean_environ(WARP_HOME=str(make_home(root)), WARP_PYTHON=app_python())
        skipped = build(src, environ, log, servers)
        results = []
        for server in servers:
            if server not in skipped:
                results.append(soak_one(server, src, environ, logs, seconds, log, kill))
                log(f"soak: {server}: {results[-1]}")
    return make_section(results, skipped, seconds)


def make_section(results: list[Soak], skipped: dict[str, str], seconds: int) -> Section:
    section = Section(
        title="Soak",
        intro=(
            f"`warp start --server S` (warp's defaults) serving tests/apps/flask_wsgi; wrk holds {CONNECTIONS} connections "
            f"for {seconds} s (`wrk -t{WRK_THREADS} -c{CONNECTIONS} -d{seconds}s --timeout 10s`, after a 5 s warm-up) while one "
            f"worker process is killed with SIGKILL {seconds // 3} s in; then SIGTERM to `warp start`."
        ),
        headers=["server", "requests", "req/s", "non-2xx", "socket errors (c/r/w/t)", "worker killed", "workers before → after",
                 "RSS before → after (MiB)", "stop: exit, seconds, leftovers, port"],
    )
    for r in results:
        errors = "/".join(str(r.wrk.errors[k]) for k in ("connect", "read", "write", "timeout"))
        section.rows.append([
            r.server, str(r.wrk.requests), f"{r.wrk.rps:.0f}", str(r.wrk.non2xx), errors, r.killed,
            f"{r.workers_before} → {r.workers_after}", f"{r.rss_before:.0f} → {r.rss_after:.0f}",
            f"{r.stop_code}, {r.stop_seconds:.1f} s, {r.leftovers}, {'still listening' if r.listening else 'closed'}",
        ])
    section.notes = [
        "non-2xx counts HTTP responses with another status; socket errors are wrk's connect/read/write/timeout counts. "
        "uWSGI's --http-socket closes every connection after its response, which wrk counts as read errors although the "
        "responses were 200; a killed worker's in-flight requests also show up as read errors, and so, on gunicorn and "
        "Waitress, whose processes each listen on a socket of their own, do the connections waiting in its queue.",
        "RSS is the sum of VmRSS over warp's process tree (shared pages counted once per process), measured after the "
        "warm-up and again one second after wrk ends (the killed worker's replacement included).",
        "The worker killed: a gunicorn worker, a uWSGI worker, a mod_wsgi daemon process (`(wsgi:…)`), one of the Waitress "
        "processes warp's launcher forks; the server's master (gunicorn, uWSGI), Apache (mod_wsgi) or warp's launcher "
        "(Waitress) starts a replacement.",
    ]
    section.notes += [f"{server} skipped: {why}" for server, why in skipped.items()]
    return section


def render(section: Section, command: str) -> str:
    from benchmarks.common import machine

    info = machine()
    lines = ["# Soak test", "", f"Generated by `{command}` on {time.strftime('%Y-%m-%d')}.", "", "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()] + [""]
    return "\n".join(lines) + "\n" + section.markdown()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="how long wrk holds the connections (default 60)")
    parser.add_argument("--output", default=str(OUTPUT), help="markdown report (default: docs/soak.md)")
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS), help="servers to soak (default: all four)")
    parser.add_argument("--no-kill", action="store_true", help="do not kill a worker (a baseline for the error counts)")
    args = parser.parse_args()
    log = lambda message: print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        section = bench(1, log, args.seconds, tuple(args.servers), kill=not args.no_kill)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(section.text())
    command = " ".join(["python -m benchmarks.soak", *sys.argv[1:]])
    Path(args.output).write_text(render(section, command))
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
