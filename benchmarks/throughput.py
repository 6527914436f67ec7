"""Throughput: wrk against a Django hello view and a static file, for warp's default on each server,
each server's own default started by hand, and a grid of processes × threads started with warp.

``python -m benchmarks`` passes 5 runs and ``--quick`` 2; this section makes its own choice from that:
3 rounds of ``wrk -d8s`` in a full run; with --quick, ``-d3s``, a smaller grid and one round, where the grid point
with warp's default shape is the warp-default run itself.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import (
    REPO, WARP, BenchError, Section, Summary, clean_environ, first_200, free_port, is_quick, make_home, scratch_tree, ratios, run, start_server, stop,
    with_server_wheels,
)
from benchmarks.start import DISTRIBUTIONS, IS_ROOT, app_python

SERVERS = ("gunicorn", "uwsgi", "mod_wsgi", "waitress")
WRK_THREADS, CONNECTIONS = 2, 50
STATIC_PATH = "/static/admin/css/base.css"
TARGETS = {"django": "/", "static": STATIC_PATH}
CHART = REPO / "docs" / "benchmarks-throughput.png"


@dataclass(frozen=True)
class Plan:
    """How much to measure: full run or --quick."""

    rounds: int
    duration: int
    warmup: int
    processes: tuple[int, ...]
    threads: tuple[int, ...]
    waitress_threads: tuple[int, ...]
    #: The grid point with warp's default shape takes its figures from the warp-default run instead of a run of its own.
    reuse_default: bool = False


# One process per server is its own default's shape (and GIL-bound); the grid looks at 1× and 2× the CPUs.
FULL = Plan(rounds=3, duration=8, warmup=1, processes=(2, 4), threads=(2, 4, 8), waitress_threads=(4, 8))
QUICK = Plan(rounds=1, duration=3, warmup=1, processes=(2,), threads=(2, 4), waitress_threads=(4,), reuse_default=True)

#: How the default was read off the grid (full runs on 2 CPUs, 2026-11-22), stated with the data.
DERIVATION = [
    "Rule: among grid points with a median p99 under 50 ms, take the highest median req/s; a point within 5% of it "
    "with fewer processes (then fewer threads) wins, as it uses less memory. warp's default formula: processes = "
    "usable CPUs (capped at one per 256 MiB of memory); threads: uWSGI 2, gunicorn, mod_wsgi and Waitress 4.",
    "Processes: one per usable CPU. Twice the CPUs was better nowhere: on mod_wsgi 4 × 2 and 2 × 4 tie (2 × 4 "
    "measured 1.01× and 0.97× the best point in two full runs), uWSGI's 4-process points measured 0.57–0.73× the "
    "best, and gunicorn's and Waitress's p99 rose past 50 ms (gunicorn 4 × 4: 118 and 151 ms; Waitress 4 × 4: 431 and"
    " 492 ms). Fewer processes use less memory.",
    "Threads: the hello view only uses the CPU, so threads past 2 add contention and nothing else. uWSGI 2 × 2 led "
    "its 2 × 4 by 8% or more in every full run, so warp gives uWSGI 2. On gunicorn, mod_wsgi and Waitress, 2, 4 and 8"
    " threads landed within 11% of each other, in different orders from run to run; warp gives them 4, which keeps "
    "requests moving while a real view waits on its database.",
    "Even connections: gunicorn's workers (`--reuse-port`, gunicorn ≥ 24) and warp's Waitress processes each listen "
    "on a SO_REUSEPORT socket of their own, so the kernel spreads wrk's 50 keep-alive connections evenly. On one "
    "shared socket, `ss` counted splits of 49/1, 41/9 and 50/0 between two gunicorn workers, and a 50/0 split served "
    "1,760/s against 5,500–5,800/s for the others; with a socket each, splits ran 21/29 to 29/21 at 6,000–6,800/s. "
    "Before this, gunicorn's and Waitress's rows swung from 0.5× to 3× their own defaults between rounds.",
    "Sessions: every server here starts in the benchmark's session, where wrk runs, and warp keeps the servers it "
    "supervises (mod_wsgi, uWSGI) in its own session. Linux makes each session a scheduling autogroup, so a server in"
    " a session of its own got one share of the CPUs against wrk's: about one CPU, whatever its process count. That "
    "held gunicorn 2 × 4 to 1.37× its own default in an earlier full run; run from one session, 1.61× and 1.66× in "
    "the two runs since.",
]

OWN_DEFAULTS = {  # what each server runs when given no concurrency options
    "gunicorn": "1 sync worker",
    "uwsgi": "1 × 5 (warpdrive's flags)",
    "mod_wsgi": "1 × 5, 20 client slots",
    "waitress": "1 × 4",
}


@dataclass(frozen=True)
class Config:
    server: str
    kind: str  # own | warp | grid
    processes: int = 0
    threads: int = 0

    @property
    def label(self) -> str:
        if self.kind == "own":
            return "own default"
        if self.kind == "warp":
            return "warp default"
        return f"{self.processes} × {self.threads}"


@dataclass(frozen=True)
class Wrk:
    """One wrk run."""

    rps: float
    p99: float  # seconds
    requests: int
    errors: dict[str, int]
    non2xx: int

    @property
    def socket_errors(self) -> int:
        return sum(self.errors.values())


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def parse_wrk(text: str) -> Wrk:
    """Requests/s, p99 (needs --latency), socket errors by kind and non-2xx/3xx responses from wrk's report."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    requests = re.search(r"^\s+(\d+) requests in", text, re.M)
    if not (rps and requests):
        raise BenchError(f"cannot read wrk's output:\n{text}")
    errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    found = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if found:
        errors = dict(zip(errors, map(int, found.groups())))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return Wrk(
        rps=float(rps.group(1)),
        p99=float(p99.group(1)) * _UNITS[p99.group(2)] if p99 else float("nan"),
        requests=int(requests.group(1)),
        errors=errors,
        non2xx=int(non2xx.group(1)) if non2xx else 0,
    )


def wrk(port: int, path: str, seconds: int) -> Wrk:
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"`{' '.join(argv)}` exited {out.returncode}\n{out.stdout}{out.stderr}")
    return parse_wrk(out.stdout)


# ---------------------------------------------------------------- the project

SETTINGS_TAIL = '''
# Added by benchmarks/throughput.py
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
STATIC_ROOT = BASE_DIR / "staticfiles"
'''

URLS_TAIL = '''
# Added by benchmarks/throughput.py
from django.http import HttpResponse


def hello(request):
    return HttpResponse("hello")


urlpatterns += [path("", hello)]
'''

#: What a user runs under gunicorn or waitress by hand to serve static files (as warpdrive did): WhiteNoise.
HAND_WSGI = '''"""The Django app with WhiteNoise for /static/, for gunicorn and waitress started by hand."""
from django.conf import settings
from whitenoise import WhiteNoise

from mysite.wsgi import application as django_application

application = WhiteNoise(django_application, root=str(settings.STATIC_ROOT), prefix="/static/")
'''


def make_project(root: Path, log) -> tuple[Path, dict[str, str], Path]:
    """The Django site, built by warp for all four servers into one env: (src, warp's environ, env path)."""
    src = root / "site"
    src.mkdir(mode=0o755)
    # Every server in one env: the first one named is the build's server; `warp start --server S` picks the others.
    (src / "requirements.txt").write_text("Django\ngunicorn\nwhitenoise\nuWSGI\nmod-wsgi\nwaitress\n")
    warp_env = with_server_wheels(clean_environ(WARP_HOME=str(make_home(root)), WARP_PYTHON=app_python()), app_python(), log)
    log(f"throughput: warp build of a Django project with all four servers, in {src}")
    run([*WARP, "build"], cwd=src, env=warp_env)
    run([*WARP, "exec", "django-admin", "startproject", "mysite", "."], cwd=src, env=warp_env)
    with open(src / "mysite/settings.py", "a") as handle:
        handle.write(SETTINGS_TAIL)
    with open(src / "mysite/urls.py", "a") as handle:
        handle.write(URLS_TAIL)
    (src / "hand_wsgi.py").write_text(HAND_WSGI)
    run([*WARP, "build"], cwd=src, env=warp_env)  # again, for collectstatic into STATIC_ROOT
    env_path = Path(run([*WARP, "exec", "python", "-c", "import sys; print(sys.prefix)"], cwd=src, env=warp_env).stdout.strip())
    for path in [src, *src.rglob("*")]:  # Apache's user reads the project
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return src, warp_env, env_path


def by_hand(server: str, env: Path, port: int, src: Path, root: Path) -> list:
    """Each server with its own default concurrency, serving static files as warpdrive set them up."""
    bin_, listen, static = env / "bin", f"127.0.0.1:{port}", src / "staticfiles"
    if server == "gunicorn":
        return [bin_ / "gunicorn", "-b", listen, "hand_wsgi:application"]
    if server == "waitress":
        return [bin_ / "waitress-serve", "--listen", listen, "hand_wsgi:application"]
    if server == "uwsgi":  # warpdrive 0.34.0's start-uwsgi flags (it binds :PORT; here 127.0.0.1:PORT)
        return [bin_ / "uwsgi", "--master", "--http-socket", listen, "--enable-threads", "--threads=5", "--thunder-lock",
                "--single-interpreter", "--die-on-term", "--module", "mysite.wsgi:application", "--virtualenv", env,
                "--static-map", f"/static={static}"]
    argv = [bin_ / "mod_wsgi-express", "start-server", "--host", "127.0.0.1", "--port", port,
            "--application-type", "module", "--entry-point", "mysite.wsgi", "--url-alias", "/static", static,
            "--server-root", root / f"mod_wsgi-{port}"]
    return argv + (["--user", "www-data", "--group", "www-data"] if IS_ROOT else [])


# ---------------------------------------------------------------- measuring


@dataclass
class Results:
    runs: dict[tuple[Config, str], list[Wrk]] = field(default_factory=dict)

    def add(self, config: Config, target: str, result: Wrk) -> None:
        self.runs.setdefault((config, target), []).append(result)

    def get(self, config: Config, target: str) -> list[Wrk]:
        return self.runs.get((config, target), [])


def rps(results: list[Wrk]) -> str:
    summary = Summary.of([r.rps for r in results])
    return f"{summary.median:,.0f} ({summary.low:,.0f}–{summary.high:,.0f})"


def p99(results: list[Wrk]) -> str:
    values = [r.p99 for r in results if r.p99 == r.p99]
    return Summary.of(values).seconds() if values else "n/a"


def count(values: list[int], kinds: set[str] | None = None) -> str:
    if not any(values):
        return "0"
    text = f"{statistics.median(values):,.0f}" + (f" ({min(values):,}–{max(values):,})" if len(values) > 1 else "")
    return text + (f" {'/'.join(sorted(kinds))}" if kinds else "")


def real_errors(server: str, result: Wrk) -> int:
    """Socket errors, less uWSGI's read errors: its --http-socket closes each connection after a 200."""
    return result.socket_errors - (result.errors["read"] if server == "uwsgi" else 0)


def errors(results: list[Wrk]) -> str:
    kinds = {kind for r in results for kind, n in r.errors.items() if n}
    return count([r.socket_errors for r in results], kinds)


def non2xx(results: list[Wrk]) -> str:
    return count([r.non2xx for r in results])


def non2xx_suffix(results: list[Wrk]) -> str:
    return f"; non-2xx {non2xx(results)}" if any(r.non2xx for r in results) else ""


class ThroughputSection(Section):
    """A section with more than one table: the main one, then ``parts`` as sub-sections."""

    parts: list[Section]

    def text(self) -> str:
        return super().text() + "".join("\n" + part.text() for part in self.parts)

    def markdown(self) -> str:
        return super().markdown() + "".join("\n#" + part.markdown() for part in self.parts)


def require_wrk() -> None:
    """The load generator of this section and the ASGI one: checked before any section runs, too."""
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")


def bench(runs: int, log) -> Section:
    require_wrk()
    plan = QUICK if is_quick(runs) else FULL
    with scratch_tree("warp-bench-throughput") as root:
        return _bench(plan, log, root)


def grid(server: str, plan: Plan) -> list[Config]:
    if server == "waitress":  # warp's launcher runs N waitress processes; 1 is waitress's own shape
        return [Config(server, "grid", p, t) for p in (1, *plan.processes) for t in plan.waitress_threads]
    return [Config(server, "grid", p, t) for p in plan.processes for t in plan.threads]


def default_point(points: list[Config], shape: str) -> Config | None:
    """The grid point with warp's default processes × threads, if the grid has it."""
    return next((c for c in points if c.label == shape), None)


def _bench(plan: Plan, log, root: Path) -> Section:
    src, warp_env, env_path = make_project(root, log)
    logs = root / "logs"
    logs.mkdir()
    hand_env = clean_environ(VIRTUAL_ENV=str(env_path), PATH=f"{env_path / 'bin'}:{os.environ.get('PATH', '')}")
    warp_default = {}
    for server in SERVERS:
        dry = run([*WARP, "start", "--server", server, "--dry-run"], cwd=src, env=warp_env).stdout
        found = re.search(r"processes x threads\s+(\d+) x (\d+)", dry)
        warp_default[server] = f"{found.group(1)} × {found.group(2)}" if found else "?"
    failures: list[str] = []

    def once(config: Config, targets: tuple[str, ...]) -> dict[str, Wrk]:
        port = free_port()
        if config.kind == "own":
            argv, env = by_hand(config.server, env_path, port, src, root), hand_env
        else:
            argv = [*WARP, "start", "--server", config.server, "--host", "127.0.0.1", "--port", port]
            if config.kind == "grid":
                argv += ["--processes", config.processes, "--threads", config.threads]
            env = warp_env
        path = logs / f"{config.server}-{config.kind}-{config.processes}x{config.threads}-{port}.log"
        with open(path, "w") as out:
            proc = start_server(argv, cwd=src, env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                try:
                    first_200(port, proc)
                except BenchError as exc:
                    raise BenchError(f"{exc}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:])) from None
                wrk(port, TARGETS[targets[0]], plan.warmup)  # warm-up: every worker started and serving; not counted
                measured = {}
                for target in targets:
                    measured[target] = wrk(port, TARGETS[target], plan.duration)
                return measured
            finally:
                stop(proc)  # SIGTERM: graceful or immediate stop in all four (uWSGI has --die-on-term)

    def measured(config: Config, targets: tuple[str, ...]) -> dict[str, Wrk]:
        try:
            return once(config, targets)
        except BenchError as exc:
            lines = str(exc).splitlines()
            failures.append(f"{config.server} {config.label} failed once and was retried: {lines[0]}; last log line: {lines[-1][:300]}")
            log(f"throughput: {failures[-1]}")
            return once(config, targets)

    results = Results()
    for index in range(plan.rounds):
        for server in SERVERS:
            twin = default_point(grid(server, plan), warp_default[server]) if plan.reuse_default else None
            configs = [c for c in (Config(server, "own"), Config(server, "warp"), *grid(server, plan)) if c != twin]
            shift = index % len(configs)
            for config in configs[shift:] + configs[:shift]:  # rotate, so no configuration always runs first
                targets = ("django", "static") if config.kind != "grid" else ("django",)
                for target, result in measured(config, targets).items():
                    results.add(config, target, result)
                    if config.kind == "warp" and twin and target == "django":
                        results.add(twin, target, result)
                shown = "  ".join(f"{t} {r.rps:8,.0f}/s p99 {r.p99 * 1000:7.1f} ms err {r.socket_errors:5} non-2xx {r.non2xx}"
                                  for t, r in ((t, results.get(config, t)[-1]) for t in targets))
                log(f"throughput: round {index + 1}/{plan.rounds} {server:8} {config.label:12} {shown}")

    return report(plan, results, warp_default, failures, env_path, src, hand_env)


# ---------------------------------------------------------------- report


def report(plan: Plan, results: Results, warp_default: dict[str, str], failures: list[str], env_path: Path, src: Path, hand_env) -> Section:
    rounds = f"{plan.rounds} round" + ("s" if plan.rounds > 1 else "")
    section = ThroughputSection(
        title="Throughput",
        intro=(
            f"`wrk -t{WRK_THREADS} -c{CONNECTIONS} -d{plan.duration}s --latency` after a {plan.warmup} s warm-up on the view, against a "
            "`django-admin startproject` site with one view returning \"hello\" (DEBUG=False) and against the static file "
            f"`{STATIC_PATH}` (collected by `warp build`). Each server with its own defaults, started by hand, against "
            "`warp start --server S` (warp's default processes × threads), in the same env.\n\n"
            "![Django hello view, requests/s per configuration and server](benchmarks-throughput.png)"
        ),
        headers=["server", "run", "processes × threads", "Django req/s", "p99", "socket errors", "non-2xx",
                 "static req/s", "p99", "socket errors", "non-2xx", "warp ÷ own (Django)", "warp ÷ own (static)"],
    )
    section.parts = []
    for server in SERVERS:
        own, warp = Config(server, "own"), Config(server, "warp")
        for config, shape in ((own, OWN_DEFAULTS[server]), (warp, warp_default[server])):
            row = [server, "by hand" if config.kind == "own" else "warp start", shape]
            for target in ("django", "static"):
                got = results.get(config, target)
                row += [rps(got), p99(got), errors(got), non2xx(got)]
            if config.kind == "warp":
                row += [ratios([r.rps for r in results.get(warp, t)], [r.rps for r in results.get(own, t)]).ratio() for t in ("django", "static")]
            else:
                row += ["", ""]
            section.rows.append(row)

    grid_part = Section(
        title="Throughput grid: processes × threads (Django hello view)",
        intro="`warp start --server S --processes P --threads T` for each point (Waitress: 1 process, or several forked by warp's launcher).",
        headers=["server", "processes × threads", "req/s", "p99", "socket errors", "non-2xx", "÷ best point"],
    )
    bar_part = Section(
        title="The default against the grid",
        intro=(
            "The issue's bar for warp's default on each server: within 5% of the best grid point, at least 1.4× the "
            f"server's own default (medians of the round-by-round ratios), p99 under 50 ms in every round and no socket "
            f"errors or non-2xx responses at {CONNECTIONS} connections "
            "(Django hello view). uWSGI's socket read errors are not counted: they are its closed connections (see the notes)."
        ),
        headers=["server", "warp default", "best grid point", "the rule's pick", "warp's shape ÷ best", "warp ÷ own default", "p99", "errors", "bar met"],
    )
    bar_part.intro += (
        " warp's shape ÷ best compares two grid points measured alike (the point with warp's default processes × threads, "
        "and the best one); the warp-default runs, made with the static file as well, give the ratio to the own default, "
        "the p99 and the errors. Two runs of one configuration differ by up to 15% on this machine (compare each "
        "server's warp-default row with its grid point of the same shape)."
    )
    for server in SERVERS:
        points = [c for c in grid(server, plan) if results.get(c, "django")]
        if not points:
            continue
        medians = {c: statistics.median(r.rps for r in results.get(c, "django")) for c in points}
        best = max(points, key=medians.get)
        best_runs = [r.rps for r in results.get(best, "django")]
        for config in points:
            got = results.get(config, "django")
            share = ratios([r.rps for r in got], best_runs).ratio() if config != best else "best"
            grid_part.rows.append([server, config.label, rps(got), p99(got), errors(got), non2xx(got), share])
        warp, own = results.get(Config(server, "warp"), "django"), results.get(Config(server, "own"), "django")
        # warp's shape as a grid point, measured as the best point was; the warp-default runs if the grid lacks it.
        shape = default_point(points, warp_default[server])
        to_best = ratios([r.rps for r in (results.get(shape, "django") if shape else warp)], best_runs)
        to_own = ratios([r.rps for r in warp], [r.rps for r in own])
        worst_p99 = max(r.p99 for r in warp)
        clean = all(real_errors(server, r) == 0 and r.non2xx == 0 for r in warp)
        near_best = shape == best or to_best.median >= 0.95
        met = near_best and to_own.median >= 1.4 and worst_p99 < 0.05 and clean
        why = [name for name, ok in (("< 95% of best", near_best), ("< 1.4× own", to_own.median >= 1.4),
                                     ("p99 ≥ 50 ms", worst_p99 < 0.05), ("errors", clean)) if not ok]
        pick = rule_pick(points, medians, {c: statistics.median(r.p99 for r in results.get(c, "django")) for c in points})
        bar_part.rows.append([server, warp_default[server], f"{best.label} ({medians[best]:,.0f}/s)", pick.label if pick else "none",
                              "the best point" if shape == best else to_best.ratio(),
                              to_own.ratio(), p99(warp), errors(warp) + non2xx_suffix(warp),
                              "yes" if met else "no: " + ", ".join(why)])
    bar_part.notes = list(DERIVATION)
    section.parts = [grid_part, bar_part]

    section.notes = [
        f"Median of {rounds}, (min–max); ratios are taken round by round: in each round every configuration of a server "
        "runs back to back, in rotating order, each in a freshly started server.",
        "p99 is wrk's latency distribution of the requests that completed; wrk counts a request as a timeout error after 2 s "
        "and leaves it out of the latency figures. non-2xx counts responses that were neither 2xx nor 3xx.",
        "uWSGI's `--http-socket` closes the connection after each response, which wrk counts as socket read errors although "
        "every response was a 200; its non-2xx column is the one to read.",
        "By hand: `gunicorn -b 127.0.0.1:P hand_wsgi:application` (1 sync worker); `waitress-serve --listen 127.0.0.1:P "
        "hand_wsgi:application` (4 threads), hand_wsgi wrapping the Django app in WhiteNoise for /static/; uWSGI as warpdrive "
        "0.34.0 ran it, `uwsgi --master --http-socket 127.0.0.1:P --enable-threads --threads=5 --thunder-lock "
        "--single-interpreter --die-on-term --module mysite.wsgi:application --virtualenv ENV --static-map /static=ROOT`; "
        "`mod_wsgi-express start-server --host 127.0.0.1 --port P --application-type module --entry-point mysite.wsgi "
        "--url-alias /static ROOT" + (" --user www-data --group www-data" if IS_ROOT else "") + "` (1 process × 5 threads, "
        "20 client slots).",
        "warp's own flags add access logs (gunicorn `--access-logfile -`, mod_wsgi `--access-log`; uWSGI and the hand-run "
        "uWSGI log every request by default) and serve static files with WhiteNoise (gunicorn, waitress), Apache "
        "(`--url-alias`) or uWSGI's `--static-map`.",
        "Static files were measured for the two defaults only; the grid measures the Django view.",
        "wrk runs on the same 2 CPUs as the server, so every figure includes the load generator's share of the machine.",
    ]
    if plan is QUICK:
        note = (f"--quick: one round of {plan.duration} s runs and a reduced grid whose point with warp's default shape is the warp-default "
                "run itself, for a quick check; the default is derived from a full run.")
        section.notes.append(note)
    section.notes += failures
    section.versions = versions(env_path, src, hand_env)
    try:
        chart(plan, results, warp_default)
    except ImportError:
        section.notes.append("The chart was not drawn: matplotlib is not installed (pip install -e '.[bench]').")
    return section


def rule_pick(points: list[Config], medians: dict[Config, float], p99s: dict[Config, float]) -> Config | None:
    """The grid point the default is read from: among points with a median p99 under 50 ms, the highest
    median req/s; a point within 5% of it with fewer processes (then fewer threads) wins, as it uses less memory."""
    fast = [c for c in points if p99s[c] < 0.05]
    if not fast:
        return None
    top = max(medians[c] for c in fast)
    return min((c for c in fast if medians[c] >= 0.95 * top), key=lambda c: (c.processes, c.threads, -medians[c]))


def versions(env_path: Path, src: Path, hand_env) -> dict[str, str]:
    code = "import importlib.metadata as m, sys\nfor d in sys.argv[1:]:\n    try: print(d, m.version(d))\n    except m.PackageNotFoundError: pass"
    out = run([env_path / "bin/python", "-c", code, "django", "whitenoise", *DISTRIBUTIONS.values()], cwd=src, env=hand_env).stdout
    found = {f"{name} (throughput app)": version for name, version in (line.split() for line in out.splitlines())}
    found["Python (throughput app)"] = run([env_path / "bin/python", "--version"], cwd=src, env=hand_env).stdout.split()[-1]
    found["wrk"] = (subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split() or ["?", "?"])[1]
    return found


def chart(plan: Plan, results: Results, warp_default: dict[str, str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SERVERS), figsize=(4 * len(SERVERS), 4.5), sharey=True)
    for ax, server in zip(axes, SERVERS):
        configs = [Config(server, "own"), Config(server, "warp"), *grid(server, plan)]
        configs = [c for c in configs if results.get(c, "django")]
        values = [[r.rps for r in results.get(c, "django")] for c in configs]
        medians = [statistics.median(v) for v in values]
        low = [m - min(v) for m, v in zip(medians, values)]
        high = [max(v) - m for m, v in zip(medians, values)]
        colours = ["#999999" if c.kind == "own" else "#d62728" if c.kind == "warp" else "#1f77b4" for c in configs]
        labels = [f"own\n{OWN_DEFAULTS[server].split(',')[0].split(' (')[0]}" if c.kind == "own" else
                  f"warp\n{warp_default[server]}" if c.kind == "warp" else c.label for c in configs]
        ax.bar(range(len(configs)), medians, yerr=[low, high], color=colours, capsize=2)
        ax.set_xticks(range(len(configs)), labels, rotation=90, fontsize=8)
        ax.set_title(server)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("requests/s (median, min–max)")
    fig.suptitle(f"Django hello view, wrk -c{CONNECTIONS} -d{plan.duration}s: own default (grey), warp default (red), "
                 "processes × threads (blue)", fontsize=10)
    fig.tight_layout()
    CHART.parent.mkdir(exist_ok=True)
    fig.savefig(CHART, dpi=100)
    plt.close(fig)
