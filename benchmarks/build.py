"""Build: cold `warp build` against venv + pip, uv venv + uv pip and warpdrive 0.34.0, then the no-op rebuild of each."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.common import PYTHON, WARP, BenchError, Section, Summary, clean_environ, is_quick, make_tree, ratios, run, timed, user_warp

TOOLS = ("warp", "warp-uncached", "pip", "uv", "uv-same", "warpdrive")
LABELS = {
    "warp": "warp build", "warp-uncached": "warp build, no bytecode cache", "pip": "venv + pip", "uv": "uv venv + uv pip", "uv-same": "uv, warp's work by hand",
    "warpdrive": "warpdrive build",
}
WARPDRIVE = "warpdrive==0.34.0"
#: warpdrive's own workflow: `warpdrive activate NAME` makes (or enters) the env with virtualenv and pip-installs
#: warpdrive into it; `warpdrive build` pip-installs the requirements and the server, then runs collectstatic.
WARPDRIVE_BUILD = 'set -eo pipefail; eval "$(warpdrive activate bench --python={python})"; warpdrive build'
VERSION_CODE = "import importlib.metadata as m; print(m.version('django'), m.version('gunicorn'))"


def find_uv() -> str:
    """The uv that ships with warp (its dependency), found from warp's interpreter."""
    return run([PYTHON, "-c", "import uv; print(uv.find_uv_bin())"], cwd=Path.cwd(), env=clean_environ()).stdout.strip()


def make_project(root: Path) -> tuple[Path, list[str]]:
    """A Django site made as the tests make theirs: warp build, django-admin startproject, with gunicorn."""
    src = root / "template"
    src.mkdir()
    (src / "requirements.txt").write_text("Django\ngunicorn\n")
    env = clean_environ(WARP_HOME=str(root / "setup-home"))
    run([*WARP, "build"], cwd=src, env=env)
    run([*WARP, "exec", "django-admin", "startproject", "mysite", "."], cwd=src, env=env)
    settings = src / "mysite" / "settings.py"  # a STATIC_ROOT, so that collectstatic by hand has somewhere to write
    settings.write_text(settings.read_text() + '\nSTATIC_ROOT = BASE_DIR / "collected"\n')
    run([*WARP, "build"], cwd=src, env=env)
    if "unchanged" not in run([*WARP, "build"], cwd=src, env=env).stderr:
        raise BenchError("a second `warp build` with nothing changed did not report its inputs unchanged")
    versions = run([*WARP, "exec", "python", "-c", VERSION_CODE], cwd=src, env=env).stdout.split()
    return src, versions


def install_warpdrive(root: Path) -> Path:
    """warpdrive 0.34.0 and virtualenv (which it needs on PATH) in a venv of their own: its bin directory."""
    tool = root / "warpdrive-tool"
    env = clean_environ()
    run([PYTHON, "-m", "venv", tool], cwd=root, env=env)
    run([tool / "bin/pip", "install", "--disable-pip-version-check", "-q", WARPDRIVE, "virtualenv"], cwd=root, env=env)
    return tool / "bin"


def plan(tool: str, src: Path, home: Path, uv: str, warpdrive_bin: Path | None = None, warp: tuple[str, ...] = WARP):
    """(environment, cold commands, no-op rebuild command) for one tool; ``warp``: the warp a user installed."""
    if tool == "warpdrive":
        # Server gunicorn, as warp chooses for this project (it is named in requirements.txt); warpdrive's default is mod_wsgi.
        env = {k: v for k, v in clean_environ().items() if not k.startswith("WARPDRIVE")}
        env.update(PATH=f"{warpdrive_bin}:{env.get('PATH', '')}", WARPDRIVE_VIRTUALENVS=str(home), WARPDRIVE_SERVER_TYPE="gunicorn")
        build = ["bash", "-c", WARPDRIVE_BUILD.format(python=PYTHON)]
        return env, [build], [build]
    if tool in ("warp", "warp-uncached"):
        extra = {"WARP_NO_CACHE": "1"} if tool == "warp-uncached" else {}
        return clean_environ(WARP_HOME=str(home), **extra), [[*warp, "build"]], [[*warp, "build"]]
    if tool == "pip":
        install = [src / ".venv/bin/pip", "install", "-r", "requirements.txt"]
        return clean_environ(), [[PYTHON, "-m", "venv", ".venv"], install], [install]
    if tool == "uv-same":  # what warp's build does for this project: a seeded venv, compiled installs, WhiteNoise, collectstatic
        install = [uv, "pip", "install", "--compile-bytecode", "--python", ".venv/bin/python", "-r", "requirements.txt", "whitenoise"]
        collect = [src / ".venv/bin/python", "manage.py", "collectstatic", "--noinput"]
        return clean_environ(), [[uv, "venv", "--seed", "--python", PYTHON], install, collect], [install, collect]
    install = [uv, "pip", "install", "-r", "requirements.txt"]
    return clean_environ(), [[uv, "venv", "--python", PYTHON], install], [install]


def one_run(tool: str, template: Path, root: Path, uv: str, warpdrive_bin: Path | None = None,
            warp: tuple[str, ...] = WARP) -> tuple[float, float, Path]:
    workdir = make_tree(tool, root)
    src = workdir / "src"
    shutil.copytree(template, src, ignore=shutil.ignore_patterns("__pycache__", ".venv", "collected"))
    if tool == "warpdrive":
        (workdir / "home").mkdir()
    env, cold, noop = plan(tool, src, workdir / "home", uv, warpdrive_bin, warp)
    return timed(cold, cwd=src, env=env), timed(noop, cwd=src, env=env), workdir


def bench(runs: int, log) -> Section:
    root = make_tree("warp-bench-build")
    try:
        uv = find_uv()
        log(f"build: making the Django project in {root}")
        template, (django, gunicorn) = make_project(root)
        log(f"build: installing {WARPDRIVE} and virtualenv into a venv of their own")
        warpdrive_bin = install_warpdrive(root)
        # warp's and uv's cache (one uv cache) was filled by make_project's `warp build`.
        log("build: warm-up of pip and warpdrive (fills pip's cache and virtualenv's seed wheels; not counted)")
        for tool in ("pip", "warpdrive"):
            *_, workdir = one_run(tool, template, root, uv, warpdrive_bin)
            if tool == "pip":
                pip_version = run([workdir / "src/.venv/bin/pip", "--version"], cwd=workdir, env=clean_environ()).stdout.split(" from ")[0]
            shutil.rmtree(workdir)
        # --quick: one timed run; a full run: `runs` of them.
        rounds = 1 if is_quick(runs) else runs
        warp = user_warp(log)
        times = {tool: ([], []) for tool in TOOLS}
        for index in range(rounds):
            order = TOOLS[index % len(TOOLS) :] + TOOLS[: index % len(TOOLS)]  # rotate, so no tool always runs first
            for tool in order:
                # Kept until the end: deleting a tree of new files slows the next runs' writes on some disks
                # (online discard), whichever tool comes next.
                cold, noop, workdir = one_run(tool, template, root, uv, warpdrive_bin, warp)
                times[tool][0].append(cold)
                times[tool][1].append(noop)
                log(f"build: run {index + 1}/{rounds} {tool:9}  cold {cold:6.2f} s  no-op {noop:6.2f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    section = Section(
        title="Build",
        intro=(
            "The same Django project (`django-admin startproject`, requirements: Django, gunicorn), with the package "
            "caches of pip and uv already warm. Cold: a new env from nothing (`warp build` with a fresh WARP_HOME, warp "
            "installed as a user installs it; "
            "`python -m venv .venv && .venv/bin/pip install -r requirements.txt`; "
            "`uv venv && uv pip install -r requirements.txt`; the same with warp's work done by hand (below); warpdrive 0.34.0's own workflow, "
            "`eval \"$(warpdrive activate NAME)\" && warpdrive build`). No-op: the same install command again, nothing changed."
        ),
        headers=["", *(LABELS[tool] for tool in TOOLS), "warp ÷ pip", "warp ÷ uv", "warp ÷ uv (same work)",
                 "warp, no bytecode cache ÷ uv (same work)", "warp ÷ warpdrive"],
    )
    for phase, name in ((0, "cold"), (1, "no-op rebuild")):
        warp, uncached, pip, uvt, same, wd = (times[tool][phase] for tool in TOOLS)
        section.rows.append([
            name, *(Summary.of(times[tool][phase]).seconds() for tool in TOOLS),
            ratios(warp, pip).ratio(), ratios(warp, uvt).ratio(), ratios(warp, same).ratio(), ratios(uncached, same).ratio(),
            ratios(warp, wd).ratio(),
        ])
    section.notes = [
        f"Median of {rounds} run{'s' if rounds > 1 else ''}, (min–max); ratios are taken run by run (the tools run back to back, in rotating order).",
        "warp byte-compiles what it installed, reusing the bytecode that an earlier env compiled from the same source "
        "(its cache, ~/.cache/warp, shared by every env as uv's and pip's caches are, and warm like them: the project's "
        "first build filled it); `warp build, no bytecode cache` is the same build with WARP_NO_CACHE=1, compiling everything.",
        f"One interpreter for all: {PYTHON} (warp's own, as WARP_PYTHON is unset); uv is warp's dependency ({uv}).",
        "warp's cold build does more than its peers: it also installs whitenoise (for static files under gunicorn), "
        "seeds pip into the env (`uv venv --seed`), runs collectstatic through Django, and writes its build record.",
        "`python -m venv` also seeds pip (ensurepip); `uv venv` seeds nothing.",
        "uv, warp's work by hand: `uv venv --seed && uv pip install --compile-bytecode -r requirements.txt whitenoise && "
        "python manage.py collectstatic --noinput`; its no-op is the install and collectstatic again. The goal: warp's cold "
        "build at or under it (warp ÷ uv (same work) ≤ 1.00×).",
        "warp's no-op rebuild starts warp, fingerprints the inputs and what the env holds, skips the install, and runs "
        "collectstatic (on every build: only Django knows all its sources); "
        "pip and uv re-resolve the requirements against the env.",
        f"warpdrive: {WARPDRIVE} and virtualenv from the index in a venv of their own, on PATH; a fresh WARPDRIVE_VIRTUALENVS per run; "
        f"`warpdrive activate bench --python={PYTHON}` (virtualenv, then `pip install {WARPDRIVE}` into the new env) and `warpdrive build` "
        "(pip install -r with pip's cache, the server and WhiteNoise, then collectstatic) in one bash. Its server was set to gunicorn "
        "(WARPDRIVE_SERVER_TYPE), the server warp chooses for this project, so both install the same packages; "
        "warpdrive's default, mod_wsgi, would also compile or fetch mod_wsgi. Its no-op rebuild is the same command again.",
    ]
    section.versions = {"Django": django, "gunicorn (build project)": gunicorn, "pip (in the venv)": pip_version}
    return section
