"""The everyday commands: warp's own latency, and a no-op build against the tools doing the same work.

warp is installed the way a user installs it (`pip install .` into a venv of its own, so its
modules are byte-compiled), and timed as the machine is: PYTHONDONTWRITEBYTECODE as set.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from benchmarks.common import (
    PYTHON, BenchError, Section, Summary, clean_environ, is_quick, make_home, ratios, run, scratch_tree, user_warp,
)

#: The goal for the commands people put in their shell start-up (`warp activate`) or type all day.
CLI_GOAL = 0.080
#: The goal for a build with nothing to do, hooks' decisions included.
NOOP_GOAL = 0.2
#: `activate`, `env` and `list`, with nothing kept between runs: at most this many Python start-ups.
CLI_RATIO_GOAL = 3


def bench(runs: int, log) -> Section:
    with scratch_tree("warp-bench-cli") as root:
        return _bench(runs, log, root)


def _bench(runs: int, log, root: Path) -> Section:
    rounds = 5 if is_quick(runs) else 15
    warp = list(user_warp(log))
    tool = Path(warp[0]).parent.parent
    site = root / "site"
    home = make_home(root)
    environ = clean_environ(WARP_HOME=str(home), WARP_PYTHON=PYTHON)
    site.mkdir()
    (site / "requirements.txt").write_text("Django\n")
    log("cli: building a startproject site")
    run([*warp, "build"], cwd=site, env=environ)
    run([*warp, "exec", "django-admin", "startproject", "mysite", "."], cwd=site, env=environ)
    settings = site / "mysite" / "settings.py"  # a STATIC_ROOT, so that manage.py collectstatic runs by hand too
    settings.write_text(settings.read_text() + '\nSTATIC_ROOT = BASE_DIR / "collected"\n')
    run([*warp, "build"], cwd=site, env=environ)
    env_path = home / "envs" / "site"
    uv = shutil.which("uv", path=str(tool / "bin"))
    if uv is None:
        raise BenchError("uv is not in warp's venv")
    python = [str(tool / "bin/python"), "-c", "pass"]
    commands = {
        "python -c pass (a Python start-up)": python,
        "warp --version": [*warp, "--version"],
        'eval "$(warp activate)"': [*warp, "activate", "site"],
        "warp env": [*warp, "env"],
        "warp list": [*warp, "list"],
        "warp plan (startproject site)": [*warp, "plan"],
    }
    #: Timed right after a no-op build too, which records the build's time in the env's metadata: nothing is kept
    #: between commands, so these are the same commands as above, in the build rounds.
    after_build = {'eval "$(warp activate)", just after a build': commands['eval "$(warp activate)"'],
                   "warp env, just after a build": commands["warp env"], "warp list, just after a build": commands["warp list"]}
    equal_work = [
        [uv, "pip", "install", "--compile-bytecode", "--python", env_path / "bin/python", "-r", "requirements.txt"],
        [env_path / "bin/python", "manage.py", "collectstatic", "--noinput"],
    ]
    for argv in commands.values():  # uncounted: what the first run after the build keeps
        _time(argv, site, environ)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for index in range(rounds):
        for name, argv in commands.items():
            times[name].append(_time(argv, site, environ))
        log(f"cli: round {index + 1}/{rounds}")
    builds = {"python -c pass, in the build rounds": [], "warp build, nothing changed": [], **{name: [] for name in after_build},
              "uv + collectstatic, nothing changed": [], "uv alone, nothing changed": []}
    for index in range(rounds):
        builds["python -c pass, in the build rounds"].append(_time(python, site, environ))
        builds["warp build, nothing changed"].append(_time([*warp, "build"], site, environ))
        for name, argv in after_build.items():
            builds[name].append(_time(argv, site, environ))
        builds["uv + collectstatic, nothing changed"].append(sum(_time(argv, site, environ) for argv in equal_work))
        builds["uv alone, nothing changed"].append(_time(equal_work[0], site, environ))
        log(f"cli: build round {index + 1}/{rounds}")
    rows = []
    for group, baseline in ((times, times["python -c pass (a Python start-up)"]), (builds, builds["python -c pass, in the build rounds"])):
        for name, values in group.items():
            goal = ""
            if name == "warp --version":
                goal = "met" if Summary.of(values).median < CLI_GOAL else f"not met (goal < {CLI_GOAL * 1000:.0f} ms)"
            elif name in ('eval "$(warp activate)"', "warp env", "warp list") or name in after_build:
                ratio = Summary.of([value / base for value, base in zip(values, baseline)]).median
                goal = "met" if ratio <= CLI_RATIO_GOAL else f"not met (goal ≤ {CLI_RATIO_GOAL:g}× python)"
            elif name == "warp build, nothing changed":
                goal = "met" if Summary.of(values).median < NOOP_GOAL else f"not met (goal < {NOOP_GOAL * 1000:.0f} ms)"
            rows.append([name, Summary.of(values).seconds(), ratios(values, baseline).ratio(), goal])
    noop, equal = builds["warp build, nothing changed"], builds["uv + collectstatic, nothing changed"]
    return Section(
        title="Everyday commands",
        intro=(f"Wall time of each command, {rounds} rounds, warp installed by `pip install .` into a venv of its own and run "
               "from the startproject site's directory with its env built; ÷ python is the ratio to a bare Python start-up "
               "in the same round. The no-op build is compared with uv and collectstatic doing the same work, in rounds of "
               "their own."),
        headers=["command", "time", "÷ python", "goal"],
        rows=rows,
        notes=[
            f"warp's no-op build ÷ uv + collectstatic: {ratios(noop, equal).ratio()}",
            "The everyday commands' rounds come first, after one uncounted run of each; the build rounds follow. warp "
            "keeps nothing between commands: `activate`, `env` and `list` read the env's metadata (and `env` the "
            "project) and import click at every run, in both groups of rounds.",
        ],
    )


def _time(argv, cwd: Path, environ: dict[str, str]) -> float:
    started = time.perf_counter()
    run(argv, cwd=cwd, env=environ)
    return time.perf_counter() - started
