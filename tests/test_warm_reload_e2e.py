"""`warp start --reload` forking each new server from its parked process: every kind of edit served, the warm path used.

Each edit must be served exactly as it is on disk, including the project modules
that a third-party one imports (Django's urls, models and admin modules, loaded by
Django itself) and templates and settings; and each restart must have been a fork
of the parked process (its line says "(warm)" and the server's parent chain leads
to the parked process), or the test is not testing the warm path. For Django the
parked process has run django.setup(): an edit to a file the setup read is a full
restart, said, and the next parked process is set up with the edit.
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from conftest import build_app, server_param
from test_reload_e2e import edit, wait_for_output, wait_for_text
from warp.proc import scan_process_table

pytestmark = pytest.mark.e2e

#: The WSGI servers whose --reload forks a parked process (uvicorn, ASGI, serves the Django site through its asgi.py).
WARM_SERVERS = ("gunicorn", "waitress")
PARKED = r" -----> Parked \d+ modules for warm reloads \(pid (\d+)"


def wait_for_count(running, count, wanted: int, timeout: float = 10) -> None:
    """Wait until ``count(running)`` (lines in warp's output) is ``wanted``; more is a failure too."""
    deadline = time.monotonic() + timeout
    while count(running) < wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert count(running) == wanted, running.output()


def wait_for_parked(running, count: int = 1, timeout: float = 60) -> int:
    """The pid of the ``count``-th parked process warp announced."""
    wait_for_count(running, lambda r: len(re.findall(PARKED, r.output())), count, timeout)
    return int(re.findall(PARKED, running.output())[count - 1])


def ancestors(pid: int) -> list[int]:
    table, chain = scan_process_table(), []
    while pid in table and pid > 1:
        pid = table[pid][1]
        chain.append(pid)
    return chain


def served_pid(running, path: str) -> int:
    return int(re.search(r"pid (\d+)", running.get(path)[1]).group(1))


def warm_restarts(running) -> int:
    return len(re.findall(r" -----> Restarted \S+ in \d+\.\d\ds after a change to \S+ \(warm\)", running.output()))


def assert_each_edit_is_served_warm(running, app, edits, pid_path: str) -> None:
    """Make each (file, pattern, replacement, path, served) edit; each is served, from a fork of the parked process."""
    parked = wait_for_parked(running)
    for number, (name, pattern, replacement, path, served) in enumerate(edits, start=1):
        time.sleep(0.3)
        before = (app.src / name).read_text()
        edit(app.src / name, pattern, replacement)
        assert (app.src / name).read_text() != before, f"the edit of {name} changed nothing"
        wait_for_text(running, served, path=path)
        wait_for_count(running, warm_restarts, number)
        assert parked in ancestors(served_pid(running, pid_path)), (parked, running.output())
    assert "Full restarts" not in running.output(), running.output()


#: Files Django's setup does not read: each edit forks the parked process, which has Django set up.
DJANGO_WARM_EDITS = [
    ("polls/views.py", r"polls view 0", "polls view 1", "/", "polls view 1"),
    ("polls/templates/polls/index.html", r"polls template 0", "polls template 1", "/", "polls template 1"),
    ("blog/helpers.py", r"helper 0", "helper 1", "/blog/", "helper 1"),
    ("templates/blog.html", r"blog template 0", "blog template 1", "/blog/", "blog template 1"),
    ("blog/views.py", r"blog view 0", "blog view 1", "/blog/", "blog view 1"),
    ("mysite/urls.py", r'"blog/"', '"news/"', "/news/", "blog view 1"),
]
#: Files Django's setup read in the parked process (settings, models, app configs): each edit is a full restart, said.
DJANGO_SETUP_EDITS = [
    ("mysite/settings.py", r"greeting 0", "greeting 1", "/", "greeting 1"),
    ("polls/models.py", r"question 0", "question 1", "/", "question 1"),
    ("polls/apps.py", r"app 0", "app 1", "/", "app 1"),
]
PARKED_WITH_DJANGO = PARKED + r", \d+ MB resident, shared with each server it forks\); Django set up with mysite\.settings\n"


def models_from(running) -> int:
    """The pid of the process that imported polls/models.py of the server that answers /."""
    return int(re.search(r"models from (\d+)", running.get("/")[1]).group(1))


@pytest.mark.parametrize("server", [pytest.param(s, marks=[] if s == "gunicorn" else [pytest.mark.slow], id=s) for s in (*WARM_SERVERS, "uvicorn")])
def test_each_kind_of_file_of_a_django_site_with_two_apps_is_served_warm_or_after_a_full_restart_when_the_setup_read_it(server, run_warp):
    app = build_app("django_two_apps_asgi" if server == "uvicorn" else "django_two_apps", server, copy_as=f"warm_django_{server}")
    # gunicorn as on most workstations, the servers writing the project's bytecode: the parked process then imports
    # settings and models from .pyc files, and must still know it read them. The others as this machine is set.
    bytecode = {"PYTHONDONTWRITEBYTECODE": ""} if server == "gunicorn" else None
    running = run_warp(app, "--server", server, "--reload", env=bytecode)
    running.wait_ready("/")
    wait_for_text(running, "polls template 0 polls view 0 question 0 greeting 0 app 0")
    parked = wait_for_parked(running)
    assert re.search(PARKED_WITH_DJANGO, running.output()), running.output()

    # Views, templates, helpers, URLconfs: forked from the parked process, whose models (Django set up) the server uses.
    assert_each_edit_is_served_warm(running, app, DJANGO_WARM_EDITS, "/")
    assert models_from(running) == parked
    assert running.get("/news/")[1] == "blog template 1 helper 1\n blog view 1"
    assert running.get("/blog/")[0] == 404

    # Settings, models, app configs: read by the setup, so a new interpreter serves them, said once each; then a new parked process.
    for number, (name, pattern, replacement, path, served) in enumerate(DJANGO_SETUP_EDITS, start=2):
        time.sleep(0.3)
        edit(app.src / name, pattern, replacement)
        wait_for_text(running, served, path=path)
        said = f" -----> Full restarts until a new parked process is ready: {name} changed, which Django's setup in the parked process read\n"
        assert running.output().count(said) == 1, running.output()
        wait_for_output(running, rf" -----> Restarted {server} in \d+\.\d\ds after a change to {re.escape(name)}\n")
        assert parked not in ancestors(served_pid(running, "/"))
        assert models_from(running) == served_pid(running, "/")  # its own models
        parked = wait_for_parked(running, number)
    assert warm_restarts(running) == len(DJANGO_WARM_EDITS)

    # The new parked process has the edited settings, models and app config set up: a view edit is warm again.
    edit(app.src / "polls" / "views.py", r"polls view 1", "polls view 2")
    wait_for_text(running, "polls template 1 polls view 2 question 1 greeting 1 app 1")
    wait_for_count(running, warm_restarts, len(DJANGO_WARM_EDITS) + 1)
    assert parked in ancestors(served_pid(running, "/"))
    assert models_from(running) == parked
    assert running.stop(signal.SIGINT, timeout=30) == 0, running.output()
    assert not running.leftovers(), running.output()


FLASK_EDITS = [
    ("config.py", r"greeting 0", "greeting 1", "/", "greeting 1"),
    ("shop/views.py", r"shop view 0", "shop view 1", "/", "shop view 1"),
    ("shop/prices.py", r"price 0", "price 1", "/", "price 1"),
    ("shop/templates/shop/index.html", r"shop template 0", "shop template 1", "/", "shop template 1"),
    ("blog.py", r'"/"', '"/posts"', "/blog/posts", "blog template 0"),
    ("templates/blog.html", r"blog template 0", "blog template 1", "/blog/posts", "blog template 1"),
    ("wsgi.py", r'"/blog"', '"/news"', "/news/posts", "blog template 1"),
]


@pytest.mark.parametrize("server", [server_param(s) for s in WARM_SERVERS])
def test_each_kind_of_file_of_a_flask_app_with_blueprints_is_served_after_a_warm_reload(server, run_warp):
    app = build_app("flask_blueprints", server, copy_as=f"warm_flask_{server}")
    running = run_warp(app, "--server", server, "--reload")
    running.wait_ready("/")
    wait_for_text(running, "shop template 0 price 0 greeting 0 shop view 0")
    assert_each_edit_is_served_warm(running, app, FLASK_EDITS, "/pid")
    assert running.get("/")[1] == "shop template 1 price 1 greeting 1 shop view 1"
    # Two dependencies are not parked: one starts a thread when imported (a fork would not have it running), the
    # other reads the project's config.py when imported (a parked copy would keep "greeting 0").
    assert running.get("/deps")[1] == "ticking True greeting 1"
    assert running.get("/blog/posts")[0] == 404
    assert running.stop(signal.SIGINT, timeout=30) == 0, running.output()
    assert not running.leftovers(), running.output()


def test_a_changed_environment_restarts_in_a_new_interpreter_once_then_forks_warm_again(run_warp):
    app = build_app("flask_blueprints", "gunicorn", copy_as="warm_fallback")
    running = run_warp(app, "--reload")
    running.wait_ready("/")
    first = wait_for_parked(running)
    assert "extra None" in running.get("/pid")[1]

    (app.src / ".warp").mkdir(exist_ok=True)
    (app.src / ".warp" / "environment").write_text("EXTRA=one\n")
    wait_for_text(running, "extra one", path="/pid")
    wait_for_output(running, r"Full restarts until a new parked process is ready: the environment changed")
    wait_for_output(running, r" -----> Restarted gunicorn in \d+\.\d\ds after a change to \.warp\S*\n")
    assert first not in ancestors(served_pid(running, "/pid"))
    assert running.output().count("Full restarts") == 1

    second = wait_for_parked(running, 2)
    assert second != first
    edit(app.src / "shop" / "prices.py", r"price 0", "price 1")
    wait_for_text(running, "price 1")
    wait_for_output(running, r"after a change to shop/prices\.py \(warm\)")
    assert second in ancestors(served_pid(running, "/pid"))
    assert "extra one" in running.get("/pid")[1]
    assert running.stop(signal.SIGTERM, timeout=30) == 0, running.output()
    assert not running.leftovers(), running.output()


@pytest.mark.slow
def test_a_build_restarts_in_a_new_interpreter_once_then_forks_warm_again(run_warp):
    app = build_app("flask_blueprints", "waitress", copy_as="warm_build")
    running = run_warp(app, "--server", "waitress", "--reload")
    running.wait_ready("/")
    first = wait_for_parked(running)
    views = app.src / "shop" / "views.py"
    views.write_text(views.read_text().replace('" shop view 0"', '" six " + __import__("six").__version__'))
    (app.src / "requirements.txt").write_text("Flask\nsix\n")
    wait_for_text(running, "six 1.", timeout=120)
    wait_for_output(running, r"Full restarts until a new parked process is ready: the interpreter or the installed packages changed")
    assert first not in ancestors(served_pid(running, "/pid"))
    second = wait_for_parked(running, 2)
    edit(app.src / "shop" / "prices.py", r"price 0", "price 1")
    wait_for_text(running, "price 1")
    wait_for_output(running, r"after a change to shop/prices\.py \(warm\)")
    assert second in ancestors(served_pid(running, "/pid"))
    running.stop(signal.SIGTERM)
    assert not running.leftovers(), running.output()
