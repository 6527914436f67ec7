"""Reload: edit to new response, `warp start --reload` against each server's own reloader and Django's runserver.

Three apps: the Flask test app, a `django-admin startproject` site and a `wagtail start` site (a CMS with about
thirty installed apps), both built by `warp build` as a user would.
"""

from __future__ import annotations

import http.client
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import (
    PYTHON, REPO, WARP, BenchError, Section, clean_environ, first_200, free_port, is_quick, make_home, run, scratch_tree, start_server, stop,
    with_server_wheels,
)
from benchmarks.start import DISTRIBUTIONS, IS_ROOT, SERVERS, app_python

#: Seconds between an edit being served and the next edit: random in this range (seeded, so runs repeat).
#: A fixed gap would keep a reloader that polls once a second in step with the edits and hide its polling wait;
#: people do not save in step with a poller.
EDIT_GAP = (0.5, 1.5)
GAPS = random.Random(20261121)
#: How often the edit loop asks for the new marker, and how often the poller thread requests /.
CHECK_EVERY = 0.005
POLL_EVERY = 0.01
#: Seconds between the first 200 and the first (uncounted) edit.
SETTLE = 2.5
#: Native reloaders --quick leaves out: uWSGI's --py-autoreload stops reloading under the poller's load
#: (a full run shows it), and waiting for its time-out would take a sixth of the quick run.
QUICK_SKIPS = {"native-uwsgi"}
#: An edit not served within this many seconds fails the configuration (--quick: QUICK_EDIT_TIMEOUT).
EDIT_TIMEOUT = 20
QUICK_EDIT_TIMEOUT = 10
#: The view's f-string up to " pid", as in tests/test_reload_e2e.py.
PATTERN = r'f"[^"]* pid'
#: The servers whose `warp start --reload` forks each new server from a parked process (warm); they also get a row
#: with WARP_RELOAD_WARM=0, warp's full restart in a new interpreter.
WARM_SERVERS = ("gunicorn", "waitress")
#: The Django sites measured warm, with a full restart and under runserver: group -> its label in the table.
DJANGO_SITES = {"django": "Django", "wagtail": "Wagtail"}
#: What the issue asks of the Wagtail site: warm at least this many times faster than runserver and than a full restart.
WAGTAIL_GOALS = {"native-wagtail": ("manage.py runserver", 3.0), "cold-wagtail": ("warp's full restart", 2.0)}
PARKED = re.compile(r" -----> Parked (\d+) modules for warm reloads \(pid \d+, (\d+) MB resident")
NATIVE_LABELS = {
    "gunicorn": "gunicorn --reload",
    "uwsgi": "uwsgi --py-autoreload 1",
    "mod_wsgi": "mod_wsgi-express --reload-on-changes",
    "waitress": "hupper -m waitress",
}


# ---------------------------------------------------------------- HTTP


def get(port: int, timeout: float = 30) -> tuple[int, str]:
    """GET / on a new connection; OSError when it cannot be made or answered."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    except http.client.HTTPException as exc:  # e.g. RemoteDisconnected, BadStatusLine
        raise OSError(repr(exc)) from None
    finally:
        conn.close()


class Poller(threading.Thread):
    """GET / every POLL_EVERY seconds until told to stop; counts the answers that are not a 200."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.ok, self.failed, self.done = port, 0, [], threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                status, _ = get(self.port)
                if status == 200:
                    self.ok += 1
                else:
                    self.failed.append(f"HTTP {status}")
            except OSError as exc:
                self.failed.append(type(exc).__name__ if str(exc).startswith("[Errno") else str(exc))
            time.sleep(POLL_EVERY)


# ---------------------------------------------------------------- one configuration


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return self.ok + len(self.failed)


class Editor:
    """Rewrites the view so / answers a new marker; every marker makes the file longer than the one before.

    Python trusts a cached .pyc whose recorded source mtime (whole seconds) and size match the file;
    two edits in the same second must not have the same size, or a restarted server could import the stale bytecode.
    """

    def __init__(self, source: Path) -> None:
        self.source, self.count = source, 0
        self.original = source.read_text()

    def edit(self) -> str:
        self.count += 1
        marker = f"edit {self.count} " + "+" * self.count
        text = re.sub(PATTERN, f'f"{marker} pid', self.source.read_text(), count=1)
        self.source.write_text(text)
        return marker

    def restore(self) -> None:
        self.source.write_text(self.original)


def wait_for(port: int, marker: str, started: float, proc: subprocess.Popen, timeout: float = EDIT_TIMEOUT) -> float:
    """Seconds from ``started`` until GET / answers 200 with ``marker`` (checked every CHECK_EVERY s)."""
    while True:
        try:
            status, body = get(port)
            if status == 200 and marker in body:
                return time.perf_counter() - started
        except OSError:
            pass
        if proc.poll() is not None:
            raise BenchError(f"exited {proc.returncode} while waiting for {marker!r}")
        if time.perf_counter() - started > timeout:
            raise BenchError(f"{marker!r} was not served within {timeout:g}s")
        time.sleep(CHECK_EVERY)


def measure(argv: list, port: int, editor: Editor, edits: int, *, cwd: Path, env: dict, log: Path, sig: int = signal.SIGTERM,
            edit_timeout: float = EDIT_TIMEOUT) -> Result:
    """Start the command, make one uncounted edit, then ``edits`` timed edits while a poller counts failed requests."""
    result = Result()
    with open(log, "w") as out:
        proc = start_server(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        poller = Poller(port)
        try:
            first_200(port, proc, timeout=120)
            time.sleep(SETTLE)  # let the watcher take its first look at the tree (hupper learns the files from its worker once a second)
            try:
                wait_for(port, editor.edit(), time.perf_counter(), proc, edit_timeout)  # warm-up edit, not counted
            except BenchError as exc:
                raise BenchError(f"uncounted first edit: {exc}") from None
            poller.start()
            for number in range(1, edits + 1):
                time.sleep(GAPS.uniform(*EDIT_GAP))
                marker = editor.edit()
                try:
                    result.latencies.append(wait_for(port, marker, time.perf_counter(), proc, edit_timeout))
                except BenchError as exc:
                    raise BenchError(f"timed edit {number} of {edits}: {exc}") from None
            time.sleep(EDIT_GAP[0])
        except BenchError as exc:
            raise BenchError(f"{exc}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])) from None
        finally:
            poller.done.set()
            if poller.is_alive():
                poller.join(timeout=60)
            stop(proc, sig)
            editor.restore()
    result.ok, result.failed = poller.ok, poller.failed
    return result


def read_warm_log(log: Path) -> tuple[int, int, int, int]:
    """(modules parked, MB resident, warm restarts, restarts) from a warm `warp start --reload` log."""
    text = log.read_text(errors="replace")
    found = PARKED.search(text)
    modules, rss = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    warm = len(re.findall(r" -----> Restarted \S+ in [\d.]+s after a change to \S+ \(warm\)", text))
    return modules, rss, warm, text.count(" -----> Restarted ")


# ---------------------------------------------------------------- statistics


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def span(values: list[float]) -> str:
    low, high = min(values), max(values)
    if high < 1:
        return f"{low * 1000:.0f}–{high * 1000:.0f} ms"
    return f"{low:.2f}–{high:.2f} s"


def failures(result: Result) -> str:
    text = f"{len(result.failed)} / {result.requests}"
    if result.failed:
        kinds: dict[str, int] = {}
        for kind in result.failed:
            kinds[kind] = kinds.get(kind, 0) + 1
        text += " (" + ", ".join(f"{n}× {kind}" for kind, n in sorted(kinds.items(), key=lambda item: -item[1])) + ")"
    return text


# ---------------------------------------------------------------- projects


def build(src: Path, servers, env: dict, log) -> tuple[dict[str, str], Path | None]:
    """`warp build --server S` for each server; (skipped server -> reason, the env's path)."""
    skipped: dict[str, str] = {}
    env_path = None
    for server in servers:
        log(f"reload: warp build --server {server} in {src.name}")
        try:
            run([*WARP, "build", "--server", server], cwd=src, env=env)
        except BenchError as exc:
            skipped[server] = "failed to build: " + " / ".join(str(exc).strip().splitlines()[-2:])
            log(f"reload: skipping {server}: {skipped[server]}")
            continue
        env_path = env_path or Path(run([*WARP, "exec", "python", "-c", "import sys; print(sys.prefix)"], cwd=src, env=env).stdout.strip())
    return skipped, env_path


def make_django_site(src: Path, env: dict) -> None:
    """A `django-admin startproject` site, made as tests/conftest.py makes it, whose / names its pid."""
    src.mkdir(mode=0o755)
    (src / "requirements.txt").write_text("Django\n")
    run([*WARP, "build"], cwd=src, env=env)
    run([*WARP, "exec", "django-admin", "startproject", "mysite", "."], cwd=src, env=env)
    (src / "mysite" / "views.py").write_text(
        "import os\n\nfrom django.http import HttpResponse\n\n\n"
        "def index(request):\n    return HttpResponse(f\"hello from django pid {os.getpid()}\")\n"
    )
    urls = src / "mysite" / "urls.py"
    text, found = re.subn(r"""(path\(["']admin/["'], admin\.site\.urls\),)""", r'\1\n    path("", __import__("mysite.views").views.index),', urls.read_text())
    if not found:
        raise BenchError(f"no admin route to add the view after in {urls}")
    urls.write_text(text)


def make_wagtail_site(src: Path, env: dict, log) -> Path:
    """A `wagtail start` site built by `warp build`, whose / is a view of its own (home/views.py, imported by a URL pattern); its env.

    Wagtail is installed first into an env of its own to run `wagtail start`; the site then asks for that release
    (the template's own pins may ask for a newer Python than the app's) and gets its env from `warp build`.
    """
    maker = src.parent / "wagtail_maker"
    maker.mkdir(mode=0o755)
    (maker / "requirements.txt").write_text("wagtail\n")
    log("reload: warp build of an env to run `wagtail start` in")
    run([*WARP, "build"], cwd=maker, env=env)
    version = run([*WARP, "exec", "python", "-c", "import wagtail; print(wagtail.__version__)"], cwd=maker, env=env).stdout.split()[-1]
    src.mkdir(mode=0o755)
    run([*WARP, "exec", "wagtail", "start", "mysite", src], cwd=maker, env=env)
    (src / "requirements.txt").write_text(f"wagtail=={version}\n")
    (src / "home" / "views.py").write_text(
        "import os\n\nfrom django.http import HttpResponse\n\n\n"
        "def index(request):\n    return HttpResponse(f\"hello from wagtail pid {os.getpid()}\")\n"
    )
    urls = src / "mysite" / "urls.py"
    text, found = re.subn(r"^urlpatterns = \[\n", 'urlpatterns = [\n    path("", __import__("home.views").views.index),\n', urls.read_text(), count=1, flags=re.M)
    if not found:
        raise BenchError(f"no urlpatterns to add the view to in {urls}")
    urls.write_text(text)
    skipped, env_path = build(src, ["gunicorn"], env, log)
    if env_path is None:
        raise BenchError(skipped["gunicorn"])
    log("reload: warp migrate of the Wagtail site")
    run([*WARP, "migrate"], cwd=src, env=env)
    return env_path


def make_django_plans(group: str, site: Path, site_env: Path, warp_env: dict, editor: "Editor") -> dict[str, tuple]:
    """warp's warm reload, warp's full restart and `manage.py runserver` for a Django site: key -> plan."""
    hand_env = clean_environ(VIRTUAL_ENV=str(site_env), PATH=f"{site_env / 'bin'}:{os.environ.get('PATH', '')}")
    warm = lambda port: [*WARP, "start", "--server", "gunicorn", "--reload", "--host", "127.0.0.1", "--port", port]  # noqa: E731  (a plan's argv factory)
    return {
        f"warp-{group}": (warm, editor, site, warp_env, signal.SIGTERM),
        f"cold-{group}": (warm, editor, site, {**warp_env, "WARP_RELOAD_WARM": "0"}, signal.SIGTERM),
        f"native-{group}": (lambda port: [site_env / "bin/python", "manage.py", "runserver", f"127.0.0.1:{port}"], editor, site, hand_env, signal.SIGTERM),
    }


def make_django_rows(group: str) -> list[tuple[str, str, str]]:
    label = DJANGO_SITES[group]
    return [(group, f"{label} (gunicorn): warp start --reload (warm)", f"warp-{group}"),
            (group, f"{label} (gunicorn): warp start --reload, full restart", f"cold-{group}"),
            *([(group, "Django: gunicorn --reload", "gunicorn-django")] if group == "django" else []),
            (group, f"{label}: manage.py runserver", f"native-{group}")]


def versions_in(env_path: Path, env: dict, names) -> dict[str, str]:
    code = "import importlib.metadata as m, sys\nfor d in sys.argv[1:]:\n    try: print(d, m.version(d))\n    except m.PackageNotFoundError: pass"
    out = run([env_path / "bin/python", "-c", code, *names], cwd=env_path, env=env).stdout
    return dict(line.split() for line in out.splitlines())


def probe(env_path: Path, env: dict, code: str) -> str:
    result = subprocess.run([str(env_path / "bin/python"), "-c", code], env=env, capture_output=True, text=True, timeout=60)
    return result.stdout.strip() if result.returncode == 0 else ""


# ---------------------------------------------------------------- the section


def native(server: str, env: Path, port: int, root: Path) -> list:
    """Each server's own reloader, otherwise the command the start section types by hand."""
    bin_, listen = env / "bin", f"127.0.0.1:{port}"
    if server == "gunicorn":
        # No control socket: another gunicorn of this user (a test, a second benchmark) would share or steal it.
        return [bin_ / "gunicorn", "-b", listen, "--reload", "--no-control-socket", "wsgi:application"]
    if server == "waitress":
        return [bin_ / "hupper", "-m", "waitress", "--listen", listen, "wsgi:application"]
    if server == "uwsgi":
        return [bin_ / "uwsgi", "--master", "--http-socket", listen, "--module", "wsgi:application", "--virtualenv", env, "--py-autoreload", "1"]
    argv = [bin_ / "mod_wsgi-express", "start-server", "--reload-on-changes", "--host", "127.0.0.1", "--port", port,
            "--application-type", "module", "--entry-point", "wsgi", "--server-root", root / f"mod_wsgi-{port}"]
    return argv + (["--user", "www-data", "--group", "www-data"] if IS_ROOT else [])


def bench(runs: int, log) -> Section:
    with scratch_tree("warp-bench-reload") as root:
        return _bench(runs, log, root)


def _bench(runs: int, log, root: Path) -> Section:
    quick = is_quick(runs)
    edits, edit_timeout = (3, QUICK_EDIT_TIMEOUT) if quick else (10, EDIT_TIMEOUT)
    src, site, wagtail, home, logs = root / "flask_wsgi", root / "django_site", root / "wagtail_site", make_home(root), root / "logs"
    shutil.copytree(REPO / "tests/apps/flask_wsgi", src, ignore=shutil.ignore_patterns("__pycache__"))
    logs.mkdir()
    python = app_python()
    warp_env = with_server_wheels(clean_environ(WARP_HOME=str(home), WARP_PYTHON=python), python, log)
    skipped, env_path = build(src, SERVERS, warp_env, log)
    if env_path is None:
        raise BenchError("no server could be built:\n" + "\n".join(f"{k}: {v}" for k, v in skipped.items()))
    hand_env = clean_environ(VIRTUAL_ENV=str(env_path), PATH=f"{env_path / 'bin'}:{os.environ.get('PATH', '')}")

    notes: list[str] = []
    hupper = None
    if "waitress" not in skipped:
        log("reload: pip install hupper into the app's env")
        try:
            run([env_path / "bin/python", "-m", "pip", "install", "--quiet", "hupper"], cwd=src, env=hand_env, timeout=300)
            hupper = versions_in(env_path, hand_env, ["hupper"]).get("hupper")
        except BenchError as exc:
            notes.append("hupper did not install (" + " / ".join(str(exc).strip().splitlines()[-1:]) + "): waitress has no native reloader in this table.")

    log("reload: making the Django site")
    django_skip = None
    try:
        make_django_site(site, warp_env)
        site_skipped, site_env = build(site, ["gunicorn"], warp_env, log)
        if site_env is None:
            raise BenchError(site_skipped["gunicorn"])
        site_hand_env = clean_environ(VIRTUAL_ENV=str(site_env), PATH=f"{site_env / 'bin'}:{os.environ.get('PATH', '')}")
    except BenchError as exc:
        django_skip = str(exc).strip().splitlines()[0]
        log(f"reload: skipping Django: {exc}")

    log("reload: making the Wagtail site")
    wagtail_skip = wagtail_env = None
    try:
        wagtail_env = make_wagtail_site(wagtail, warp_env, log)
    except BenchError as exc:
        wagtail_skip = str(exc).strip().splitlines()[0]
        log(f"reload: skipping Wagtail: {exc}")

    rows: list[tuple[str, str, str]] = []  # (group, label, key)
    plans: dict[str, tuple] = {}  # key -> (argv factory, editor, cwd, env, signal)
    flask_editor = Editor(src / "wsgi.py")
    for server in SERVERS:
        if server in skipped:
            continue
        warp_key, native_key = f"warp-{server}", f"native-{server}"
        plans[warp_key] = (lambda port, s=server: [*WARP, "start", "--server", s, "--reload", "--host", "127.0.0.1", "--port", port],
                           flask_editor, src, warp_env, signal.SIGTERM)
        if (server != "waitress" or hupper) and not (quick and native_key in QUICK_SKIPS):
            plans[native_key] = (lambda port, s=server: native(s, env_path, port, root), flask_editor, src, hand_env,
                                 signal.SIGINT if server == "uwsgi" else signal.SIGTERM)
        if server in WARM_SERVERS:
            plans[f"cold-{server}"] = (plans[warp_key][0], flask_editor, src, {**warp_env, "WARP_RELOAD_WARM": "0"}, signal.SIGTERM)
            rows += [(server, f"{server}: warp start --reload (warm)", warp_key),
                     (server, f"{server}: warp start --reload, full restart", f"cold-{server}")]
        else:
            rows.append((server, f"{server}: warp start --reload", warp_key))
        rows.append((server, f"{server}: {NATIVE_LABELS[server]}", native_key))
    if django_skip is None:
        django_editor = Editor(site / "mysite" / "views.py")
        plans.update(make_django_plans("django", site, site_env, warp_env, django_editor))
        plans["gunicorn-django"] = (lambda port: [site_env / "bin/gunicorn", "-b", f"127.0.0.1:{port}", "--reload", "--no-control-socket",
                                                  "mysite.wsgi:application"],
                                    django_editor, site, site_hand_env, signal.SIGTERM)
        rows += make_django_rows("django")
    if wagtail_skip is None:
        plans.update(make_django_plans("wagtail", wagtail, wagtail_env, warp_env, Editor(wagtail / "home" / "views.py")))
        rows += make_django_rows("wagtail")

    results: dict[str, Result] = {}
    errors: dict[str, str] = {}
    parked: dict[str, tuple[int, int, int, int]] = {}  # warm key -> (modules, MB resident, warm restarts, restarts)
    groups = list(dict.fromkeys(group for group, _, _ in rows))
    for index, group in enumerate(groups):
        keys = [key for g, _, key in rows if g == group and key in plans]
        for key in keys if index % 2 == 0 else reversed(keys):  # alternate which goes first
            factory, editor, cwd, env, sig = plans[key]
            attempts = 1 if quick else 2  # --quick does not retry (uWSGI's own reloader can stall for good)
            for attempt in range(1, attempts + 1):
                port = free_port()
                try:
                    results[key] = measure(factory(port), port, editor, edits, cwd=cwd, env=env, log=logs / f"{key}-{port}.log", sig=sig,
                                           edit_timeout=edit_timeout)
                    if key.startswith("warp-") and (key[5:] in DJANGO_SITES or key[5:] in WARM_SERVERS):
                        parked[key] = read_warm_log(logs / f"{key}-{port}.log")
                    break
                except BenchError as exc:
                    first, last = str(exc).splitlines()[0], str(exc).strip().splitlines()[-1][:300]
                    log(f"reload: {key} failed (attempt {attempt}): {first}; last log line: {last}")
                    if attempt == attempts:
                        errors[key] = first
                    else:
                        notes.append(f"{key} failed once and was retried: {first}; last log line: {last}")
            if key in results:
                r = results[key]
                log(f"reload: {key:15} median {statistics.median(r.latencies):.3f} s  max {max(r.latencies):.3f} s  failed {len(r.failed)}/{r.requests}")

    section = Section(
        title="Reload",
        intro=(
            "From rewriting the app's view so that `/` answers a new marker to the first GET `/` that returns it "
            f"(asked every {CHECK_EVERY * 1000:.0f} ms), {edits} edits per configuration, after one uncounted edit, each "
            f"{EDIT_GAP[0]:g}–{EDIT_GAP[1]:g} s (random, seeded) after the previous one was served: a reloader that polls once "
            "a second is then measured with its polling wait, as people meet it. "
            "Meanwhile a second client requests `/` every 10 ms and counts the requests that fail (connection errors, non-200). "
            "The Flask app tests/apps/flask_wsgi under `warp start --server S --reload` (warm, and with WARP_RELOAD_WARM=0 a full restart) "
            "against the server's own reloader in the same env; "
            "a `django-admin startproject` site under `warp start --server gunicorn --reload` (warm and full restart) against "
            "`gunicorn --reload` and `manage.py runserver`; a `wagtail start` site (built by `warp build`, migrated by `warp migrate`; "
            "the edited view is home/views.py, which a URL pattern imports) under the same, against `manage.py runserver`."
        ),
        headers=["configuration", "median", "p95", "min–max", "failed / requests", "÷ warp"],
    )
    for group, label, key in rows:
        if key not in plans:
            why = "not run with --quick" if quick and key in QUICK_SKIPS else "no native reloader" if group == "waitress" else "skipped"
            section.rows.append([label, why, "", "", "", ""])
            continue
        if key in errors:
            section.rows.append([label, "failed", "", "", errors[key][:120], ""])
            continue
        result = results[key]
        ratio = ""
        peer = f"warp-{group}"
        if not key.startswith("warp-") and peer in results:
            ratio = f"{statistics.median(result.latencies) / statistics.median(results[peer].latencies):.2f}×"
        section.rows.append([label, seconds(statistics.median(result.latencies)), seconds(p95(result.latencies)), span(result.latencies), failures(result), ratio])
    for server, reason in skipped.items():
        notes.append(f"{server} skipped: {reason}")
    if django_skip:
        notes.append(f"Django skipped: {django_skip}")
    if wagtail_skip:
        notes.append(f"Wagtail skipped: {wagtail_skip}")
    if "warp-wagtail" in results:
        warm_median = statistics.median(results["warp-wagtail"].latencies)
        notes.append("Wagtail, warm against the others: " + "; ".join(
            f"{statistics.median(results[key].latencies) / warm_median:.2f}× faster than {name} (goal ≥ {goal:g}×)"
            for key, (name, goal) in WAGTAIL_GOALS.items() if key in results) + ".")

    engine = probe(env_path, hand_env, "from gunicorn import reloader; print('inotify' if reloader.has_inotify else 'poll')") if "gunicorn" not in skipped else ""
    django_reloader = ""
    if django_skip is None:
        django_reloader = probe(site_env, site_hand_env, "from django.utils import autoreload; print(type(autoreload.get_reloader()).__name__)")
    section.notes = [
        f"{edits} edits per configuration; median, 95th percentile (interpolated) and range of the edits' latencies. "
        "÷ warp divides a row's median by the median of `warp start --reload` on the same server (warm where it says so), "
        "measured back to back in the same run (alternating which goes first).",
        "warm: warp keeps a parked process in the app's interpreter that imported the server and the installed modules the app "
        "loaded (none of the project's) and, for a Django site, ran django.setup() (its settings, app configs and models); "
        "each edit forks it and the fork imports the rest of the project. "
        "full restart: the same with WARP_RELOAD_WARM=0, each edit starts the server in a new interpreter. "
        + "; ".join(f"{key}: the parked process held {modules} modules in {rss} MB resident (shared copy-on-write with the servers it forks), "
                    f"{warm} of {restarts} restarts (the uncounted first edit included) were warm"
                    for key, (modules, rss, warm, restarts) in parked.items()) + ".",
        "failed / requests counts the second client's requests from the first timed edit to the last one served; "
        "a request may wait while a server restarts, which is not a failure.",
        f"App interpreter: {python}; warp itself runs on {PYTHON}. The envs are as `warp build` made them (byte-compiled at install), PYTHONDONTWRITEBYTECODE as the machine sets it; "
        "each edit makes the file longer, so a restarted server never trusts a stale .pyc of the view.",
        "warp: watchfiles (inotify) with 50 ms of quiet before a batch; the new server gets warp's listening socket "
        "(gunicorn, uWSGI, Waitress; 2 processes × 4 threads), so requests made while the old one stops and the new one imports the app wait in the backlog; "
        "mod_wsgi: the app runs in Apache's children (embedded mode, 1 process × 4 threads); warp kills those children and sends Apache "
        "a SIGHUP, which keeps the listening socket and starts new children at once; they tell warp through a pipe when the app is imported.",
        "Native: "
        f"`gunicorn -b 127.0.0.1:P --reload --no-control-socket wsgi:application` (reload engine `auto`, which here is {engine or '?'}: "
        + ("the `inotify` package is installed" if engine == "inotify" else "gunicorn polls every second, as the `inotify` package is not installed")
        + "; the arbiter keeps the socket and restarts its 1 sync worker); "
        "`uwsgi --master --http-socket 127.0.0.1:P --module wsgi:application --virtualenv ENV --py-autoreload 1` (checks the loaded modules every second, then reloads); "
        "`mod_wsgi-express start-server --reload-on-changes --application-type module --entry-point wsgi"
        + (" --user www-data --group www-data" if IS_ROOT else "") + "` (the daemon checks its modules once a second); "
        + (f"`hupper -m waitress --listen 127.0.0.1:P wsgi:application` (hupper {hupper}, installed with pip into the env; it restarts the whole process, which binds the port anew)."
           if hupper else "Waitress has no reloader of its own."),
        "Django: the site's own env (Django, gunicorn); `gunicorn -b 127.0.0.1:P --reload --no-control-socket mysite.wsgi:application`; "
        "`python manage.py runserver 127.0.0.1:P` uses "
        + (f"Django's {django_reloader}" if django_reloader else "Django's autoreloader")
        + (" (polls every second; pywatchman is not installed)" if django_reloader == "StatReloader" else "")
        + " and restarts its child process, which binds the port anew.",
    ]
    if quick:
        notes.append(f"--quick: {edits} edits per configuration, a {edit_timeout} s limit per edit, and "
                     + ", ".join(sorted(QUICK_SKIPS)) + " not run; a full run measures everything.")
    section.notes += notes
    versions = versions_in(env_path, hand_env, ["flask", *DISTRIBUTIONS.values()] + (["hupper"] if hupper else []))
    section.versions = {f"{name} (reload app)": version for name, version in versions.items()}
    section.versions["Python (reload app)"] = run([python, "--version"], cwd=src, env=hand_env).stdout.split()[-1]
    section.versions["watchfiles (warp)"] = probe(Path(PYTHON).parent.parent, clean_environ(), "import watchfiles; print(watchfiles.__version__)") or "?"
    if django_skip is None:
        section.versions["Django (reload site)"] = versions_in(site_env, site_hand_env, ["django"]).get("django", "?")
    if wagtail_skip is None:
        for name, version in versions_in(wagtail_env, clean_environ(), ["wagtail", "django"]).items():
            section.versions[f"{name} (Wagtail site)"] = version
    return section
