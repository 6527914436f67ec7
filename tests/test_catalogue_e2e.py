"""The bad-input catalogue: one row per way a user can get warp wrong, run through the real command line.

Each row gives the input, the exit code, a fragment of the `error:` (or `warning:`)
line, and what must be unchanged afterwards:

- ``source``: the project tree, byte for byte (warp edits nothing of the user's);
- ``envs``: the list of envs in WARP_HOME (nothing created, nothing deleted);
- ``env``: the env's metadata, build record and installed distributions;
- ``unbuilt``: no build record of success (a failed build never records one).

Every row also asserts that no Python traceback from warp is printed and that
an error is followed by its one-line hint. Rows marked ``as_user`` run as
``nobody`` when the tests run as root (a privileged port, an unwritable
WARP_HOME or an unreadable file mean nothing to root).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from conftest import SHARED, build_app, free_port, warp, warp_environ

pytestmark = pytest.mark.e2e

IS_ROOT = os.geteuid() == 0
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
MISSING_PACKAGE = "this-package-does-not-exist-warp-xyz"


# ---------------------------------------------------------------- worlds


@dataclass
class World:
    """Where a row runs: a project, a WARP_HOME and the env's name; ports chosen for this row."""

    project: Path
    home: Path
    env_name: str
    port: int = field(default_factory=free_port)
    closed_port: int = field(default_factory=free_port)
    environ: dict[str, str] = field(default_factory=dict)
    held: list = field(default_factory=list)

    @property
    def env(self) -> Path:
        return self.home / "envs" / self.env_name

    def write(self, relative: str, text: str, mode: int = 0o644) -> Path:
        path = self.project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
        return path

    def activate(self) -> None:
        """Create the project's env (as the current user)."""
        warp("activate", self.env_name, cwd=self.project, home=self.home)


def fresh_world() -> World:
    """An empty project and WARP_HOME that ``nobody`` can reach (tmp_path is private to root)."""
    root = SHARED / "catalogue" / uuid.uuid4().hex[:10]
    root.mkdir(parents=True)
    for path in (SHARED / "catalogue", root):
        path.chmod(0o755)
    project = root / "project"
    project.mkdir()
    return World(project, root / "home", "project")


BROKEN = {
    "empty/README": "nothing to run here\n",
    "ambiguous/app.py": "print('app.py')\n",
    "ambiguous/wsgi.py": "def application(environ, start_response):\n    return []\n",
    "broken_syntax/wsgi.py": "def application(environ, start_response:\n    return []\n",
    "broken_import/wsgi.py": "import os\nimport not_installed_anywhere_xyz\n\napplication = None\n",
    # The usual Flask/FastAPI layout: app.py only defines the app; run as a script it ends at once.
    # An app.py that runs itself (warpdrive's python mode) but ends before it listens.
    "module_only/app.py": "from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.route('/')\ndef index():\n    return 'hi'\n\n\n"
                          "if __name__ == '__main__':\n    print('configured, not serving')\n",
    "shell_exits/app.sh": "#!/bin/sh\necho preparing\nexit 3\n",
    # An ASGI app by the FastAPI convention, with no dependency.
    "asgi_only/main.py": "async def app(scope, receive, send):\n    pass\n",
}


@pytest.fixture(scope="session")
def served():
    """tests/apps/flask_wsgi built with gunicorn, plus subdirectories of broken apps; rows only read it."""
    app = build_app("flask_wsgi", "gunicorn", copy_as="catalogue-flask")
    for relative, text in BROKEN.items():
        path = app.src / relative
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(0o755 if path.suffix == ".sh" else 0o644)
        os.replace(tmp, path)
    return app


# ---------------------------------------------------------------- row setups


def hold_port(world: World) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", world.port))
    sock.listen()
    world.held.append(sock)


def hold_port_lock(world: World) -> None:
    """What a `warp start` holds from its port check until its server has exited (the server inherits it)."""
    from warp.run.claims import find_runtime_dir

    runtime = find_runtime_dir(world.env, Path(tempfile.gettempdir()), os.geteuid()).parent
    runtime.mkdir(mode=0o755, exist_ok=True)
    handle = open(runtime / f"port-{world.port}.lock", "a+")
    fcntl.flock(handle, fcntl.LOCK_EX)
    world.held.append(handle)


def hook(name: str, body: str, mode: int = 0o755) -> Callable[[World], None]:
    """An action hook running ``body`` with /bin/sh; an empty body makes a script with no #! line at all."""

    def setup(world: World) -> None:
        world.write(f".warp/action_hooks/{name}", f"#!/bin/sh\n{body}\n" if body else "echo no interpreter line\n", mode)
        world.write("requirements.txt", "")

    return setup


def hook_symlink_out(world: World) -> None:
    outside = world.project.parent / "outside.sh"
    outside.write_text("#!/bin/sh\necho OUTSIDE-RAN\n")
    outside.chmod(0o755)
    (world.project / ".warp" / "action_hooks").mkdir(parents=True)
    (world.project / ".warp" / "action_hooks" / "build").symlink_to(outside)
    world.write("requirements.txt", "")


def files(**texts: str) -> Callable[[World], None]:
    def setup(world: World) -> None:
        for relative, text in texts.items():
            world.write(relative.replace("__", "/").replace("_DOT_", "."), text)

    return setup


def with_env(then: Callable[[World], None] | None = None) -> Callable[[World], None]:
    def setup(world: World) -> None:
        world.activate()
        if then:
            then(world)

    return setup


def corrupt(relative: str, text: str) -> Callable[[World], None]:
    return with_env(lambda world: (world.env / relative).write_text(text))


def wsgi_project(world: World) -> None:
    world.write("wsgi.py", "def application(environ, start_response):\n    return []\n")


def active(name: str) -> Callable[[World], None]:
    def setup(world: World) -> None:
        world.environ["WARP_ENV_NAME"] = name

    return setup


def symlinked_env_out(world: World) -> None:
    world.activate()
    outside = world.project / "not-an-env"
    (outside / ".warp").mkdir(parents=True)
    (outside / ".warp" / "env.json").write_text('{"name": "decoy"}')
    (outside / "precious.txt").write_text("user data")
    (world.home / "envs" / "escape").symlink_to(outside)


def home_under_a_file(world: World) -> None:
    (world.project.parent / "a-file").write_text("")
    world.home = world.project.parent / "a-file" / "home"


def home_is_a_file(world: World) -> None:
    world.home = world.project.parent / "home-file"
    world.home.write_text("")


def home_not_writable(world: World) -> None:
    world.home.mkdir(mode=0o755)
    if IS_ROOT:
        os.chown(world.project, NOBODY, NOBODY)  # nobody's project, root's WARP_HOME
    else:
        world.home.chmod(0o500)


def unreadable_requirements(world: World) -> None:
    world.write("requirements.txt", "-r secret-reqs.txt\n")
    world.activate()
    secret = world.write("secret-reqs.txt", "six\n", mode=0o600)
    if IS_ROOT:  # nobody owns the project and the env, root keeps the file
        for path in [world.project, *world.project.rglob("*"), world.home, *world.home.rglob("*")]:
            if path != secret and not path.is_symlink():
                os.chown(path, NOBODY, NOBODY)
    else:
        secret.chmod(0)


def unreadable_environment_file(world: World) -> None:
    world.write(".warp/environment", f"SECRET={SECRET}\n", mode=0o600 if IS_ROOT else 0)  # root's file, read by nobody


def python_fails_in_virtualenvs(world: World) -> None:
    """An interpreter that runs, but exits with an error inside any virtualenv in WARP_HOME (a broken startup file)."""
    site = world.project.parent / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, sys\n"
        "if sys.prefix != sys.base_prefix and sys.prefix.startswith(os.environ['WARP_HOME']):\n"
        "    sys.stderr.write('this python cannot start inside a virtualenv\\n')\n"
        "    os._exit(3)\n"
    )
    world.environ["PYTHONPATH"] = str(site)


def django_settings_error(world: World) -> None:
    world.write("requirements.txt", "Django\n")
    world.write(
        "manage.py",
        "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n"
        "from django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n",
    )
    world.write("mysite/__init__.py", "")
    world.write(
        "mysite/settings.py",
        "from pathlib import Path\nBASE = Path(__file__).resolve().parent.parent\nSECRET_KEY = 'x'\n"
        "INSTALLED_APPS = ['django.contrib.staticfiles']\nSTATIC_ROOT = BASE / 'collected'\n# no STATIC_URL\n",
    )


# ---------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int
    message: str
    keeps: tuple[str, ...]
    setup: Callable[[World], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: "served": the shared built app (rows only read it); "fresh": a new project and WARP_HOME.
    world: str = "fresh"
    #: More fragments that must appear in stderr, and fragments that must not appear anywhere.
    also: tuple[str, ...] = ()
    never: tuple[str, ...] = ()
    as_user: bool = False
    #: A command that runs warp in a state the test cannot set up from outside (a deleted cwd).
    wrap: tuple[str, ...] = ()
    #: Returns why the row cannot be tried on this machine, or None.
    needs: Callable[[], str | None] = lambda: None


def privileged_ports() -> str | None:
    """Port 80 is privileged only where the kernel says so (containers may lower the limit to 0)."""
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return None
    return None if start > 80 else f"ports from {start} up need no privilege here"


START = ("start", "--host", "127.0.0.1", "--port", "{port}")
SECRET = "hunter2-never-shown"

CASES = [
    # entry points and the app itself
    Case("no-entry-point", ("plan", "--home", "empty"), 2, "no application found in", ("source", "env"), world="served",
         also=("looked for, in order:", "name it with --app module:callable")),
    Case("ambiguous-entry-point", ("plan", "--home", "ambiguous"), 0, "more than one entry point", ("source", "env"), world="served",
         also=("using app.py (python mode), not wsgi.py; pass --mode or --app to choose",)),
    # The app's one import is the server's (gunicorn here): a worker that cannot load it stops gunicorn, which exits 3.
    Case("app-missing-module", (*START, "--app", "nosuch:application"), 3, "module 'nosuch' cannot be found", ("source", "env"), world="served",
         also=("name the application with --app module:callable",)),
    Case("app-missing-attribute", (*START, "--app", "wsgi:nope"), 3, "wsgi has no attribute 'nope'", ("source", "env"), world="served"),
    Case("app-not-callable", (*START, "--app", "wsgi:os"), 3, "wsgi:os is not callable (it is a module)", ("source", "env"), world="served"),
    Case("app-missing-script", (*START, "--app", "sub/missing.wsgi"), 3, "missing.wsgi does not exist", ("source", "env"), world="served"),
    Case("app-not-module-callable", ("plan", "--app", "a b:c"), 2, "--app 'a b:c' is not module:callable", ("source", "env"), world="served"),
    Case("app-syntax-error", (*START, "--home", "broken_syntax"), 3, "the application failed to import: wsgi", ("source", "env"), world="served",
         also=("--- traceback from the application (not from warp) ---", "SyntaxError",
               "--- end of the application's traceback ---")),
    Case("app-import-error", (*START, "--home", "broken_import"), 3, "the application failed to import: wsgi", ("source", "env"), world="served",
         also=("--- traceback from the application (not from warp) ---", "line 2, in <module>",
               "ModuleNotFoundError: No module named 'not_installed_anywhere_xyz'")),
    Case("app-py-exits-before-listening", (*START, "--home", "module_only"), 1, "app.py exited (code 0) before anything listened on port {port}",
         ("source", "env"), world="served", also=("it defines 'app': to serve it with a production server, run `warp start --app app:app`",)),
    Case("app-sh-exits-before-listening", (*START, "--home", "shell_exits"), 1, "app.sh exited (code 3) before anything listened on port {port}",
         ("source", "env"), world="served", also=("preparing",)),
    Case("app-missing-paste-file", (*START, "--app", "missing.ini"), 2, "missing.ini does not exist", ("source", "env"), world="served",
         also=("name an existing .ini file with --app",), never=(" -----> Starting",)),
    Case("export-nginx-listen-not-an-address", ("export", "nginx", "--listen", "80; }} server {{ listen 81"), 2,  # str.format-ed
         "--listen '80; }} server {{ listen 81' is not a port, address:port or [IPv6 address]:port", ("source", "env"), world="served",
         also=("e.g. --listen 80, --listen 127.0.0.1:8081 or --listen [::1]:8081",)),
    Case("home-missing", ("plan", "--home", "nope"), 2, "application home 'nope' is not a directory", ("source", "env"), world="served"),
    Case("home-outside-project", ("plan", "--home", "../.."), 2, "application home '../..' is outside the project", ("source", "env"), world="served"),
    Case("mode-without-its-marker", ("plan", "--mode", "django"), 2, "mode django needs manage.py", ("source", "env"), world="served"),
    # servers
    Case("unknown-server-flag", (*START, "--server", "apache"), 2, "Invalid value for '--server'", ("source", "env"), world="served"),
    Case("unknown-server-variable", ("plan",), 2, "server type from WARP_SERVER_TYPE: unknown server type 'tomcat'", ("source", "env"),
         env={"WARP_SERVER_TYPE": "tomcat"}, world="served"),
    Case("server-not-installed", (*START, "--server", "waitress"), 1, "waitress is not installed in env", ("source", "env"), world="served",
         also=("run `warp build --server waitress`",)),
    # WSGI and ASGI
    Case("asgi-server-for-a-wsgi-app", (*START, "--server", "uvicorn"), 2,
         "uvicorn serves ASGI applications only, and the application is WSGI (wsgi.py defines application",
         ("source", "env"), world="served", also=("use --server mod_wsgi or gunicorn or uwsgi or waitress, or leave the server to warp",)),
    Case("wsgi-server-for-an-asgi-app", (*START, "--home", "asgi_only", "--server", "waitress"), 2,
         "waitress serves WSGI applications only, and the application is ASGI (main.py defines app (an ASGI convention)",
         ("source", "env"), world="served", also=("use --server gunicorn or uvicorn or granian or hypercorn, or leave the server to warp",)),
    Case("wsgi-server-for-interface-asgi", ("plan", "--interface", "asgi", "--server", "uwsgi"), 2,
         "uwsgi serves WSGI applications only, and the application is ASGI (from --interface)", ("source", "env"), world="served"),
    Case("mode-asgi-without-its-marker", ("plan", "--mode", "asgi"), 2, "mode asgi needs asgi.py, or main.py or app/main.py defining app",
         ("source", "env"), world="served"),
    Case("interface-unknown", ("plan",), 2, "interface from WARP_INTERFACE: 'rsgi' is not one of auto, asgi, wsgi", ("source", "env"),
         env={"WARP_INTERFACE": "rsgi"}, world="served"),
    # ports, hosts, numbers
    Case("port-in-use", START, 2, "port {port} on 127.0.0.1 is already in use", ("source", "env"), setup=hold_port, world="served"),
    Case("port-held-by-a-starting-warp", START, 2, "port {port} is already in use by another `warp start`", ("source", "env"),
         setup=hold_port_lock, world="served"),
    Case("socket-in-a-missing-tree", ("start", "--socket", "/tmp/warp-no-such-dir-{port}/deeper/app.sock"), 2,
         "the directory of socket /tmp/warp-no-such-dir-{port}/deeper/app.sock does not exist, nor does /tmp/warp-no-such-dir-{port}",
         ("source", "env"), world="served", never=("Listening on all interfaces",)),
    Case("port-not-a-number", ("plan", "--port", "http"), 2, "port 'http' is not a number", ("source", "env"), world="served"),
    Case("port-out-of-range", ("plan", "--port", "70000"), 2, "port 70000 is out of range 1-65535", ("source", "env"), world="served"),
    Case("port-variable-garbage", ("plan",), 2, "port from PORT: port '80a' is not a number", ("source", "env"), env={"PORT": "80a"}, world="served"),
    Case("privileged-port-as-non-root", ("start", "--host", "127.0.0.1", "--port", "80"), 2, "port 80 needs root privileges", ("source", "env"),
         world="served", as_user=True, needs=privileged_ports),
    Case("host-not-on-this-machine", ("start", "--host", "192.0.2.1", "--port", "{port}"), 2, "host 192.0.2.1 is not an address of this machine",
         ("source", "env"), world="served"),
    Case("processes-zero", ("plan", "--processes", "0"), 2, "'0' is not a positive whole number", ("source", "env"), world="served"),
    Case("graceful-timeout-not-finite", ("plan",), 2, "graceful timeout from WARP_GRACEFUL_TIMEOUT: 'nan' is not a number of seconds",
         ("source", "env"), env={"WARP_GRACEFUL_TIMEOUT": "nan"}, world="served"),
    Case("graceful-timeout-negative", ("plan", "--graceful-timeout", "-1"), 2, "'-1' must be more than 0 seconds", ("source", "env"), world="served"),
    # project files
    Case("environment-file-bad-line", ("env",), 2, ".warp/environment line 3: expected KEY=VALUE", ("source", "envs"),
         setup=files(_DOT_warp__environment=f"GOOD=1\n# comment\nSECRET-KEY={SECRET}\n"), never=(SECRET,)),
    Case("environment-file-unreadable", ("activate",), 2, "cannot read", ("source", "envs"), setup=unreadable_environment_file,
         as_user=True, also=(".warp/environment (Permission denied)",), never=(SECRET,)),
    Case("environment-file-nul-byte-build", ("build",), 2, ".warp/environment line 2: the value of B contains a NUL byte",
         ("source", "envs", "env", "unbuilt"), setup=with_env(files(requirements_DOT_txt="", _DOT_warp__environment=f"A=1\nB={SECRET}\0\n")),
         never=(SECRET,)),
    Case("environment-file-nul-byte-exec", ("exec", "true"), 2, ".warp/environment line 1: the value of B contains a NUL byte",
         ("source", "envs", "env"), setup=with_env(files(_DOT_warp__environment="B=x\0y\n"))),
    Case("environment-file-is-a-directory", ("exec", "true"), 2, ".warp/environment is a directory, not a file", ("source", "envs"),
         setup=lambda w: (w.project / ".warp" / "environment").mkdir(parents=True), also=("make it a file, or remove it",)),
    Case("requirements-dangling-symlink", ("build",), 2, "requirements.txt is a symlink to reqs/gone.txt, which does not exist",
         ("source", "envs", "unbuilt"), setup=lambda w: (w.project / "requirements.txt").symlink_to("reqs/gone.txt")),
    Case("tool-warp-not-a-table", ("plan",), 2, "[tool.warp] in pyproject.toml is not a table", ("source", "envs"),
         setup=files(pyproject_DOT_toml="tool.warp = 3\n")),
    Case("tool-warp-bad-value", ("plan",), 2, "port from [tool.warp] port: port 'x' is not a number", ("source",),
         setup=lambda w: (wsgi_project(w), w.write("pyproject.toml", '[tool.warp]\nport = "x"\n'))),
    Case("tool-warp-array-value", ("plan",), 2, "server type from [tool.warp] server must be a string or a number, not list", ("source", "envs"),
         setup=files(pyproject_DOT_toml='[tool.warp]\nserver = ["gunicorn"]\n')),
    Case("tool-warp-number-for-a-name", ("plan",), 2, "server type from [tool.warp] server must be a string, not int 5", ("source", "envs"),
         setup=files(pyproject_DOT_toml="[tool.warp]\nserver = 5\n"), also=('write it in quotes in pyproject.toml: server = "..."',)),
    Case("tool-warp-nul-byte", ("plan",), 2, "application home from [tool.warp] home contains a NUL byte", ("source", "envs"),
         setup=files(pyproject_DOT_toml='[tool.warp]\nhome = "a\\u0000b"\n')),
    Case("project-dependencies-not-a-list", ("build",), 2, "[project] dependencies in pyproject.toml is not a list of requirements",
         ("source", "unbuilt"), setup=files(pyproject_DOT_toml='[project]\nname = "x"\nversion = "1"\ndependencies = "flask"\n')),
    Case("pyproject-not-toml", ("plan",), 2, "pyproject.toml is not valid TOML", ("source", "envs"), setup=files(pyproject_DOT_toml="[tool.warp\n")),
    Case("server-args-unbalanced-quote", ("plan",), 2, "No closing quotation", ("source",),
         setup=lambda w: (wsgi_project(w), w.write(".warp/server_args", '--timeout "5\n'))),
    # python
    Case("python-version-not-installed", ("activate", "--python", "3.99"), 2, "Python 3.99 (from --python) is not installed", ("source", "envs")),
    Case("python-path-missing", ("activate", "--python", "/nonexistent/python3"), 2, "python '/nonexistent/python3' from --python is not an interpreter",
         ("source", "envs")),
    Case("python-fails-in-the-env", ("activate",), 1, "the python of env 'project' failed (exit code 3)", ("source", "envs"),
         setup=python_fails_in_virtualenvs, also=("this python cannot start inside a virtualenv", "choose another interpreter with --python")),
    # env names
    Case("env-name-with-slash", ("activate", "a/b"), 2, "invalid env name 'a/b'", ("source", "envs")),
    Case("env-name-dot-dot", ("activate", ".."), 2, "invalid env name '..'", ("source", "envs")),
    Case("env-name-shell-code", ("activate", "$(touch pwned);`touch pwned2`"), 2, "invalid env name", ("source", "envs")),
    Case("env-name-nul", ("activate", "a\0b"), 2, "invalid env name 'a\\\\x00b'", ("source", "envs")),
    Case("env-name-newline", ("activate", "a\nexport X=1"), 2, "invalid env name 'a\\\\nexport X=1'", ("source", "envs")),
    # destroy
    Case("env-name-taken-by-a-file", ("activate", "taken"), 1, "exists but is not a warp env", ("source", "envs"),
         setup=lambda w: (w.home.joinpath("envs").mkdir(parents=True), w.home.joinpath("envs", "taken").write_text("mine"))),
    Case("env-name-is-a-symlink-out", ("activate", "outside"), 1, "exists but is not a warp env", ("source", "envs"),
         setup=lambda w: (w.home.joinpath("envs").mkdir(parents=True), w.project.joinpath("elsewhere").mkdir(),
                          w.home.joinpath("envs", "outside").symlink_to(w.project / "elsewhere"))),
    Case("destroy-active-env", ("destroy", "project", "--yes"), 2, "env 'project' is active in this shell", ("source", "envs", "env"),
         setup=with_env(active("project"))),
    Case("destroy-missing-env", ("destroy", "absent", "--yes"), 1, "env 'absent' does not exist", ("source", "envs"), setup=with_env()),
    Case("destroy-path-outside", ("destroy", "/etc", "--yes"), 2, "invalid env name '/etc'", ("source", "envs")),
    Case("destroy-parent-dir", ("destroy", "../..", "--yes"), 2, "invalid env name '../..'", ("source", "envs")),
    Case("destroy-symlink-out-of-home", ("destroy", "escape", "--yes"), 2, "env 'escape' leads outside", ("source", "envs"), setup=symlinked_env_out),
    Case("destroy-without-confirmation", ("destroy", "project"), 2, "refusing to delete env 'project' without confirmation",
         ("source", "envs", "env"), setup=with_env()),
    # env state
    Case("env-metadata-corrupt", ("exec", "true"), 1, "metadata of env 'project' is unreadable", ("source", "envs"),
         setup=corrupt(".warp/env.json", "\0garbage{{"), env={"WARP_ENV_NAME": "project"}, also=("warp destroy project --yes",)),
    Case("env-metadata-wrong-types", ("exec", "true"), 1, "metadata of env 'project' is corrupt", ("source", "envs"),
         setup=corrupt(".warp/env.json", '{"source": 5, "python_version": [3]}'), env={"WARP_ENV_NAME": "project"}),
    Case("current-directory-deleted", ("plan",), 2, "the current directory no longer exists", ("source", "envs"),
         wrap=("sh", "-c", 'mkdir gone && cd gone && rmdir ../gone && exec "$@"', "sh")),
    Case("build-record-corrupt", START, 1, "env 'project' has no successful build", ("source", "envs", "env"),
         setup=lambda w: (wsgi_project(w), corrupt(".warp/build.json", "{not json")(w)), also=("run `warp build` first",)),
    Case("active-env-deleted", ("exec", "true"), 1, "the active env 'gone' no longer exists", ("source", "envs"), setup=active("gone")),
    Case("env-python-deleted", ("exec", "true"), 1, "env 'project' is damaged (its python is missing)", ("source", "envs"),
         setup=with_env(lambda w: (w.env / "bin" / "python").unlink())),
    Case("warp-home-under-a-file", ("activate",), 1, "is not writable", ("source",), setup=home_under_a_file),
    Case("warp-home-is-a-file", ("activate",), 1, "is not a directory", ("source",), setup=home_is_a_file),
    Case("warp-home-not-writable", ("exec", "true"), 1, "is not writable", ("source", "envs"), setup=home_not_writable, as_user=True),
    # build inputs
    Case("pip-packages-file-missing", ("build",), 2, "requirements file missing.txt does not exist", ("source", "unbuilt"),
         env={"WARP_PIP_PACKAGES": "missing.txt"}),
    Case("requirements-include-missing", ("build",), 2, "requirements file ../elsewhere.txt does not exist", ("source", "unbuilt"),
         setup=files(requirements_DOT_txt="six\n-r ../elsewhere.txt\n"), also=("(named by a -r/-c line of requirements.txt)",
                                                                             "       fix requirements.txt")),
    Case("requirements-file-unreadable", ("build",), 2, "cannot read requirements file secret-reqs.txt", ("source", "unbuilt"),
         setup=unreadable_requirements, as_user=True),
    Case("unresolvable-requirement", ("build",), 1, "Installing dependencies with uv (requirements.txt) failed", ("source", "unbuilt"),
         setup=files(requirements_DOT_txt=f"{MISSING_PACKAGE}\n"), also=(MISSING_PACKAGE,)),
    Case("index-unreachable", ("build",), 1, "failed", ("source", "envs", "unbuilt"), setup=files(requirements_DOT_txt="six\n"),
         env={"UV_INDEX_URL": "http://127.0.0.1:{closed_port}/simple", "PIP_INDEX_URL": "http://127.0.0.1:{closed_port}/simple", "UV_NO_CACHE": "1"},
         also=("the package index could not be reached",)),
    # hooks
    Case("hook-not-executable", ("build",), 0, "hook .warp/action_hooks/pre-build is not executable and was skipped", ("source",),
         setup=hook("pre-build", "touch pre-build-ran", mode=0o644)),
    Case("hook-without-shebang", ("build",), 1, "cannot execute", ("source", "unbuilt"), setup=hook("pre-build", "", mode=0o755),
         also=("it is not a program", "start the script with a #! line, e.g. #!/bin/sh")),
    Case("hook-fails", ("build",), 1, "Running build hook failed (exit code 3)", ("source", "unbuilt"),
         setup=hook("build", "echo about to fail; exit 3"), also=("about to fail",)),
    Case("hook-symlink-out-of-project", ("build",), 2, "hook .warp/action_hooks/build is a symlink to a file outside the project", ("source", "unbuilt"),
         setup=hook_symlink_out, never=("OUTSIDE-RAN",)),
    Case("django-settings-error-in-collectstatic", ("build",), 1, "collectstatic failed (exit code 1)", ("source", "unbuilt"),
         setup=django_settings_error,
         also=("ImproperlyConfigured: You're using the staticfiles app without having set the required STATIC_URL setting.",
               "--- traceback from the application (not from warp) ---")),
]


# ---------------------------------------------------------------- invariants


def digest_tree(root: Path) -> dict[str, str]:
    """path -> mode and content hash, for every file and directory (bytecode caches aside)."""
    found = {}
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() and os.access(path, os.R_OK) else b""
        found[str(path.relative_to(root))] = f"{oct(info.st_mode)} {hashlib.sha256(content).hexdigest()[:16]}"
    return found


def snapshot(world: World) -> dict[str, object]:
    env = world.env
    state = {
        "source": digest_tree(world.project),
        "envs": sorted(p.name for p in (world.home / "envs").iterdir()) if (world.home / "envs").is_dir() else [],
        "env": (
            {name: (env / ".warp" / name).read_bytes() for name in ("env.json", "build.json") if (env / ".warp" / name).is_file()},
            sorted(p.name for p in env.glob("lib/python*/site-packages/*.dist-info")),
        ),
    }
    return state


def is_built(world: World) -> bool:
    record = world.env / ".warp" / "build.json"
    try:
        return json.loads(record.read_text()).get("state") == "ok"
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------- running a row


def command(case: Case, world: World) -> list[str]:
    args = [arg.format(port=world.port) for arg in case.args]
    if any("\0" in arg for arg in args):  # no exec can pass a NUL: set argv inside the process
        code = f"import sys; sys.argv = {['warp', *args]!r}; from warp.cli import main; main()"
        argv = [sys.executable, "-c", code]
    else:
        argv = [sys.executable, "-m", "warp", *args]
    if case.as_user and IS_ROOT:
        argv = AS_NOBODY + argv
    return [*case.wrap, *argv]


_NOBODY_RUNS_WARP: list[bool] = []


def nobody_can_run_warp() -> bool:
    """Whether `nobody` can import warp with this interpreter (a Python installed under /root cannot)."""
    if not _NOBODY_RUNS_WARP:
        result = subprocess.run([*AS_NOBODY, sys.executable, "-c", "import warp"], cwd="/", capture_output=True)
        _NOBODY_RUNS_WARP.append(result.returncode == 0)
    return _NOBODY_RUNS_WARP[0]


def run_case(case: Case, world: World) -> subprocess.CompletedProcess:
    environ = warp_environ(world.home, **world.environ)
    environ.update({key: value.format(closed_port=world.closed_port) for key, value in case.env.items()})
    # A row that wrongly starts a server must fail in seconds, not wait for the build rows' limit.
    timeout = 30 if case.args[0] in ("start", "plan") else 300
    return subprocess.run(command(case, world), cwd=world.project, env=environ, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def check_output(case: Case, world: World, result: subprocess.CompletedProcess) -> None:
    shown = f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.returncode == case.code, shown
    output = result.stdout + result.stderr
    assert "Traceback (most recent call last)" not in output, shown
    assert "bug in warp" not in output, shown
    if case.code and case.args[0] in ("activate", "deactivate", "env"):
        assert result.stdout == "", f"a failed {case.args[0]} printed shell code for eval\n{shown}"
    lines = result.stderr.splitlines()
    kind = "warning:" if case.code == 0 else "error:"
    message = case.message.format(port=world.port)
    matching = [i for i, line in enumerate(lines) if line.startswith(kind) and message in line]
    assert matching, f"no `{kind}` line with {message!r}\n{shown}"
    if case.code:
        hint = lines[matching[-1] + 1] if matching[-1] + 1 < len(lines) else ""
        assert hint.startswith("       ") and hint.strip(), f"the error has no hint line\n{shown}"
    for fragment in case.also:
        assert fragment in output, f"{fragment!r} missing\n{shown}"
    for fragment in case.never:
        assert fragment not in output, f"{fragment!r} printed\n{shown}"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case: Case, request):
    if case.world == "served":
        app = request.getfixturevalue("served")
        world = World(app.src, app.home, app.name)
    else:
        world = fresh_world()
    if case.as_user and IS_ROOT and not shutil.which("setpriv"):
        pytest.skip("running a row as nobody needs setpriv (util-linux)")
    if case.as_user and IS_ROOT and not nobody_can_run_warp():
        pytest.skip(f"nobody cannot import warp with {sys.executable} (its Python or warp lives under a directory only root can read)")
    if case.needs():
        pytest.skip(case.needs())
    try:
        if case.setup:
            case.setup(world)
        before = snapshot(world)
        result = run_case(case, world)
        check_output(case, world, result)
        after = snapshot(world)
        for what in case.keeps:
            if what == "unbuilt":
                assert not is_built(world), "a failed build recorded success"
            else:
                assert after[what] == before[what], f"{what} changed"
    finally:
        for sock in world.held:
            sock.close()
        if case.world == "fresh":
            shutil.rmtree(world.project.parent, ignore_errors=True)


def test_the_catalogue_is_large_and_every_row_checks_something_unchanged():
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)
    assert all("source" in case.keeps for case in CASES)
