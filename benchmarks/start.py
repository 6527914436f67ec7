"""Start: command to first HTTP 200 on /, `warp start --server S` against the same server started by hand."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from benchmarks.common import (
    PYTHON, REPO, WARP, BenchError, Section, Summary, clean_environ, first_200, free_port, make_home, scratch_tree, ratios, run, start_server, stop,
    with_server_wheels,
)

SERVERS = ("gunicorn", "waitress", "uwsgi", "mod_wsgi")
DISTRIBUTIONS = {"gunicorn": "gunicorn", "waitress": "waitress", "uwsgi": "uWSGI", "mod_wsgi": "mod-wsgi"}
IS_ROOT = os.geteuid() == 0


def app_python() -> str:
    """Apache's unprivileged user cannot read a Python under /root, so as root use the system one."""
    return "/usr/bin/python3" if IS_ROOT and Path("/usr/bin/python3").exists() else PYTHON


def by_hand(server: str, env: Path, port: int, root: Path) -> list:
    """The command a user would type to run the app in ``env`` under ``server`` (server defaults)."""
    bin_, listen = env / "bin", f"127.0.0.1:{port}"
    if server == "gunicorn":
        return [bin_ / "gunicorn", "-b", listen, "wsgi:application"]
    if server == "waitress":
        return [bin_ / "waitress-serve", "--listen", listen, "wsgi:application"]
    if server == "uwsgi":
        return [bin_ / "uwsgi", "--master", "--http-socket", listen, "--module", "wsgi:application", "--virtualenv", env]
    argv = [bin_ / "mod_wsgi-express", "start-server", "--host", "127.0.0.1", "--port", port,
            "--application-type", "module", "--entry-point", "wsgi", "--server-root", root / f"mod_wsgi-{port}"]
    return argv + (["--user", "www-data", "--group", "www-data"] if IS_ROOT else [])


def time_start(argv: list, port: int, *, cwd: Path, env: dict, log: Path, sig: int = signal.SIGTERM) -> float:
    with open(log, "w") as out:
        started = time.perf_counter()
        proc = start_server(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            first_200(port, proc)
            return time.perf_counter() - started
        except BenchError as exc:
            raise BenchError(f"{exc}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])) from None
        finally:
            stop(proc, sig)  # uWSGI's own SIGTERM reloads; SIGINT stops it


def bench(runs: int, log) -> Section:
    with scratch_tree("warp-bench-start") as root:
        return _bench(runs, log, root)


def _bench(runs: int, log, root: Path) -> Section:
    src, home, logs = root / "flask_wsgi", make_home(root), root / "logs"
    shutil.copytree(REPO / "tests/apps/flask_wsgi", src, ignore=shutil.ignore_patterns("__pycache__"))
    logs.mkdir()
    python = app_python()
    warp_env = with_server_wheels(clean_environ(WARP_HOME=str(home), WARP_PYTHON=python), python, log)
    skipped: dict[str, str] = {}
    env_path = None
    for server in SERVERS:
        log(f"start: warp build --server {server}")
        started = time.perf_counter()
        try:
            run([*WARP, "build", "--server", server], cwd=src, env=warp_env)
        except BenchError as exc:
            skipped[server] = "failed to build: " + " / ".join(str(exc).strip().splitlines()[-2:])
            log(f"start: skipping {server}: {skipped[server]}")
            continue
        log(f"start: built {server} in {time.perf_counter() - started:.1f} s")
        env_path = env_path or Path(run([*WARP, "exec", "python", "-c", "import sys; print(sys.prefix)"], cwd=src, env=warp_env).stdout.strip())
    if env_path is None:
        raise BenchError("no server could be built:\n" + "\n".join(f"{k}: {v}" for k, v in skipped.items()))
    hand_env = clean_environ(VIRTUAL_ENV=str(env_path), PATH=f"{env_path / 'bin'}:{os.environ.get('PATH', '')}")

    def once(server: str, who: str) -> float:
        port = free_port()
        if who == "warp":
            argv = [*WARP, "start", "--server", server, "--host", "127.0.0.1", "--port", port]
            return time_start(argv, port, cwd=src, env=warp_env, log=logs / f"warp-{server}-{port}.log")
        sig = signal.SIGINT if server == "uwsgi" else signal.SIGTERM
        return time_start(by_hand(server, env_path, port, root), port, cwd=src, env=hand_env, log=logs / f"hand-{server}-{port}.log", sig=sig)

    failures: list[str] = []

    def measured(server: str, who: str) -> float:
        """One start; a failed start is retried once and reported in the notes."""
        try:
            return once(server, who)
        except BenchError as exc:
            failures.append(f"{server} ({who}) failed once and was retried: {str(exc).splitlines()[0]}; last log line: {str(exc).splitlines()[-1][:300]}")
            log(f"start: {failures[-1]}")
            return once(server, who)

    servers = [s for s in SERVERS if s not in skipped]
    for server in list(servers):  # warm-up: page cache, compiled bytecode; not counted
        try:
            measured(server, "warp"), measured(server, "hand")
        except BenchError as exc:
            skipped[server] = "failed to start: " + str(exc).splitlines()[0]
            log(f"start: skipping {server}: {exc}")
            servers.remove(server)
    times = {(s, who): [] for s in servers for who in ("warp", "hand")}
    for index in range(runs):
        for server in servers:
            for who in ("warp", "hand") if index % 2 == 0 else ("hand", "warp"):
                times[server, who].append(measured(server, who))
            log(f"start: run {index + 1}/{runs} {server:8}  warp {times[server, 'warp'][-1]:.3f} s  by hand {times[server, 'hand'][-1]:.3f} s")

    section = Section(
        title="Start",
        intro=(
            "From running the command to the first HTTP 200 on `/` (polled every 10 ms), for the Flask app "
            "tests/apps/flask_wsgi: `warp start --server S --host 127.0.0.1 --port P` against the same server, "
            "in the same env, started by hand with its own defaults."
        ),
        headers=["server", "warp start", "by hand", "warp − hand", "warp ÷ hand"],
    )
    for server in SERVERS:
        if server in skipped:
            section.rows.append([server, "skipped", "", "", ""])
            continue
        warp, hand = times[server, "warp"], times[server, "hand"]
        section.rows.append([
            server, Summary.of(warp).seconds(), Summary.of(hand).seconds(),
            Summary.of([w - h for w, h in zip(warp, hand)]).millis(), ratios(warp, hand).ratio(),
        ])
    section.notes = [
        f"Median of {runs} runs, (min–max); differences and ratios are taken run by run (warp and by hand back to back, alternating which goes first).",
        f"App interpreter: {python}" + (" (as root: Apache's user cannot read a Python under /root)" if python != PYTHON else "") + "; warp itself runs on " + PYTHON + ".",
        "By hand: `gunicorn -b 127.0.0.1:P wsgi:application`; `waitress-serve --listen 127.0.0.1:P wsgi:application`; "
        "`uwsgi --master --http-socket 127.0.0.1:P --module wsgi:application --virtualenv ENV`; "
        "`mod_wsgi-express start-server --host 127.0.0.1 --port P --application-type module --entry-point wsgi"
        + (" --user www-data --group www-data" if IS_ROOT else "") + "` (plus `--server-root` in the benchmark's directory).",
        "warp's start includes its own interpreter start-up, reading the project and settings, and what it runs before the server "
        "(mod_wsgi: `setup-server` as a separate step, then `apachectl`; waitress: warp's launcher script). "
        "warp also starts more workers: 2 processes × 4 threads on 2 CPUs, where the servers' defaults are 1 worker "
        "(gunicorn, uWSGI, mod_wsgi-express) or 4 threads (waitress).",
    ]
    section.notes += failures
    section.notes += [f"{server} skipped: {reason}" for server, reason in skipped.items()]
    code = "import importlib.metadata as m, sys\nfor d in sys.argv[1:]:\n    try: print(d, m.version(d))\n    except m.PackageNotFoundError: pass"
    out = run([env_path / "bin/python", "-c", code, "flask", *DISTRIBUTIONS.values()], cwd=src, env=hand_env).stdout
    section.versions = {f"{name} (start app)": version for name, version in (line.split() for line in out.splitlines())}
    section.versions["Python (start app)"] = run([python, "--version"], cwd=src, env=hand_env).stdout.split()[-1]
    if "mod_wsgi" in servers:
        apache = shutil.which("apache2") or shutil.which("httpd") or "/usr/sbin/apache2"
        section.versions["Apache"] = run([apache, "-v"], cwd=src, env=hand_env).stdout.splitlines()[0].split(":", 1)[-1].strip()
    return section
