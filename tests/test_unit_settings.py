"""warp.config.settings.find_settings: precedence, provenance and validation, in memory."""

from __future__ import annotations

import pytest

from warp.config.settings import SPECS, find_settings
from warp.errors import UsageError


def resolve(flags=None, environ=None, files=None, tool=None):
    return find_settings(flags or {}, environ or {}, files or {}, tool or {})


# (setting, flags, environ, .warp files, [tool.warp], expected value, expected source)
PRECEDENCE = [
    # server: every layer, then each layer removed in turn
    ("server", {"server": "uwsgi"}, {"WARP_SERVER_TYPE": "waitress"}, {"server_type": "mod_wsgi"}, {"server": "gunicorn"}, "uwsgi", "--server"),
    ("server", {}, {"WARP_SERVER_TYPE": "waitress"}, {"server_type": "mod_wsgi"}, {"server": "gunicorn"}, "waitress", "WARP_SERVER_TYPE"),
    ("server", {}, {}, {"server_type": "mod_wsgi\n"}, {"server": "gunicorn"}, "mod_wsgi", ".warp/server_type"),
    ("server", {}, {}, {}, {"server": "gunicorn"}, "gunicorn", "[tool.warp] server"),
    ("server", {}, {}, {}, {}, "auto", "default"),
    # blank values at a layer do not count: the next layer wins
    ("server", {"server": ""}, {"WARP_SERVER_TYPE": "  "}, {"server_type": "\n"}, {"server": "uwsgi"}, "uwsgi", "[tool.warp] server"),
    ("server", {"server": None}, {"WARP_SERVER_TYPE": "waitress"}, {}, {}, "waitress", "WARP_SERVER_TYPE"),
    # spellings of mod_wsgi are normalised
    ("server", {"server": "mod-wsgi"}, {}, {}, {}, "mod_wsgi", "--server"),
    ("server", {}, {"WARP_SERVER_TYPE": "modwsgi"}, {}, {}, "mod_wsgi", "WARP_SERVER_TYPE"),
    ("server", {}, {}, {"server_type": " UWSGI \n"}, {}, "uwsgi", ".warp/server_type"),
    # port: --port > WARP_HTTP_PORT > PORT > [tool.warp] > 8080
    ("port", {"port": "9001"}, {"WARP_HTTP_PORT": "9002", "PORT": "9003"}, {}, {"port": 9004}, 9001, "--port"),
    ("port", {}, {"WARP_HTTP_PORT": "9002", "PORT": "9003"}, {}, {"port": 9004}, 9002, "WARP_HTTP_PORT"),
    ("port", {}, {"PORT": "9003"}, {}, {"port": 9004}, 9003, "PORT"),
    ("port", {}, {"WARP_HTTP_PORT": " ", "PORT": "9003"}, {}, {}, 9003, "PORT"),
    ("port", {}, {"PORT": " 9003 "}, {}, {}, 9003, "PORT"),
    ("port", {}, {}, {}, {"port": 9004}, 9004, "[tool.warp] port"),
    ("port", {}, {}, {}, {"port": "9005"}, 9005, "[tool.warp] port"),
    ("port", {}, {}, {}, {}, 8080, "default"),
    ("port", {"port": 9006}, {}, {}, {}, 9006, "--port"),
    # port has no .warp/ file
    ("port", {}, {}, {"port": "9000"}, {}, 8080, "default"),
    # processes: --processes > WARP_PROCESSES > WEB_CONCURRENCY > [tool.warp] > None
    ("processes", {"processes": "2"}, {"WARP_PROCESSES": "3", "WEB_CONCURRENCY": "4"}, {}, {"processes": 5}, 2, "--processes"),
    ("processes", {}, {"WARP_PROCESSES": "3", "WEB_CONCURRENCY": "4"}, {}, {"processes": 5}, 3, "WARP_PROCESSES"),
    ("processes", {}, {"WEB_CONCURRENCY": "4"}, {}, {"processes": 5}, 4, "WEB_CONCURRENCY"),
    ("processes", {}, {}, {}, {"processes": 5}, 5, "[tool.warp] processes"),
    ("processes", {}, {}, {}, {}, None, "default"),
    # threads: WEB_CONCURRENCY is about processes, never threads
    ("threads", {"threads": "8"}, {"WARP_THREADS": "6"}, {}, {"threads": 2}, 8, "--threads"),
    ("threads", {}, {"WARP_THREADS": "6"}, {}, {"threads": 2}, 6, "WARP_THREADS"),
    ("threads", {}, {"WEB_CONCURRENCY": "4"}, {}, {"threads": 2}, 2, "[tool.warp] threads"),
    ("threads", {}, {"WEB_CONCURRENCY": "4"}, {}, {}, None, "default"),
    # home and mode have .warp/ files; their content is stripped
    ("home", {"home": "a"}, {"WARP_APP_HOME": "b"}, {"home": "c\n"}, {"home": "d"}, "a", "--home"),
    ("home", {}, {"WARP_APP_HOME": "b"}, {"home": "c\n"}, {"home": "d"}, "b", "WARP_APP_HOME"),
    ("home", {}, {}, {"home": "  c\n"}, {"home": "d"}, "c", ".warp/home"),
    ("home", {}, {}, {}, {"home": "d"}, "d", "[tool.warp] home"),
    ("home", {}, {}, {}, {}, "", "default"),
    ("mode", {"mode": "wsgi"}, {"WARP_APP_MODE": "paste"}, {"mode": "django"}, {"mode": "shell"}, "wsgi", "--mode"),
    ("mode", {}, {"WARP_APP_MODE": "PASTE"}, {"mode": "django"}, {"mode": "shell"}, "paste", "WARP_APP_MODE"),
    ("mode", {}, {}, {"mode": "django\n"}, {"mode": "shell"}, "django", ".warp/mode"),
    ("mode", {}, {}, {}, {"mode": "shell"}, "shell", "[tool.warp] mode"),
    ("mode", {}, {}, {}, {}, "auto", "default"),
    # app and host: flag > variable > [tool.warp] > None
    ("app", {"app": "a:b"}, {"WARP_APP": "c:d"}, {}, {"app": "e:f"}, "a:b", "--app"),
    ("app", {}, {"WARP_APP": "c:d"}, {}, {"app": "e:f"}, "c:d", "WARP_APP"),
    ("app", {}, {}, {}, {"app": "e:f"}, "e:f", "[tool.warp] app"),
    ("app", {}, {}, {}, {}, None, "default"),
    ("host", {"host": "0.0.0.0"}, {"WARP_HTTP_HOST": "::1"}, {}, {"host": "10.0.0.1"}, "0.0.0.0", "--host"),
    ("host", {}, {"WARP_HTTP_HOST": "::1"}, {}, {"host": "10.0.0.1"}, "::1", "WARP_HTTP_HOST"),
    ("host", {}, {}, {}, {"host": "10.0.0.1"}, "10.0.0.1", "[tool.warp] host"),
    ("host", {}, {}, {}, {}, None, "default"),
    # socket: flag > variable > [tool.warp] > None
    ("socket", {"socket": "/run/a.sock"}, {"WARP_SOCKET": "/run/b.sock"}, {}, {"socket": "/run/c.sock"}, "/run/a.sock", "--socket"),
    ("socket", {}, {"WARP_SOCKET": "/run/b.sock"}, {}, {"socket": "/run/c.sock"}, "/run/b.sock", "WARP_SOCKET"),
    ("socket", {}, {}, {}, {"socket": "/run/c.sock"}, "/run/c.sock", "[tool.warp] socket"),
    ("socket", {}, {}, {}, {}, None, "default"),
    # installer, python
    ("installer", {"installer": "pip"}, {"WARP_INSTALLER": "uv"}, {}, {}, "pip", "--installer"),
    ("installer", {}, {"WARP_INSTALLER": "Pip"}, {}, {"installer": "uv"}, "pip", "WARP_INSTALLER"),
    ("installer", {}, {}, {}, {"installer": "pip"}, "pip", "[tool.warp] installer"),
    ("installer", {}, {}, {}, {}, "uv", "default"),
    ("python", {"python": "3.12"}, {"WARP_PYTHON": "3.11"}, {}, {}, "3.12", "--python"),
    ("python", {}, {"WARP_PYTHON": "3.11"}, {}, {"python": "3.10"}, "3.11", "WARP_PYTHON"),
    ("python", {}, {}, {}, {"python": "3.10"}, "3.10", "[tool.warp] python"),
    ("python", {}, {}, {}, {}, None, "default"),
    ("base_image", {"base_image": "a/py:3.12"}, {"WARP_BASE_IMAGE": "b/py:3.12"}, {}, {"base-image": "c/py"}, "a/py:3.12", "--base-image"),
    ("base_image", {}, {"WARP_BASE_IMAGE": "b/py:3.12"}, {}, {"base-image": "c/py"}, "b/py:3.12", "WARP_BASE_IMAGE"),
    ("base_image", {}, {}, {}, {"base-image": "c/py"}, "c/py", "[tool.warp] base-image"),
    ("base_image", {}, {}, {}, {}, None, "default"),
    # requirements: no flag; words from the variable, a list from pyproject
    ("requirements", {"requirements": "x.txt"}, {}, {}, {}, (), "default"),
    ("requirements", {}, {"WARP_PIP_PACKAGES": "a.txt  b.txt"}, {}, {"requirements": ["c.txt"]}, ("a.txt", "b.txt"), "WARP_PIP_PACKAGES"),
    ("requirements", {}, {}, {}, {"requirements": ["c.txt", "d.txt"]}, ("c.txt", "d.txt"), "[tool.warp] requirements"),
    # offline
    ("offline", {"offline": True}, {"WARP_PIP_NO_INDEX": "0"}, {}, {}, True, "--offline"),
    ("offline", {}, {"WARP_PIP_NO_INDEX": "1"}, {}, {}, True, "WARP_PIP_NO_INDEX"),
    ("offline", {}, {"WARP_PIP_NO_INDEX": "0"}, {}, {"offline": True}, False, "WARP_PIP_NO_INDEX"),
    ("offline", {}, {}, {}, {"offline": True}, True, "[tool.warp] offline"),
    ("offline", {}, {}, {}, {}, False, "default"),
    # reload: --reload > WARP_RELOAD > warpdrive's MOD_WSGI_RELOAD_ON_CHANGES > off; never from [tool.warp]
    ("reload", {"reload": True}, {"WARP_RELOAD": "0", "MOD_WSGI_RELOAD_ON_CHANGES": "0"}, {}, {}, True, "--reload"),
    ("reload", {"reload": None}, {"WARP_RELOAD": "0", "MOD_WSGI_RELOAD_ON_CHANGES": "1"}, {}, {}, False, "WARP_RELOAD"),
    ("reload", {}, {"MOD_WSGI_RELOAD_ON_CHANGES": "1"}, {}, {"reload": False}, True, "MOD_WSGI_RELOAD_ON_CHANGES"),
    ("reload", {}, {}, {}, {"reload": True}, False, "default"),
    # warm reload: WARP_RELOAD_WARM > [tool.warp] reload-warm > on; no flag
    ("reload_warm", {}, {"WARP_RELOAD_WARM": "0"}, {}, {"reload-warm": True}, False, "WARP_RELOAD_WARM"),
    ("reload_warm", {}, {}, {}, {"reload-warm": False}, False, "[tool.warp] reload-warm"),
    ("reload_warm", {}, {}, {}, {}, True, "default"),
    # graceful timeout; pyproject spells the key with a dash
    ("graceful_timeout", {"graceful_timeout": "12.5"}, {"WARP_GRACEFUL_TIMEOUT": "5"}, {}, {}, 12.5, "--graceful-timeout"),
    ("graceful_timeout", {}, {"WARP_GRACEFUL_TIMEOUT": "5"}, {}, {"graceful-timeout": 7}, 5.0, "WARP_GRACEFUL_TIMEOUT"),
    ("graceful_timeout", {}, {}, {}, {"graceful-timeout": 7}, 7.0, "[tool.warp] graceful-timeout"),
    ("graceful_timeout", {}, {}, {}, {"graceful_timeout": 7}, 30.0, "default"),
    ("graceful_timeout", {}, {}, {}, {}, 30.0, "default"),
    # interface: WSGI or ASGI
    ("interface", {"interface": "asgi"}, {"WARP_INTERFACE": "wsgi"}, {}, {"interface": "wsgi"}, "asgi", "--interface"),
    ("interface", {}, {"WARP_INTERFACE": "WSGI"}, {}, {"interface": "asgi"}, "wsgi", "WARP_INTERFACE"),
    ("interface", {}, {}, {}, {"interface": "asgi"}, "asgi", "[tool.warp] interface"),
    ("interface", {}, {}, {}, {}, "auto", "default"),
]


@pytest.mark.parametrize(
    "name, flags, environ, files, tool, value, source",
    PRECEDENCE,
    ids=[f"{row[0]}-{row[-1]}-{i}" for i, row in enumerate(PRECEDENCE)],
)
def test_precedence_and_provenance(name, flags, environ, files, tool, value, source):
    settings = resolve(flags, environ, files, tool)
    assert settings[name].value == value
    assert settings[name].source == source
    assert settings[name].is_default == (source == "default")


def find_layers(spec):
    """A setting's layers, highest first: (its source name, whether a table row gives it a value)."""
    layers = []
    if spec.flag:
        layers.append((spec.flag, lambda flags, environ, files, tool: flags.get(spec.name) not in (None, "")))
    for var in spec.env:
        layers.append((var, lambda flags, environ, files, tool, var=var: bool(environ.get(var, "").strip())))
    for name in spec.files:
        layers.append((f".warp/{name}", lambda flags, environ, files, tool, name=name: bool(files.get(name, "").strip())))
    if spec.tool_key:
        layers.append((f"[tool.warp] {spec.tool_key}", lambda flags, environ, files, tool: spec.tool_key in tool))
    return layers + [("default", lambda *given: True)]


@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
def test_the_table_shows_each_layer_of_each_setting_beating_the_next(spec):
    layers = find_layers(spec)
    rows = [row for row in PRECEDENCE if row[0] == spec.name]
    missing = [
        f"{higher} over {lower}"
        for (higher, _), (lower, is_given) in zip(layers, layers[1:])
        if not any(row[-1] == higher and is_given(*row[1:5]) for row in rows)
    ]
    assert missing == [] and any(row[-1] == "default" for row in rows)


def test_every_setting_is_resolved_and_readable_by_name():
    settings = resolve({"port": "9000"})
    assert set(settings) == {spec.name for spec in SPECS}
    assert len(settings) == len(SPECS)
    assert settings.get_value("port") == 9000


def test_only_the_winning_layer_is_parsed():
    # A broken lower layer does not matter when a higher one decides.
    settings = resolve({"port": "9000"}, {"PORT": "abc"}, {}, {"port": "nonsense"})
    assert (settings["port"].value, settings["port"].source) == (9000, "--port")


# (flags, environ, files, tool, message, hint)
INVALID = [
    ({"port": "abc"}, {}, {}, {}, "port from --port: port 'abc' is not a number", "correct --port"),
    ({}, {"PORT": "70000"}, {}, {}, "port from PORT: port 70000 is out of range 1-65535", "correct PORT or pass --port"),
    ({}, {"WARP_HTTP_PORT": "0"}, {}, {}, "port from WARP_HTTP_PORT: port 0 is out of range 1-65535", "correct WARP_HTTP_PORT or pass --port"),
    ({}, {}, {}, {"port": 0}, "port from [tool.warp] port: port 0 is out of range 1-65535", "correct [tool.warp] port or pass --port"),
    ({}, {"PORT": "-1"}, {}, {}, "port from PORT: port '-1' is not a number", "correct PORT or pass --port"),
    ({}, {}, {}, {"port": True}, "port from [tool.warp] port: port 'True' is not a number", "correct [tool.warp] port or pass --port"),
    # TOML numbers where a name is meant: never a traceback, and never 3.10 read as 3.1
    ({}, {}, {}, {"server": 5}, "server type from [tool.warp] server must be a string, not int 5", 'write it in quotes in pyproject.toml: server = "..."'),
    ({}, {}, {}, {"python": 3.10}, "python from [tool.warp] python must be a string, not float 3.1", 'write it in quotes in pyproject.toml: python = "..."'),
    ({}, {}, {}, {"mode": True}, "mode from [tool.warp] mode must be a string, not bool True", 'write it in quotes in pyproject.toml: mode = "..."'),
    ({}, {}, {}, {"home": "a\0b"}, "application home from [tool.warp] home contains a NUL byte", "correct [tool.warp] home"),
    ({}, {}, {"server_type": "gunicorn\0"}, {}, "server type from .warp/server_type contains a NUL byte", "correct .warp/server_type"),
    (
        {}, {}, {"server_type": "nginx\n"}, {},
        "server type from .warp/server_type: unknown server type 'nginx'; choose one of auto, mod_wsgi, gunicorn, uwsgi, waitress, uvicorn, granian, hypercorn",
        "correct .warp/server_type or pass --server",
    ),
    (
        {"server": "apache"}, {}, {}, {},
        "server type from --server: unknown server type 'apache'; choose one of auto, mod_wsgi, gunicorn, uwsgi, waitress, uvicorn, granian, hypercorn",
        "correct --server",
    ),
    ({"threads": "0"}, {}, {}, {}, "threads from --threads: '0' is not a positive whole number", "correct --threads"),
    ({}, {"WARP_THREADS": "two"}, {}, {}, "threads from WARP_THREADS: 'two' is not a positive whole number", "correct WARP_THREADS or pass --threads"),
    ({}, {"WEB_CONCURRENCY": "0"}, {}, {}, "processes from WEB_CONCURRENCY: '0' is not a positive whole number", "correct WEB_CONCURRENCY or pass --processes"),
    ({}, {}, {}, {"processes": 1.5}, "processes from [tool.warp] processes: 1.5 is not a positive whole number", "correct [tool.warp] processes or pass --processes"),
    (
        {}, {"WARP_APP_MODE": "fast"}, {}, {},
        "mode from WARP_APP_MODE: 'fast' is not one of auto, shell, python, django, wsgi, asgi, paste",
        "correct WARP_APP_MODE or pass --mode",
    ),
    ({}, {"WARP_INSTALLER": "poetry"}, {}, {}, "installer from WARP_INSTALLER: 'poetry' is not one of uv, pip", "correct WARP_INSTALLER or pass --installer"),
    ({"graceful_timeout": "0"}, {}, {}, {}, "graceful timeout from --graceful-timeout: '0' must be more than 0 seconds", "correct --graceful-timeout"),
    ({}, {"WARP_GRACEFUL_TIMEOUT": "soon"}, {}, {}, "graceful timeout from WARP_GRACEFUL_TIMEOUT: 'soon' is not a number of seconds", "correct WARP_GRACEFUL_TIMEOUT or pass --graceful-timeout"),
]


@pytest.mark.parametrize("flags, environ, files, tool, message, hint", INVALID, ids=[row[4].split(":")[0] + f"-{i}" for i, row in enumerate(INVALID)])
def test_invalid_values_name_their_source(flags, environ, files, tool, message, hint):
    with pytest.raises(UsageError) as caught:
        resolve(flags, environ, files, tool)
    assert caught.value.message == message
    assert str(caught.value) == message
    assert caught.value.hint == hint
    assert caught.value.exit_code == 2


def test_superscript_digit_port_gets_warps_own_message():
    with pytest.raises(UsageError) as caught:
        resolve({"port": "²"})
    assert caught.value.message == "port from --port: port '²' is not a number"
