"""Start: command to first HTTP 200 on /, `warp start --server S` against the same server started by hand."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from benchmarks.common import (
    PYTHON, REPO, WARP, BenchError, Section, Summary, clean_environ, first_200, free_port, make_home, scratch_tree, ratios, run, start_server, stop,
    user_warp, with_server_wheels,
)

SERVERS = ("gunicorn", "waitress", "uwsgi", "mod_wsgi")
MEDIA_APP = "flask + media"
DISTRIBUTIONS = {"gunicorn": "gunicorn", "waitress": "waitress", "uwsgi": "uWSGI", "mod_wsgi": "mod-wsgi"}
IS_ROOT = os.geteuid() == 0


def app_python() -> str:
    """Apache's unprivileged user cannot read a Python under /root, so as root use the system one."""
    return "/usr/bin/python3" if IS_ROOT and Path("/usr/bin/python3").exists() else PYTHON


#: The apps: where they come from, and what a user types to serve them by hand ("module:callable", or a paste ini).
APPS = {
    "flask": ("tests/apps/flask_wsgi", "wsgi:application"),
    "django": (None, "mysite.wsgi:application"),  # `django-admin startproject`, as benchmarks/reload.py makes it
    "pyramid": ("tests/apps/pyramid_paste", "paste.ini"),
    # The Flask app beside a media folder of 50,000 files (uploads, data): a start must not read them.
    MEDIA_APP: ("tests/apps/flask_wsgi", "wsgi:application"),
}
#: The file a user saves before a start "after an edit", per app.
EDITED = {"flask": "wsgi.py", "django": "mysite/urls.py", "pyramid": "hello/__init__.py", MEDIA_APP: "wsgi.py"}
MEDIA_FILES = 50_000


def by_hand(server: str, app: str, env: Path, port: int, root: Path, src: Path, processes: int, threads: int) -> list:
    """The command a user would type to run ``app`` under ``server`` with the processes x threads warp chose."""
    bin_, listen, target = env / "bin", f"127.0.0.1:{port}", APPS[app][1]
    paste = target.endswith(".ini")
    if server == "gunicorn":
        where = ["--paste", target] if paste else [target]
        return [bin_ / "gunicorn", "-b", listen, "-w", processes, "--threads", threads, *where]
    if server == "waitress":
        if paste:  # pserve reads the ini's [server:main]: a copy that listens on the port with warp's threads
            ini = root / f"paste-{port}.ini"
            ini.write_text(re.sub(r"(?m)^listen = .*$", f"listen = {listen}\nthreads = {threads}", (src / target).read_text()))
            return ["env", f"PYTHONPATH={src}", bin_ / "pserve", ini]  # the ini is not beside the app's module
        return [bin_ / "waitress-serve", "--listen", listen, "--threads", threads, target]  # one process: waitress forks none
    if server == "uwsgi":
        where = ["--paste", f"config:{src / target}"] if paste else ["--module", target]
        return [bin_ / "uwsgi", "--master", "--http-socket", listen, "--processes", processes, "--threads", threads,
                *where, "--virtualenv", env]
    kind = ["--application-type", "paste", src / target] if paste else ["--application-type", "module", "--entry-point", target.split(":")[0]]
    argv = [bin_ / "mod_wsgi-express", "start-server", "--host", "127.0.0.1", "--port", port, "--processes", processes,
            "--threads", threads, *kind, "--server-root", root / f"mod_wsgi-{port}"]
    return argv + (["--user", "www-data", "--group", "www-data"] if IS_ROOT else [])


def find_concurrency(src: Path, server: str, env: dict) -> tuple[int, int]:
    """The processes x threads `warp plan` shows for ``server``: the by-hand command gets the same."""
    plan = run([*WARP, "plan", "--server", server], cwd=src, env=env).stdout
    match = re.search(r"^processes x threads +(\d+) x (\d+) ", plan, re.MULTILINE)
    if not match:
        raise BenchError(f"no processes x threads in `warp plan --server {server}`:\n{plan}")
    return int(match.group(1)), int(match.group(2))


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


#: Starts per configuration even in a quick run: a start takes a second or so, and on a shared machine two starts
#: back to back differ by tens of ms, the size of the goal's margin; a median of two is an average.
MIN_RUNS = 9


def bench(runs: int, log) -> Section:
    with scratch_tree("warp-bench-start") as root:
        return _bench(max(runs, MIN_RUNS), log, root)


def prepare(app: str, root: Path, warp_env: dict, log) -> tuple[Path, dict[str, str], Path | None]:
    """The app's source, built with each server in turn: (source, skipped server -> reason, the env's path)."""
    from benchmarks.reload import make_django_site  # reload imports this module

    src, skipped, env_path = root / app.replace(" + ", "-"), {}, None
    if APPS[app][0] is None:
        make_django_site(src, warp_env)
    else:
        shutil.copytree(REPO / APPS[app][0], src, ignore=shutil.ignore_patterns("__pycache__"))
    if app == MEDIA_APP:
        make_media(src / "media")
    for server in SERVERS:
        if app == MEDIA_APP and server != "gunicorn":
            skipped[server] = "the media row compares gunicorn's start with and without the folder"
            continue
        log(f"start: warp build --server {server} ({app})")
        started = time.perf_counter()
        try:
            run([*WARP, "build", "--server", server], cwd=src, env=warp_env)
        except BenchError as exc:
            skipped[server] = "failed to build: " + " / ".join(str(exc).strip().splitlines()[-2:])
            log(f"start: skipping {server} ({app}): {skipped[server]}")
            continue
        log(f"start: built {server} ({app}) in {time.perf_counter() - started:.1f} s")
        env_path = env_path or Path(run([*WARP, "exec", "python", "-c", "import sys; print(sys.prefix)"], cwd=src, env=warp_env).stdout.strip())
    return src, skipped, env_path


def make_media(folder: Path) -> None:
    """MEDIA_FILES small files in 500 folders, as uploads pile up."""
    for index in range(MEDIA_FILES):
        sub = folder / f"{index // 100:03d}"
        if index % 100 == 0:
            sub.mkdir(parents=True)
        (sub / f"upload-{index}.jpg").write_bytes(b"\xff\xd8 not really a picture")


def _bench(runs: int, log, root: Path) -> Section:
    home, logs = make_home(root), root / "logs"
    logs.mkdir()
    python = app_python()
    warp_env = with_server_wheels(clean_environ(WARP_HOME=str(home), WARP_PYTHON=python), python, log)
    skipped: dict[tuple[str, str], str] = {}
    sources: dict[str, tuple[Path, Path, dict]] = {}
    for app in APPS:
        src, failed, env_path = prepare(app, root, warp_env, log)
        skipped.update({(app, server): reason for server, reason in failed.items()})
        if env_path is not None:
            sources[app] = src, env_path, clean_environ(VIRTUAL_ENV=str(env_path), PATH=f"{env_path / 'bin'}:{os.environ.get('PATH', '')}")
        else:
            skipped.update({(app, server): "no server could be built" for server in SERVERS})
    configs = [(app, server) for app in APPS for server in SERVERS if (app, server) not in skipped]
    concurrency = {}
    for app, server in list(configs):
        try:
            concurrency[app, server] = find_concurrency(sources[app][0], server, warp_env)
        except BenchError as exc:
            skipped[app, server] = str(exc).splitlines()[0]
            configs.remove((app, server))

    warp = user_warp(log)
    ports = {config: free_port() for config in configs}  # one per configuration, as a user restarts on 8080

    def once(app: str, server: str, who: str) -> float:
        src, env_path, hand_env = sources[app]
        port = ports[app, server]
        name = f"{who}-{app}-{server}-{port}.log"
        if who in ("warp", "edit"):
            if who == "edit":  # a save before the next start: new content, not only a new mtime
                edited = src / EDITED[app]
                edited.write_text(edited.read_text() + "# saved\n")
            argv = [*warp, "start", "--server", server, "--host", "127.0.0.1", "--port", port]
            return time_start(argv, port, cwd=src, env=warp_env, log=logs / name)
        sig = signal.SIGINT if server == "uwsgi" else signal.SIGTERM
        argv = by_hand(server, app, env_path, port, root, src, *concurrency[app, server])
        return time_start(argv, port, cwd=src, env=hand_env, log=logs / name, sig=sig)

    failures: list[str] = []

    def measured(app: str, server: str, who: str) -> float:
        """One start; a failed start is retried once and reported in the notes."""
        try:
            return once(app, server, who)
        except BenchError as exc:
            failures.append(f"{app}/{server} ({who}) failed once and was retried: {str(exc).splitlines()[0]}; "
                            f"last log line: {str(exc).splitlines()[-1][:300]}")
            log(f"start: {failures[-1]}")
            return once(app, server, who)

    for app, server in list(configs):  # warm-up: page cache, warp's cached answers; not counted
        try:
            measured(app, server, "warp"), measured(app, server, "edit"), measured(app, server, "hand")
        except BenchError as exc:
            skipped[app, server] = "failed to start: " + str(exc).splitlines()[0]
            log(f"start: skipping {app}/{server}: {exc}")
            configs.remove((app, server))
    order = ("warp", "edit", "hand")
    times = {(app, server, who): [] for app, server in configs for who in order}
    for index in range(runs):
        for app, server in configs:
            for who in order[index % 3:] + order[:index % 3]:  # each goes first in turn
                times[app, server, who].append(measured(app, server, who))
            log(f"start: run {index + 1}/{runs} {app:8} {server:8}  warp {times[app, server, 'warp'][-1]:.3f} s  "
                f"after an edit {times[app, server, 'edit'][-1]:.3f} s  by hand {times[app, server, 'hand'][-1]:.3f} s")

    section = Section(
        title="Start",
        intro=(
            "From running the command to the first HTTP 200 on `/` (polled every 10 ms): `warp start --server S --host 127.0.0.1 "
            "--port P` (warp installed as a user installs it: `pip install .` into a venv of its own) against the same "
            "server, in the same env (made by `warp build`), started by hand with the processes × threads warp chose, each "
            "configuration on one port throughout, as a user restarts on 8080, for the Flask app tests/apps/flask_wsgi, a `django-admin startproject` site and the Pyramid "
            "paste app tests/apps/pyramid_paste; \"after an edit\" appends a line to a file of the app (a real save) before each "
            "counted start. Goals: warp − hand at most +100 ms, nothing changed and after an edit; the Flask app with a media "
            f"folder of {MEDIA_FILES:,} files within +50 ms of the same app without it."
        ),
        headers=["app", "server", "processes × threads", "warp start", "after an edit", "by hand", "warp − hand", "edit − hand",
                 "warp ÷ hand"],
    )
    for app in APPS:
        for server in SERVERS:
            if (app, server) in skipped:
                if app != MEDIA_APP:
                    section.rows.append([app, server, "skipped", "", "", "", "", "", ""])
                continue
            warp, edit, hand = times[app, server, "warp"], times[app, server, "edit"], times[app, server, "hand"]
            section.rows.append([
                app, server, "%d × %d" % concurrency[app, server], Summary.of(warp).seconds(), Summary.of(edit).seconds(),
                Summary.of(hand).seconds(), Summary.of([w - h for w, h in zip(warp, hand)]).millis(),
                Summary.of([e - h for e, h in zip(edit, hand)]).millis(), ratios(warp, hand).ratio(),
            ])
    media_note = []
    if (MEDIA_APP, "gunicorn") in configs and ("flask", "gunicorn") in configs:
        media, plain = times[MEDIA_APP, "gunicorn", "edit"], times["flask", "gunicorn", "edit"]
        media_note.append(
            f"{MEDIA_FILES:,} media files: warp's start after an edit of the Flask app with them − without them, run by run: "
            f"{Summary.of([m - p for m, p in zip(media, plain)]).millis()} (goal at most +50 ms)."
        )
    section.notes = [
        f"Median of {runs} runs, (min–max); differences and ratios are taken run by run (warp and by hand back to back, "
        "each of the three going first in turn), after one uncounted start of each.",
        f"App interpreter: {python}" + (" (as root: Apache's user cannot read a Python under /root)" if python != PYTHON else "")
        + "; warp itself runs on " + PYTHON + ". The envs are as `warp build` made them (byte-compiled at install); "
        f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '(unset)')} as the machine sets it.",
        "By hand, with P × T from `warp plan`: `gunicorn -b 127.0.0.1:P -w P --threads T TARGET` (`--paste paste.ini`); "
        "`waitress-serve --listen 127.0.0.1:P --threads T TARGET` (one process; Pyramid: `pserve` on a copy of the ini that "
        "listens there); `uwsgi --master --http-socket 127.0.0.1:P --processes P --threads T --module TARGET --virtualenv ENV` "
        "(`--paste config:paste.ini`); `mod_wsgi-express start-server --host 127.0.0.1 --port P --processes P --threads T "
        "--application-type module --entry-point MODULE` (`--application-type paste paste.ini`)"
        + (" --user www-data --group www-data" if IS_ROOT else "") + " (plus `--server-root` in the benchmark's directory).",
        "warp's start includes its own interpreter start-up, reading the project and settings, planning, and what it runs "
        "before the server; it keeps nothing between starts, so a start after an edit does the same work as one after none. "
        "The app is imported once, by the server, through the module warp generates (Django: its settings are read there). "
        "mod_wsgi: `apachectl` on the configuration `setup-server` wrote at the warm-up start (run again when its arguments, "
        "environment, program or the build record change, by content); waitress: warp's launcher script, which forks the "
        "processes; Django: warp also serves the static files.",
    ]
    section.notes += media_note + failures
    section.notes += [f"{app}/{server} skipped: {reason}" for (app, server), reason in skipped.items() if app != MEDIA_APP]
    if sources:
        code = "import importlib.metadata as m, sys\nfor d in sys.argv[1:]:\n    try: print(d, m.version(d))\n    except m.PackageNotFoundError: pass"
        section.versions = {}
        for app, (src, env_path, hand_env) in sources.items():
            out = run([env_path / "bin/python", "-c", code, {"flask": "flask", "django": "django", "pyramid": "pyramid", MEDIA_APP: "flask"}[app],
                       *DISTRIBUTIONS.values()], cwd=src, env=hand_env).stdout
            section.versions.update({f"{name} (start app)": version for name, version in (line.split() for line in out.splitlines())})
        section.versions["Python (start app)"] = run([python, "--version"], cwd=src, env=hand_env).stdout.split()[-1]
    if any(server == "mod_wsgi" for _, server in configs):
        apache = shutil.which("apache2") or shutil.which("httpd") or "/usr/sbin/apache2"
        section.versions["Apache"] = run([apache, "-v"], cwd=root, env=clean_environ()).stdout.splitlines()[0].split(":", 1)[-1].strip()
    return section
