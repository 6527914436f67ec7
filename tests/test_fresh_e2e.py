"""What a start serves is what the files say now: after an edit, under --reload, after a change by hand to the env.

warp keeps nothing about the app between commands but the env and its build record; the server's own
process reads the app and its Django settings where it loads them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import textwrap
import time
from pathlib import Path

import pytest

from conftest import SHARED, build_app, django_site_with_assets, free_port, http_get, warp
from test_reload_e2e import wait_for_output, wait_for_text

pytestmark = pytest.mark.e2e


def set_setting(app, line: str) -> None:
    settings = app.src / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n" + line + "\n")


def collected_root(app) -> str:
    """Build, and where the build put the static files (the env's own directory: startproject sets no STATIC_ROOT)."""
    warp("build", cwd=app.src, home=app.home)
    return json.loads((app.home / "envs" / app.name / ".warp" / "build.json").read_text())["static_root"]


# ---------------------------------------------------------------- --reload plans again


def test_reload_serves_a_new_static_url_from_the_settings(run_warp):
    app = build_app("django_site", "gunicorn", copy_as="fresh-static-url")
    running = run_warp(app, "--reload")
    running.wait_ready("/admin/login/")
    assert "/static/admin/css/" in running.get("/admin/login/")[1]
    set_setting(app, 'STATIC_URL = "assets/"')
    wait_for_text(running, "/assets/admin/css/", path="/admin/login/")
    status, body = running.get("/assets/admin/css/base.css")
    assert status == 200 and "body" in body, running.output()
    assert running.get("/static/admin/css/base.css")[0] == 404


def test_reload_collects_the_static_files_of_an_app_added_to_installed_apps(run_warp):
    app = build_app("django_site", "gunicorn", copy_as="fresh-installed-apps")
    (app.src / "extra" / "static" / "extra").mkdir(parents=True, exist_ok=True)
    (app.src / "extra" / "__init__.py").write_text("")
    (app.src / "extra" / "static" / "extra" / "extra.css").write_text("p { color: teal; }\n")
    running = run_warp(app, "--reload")
    running.wait_ready("/admin/login/")
    assert running.get("/static/extra/extra.css")[0] == 404
    set_setting(app, 'INSTALLED_APPS += ["extra"]')
    wait_for_text(running, "teal", path="/static/extra/extra.css")


def test_reload_of_a_code_and_a_static_edit_in_one_batch_serves_both(run_warp):
    """What `git pull` or `git checkout` makes: a view and a stylesheet changed at once."""
    app, css = django_site_with_assets("fresh-one-batch")
    urls = app.src / "mysite" / "urls.py"
    if "def page" not in urls.read_text():
        urls.write_text(urls.read_text() + textwrap.dedent('''
            from django.http import HttpResponse


            def page(request):
                return HttpResponse("version one")


            urlpatterns.append(path("page/", page))
        '''))
    warp("build", cwd=app.src, home=app.home)
    running = run_warp(app, "--reload")
    running.wait_ready("/page/")
    assert running.get("/static/site.css")[1] == "body { color: red; }\n"
    urls.write_text(urls.read_text().replace("version one", "version two"))
    css.write_text("body { color: blue; }\n")
    wait_for_text(running, "version two", path="/page/")
    wait_for_text(running, "blue", path="/static/site.css", timeout=10)


def test_reload_serves_a_new_app_py_instead_of_wsgi_py(run_warp):
    app = build_app("flask_wsgi", "gunicorn", copy_as="fresh-app-py")
    (app.src / "app.py").unlink(missing_ok=True)
    running = run_warp(app, "--reload")
    running.wait_ready("/")
    (app.src / "app.py").write_text(textwrap.dedent('''
        import os
        from http.server import BaseHTTPRequestHandler, HTTPServer


        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"served by app.py")


        HTTPServer((os.environ["WARP_HTTP_HOST"], int(os.environ["PORT"])), Handler).serve_forever()
    '''))
    wait_for_text(running, "served by app.py")


# ---------------------------------------------------------------- a start reads what is there now


def test_start_serves_the_static_url_the_settings_say_now_even_with_the_same_size_and_mtime(run_warp):
    """A settings module in a symlinked folder, replaced by one of the same size and mtime (`tar --mtime`): no build since."""
    app = build_app("django_site", "gunicorn", copy_as="fresh-same-mtime")
    real = SHARED / "outside-settings" / "mysite"
    if not (app.src / "mysite").is_symlink():
        shutil.rmtree(real, ignore_errors=True)
        real.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(app.src / "mysite", real)
        os.symlink(real, app.src / "mysite")
        warp("build", cwd=app.src, home=app.home)
    settings = real / "settings.py"
    before = settings.stat()
    text = settings.read_text()
    assert "STATIC_URL = 'static/'" in text or 'STATIC_URL = "static/"' in text
    settings.write_text(re.sub(r"STATIC_URL = ['\"]static/['\"]", "STATIC_URL = 'assets/'", text))
    os.utime(settings, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert settings.stat().st_size == before.st_size
    running = run_warp(app)
    running.wait_ready("/admin/login/")
    assert "/assets/admin/css/" in running.get("/admin/login/")[1]
    assert running.get("/assets/admin/css/base.css")[0] == 200, running.output()


def test_nothing_is_kept_between_commands_but_the_env(run_warp):
    app = build_app("flask_wsgi", "gunicorn", copy_as="fresh-nothing-kept")
    for args in (("activate",), ("list",), ("env",), ("plan",)):
        warp(*args, cwd=app.src, home=app.home)
    running = run_warp(app)
    running.wait_ready("/")
    assert not (app.home / "starts").exists() and not (app.home / "said").exists()
    run = app.home / "envs" / app.name / ".warp" / "run"
    assert not list(run.glob("django-settings*")) and not (run / "app-check.json").exists()


# ---------------------------------------------------------------- warp build looks at what the env holds


def test_build_installs_again_a_package_removed_by_hand(run_warp):
    app = build_app("flask_wsgi", "gunicorn", copy_as="fresh-removed-by-hand")
    warp("exec", "python", "-m", "pip", "uninstall", "-y", "gunicorn", cwd=app.src, home=app.home)
    built = warp("build", cwd=app.src, home=app.home)
    assert "Dependencies unchanged" not in built.stderr
    running = run_warp(app)
    running.wait_ready("/")
    assert running.get("/")[0] == 200


def test_build_installs_again_a_changed_local_path_requirement(tmp_path):
    app = build_app("flask_wsgi", "gunicorn", copy_as="fresh-local-path")
    lib = app.src / "libs" / "mylib"
    lib.mkdir(parents=True, exist_ok=True)

    def write(version: int) -> None:
        (lib / "pyproject.toml").write_text(textwrap.dedent(f'''
            [build-system]
            requires = ["setuptools>=64"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "mylib"
            version = "{version}.0"
        '''))
        (lib / "mylib.py").write_text(f"VALUE = {version}\n")

    write(1)
    requirements = app.src / "requirements.txt"
    if "./libs/mylib" not in requirements.read_text():
        requirements.write_text(requirements.read_text() + "./libs/mylib\n")
    warp("build", cwd=app.src, home=app.home)
    write(2)
    built = warp("build", cwd=app.src, home=app.home)
    assert "Dependencies unchanged" not in built.stderr
    said = warp("exec", "python", "-c", "import mylib; print(mylib.VALUE)", cwd=app.src, home=app.home)
    assert said.stdout.strip() == "2"


def test_build_collects_what_a_django_installed_by_hand_brings(tmp_path):
    app = build_app("django_site", "gunicorn", copy_as="fresh-django-by-hand")
    warp("exec", "python", "-m", "pip", "install", "-q", "Django==4.2.*", cwd=app.src, home=app.home)
    root = collected_root(app)
    source = warp("exec", "python", "-c", "import django, os; print(os.path.dirname(django.__file__))", cwd=app.src, home=app.home).stdout.strip()
    wanted = open(os.path.join(source, "contrib/admin/static/admin/css/base.css")).read()
    assert open(os.path.join(root, "admin/css/base.css")).read() == wanted


def test_build_collects_a_staticfiles_dir_outside_the_project_through_a_symlink():
    app = build_app("django_site", "gunicorn", copy_as="fresh-outside-static")
    outside = SHARED / "outside-static"
    outside.mkdir(exist_ok=True)
    (outside / "brand.css").write_text("h1 { color: red; }\n")
    link = app.src / "brand"
    if not link.is_symlink():
        os.symlink(outside, link)
        set_setting(app, 'STATICFILES_DIRS = [BASE_DIR / "brand"]')
    root = collected_root(app)
    time.sleep(1.1)  # collectstatic compares whole seconds
    (outside / "brand.css").write_text("h1 { color: green; }\n")
    root = collected_root(app)
    assert open(os.path.join(root, "brand.css")).read() == "h1 { color: green; }\n"


# ---------------------------------------------------------------- the app's one import shows its errors


@pytest.mark.parametrize("server, processes", [("gunicorn", "2"), ("waitress", "2"), ("uvicorn", "2"), ("granian", "2"), ("hypercorn", "2")])
def test_an_app_that_cannot_load_stops_its_server_with_one_error(server, processes, run_warp, tmp_path):
    """From the server's own first import, shown once, never a loop of workers that fail again."""
    app_name = "fastapi_app" if server in ("uvicorn", "granian", "hypercorn") else "flask_wsgi"
    app = build_app(app_name, server, copy_as=f"fresh-broken-{server}")
    module = next(path for path in (app.src / "main.py", app.src / "wsgi.py") if path.exists())
    original = module.read_text()
    try:
        module.write_text("import not_installed_anywhere_xyz\n" + original)
        running = run_warp(app, "--processes", processes)
        code = running.proc.wait(timeout=60)
        output = running.output()
    finally:
        module.write_text(original)
    assert code != 0, output
    assert output.count("error: the application failed to import:") == 1, output
    assert output.count("--- traceback from the application (not from warp) ---") == 1, output
    assert "ModuleNotFoundError: No module named 'not_installed_anywhere_xyz'" in output
    assert "Traceback (most recent call last)" not in output, output


# ---------------------------------------------------------------- the development loop shows its errors


@pytest.mark.parametrize("server", ["gunicorn", "granian"])
def test_under_reload_a_syntax_error_is_shown_on_the_port_until_the_save_that_fixes_it(server, run_warp):
    app = build_app("fastapi_app" if server == "granian" else "flask_wsgi", server, copy_as=f"fresh-error-page-{server}")
    module = app.src / ("main.py" if server == "granian" else "wsgi.py")
    original = module.read_text()
    running = run_warp(app, "--reload")
    running.wait_ready("/")
    try:
        module.write_text(original + "\ndef broken(:\n")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, body = http_get(running.url("/"), timeout=5) if running.is_listening() else (0, "")
            if status == 500:
                break
            time.sleep(0.1)
        assert status == 500, running.output()
        assert "SyntaxError" in body and f"{module.name}&quot;, line" in body and "http-equiv=\"refresh\"" in body
        assert "error: the application failed to import" in body
    finally:
        module.write_text(original)
    wait_for_text(running, "hello" if server == "gunicorn" else "", timeout=30)
    assert running.get("/")[0] == 200


# ---------------------------------------------------------------- state after a failure

FULL_DISK_STORAGE = '''
import errno, os

from django.contrib.staticfiles.storage import StaticFilesStorage


class FullDiskStorage(StaticFilesStorage):
    """Runs out of space on the fourth file while FULL_DISK exists: that copy is left empty, as a full disk leaves it."""

    written = 0

    def _save(self, name, content):
        FullDiskStorage.written += 1
        if os.path.exists(os.environ["FULL_DISK"]) and FullDiskStorage.written == 4:
            open(self.path(name), "wb").close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return super()._save(name, content)
'''


def test_a_collectstatic_cut_short_leaves_the_env_unbuilt_and_the_next_build_repairs_it(tmp_path, run_warp):
    """A full disk during collectstatic, dependencies unchanged: no `state: ok`, and the next build copies every file again."""
    app = build_app("django_site", "gunicorn", copy_as="fresh-full-disk")
    flag = tmp_path / "full"
    (app.src / "mysite" / "fulldisk.py").write_text(textwrap.dedent(FULL_DISK_STORAGE))
    set_setting(app, 'STORAGES = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}, '
                     '"staticfiles": {"BACKEND": "mysite.fulldisk.FullDiskStorage"}}')
    env = {"FULL_DISK": str(flag)}
    warp("build", cwd=app.src, home=app.home, env=env)
    root = json.loads((app.home / "envs" / app.name / ".warp" / "build.json").read_text())["static_root"]
    for path in Path(root).rglob("*"):  # as if never collected: every file is copied again, the fourth cut short
        if path.is_file():
            path.unlink()
    flag.touch()
    failed = warp("build", cwd=app.src, home=app.home, env=env, check=False)
    assert failed.returncode != 0 and "No space left on device" in failed.stdout + failed.stderr
    record = json.loads((app.home / "envs" / app.name / ".warp" / "build.json").read_text())
    assert record["state"] != "ok"
    empty = [path for path in Path(root).rglob("*") if path.is_file() and path.stat().st_size == 0]
    assert empty, "the cut-short copy is the case this test is about"
    started = warp("start", "--host", "127.0.0.1", "--port", str(free_port()), cwd=app.src, home=app.home, env=env, check=False)
    assert "has no successful build" in started.stderr and "run `warp build`" in started.stderr
    flag.unlink()
    warp("build", cwd=app.src, home=app.home, env=env)
    assert json.loads((app.home / "envs" / app.name / ".warp" / "build.json").read_text())["state"] == "ok"
    assert not [path for path in Path(root).rglob("*") if path.is_file() and path.stat().st_size == 0]


def test_a_start_after_a_failed_django_build_says_to_build(tmp_path):
    app = build_app("django_site", "gunicorn", copy_as="fresh-failed-build")
    requirements = app.src / "requirements.txt"
    original = requirements.read_text()
    requirements.write_text(original + "this-package-does-not-exist-anywhere-xyz\n")
    try:
        assert warp("build", cwd=app.src, home=app.home, check=False).returncode != 0
        started = warp("start", "--host", "127.0.0.1", "--port", str(free_port()), cwd=app.src, home=app.home, check=False)
    finally:
        requirements.write_text(original)
    assert started.returncode != 0
    assert "has no successful build" in started.stderr and "django" not in started.stderr.lower().split("error:")[-1]
