"""ASGI: wrk against a FastAPI JSON hello and a view that awaits 10 ms, side by side in one run: warp's default
against each server as its users start it by hand, warp's grid of processes per server, and reload latency.

Bounded: a 2 s warm-up, then one wrk run per view and connection count (3 s with --quick, 8 s in a full
run), in rounds (1 with --quick, 3 in a full run); every configuration runs once in each round, so a ratio
compares two runs of the same round. The grid measures the hello view only.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import sys
import shutil
import subprocess
from pathlib import Path

from benchmarks.common import (
    REPO, WARP, BenchError, Section, Summary, clean_environ, first_200, free_port, is_quick, make_home, ratios, run,
    scratch_tree, start_server, stop,
)
from benchmarks.reload import QUICK_EDIT_TIMEOUT, EDIT_TIMEOUT, Editor, failures, measure, p95, seconds, span
from benchmarks.throughput import ThroughputSection, parse_wrk, require_wrk

APP = REPO / "tests" / "apps" / "fastapi_app" / "main.py"
#: What the project depends on: no server, so that warp picks its default (fastapi[standard] brings uvicorn)...
REQUIREMENTS = "fastapi[standard]\n"
#: ...and what is installed next to it for the servers started by hand.
BY_HAND = ("uvicorn-worker", "gunicorn", "granian", "hypercorn")
VIEWS = {"hello": "/", "await 10 ms": "/io"}
CONNECTIONS = (50, 500)
#: The ASGI servers warp runs, and the processes of the grid (`warp start --server S --processes N`).
SERVERS = ("granian", "uvicorn", "gunicorn", "hypercorn")
GRID = (1, 2, 4)
CHART = REPO / "docs" / "benchmarks-asgi.png"
#: The issue's bar for warp's default, on the hello view at 50 connections.
BAR_OVER_UVICORN, BAR_OF_BEST, BAR_P99 = 1.4, 0.95, 0.050
#: The hello view's text made an f-string ending in " pid", so that benchmarks.reload's Editor can rewrite it.
RELOAD_VIEW = ('"text": "hello from fastapi"', '"text": f"hello from fastapi pid"')


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


def grid_label(server: str, processes: int) -> str:
    return f"warp start --server {server} --processes {processes}"


def grid_commands(port: int) -> dict[str, list[str]]:
    """label -> argv for each point of the grid."""
    return {
        grid_label(server, n): [*WARP, "start", "--server", server, "--processes", str(n), "--host", "127.0.0.1", "--port", str(port)]
        for server in SERVERS for n in GRID
    }


def server_of(label: str) -> str:
    """Which server a configuration runs (the chart's panel)."""
    if label.startswith("warp start --server "):
        return label.split()[3]
    if label.startswith(("uvicorn", "fastapi")):
        return "uvicorn"
    return label.split()[0]


def wrk(port: int, path: str, connections: int, seconds: int):
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"`{' '.join(argv)}` exited {out.returncode}\n{out.stdout}{out.stderr}")
    return parse_wrk(out.stdout)


def bench(runs: int, log) -> Section:
    require_wrk()
    rounds, seconds = (1, 3) if is_quick(runs) else (3, 8)
    with scratch_tree("warp-bench-asgi") as root:
        src = root / "app"
        src.mkdir()
        shutil.copy(APP, src / "main.py")
        (src / "requirements.txt").write_text(REQUIREMENTS)
        env = clean_environ(WARP_HOME=str(make_home(root)))
        log("asgi: building the FastAPI project with warp")
        run([*WARP, "build"], cwd=src, env=env)
        env_path = Path(run([*WARP, "exec", "sh", "-c", "echo $VIRTUAL_ENV"], cwd=src, env=env).stdout.strip())
        run([sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", env_path / "bin" / "python", *BY_HAND], cwd=src, env=env)
        processes = len(os.sched_getaffinity(0))
        dry = run([*WARP, "start", "--dry-run"], cwd=src, env=env).stdout
        default_server = re.search(r"^server\s+(\S+)", dry, re.M).group(1)
        default = default_server + " × " + re.search(r"processes x threads\s+(\d+)", dry).group(1)
        hand_env = clean_environ(VIRTUAL_ENV=str(env_path), PATH=f"{env_path / 'bin'}:{os.environ.get('PATH', '')}")
        results: dict[tuple[str, str, int], list] = {}
        # Uncounted: the first server under load after the build served 12-25% less than the same command later
        # (an interleaved A/B of warp's default and --server granian --processes 2 measured them equal after it).
        port = free_port()
        proc = start_server(commands(env_path, port, processes)["warp start (default)"], cwd=src, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            first_200(port, proc)
            wrk(port, "/", 50, seconds)
        finally:
            stop(proc)
        for number in range(rounds):
            labels = {**commands(env_path, 0, processes), **grid_commands(0)}
            for label in labels:
                port = free_port()
                argv = {**commands(env_path, port, processes), **grid_commands(port)}[label]
                views = {"hello": VIEWS["hello"]} if label in grid_commands(0) else VIEWS
                log(f"asgi: round {number + 1}/{rounds}: {label}")
                proc = start_server(argv, cwd=src, env=env if label.startswith("warp") else hand_env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    first_200(port, proc)
                    wrk(port, "/", 50, 2)  # warm-up, not counted
                    for view, path in views.items():
                        for connections in CONNECTIONS:
                            results.setdefault((label, view, connections), []).append(wrk(port, path, connections, seconds))
                finally:
                    stop(proc)
        reload_part = bench_reload(src, env, env_path, hand_env, is_quick(runs), log, root)
    section = make_section(results, default, default_server, processes, rounds, seconds)
    section.parts.append(reload_part)
    return section


def bench_reload(src: Path, env: dict, env_path: Path, hand_env: dict, quick: bool, log, root: Path) -> Section:
    """Edit → served latency and failed requests: `warp start --reload` against `uvicorn --reload` and `fastapi dev`."""
    edits, edit_timeout = (3, QUICK_EDIT_TIMEOUT) if quick else (10, EDIT_TIMEOUT)
    source = src / "main.py"
    source.write_text(source.read_text().replace(*RELOAD_VIEW))
    editor = Editor(source)
    bin_ = env_path / "bin"
    configurations = {
        "warp start --reload (the default server)": (lambda port: [*WARP, "start", "--reload", "--host", "127.0.0.1", "--port", port], env),
        "warp start --server uvicorn --reload": (
            lambda port: [*WARP, "start", "--server", "uvicorn", "--reload", "--host", "127.0.0.1", "--port", port], env),
        "uvicorn --reload main:app": (lambda port: [bin_ / "uvicorn", "--reload", "--port", port, "main:app"], hand_env),
        "fastapi dev main.py": (lambda port: [bin_ / "fastapi", "dev", "--port", port, "main.py"], hand_env),
    }
    logs = root / "reload-logs"
    logs.mkdir()
    results, errors = {}, {}
    for label, (factory, environ) in configurations.items():
        port = free_port()
        log(f"asgi: reload: {label}")
        try:
            results[label] = measure([str(a) for a in factory(str(port))], port, editor, edits, cwd=src, env=environ,
                                     log=logs / f"{port}.log", sig=signal.SIGTERM, edit_timeout=edit_timeout)
        except BenchError as exc:
            errors[label] = str(exc).splitlines()[0]
            log(f"asgi: reload: {label} failed: {exc}")
    part = Section(
        title="ASGI reload (FastAPI)",
        intro=(
            f"The FastAPI app above, {edits} timed edits per configuration after one uncounted edit, measured as in the Reload "
            "section: from rewriting the hello view to the first GET `/` that returns the new text, while a second client "
            "requests `/` every 10 ms and counts the requests that fail."
        ),
        headers=["configuration", "median", "p95", "min–max", "failed / requests", "÷ warp start --reload"],
    )
    base = results.get("warp start --reload (the default server)")
    for label in configurations:
        if label in errors:
            part.rows.append([label, "failed", "", "", errors[label][:120], ""])
            continue
        got = results[label]
        ratio = f"{statistics.median(got.latencies) / statistics.median(base.latencies):.2f}×" if base else ""
        part.rows.append([label, seconds(statistics.median(got.latencies)), seconds(p95(got.latencies)), span(got.latencies), failures(got), ratio])
    part.notes.append("Granian takes no inherited socket: under `--reload` warp stops the old server before the new one binds "
                      "the port, so requests made in between fail; uvicorn gets warp's socket (`--fd`) and keeps them waiting in the backlog.")
    return part


def make_section(results, default: str, default_server: str, processes: int, rounds: int, seconds: int) -> ThroughputSection:
    section = ThroughputSection(
        "ASGI throughput (FastAPI)",
        f"`wrk -t2 -d{seconds}s --latency` at 50 and 500 connections after a 2 s warm-up, {rounds} round(s), every "
        f"configuration once per round; by hand with {processes} process(es) where the command takes a count. warp's "
        f"default here: {default}. Ratio: requests/s over `uvicorn main:app`'s in the same round.\n\n"
        "![FastAPI hello view at 50 connections, requests/s per configuration and server](benchmarks-asgi.png)",
        ["configuration", "view", "conns", "requests/s", "ratio", "p99", "errors"],
    )
    section.parts = []
    grid_part = Section(
        "ASGI grid: processes per server (FastAPI hello view)",
        "`warp start --server S --processes N`, with warp's access log on every server, in the same rounds as the table above.",
        ["configuration", "conns", "requests/s", "ratio", "p99", "errors"],
    )
    labels = list(dict.fromkeys(label for label, _, _ in results))
    for label in labels:
        for view in VIEWS:
            for connections in CONNECTIONS:
                if (label, view, connections) not in results:
                    continue
                runs = results[(label, view, connections)]
                base = results[("uvicorn main:app", view, connections)]
                rps = Summary.of([r.rps for r in runs])
                row = [
                    f"{rps.median:,.0f} ({rps.low:,.0f}–{rps.high:,.0f})", ratios([r.rps for r in runs], [r.rps for r in base]).ratio(),
                    f"{Summary.of([r.p99 for r in runs]).median * 1000:.0f} ms", str(sum(r.socket_errors + r.non2xx for r in runs)),
                ]
                if label.startswith("warp start --server "):
                    grid_part.rows.append([label, str(connections), *row])
                else:
                    section.rows.append([label, view, str(connections), *row])
    section.parts += [grid_part, make_bar(results)]
    grid_part.notes.append(f"The point with warp's default server and processes ({default}) runs the same command as `warp start "
                           "(default)` above: the difference between the two is the machine's noise in that round.")
    section.notes.append("wrk runs on the same CPUs as the servers: every figure includes the load generator's share of the machine.")
    section.notes.append("warp's access log is on in every warp configuration (for Granian, written by warp's ASGI module; see the "
                         "README); the servers started by hand log as their defaults say (uvicorn and `fastapi run` do, gunicorn, "
                         "Granian and Hypercorn do not).")
    try:
        chart(results, default_server, seconds)
    except ImportError:
        section.notes.append("The chart was not drawn: matplotlib is not installed (pip install -e '.[bench]').")
    return section


def make_bar(results) -> Section:
    """warp's default against the issue's bar, on the hello view at 50 connections."""
    key = lambda label: (label, "hello", 50)  # noqa: E731
    medians = {label: statistics.median(r.rps for r in runs) for (label, view, conns), runs in results.items() if (view, conns) == ("hello", 50)}
    best = max(medians, key=medians.get)
    ours = results[key("warp start (default)")]
    over_uvicorn = ratios([r.rps for r in ours], [r.rps for r in results[key("uvicorn main:app")]]).median
    of_best = medians["warp start (default)"] / medians[best]
    worst_p99 = max(r.p99 for r in ours)
    errors = sum(r.socket_errors + r.non2xx for r in ours)
    part = Section(
        "ASGI: the default against the bar",
        f"warp's default on the hello view at 50 connections: at least {BAR_OVER_UVICORN}× `uvicorn main:app` (median of the "
        f"round-by-round ratios), within {100 - BAR_OF_BEST * 100:.0f}% of the best configuration measured (medians), p99 under "
        f"{BAR_P99 * 1000:.0f} ms in every round, no errors.",
        ["measure", "value", "bar", "met"],
    )
    part.rows = [
        ["÷ `uvicorn main:app`", f"{over_uvicorn:.2f}×", f"≥ {BAR_OVER_UVICORN}×", "yes" if over_uvicorn >= BAR_OVER_UVICORN else "no"],
        [f"÷ the best ({best})", f"{of_best:.2f}", f"≥ {BAR_OF_BEST}", "yes" if of_best >= BAR_OF_BEST else "no"],
        ["p99 (worst round)", f"{worst_p99 * 1000:.0f} ms", f"< {BAR_P99 * 1000:.0f} ms", "yes" if worst_p99 < BAR_P99 else "no"],
        ["errors", str(errors), "0", "yes" if errors == 0 else "no"],
    ]
    return part


def chart(results, default_server: str, seconds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {label: [r.rps for r in got] for (label, view, conns), got in results.items() if (view, conns) == ("hello", 50)}
    fig, axes = plt.subplots(1, len(SERVERS), figsize=(4 * len(SERVERS), 5), sharey=True)
    for ax, server in zip(axes, SERVERS):
        labels = [label for label in runs if server_of(label) == server and not label.startswith("warp")]
        labels += ["warp start (default)"] if server == default_server else []
        labels += [grid_label(server, n) for n in GRID if grid_label(server, n) in runs]
        medians = [statistics.median(runs[label]) for label in labels]
        low = [m - min(runs[label]) for m, label in zip(medians, labels)]
        high = [max(runs[label]) - m for m, label in zip(medians, labels)]
        colours = ["#d62728" if label == "warp start (default)" else "#1f77b4" if label.startswith("warp") else "#999999" for label in labels]
        names = [f"warp\n{label.split()[-1]} process(es)" if label.startswith("warp start --server") else label.replace(" -k ", "\n-k ")
                 for label in labels]
        ax.bar(range(len(labels)), medians, yerr=[low, high], color=colours, capsize=2)
        ax.set_xticks(range(len(labels)), names, rotation=90, fontsize=7)
        ax.set_title(server)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("requests/s (median, min–max)")
    fig.suptitle(f"FastAPI hello view, wrk -c50 -d{seconds}s: by hand (grey), warp default (red), warp --processes 1/2/4 (blue)", fontsize=10)
    fig.tight_layout()
    CHART.parent.mkdir(exist_ok=True)
    fig.savefig(CHART, dpi=100)
    plt.close(fig)
