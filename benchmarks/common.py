"""Timing, statistics, processes, machine description and table rendering shared by the sections."""

from __future__ import annotations

import atexit
import http.client
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from warp.proc import find_descendants, is_running

REPO = Path(__file__).resolve().parent.parent
#: The interpreter that runs warp, and so the one warp gives new envs when WARP_PYTHON is unset.
PYTHON = sys.executable
#: warp from this checkout, for the steps that are not timed (builds, plans); timed commands use user_warp().
WARP = (PYTHON, "-m", "warp")


class BenchError(Exception):
    """A command the benchmark needs failed; the message carries its output."""


# ---------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        return cls(statistics.median(values), min(values), max(values))

    def seconds(self) -> str:
        if self.high < 1:
            return f"{self.median * 1000:.0f} ms ({self.low * 1000:.0f}–{self.high * 1000:.0f})"
        return f"{self.median:.2f} s ({self.low:.2f}–{self.high:.2f})"

    def millis(self) -> str:
        ms = [int(round(value * 1000)) for value in (self.median, self.low, self.high)]
        return f"{ms[0]:+d} ms ({ms[1]:+d}–{ms[2]:+d})"

    def ratio(self) -> str:
        return f"{self.median:.2f}× ({self.low:.2f}–{self.high:.2f})"


def ratios(numerators: list[float], denominators: list[float]) -> Summary:
    """Ratios taken round by round, so each compares two runs made back to back."""
    return Summary.of([a / b for a, b in zip(numerators, denominators)])


# ---------------------------------------------------------------- results


@dataclass
class Section:
    title: str
    intro: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        widths = [max(len(str(row[i])) for row in [self.headers, *self.rows]) for i in range(len(self.headers))]
        line = lambda row: "  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths)).rstrip()  # noqa: E731
        out = [self.title, "=" * len(self.title), line(self.headers), line(["-" * w for w in widths])]
        out += [line(row) for row in self.rows]
        out += [""] + [f"* {note}" for note in self.notes]
        return "\n".join(out) + "\n"

    def markdown(self) -> str:
        out = [f"## {self.title}", "", self.intro, "", "| " + " | ".join(self.headers) + " |"]
        out.append("|" + "|".join("---" for _ in self.headers) + "|")
        out += ["| " + " | ".join(row) + " |" for row in self.rows]
        out += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------- commands


def clean_environ(**extra: str) -> dict[str, str]:
    """os.environ without anything that would steer warp, pip or uv to another env."""
    drop = ("VIRTUAL_ENV", "PORT", "WEB_CONCURRENCY", "PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WARP_") and k not in drop}
    environ["PYTHONUNBUFFERED"] = "1"
    environ.update(extra)
    return environ


#: Wheels of the servers that compile from source, built once and kept between runs.
WHEELHOUSE = Path.home() / ".cache" / "warp-benchmarks" / "wheels"
COMPILED_SERVERS = ("uwsgi", "mod-wsgi")


def with_server_wheels(environ: dict[str, str], python: str, log) -> dict[str, str]:
    """``environ`` plus find-links to wheels of uWSGI and mod_wsgi built for ``python``.

    uv and pip would otherwise compile them again in every section's fresh env (half a
    minute each); none of the sections times that install.
    """
    tag = run([python, "-c", "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')"], cwd=Path("/"), env=environ).stdout.strip()
    house = WHEELHOUSE / tag
    missing = [name for name in COMPILED_SERVERS if not list(house.glob(f"{name.replace('-', '_')}-*.whl"))]
    if missing:
        log(f"building wheels of {', '.join(missing)} for {python} into {house} (once)")
        with scratch_tree("warp-bench-wheels") as tmp:
            try:
                run([sys.executable, "-m", "uv", "venv", "--seed", "--quiet", "--python", python, tmp / "venv"], cwd=tmp, env=environ)
                run([tmp / "venv/bin/python", "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", house, *missing], cwd=tmp, env=environ)
            except BenchError as exc:
                log("could not build the server wheels; sections will compile them: " + str(exc).strip().splitlines()[-1][:200])
    return {**environ, "UV_FIND_LINKS": str(house), "PIP_FIND_LINKS": str(house)}


def run(argv, *, cwd: Path, env: dict[str, str], timeout: float = 1800) -> subprocess.CompletedProcess:
    result = subprocess.run(list(map(str, argv)), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise BenchError(f"`{' '.join(map(str, argv))}` exited {result.returncode}\n{result.stdout}{result.stderr}")
    return result


def timed(commands, *, cwd: Path, env: dict[str, str]) -> float:
    """Wall time of running ``commands`` one after the other."""
    started = time.perf_counter()
    for argv in commands:
        run(argv, cwd=cwd, env=env)
    return time.perf_counter() - started


def make_tree(name: str, parent: str | Path = "/tmp") -> Path:
    """A fresh directory (under /tmp by default) that other users may read (Apache runs as www-data)."""
    path = Path(parent, f"{name}-{os.getpid()}-{time.monotonic_ns()}")
    path.mkdir(mode=0o755)
    os.chmod(path, 0o755)
    return path


def make_home(root: Path) -> Path:
    """A WARP_HOME that Apache's user may read (warp itself would create it 0700)."""
    home = root / "home"
    home.mkdir(mode=0o755, exist_ok=True)
    os.chmod(home, 0o755)
    return home


@contextmanager
def scratch_tree(name: str):
    """make_tree, removed afterwards whatever happens."""
    root = make_tree(name)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def user_warp(log) -> tuple[str, ...]:
    """warp installed the way a user installs it, once per benchmark run: `pip install .` into a venv of its own.

    Its modules are byte-compiled at install and no editable finder or .pth of the checkout's Python runs at its
    start-up, so a timed command measures what a user's `warp` costs.
    """
    if _user_warp:
        return _user_warp[0]
    root = make_tree("warp-bench-tool")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    log("installing warp as a user does (pip install . into its own venv)")
    run([PYTHON, "-m", "venv", root / "venv"], cwd=root, env=clean_environ())
    run([root / "venv/bin/python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", REPO], cwd=root, env=clean_environ())
    _user_warp.append((str(root / "venv/bin/warp"),))
    return _user_warp[0]


_user_warp: list[tuple[str, ...]] = []  # one install per benchmark run, whichever section asks first


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def first_200(port: int, proc: subprocess.Popen, *, timeout: float = 60, every: float = 0.01) -> None:
    """Poll GET / every ``every`` seconds until it answers 200."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"exited {proc.returncode} before answering")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(every)
    raise BenchError(f"no 200 on port {port} within {timeout:g}s")


#: Runs per figure: a full run, and --quick (each section reads its own plan off this number with is_quick).
FULL_RUNS, QUICK_RUNS = 5, 2


def is_quick(runs: int) -> bool:
    return runs < FULL_RUNS


def start_server(argv, **kwargs) -> subprocess.Popen:
    """Start a server (or warp) in a process group of its own, for stop(), but in this session, where wrk runs.

    On Linux each session is a scheduling autogroup (sched_autogroup_enabled): in a session of its own, all of a
    server's processes together would get one share of the CPUs against wrk's session, about one CPU of two, which
    caps every configuration with more than one process. In one session, wrk and the server are scheduled process
    by process, the nearest a shared machine comes to a server whose load comes from elsewhere.
    """
    return subprocess.Popen([str(a) for a in argv], preexec_fn=os.setpgrp, **kwargs)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stop a server started with start_server(), and every process below it."""
    tree = find_descendants(proc.pid) | {proc.pid}
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (proc.poll() is None or any(is_running(p) for p in tree - {proc.pid})):
        time.sleep(0.05)
    for pid in [proc.pid, *tree]:
        if is_running(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    proc.wait()


# ---------------------------------------------------------------- machine


def _first_line(argv) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except OSError:
        return "not found"
    return ((out.stdout or out.stderr).strip().splitlines() or ["?"])[0]


def machine() -> dict[str, str]:
    from warp import __version__
    from warp.env.venv import find_uv

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    os_name = platform.platform()
    if Path("/etc/os-release").exists():
        release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
        os_name = f"{release.get('PRETTY_NAME', '').strip(chr(34))}, Linux {platform.release()}"
    return {
        "CPUs": f"{os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), {cpu}",
        "Memory": f"{int(meminfo['MemTotal'].split()[0]) / 1024 / 1024:.1f} GiB",
        "OS": os_name,
        "Python (warp and build section)": f"{platform.python_version()} ({PYTHON})",
        # As the machine sets it, for every section: a built env's .pyc files count only when this stops imports writing them.
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", "(unset)"),
        "warp": __version__,
        "uv": _first_line([find_uv() or "uv", "--version"]),
    }
