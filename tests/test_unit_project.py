"""warp.config.project: scanning real (tiny) source trees in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from warp.config.envfile import find_env_file_quirks, scan_environment_file
from warp.config.project import PasteServer, scan_app, scan_paste_server, scan_project
from warp.errors import UsageError

DJANGO_MANAGE = """#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"""


def make_tree(root: Path, files: dict[str, str], executable: tuple[str, ...] = ()) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(0o755 if name in executable else 0o644)
    return root


NO_MARKERS = dict(
    app_sh=False, app_sh_executable=False, app_py=False, manage_py=False, django_settings=None,
    wsgi_py=False, wsgi_py_has_application=False, wsgi_package=False, paste_file=None,
)

# (files, executable files, facts that differ from NO_MARKERS)
MARKERS = [
    ({}, (), {}),
    ({"app.sh": "#!/bin/sh\nexec true\n"}, ("app.sh",), {"app_sh": True, "app_sh_executable": True}),
    ({"app.sh": "#!/bin/sh\nexec true\n"}, (), {"app_sh": True}),
    ({"app.py": "print('hi')\n"}, (), {"app_py": True}),
    ({"manage.py": DJANGO_MANAGE}, (), {"manage_py": True, "django_settings": "mysite.settings"}),
    (
        {"manage.py": "import os\nos.environ.setdefault(\n    'DJANGO_SETTINGS_MODULE',\n    'a.b.settings_dev',\n)\n"},
        (), {"manage_py": True, "django_settings": "a.b.settings_dev"},
    ),
    ({"manage.py": "print('a manage.py that is not Django')\n"}, (), {"manage_py": True}),
    ({"wsgi.py": "def application(environ, start_response):\n    pass\n"}, (), {"wsgi_py": True, "wsgi_py_has_application": True}),
    ({"wsgi.py": "from app import create\napp = create()\n"}, (), {"wsgi_py": True}),
    ({"wsgi.py": "from x import create_application\n"}, (), {"wsgi_py": True}),
    ({"wsgi/__init__.py": "application = None\n"}, (), {"wsgi_package": True}),
    ({"wsgi/app.py": "application = None\n"}, (), {}),  # a directory without __init__.py is no package
    ({"paste.ini": "[app:main]\n"}, (), {"paste_file": "paste.ini"}),
    ({"production.ini": "[app:main]\n"}, (), {"paste_file": "production.ini"}),
    ({"production.ini": "[app:main]\n", "paste.ini": "[app:main]\n"}, (), {"paste_file": "paste.ini"}),
    ({"development.ini": "[app:main]\n"}, (), {}),
]


@pytest.mark.parametrize("files, executable, expected", MARKERS, ids=[",".join(row[0]) + ("+x" if row[1] else "") or "empty" for row in MARKERS])
def test_scan_app_markers(tmp_path, files, executable, expected):
    make_tree(tmp_path, files, executable)
    facts = scan_app(tmp_path, "")
    assert facts.home == tmp_path.resolve()
    got = {key: getattr(facts, key) for key in NO_MARKERS}
    assert got == {**NO_MARKERS, **expected}


def test_marker_directories_are_not_files(tmp_path):
    for name in ("app.sh", "app.py", "manage.py", "wsgi.py", "paste.ini"):
        (tmp_path / name).mkdir()
    facts = scan_app(tmp_path, "")
    assert {key: getattr(facts, key) for key in NO_MARKERS} == NO_MARKERS


def test_manage_py_assigning_settings_module_is_django(tmp_path):
    make_tree(tmp_path, {"manage.py": "import os\nos.environ['DJANGO_SETTINGS_MODULE'] = 'mysite.settings'\n"})
    assert scan_app(tmp_path, "").django_settings == "mysite.settings"


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n"}, (("main", "app"),)),
        ({"main.py": "app: Starlette = Starlette()\n"}, (("main", "app"),)),
        ({"main.py": "async def app(scope, receive, send):\n    pass\n"}, (("main", "app"),)),
        ({"main.py": "def main():\n    app = 1\n", "asgi.py": "application = get_asgi_application()\n"}, (("asgi", "application"),)),
        ({"app/__init__.py": "", "app/main.py": "app = FastAPI()\n", "asgi.py": "app = Quart(__name__)\n"}, (("asgi", "app"), ("app.main", "app"))),
        ({"main.py": "if app == 1:\n    pass\n"}, ()),
    ],
)
def test_scan_app_finds_the_asgi_conventions(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    assert scan_app(tmp_path, "").asgi_modules == expected


def test_django_asgi_py_is_found_next_to_its_settings(tmp_path):
    (tmp_path / "manage.py").write_text("os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n")
    (tmp_path / "mysite").mkdir()
    assert not scan_app(tmp_path, "").django_asgi
    (tmp_path / "mysite" / "asgi.py").write_text("application = get_asgi_application()\n")
    assert scan_app(tmp_path, "").django_asgi


def test_scan_app_in_home_subdirectory(tmp_path):
    make_tree(tmp_path, {"app.py": "", "personal-blog/wsgi.py": "application = 1\n"})
    facts = scan_app(tmp_path, "personal-blog")
    assert facts.home == (tmp_path / "personal-blog").resolve()
    assert facts.wsgi_py_has_application and not facts.app_py


@pytest.mark.parametrize(
    "home, message, hint",
    [
        ("../elsewhere", "application home '../elsewhere' is outside the project", "name a subdirectory of the project"),
        ("/", "application home '/' is outside the project", "name a subdirectory of the project"),
        ("missing", "application home 'missing' is not a directory in {root}", "pass --home with an existing subdirectory, or remove .warp/home"),
        ("afile", "application home 'afile' is not a directory in {root}", "pass --home with an existing subdirectory, or remove .warp/home"),
    ],
)
def test_scan_app_bad_home(tmp_path, home, message, hint):
    root = tmp_path / "project"
    make_tree(root, {"afile": ""})
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(UsageError) as caught:
        scan_app(root, home)
    assert caught.value.message == message.format(root=root)
    assert caught.value.hint == hint


def test_scan_app_home_symlink_leaving_project_is_refused(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (root / "web").symlink_to(tmp_path / "outside")
    with pytest.raises(UsageError, match=r"^application home 'web' is outside the project$"):
        scan_app(root, "web")


# ---------------------------------------------------------------- scan_paste_server

WAITRESS = "[app:main]\nuse = egg:myapp\n\n[server:main]\nuse = egg:waitress#main\n"

PASTE_SERVERS = [
    (WAITRESS + "listen = localhost:6543\n", PasteServer("egg:waitress#main", "localhost:6543", "localhost", 6543)),
    (WAITRESS + "listen = 127.0.0.1:6543 [::1]:6543\n", PasteServer("egg:waitress#main", "127.0.0.1:6543 [::1]:6543", "127.0.0.1", 6543)),
    (WAITRESS + "listen = [::1]:6543\n", PasteServer("egg:waitress#main", "[::1]:6543", "::1", 6543)),
    (WAITRESS + "listen = *:6543\n", PasteServer("egg:waitress#main", "*:6543", "*", 6543)),
    (WAITRESS + "host = 0.0.0.0\nport = 5000\n", PasteServer("egg:waitress#main", "0.0.0.0:5000", "0.0.0.0", 5000)),
    (WAITRESS + "port = 5000\n", PasteServer("egg:waitress#main", "port 5000", None, 5000)),
    (WAITRESS + "unix_socket = /run/app.sock\n", PasteServer("egg:waitress#main", "unix:/run/app.sock")),
    (WAITRESS, PasteServer("egg:waitress#main")),
    ("[server:main]\nuse = egg:gunicorn#main\nbind = unix:/run/g.sock\n", PasteServer("egg:gunicorn#main", "unix:/run/g.sock")),
    ("[server:main]\nuse = egg:gunicorn#main\nbind = 0.0.0.0:8000\n", PasteServer("egg:gunicorn#main", "0.0.0.0:8000", "0.0.0.0", 8000)),
    # interpolation as PasteDeploy writes it is read, not expanded
    ("[DEFAULT]\nport = 6543\n[server:main]\nuse = egg:waitress#main\nlisten = %(here)s:%(port)s\n",
     PasteServer("egg:waitress#main", "%(here)s:%(port)s", None, None)),
    ("[server:main]\nuse = egg:waitress#main\nhost = %(host)s\nport = %(port)s\n",
     PasteServer("egg:waitress#main", "%(host)s:%(port)s", None, None)),
    ("[server]\nuse = egg:Paste#http\nhost = 127.0.0.1\nport = 8000\n", PasteServer("egg:Paste#http", "127.0.0.1:8000", "127.0.0.1", 8000)),
    ("[server: main ]\nuse = egg:waitress#main\n", PasteServer("egg:waitress#main")),
    # what PasteDeploy would not take as the main server
    ("[server:other]\nuse = egg:waitress#main\nport = 1\n", None),
    ("[Server:main]\nuse = egg:waitress#main\n", None),
    ("[app:main]\nuse = egg:myapp\n", None),
    ("[server:main\nuse = egg:waitress#main\n", None),  # not an ini: the server reports it
]


@pytest.mark.parametrize("text, expected", PASTE_SERVERS)
def test_scan_paste_server(tmp_path, text, expected):
    make_tree(tmp_path, {"production.ini": text})
    assert scan_paste_server(tmp_path / "production.ini") == expected


def test_scan_paste_server_of_a_missing_file(tmp_path):
    """The server would start and fail to load the app; warp says what is wrong before it starts anything."""
    with pytest.raises(UsageError) as caught:
        scan_paste_server(tmp_path / "missing.ini")
    assert caught.value.message == f"paste file {tmp_path / 'missing.ini'} does not exist"
    assert caught.value.hint == "name an existing .ini file with --app, relative to the application home"


# ---------------------------------------------------------------- scan_project


def test_scan_project_reads_everything(tmp_path):
    make_tree(
        tmp_path,
        {
            "requirements.txt": "Django>=4\ngunicorn\n",
            "setup.py": "",
            "uv.lock": "",
            "pyproject.toml": '[project]\nname = "x"\n\n[tool.warp]\nport = 9000\nserver = "waitress"\n',
            ".warp/server_type": "uwsgi\n",
            ".warp/home": "web\n",
            ".warp/mode": "wsgi\n",
            ".warp/unrelated": "ignored\n",
            ".warp/environment": "A=1\nexport B='two words'\n",
            ".warp/server_args": "--log-level debug\n",
            ".warp/action_hooks/build": "#!/bin/sh\n",
            ".warp/action_hooks/not-a-hook": "#!/bin/sh\n",
        },
        executable=(".warp/action_hooks/build",),
    )
    facts = scan_project(tmp_path)
    assert facts.root == tmp_path.resolve()
    assert facts.dependency_files == ("requirements.txt", "uv.lock", "pyproject.toml", "setup.py")
    assert facts.has("uv.lock") and not facts.has("poetry.lock")
    assert facts.warp_files == {"server_type": "uwsgi\n", "home": "web\n", "mode": "wsgi\n"}
    assert facts.tool == {"port": 9000, "server": "waitress"}
    assert facts.environment == (("A", "1"), ("B", "two words"))
    assert facts.server_args == {"": ("--log-level", "debug")}
    assert set(facts.hooks) == {"build"}
    assert facts.hooks["build"].is_executable and not facts.hooks["build"].escapes_project
    assert facts.requirements_text == "Django>=4\ngunicorn\n"


def test_scan_project_empty_tree(tmp_path):
    facts = scan_project(tmp_path)
    assert facts.dependency_files == ()
    assert facts.warp_files == {} and facts.tool == {} and facts.environment == ()
    assert facts.hooks == {} and facts.server_args == {} and facts.requirements_text == ""


def test_scan_project_lists_the_directories_and_modules_where_a_package_could_be(tmp_path):
    make_tree(tmp_path, {
        "mysite/__init__.py": "", "tool.py": "", "README.md": "", "src/lib/x.py": "", "src/one.py": "", "src/notes.txt": "",
    })
    assert scan_project(tmp_path).top_level == frozenset({"mysite/", "tool.py", "src/", "src/lib/", "src/one.py"})
    assert scan_project(tmp_path / "mysite").top_level == frozenset({"__init__.py"})


def test_pyproject_without_tool_warp(tmp_path):
    make_tree(tmp_path, {"pyproject.toml": '[tool.black]\nline-length = 100\n'})
    assert scan_project(tmp_path).tool == {}


@pytest.mark.parametrize("text", ['[tool.warp\nport = 1\n', 'port = \n', '[tool.warp]\nport = 1\nport = 2\n'])
def test_malformed_pyproject_is_a_usage_error(tmp_path, text):
    make_tree(tmp_path, {"pyproject.toml": text})
    with pytest.raises(UsageError) as caught:
        scan_project(tmp_path)
    assert caught.value.message.startswith("pyproject.toml is not valid TOML: ")
    assert caught.value.hint == "fix pyproject.toml"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_tool_warp_that_is_not_a_table(tmp_path):
    make_tree(tmp_path, {"pyproject.toml": '[tool]\nwarp = "gunicorn"\n'})
    with pytest.raises(UsageError, match=r"^\[tool.warp\] in pyproject.toml is not a table$"):
        scan_project(tmp_path)


def test_top_level_tool_that_is_not_a_table(tmp_path):
    make_tree(tmp_path, {"pyproject.toml": "tool = 1\n"})
    with pytest.raises(UsageError):
        scan_project(tmp_path)


# ---------------------------------------------------------------- .warp/environment

ENVIRONMENT = [
    ("", ()),
    ("# only a comment\n\n   \n", ()),
    ("A=1\n", (("A", "1"),)),
    ("  A = 1  \n", (("A", "1"),)),
    ("export A=1\n", (("A", "1"),)),
    ("export    A=1\n", (("A", "1"),)),
    ("A='single quoted'\nB=\"double quoted\"\n", (("A", "single quoted"), ("B", "double quoted"))),
    ("A='mismatched\"\n", (("A", "'mismatched\""),)),
    ("A='\n", (("A", "'"),)),
    ("A=''\n", (("A", ""),)),
    ("A=\n", (("A", ""),)),
    ("URL=postgres://u:p@h/db?x=1\n", (("URL", "postgres://u:p@h/db?x=1"),)),
    ("A=$(touch x) `y`\n", (("A", "$(touch x) `y`"),)),
    ("_X9=a#b\n", (("_X9", "a#b"),)),
    # a later value is kept in order; the consumer lets it win
    ("A=1\nB=2\nA=3\n", (("A", "1"), ("B", "2"), ("A", "3"))),
    ("A=1\r\nB=2\r\n", (("A", "1"), ("B", "2"))),
    # Lines end at \n (or \r\n) only, as docker's and kubectl's --env-file read them: not at U+2028 or a form feed.
    ("A=first\u2028B=second\n", (("A", "first\u2028B=second"),)),
    ("A=1\x0cB=2\n", (("A", "1\x0cB=2"),)),
    ("A=1\x0c\n", (("A", "1"),)),
    # A UTF-8 byte order mark (Windows editors write one) is dropped, as docker and kubectl drop it.
    ("\ufeffA=1\nB=2\n", (("A", "1"), ("B", "2"))),
]


@pytest.mark.parametrize("text, pairs", ENVIRONMENT, ids=[repr(row[0])[:30] for row in ENVIRONMENT])
def test_environment_file(tmp_path, text, pairs):
    path = tmp_path / "environment"
    path.write_text(text, newline="")
    assert scan_environment_file(path) == pairs


def test_environment_file_missing(tmp_path):
    assert scan_environment_file(tmp_path / "environment") == ()


@pytest.mark.parametrize(
    "text, line",
    [
        ("JUSTAWORD\n", 1),
        ("# comment\n\nA=1\nSECRET-KEY=hunter2\n", 4),
        ("A=1\n9LIVES=hunter2\n", 2),
        ("A=1\nB=2\n=hunter2\n", 3),
        ("MY KEY=hunter2\n", 1),
        ("export\n", 1),
    ],
)
def test_environment_file_malformed_line(tmp_path, text, line):
    error = scan_environment_error(tmp_path, text)
    assert error.message == f".warp/environment line {line}: expected KEY=VALUE"
    assert error.hint == "fix that line; keys are letters, digits and _, and do not start with a digit"
    # values may be secrets: never echoed back
    assert "hunter2" not in error.message + error.hint + error.detail


def scan_environment_error(tmp_path: Path, text: str) -> UsageError:
    path = tmp_path / "environment"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        scan_environment_file(path)
    return caught.value


@pytest.mark.parametrize("text, line, key", [("A=1\nB=x\0y\n", 2, "B"), ("export KEY=\0\n", 1, "KEY")])
def test_environment_file_with_a_nul_byte_names_the_line(tmp_path, text, line, key):
    """No environment variable can hold a NUL: said before any command is given it (exec would fail half-way)."""
    error = scan_environment_error(tmp_path, text)
    assert error.message == f".warp/environment line {line}: the value of {key} contains a NUL byte"
    assert error.hint == "remove it; no environment variable can hold a NUL byte"


def test_environment_file_line_numbers_count_newlines_only(tmp_path):
    error = scan_environment_error(tmp_path, "A=1\x0cB=2\u2028C=3\nBAD LINE\n")
    assert error.message == ".warp/environment line 2: expected KEY=VALUE"


def make_not_a_file(path: Path, kind: str) -> str:
    """Put a directory or a dangling symlink at ``path``; what warp must say it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "directory":
        path.mkdir()
        return "a directory, not a file"
    path.symlink_to(path.parent / "gone.txt")
    return f"a symlink to {path.parent / 'gone.txt'}, which does not exist"


@pytest.mark.parametrize("kind", ["directory", "dangling symlink"])
@pytest.mark.parametrize("relative", ["requirements.txt", ".warp/environment", "pyproject.toml", ".warp/server_type"])
def test_a_project_file_that_is_not_a_file_is_an_error_not_absent(tmp_path, relative, kind):
    """Treated as absent, a broken requirements.txt would build nothing and a broken .warp/environment start the app without its variables."""
    what = make_not_a_file(tmp_path / relative, kind)
    with pytest.raises(UsageError) as caught:
        scan_project(tmp_path)
    assert caught.value.message == f"{tmp_path / relative} is {what}"
    assert caught.value.hint == "make it a file, or remove it"


# ---------------------------------------------------------------- hooks


def test_hooks_executable_or_not(tmp_path):
    make_tree(
        tmp_path,
        {".warp/action_hooks/pre-build": "#!/bin/sh\n", ".warp/action_hooks/deploy": "#!/bin/sh\n"},
        executable=(".warp/action_hooks/pre-build",),
    )
    hooks = scan_project(tmp_path).hooks
    assert set(hooks) == {"pre-build", "deploy"}
    assert hooks["pre-build"].is_executable and not hooks["deploy"].is_executable
    assert hooks["deploy"].path == tmp_path.resolve() / ".warp/action_hooks/deploy"
    assert hooks["deploy"].name == "deploy"


def test_hook_symlink_escaping_project_is_flagged(tmp_path):
    root = tmp_path / "project"
    make_tree(root, {".warp/action_hooks/.keep": "", "scripts/build.sh": "#!/bin/sh\n"}, executable=("scripts/build.sh",))
    outside = make_tree(tmp_path, {"evil.sh": "#!/bin/sh\n"}, executable=("evil.sh",)) / "evil.sh"
    (root / ".warp/action_hooks/pre-build").symlink_to(outside)
    (root / ".warp/action_hooks/build").symlink_to(root / "scripts/build.sh")
    (root / ".warp/action_hooks/deploy").symlink_to("../../scripts/build.sh")
    (root / ".warp/action_hooks/verify").symlink_to("../../../evil.sh")
    (root / ".warp/action_hooks/alive").symlink_to(tmp_path / "dangling")
    hooks = scan_project(root).hooks
    assert {name: hook.escapes_project for name, hook in hooks.items()} == {
        "pre-build": True,
        "build": False,
        "deploy": False,
        "verify": True,
        "alive": True,
    }
    assert hooks["build"].is_executable and not hooks["alive"].is_executable


def test_hooks_directory_symlinked_outside_is_flagged(tmp_path):
    root = tmp_path / "project"
    make_tree(tmp_path, {"shared/hooks/build": "#!/bin/sh\n"}, executable=("shared/hooks/build",))
    (root / ".warp").mkdir(parents=True)
    (root / ".warp/action_hooks").symlink_to(tmp_path / "shared/hooks")
    assert scan_project(root).hooks["build"].escapes_project is True


# ---------------------------------------------------------------- server_args


def test_server_args_file(tmp_path):
    make_tree(tmp_path, {".warp/server_args": "--timeout 60  # seconds\n--name 'my app'\n"})
    assert scan_project(tmp_path).server_args == {"": ("--timeout", "60", "--name", "my app")}


def test_server_args_directory(tmp_path):
    make_tree(
        tmp_path,
        {
            ".warp/server_args/gunicorn": "--log-level debug\n",
            ".warp/server_args/uwsgi": "# nothing but a comment\n",
            ".warp/server_args/nested/ignored": "--x\n",
        },
    )
    assert scan_project(tmp_path).server_args == {"gunicorn": ("--log-level", "debug"), "uwsgi": ()}


def test_server_args_with_a_nul_byte(tmp_path):
    make_tree(tmp_path, {".warp/server_args": "--timeout 5\0\n"})
    with pytest.raises(UsageError) as caught:
        scan_project(tmp_path)
    assert caught.value.message == f"{tmp_path / '.warp' / 'server_args'} contains a NUL byte"


def test_server_args_bad_quoting(tmp_path):
    make_tree(tmp_path, {".warp/server_args/gunicorn": "--name 'unterminated\n"})
    with pytest.raises(UsageError) as caught:
        scan_project(tmp_path)
    path = tmp_path.resolve() / ".warp/server_args/gunicorn"
    assert caught.value.message == f"{path}: No closing quotation"
    assert caught.value.hint == "quote the arguments as you would in a shell"


def test_scan_never_writes(tmp_path):
    make_tree(tmp_path, {"manage.py": DJANGO_MANAGE, ".warp/environment": "A=1\n", "pyproject.toml": "[tool.warp]\n"})
    before = sorted((str(p), p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    scan_project(tmp_path)
    scan_app(tmp_path, "")
    assert sorted((str(p), p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before
    assert not any(p.name == "__pycache__" for p in tmp_path.rglob("*"))


def test_environment_lines_that_an_engines_env_file_reads_otherwise_are_found(tmp_path):
    """warp reads `export` and strips quotes; `podman run --env-file` does neither."""
    path = tmp_path / "environment"
    path.write_text("# comment\nPLAIN=value\nexport EXPORTED=1\nQUOTED=\"a b\"\nSINGLE='x'\nINNER=a\"b\"\n")
    assert find_env_file_quirks(path) == [3, 4, 5]
    assert find_env_file_quirks(tmp_path / "missing") == []
