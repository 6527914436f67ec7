"""Exports of awkward paths and values, each read by the program that consumes it.

A project directory, WARP_HOME or STATIC_ROOT may hold blanks, quotes, backslashes, ; # $ % ` and { }:
each export either writes it so that its consumer reads back the very same path (systemd-analyze verify,
supervisor's own parser, nginx serving a file from it, kubectl), or refuses with an `error:` naming the
character the format cannot hold.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from supervisor.options import ServerOptions, UnhosedConfigParser

from conftest import build_app, free_port, warp
from test_export_e2e import get, needs_nginx, nginx_in, wait_for, world_dir  # noqa: F401 (nginx_in and world_dir are fixtures)
from test_unit_plan import MODULE, make_settings, start
from warp.deploy import kubernetes, supervisor, systemd
from warp.deploy import nginx as nginx_export
from warp.deploy.base import Deployment, make_start_args
from warp.errors import UsageError

#: Directory names every export can hold, each one a way a naive quoting goes wrong.
AWKWARD = ["a b", 'dq"x', "bs\\x", "bs\\n", "semi;x", "dol$x", "tick`x", "pct%x", "sq'x", "brace{x}", "eq=x,y", "tab\tx"]


def why_no_kubectl() -> str | None:
    """kubectl reads --from-env-file as a CSV list since 1.23 (one plain path before)."""
    if shutil.which("kubectl") is None:
        return "kubectl is not installed"
    found = subprocess.run(["kubectl", "version", "--client", "-o", "json"], capture_output=True, text=True)
    try:
        version = json.loads(found.stdout)["clientVersion"]
        minor = (int(version["major"]), int(version["minor"].rstrip("+")))
    except (ValueError, KeyError):
        return f"cannot tell kubectl's version: {found.stderr.strip()}"
    return None if minor >= (1, 23) else f"kubectl {version['gitVersion']} takes --from-env-file as one plain path (1.23 reads a CSV list)"


_NO_KUBECTL = why_no_kubectl()
needs_kubectl = pytest.mark.skipif(_NO_KUBECTL is not None, reason=str(_NO_KUBECTL))


def make_plan(static_root: Path | None = None):
    target = dataclasses.replace(MODULE, static_url="/static/", static_root=static_root) if static_root else MODULE
    return start("gunicorn", target, flags={"port": "9000"})


def make_deployment(plan, root: Path, **changes) -> Deployment:
    """A project in ``root``, with its WARP_HOME and the Python that runs warp (a real executable) inside it."""
    python = root / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    if not python.is_symlink():
        python.symlink_to(sys.executable)
    base = dict(
        name="blog", source=root, warp_home=root / "home", warp=(str(python), "-m", "warp"),
        start_args=make_start_args(plan, make_settings(), platform=False),
        python_version="3.12.4", warp_version="1.2.3", user=pwd.getpwuid(os.geteuid()).pw_name,
    )
    return Deployment(**{**base, **changes})


def refusal(render, plan, dep) -> str:
    with pytest.raises(UsageError) as caught:
        render(plan, dep)
    assert caught.value.hint
    return caught.value.message


# ---------------------------------------------------------------- systemd


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (Debian: systemd; see .ci/install-system-deps)")
@pytest.mark.parametrize("name", AWKWARD)
def test_systemd_analyze_reads_the_unit_of_an_awkward_directory(name, tmp_path):
    """WorkingDirectory= unquoted (systemd takes it as written), Environment= and ExecStart= quoted with C escapes;
    verify finds the program at the path ExecStart= names, so its unescaping is checked too."""
    plan = make_plan()
    dep = make_deployment(plan, tmp_path / name)
    if any(c in name for c in "\"'\\\t"):  # refused in the program's path: see the next test
        dep = dataclasses.replace(dep, warp=(sys.executable, "-m", "warp"))
    (unit,) = systemd.render(plan, dep)
    path = tmp_path / unit.path
    path.write_text(unit.text)
    checked = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert unit.path not in checked.stderr, checked.stderr  # a bad value is only a warning
    assert f"WorkingDirectory={str(dep.source).replace('%', '%%')}\n" in unit.text


#: What a unit file or supervisor's ini cannot hold in a project's path; the Python's own path only for a program of
#: ExecStart= (elsewhere it is outside the project).
REFUSED = [
    (systemd.render, "a\nb", "systemd cannot express a newline in WorkingDirectory="),
    (systemd.render, "ab ", "systemd cannot express a space at the end in WorkingDirectory="),
    (systemd.render, 'dq"x', "systemd cannot express a double quote in the program of ExecStart="),
    (systemd.render, "sq'x", "systemd cannot express a single quote in the program of ExecStart="),
    (systemd.render, "bs\\x", "systemd cannot express a backslash in the program of ExecStart="),
    (systemd.render, "tab\tx", "systemd cannot express a tab in the program of ExecStart="),
    (supervisor.render, "hash #x", "supervisor cannot express '#' after a blank in directory="),
    (supervisor.render, "semi ;x", "supervisor cannot express ';' after a blank in directory="),
    (supervisor.render, "a\nb", "supervisor cannot express a newline in directory="),
    (supervisor.render, "ab ", "supervisor cannot express a space at the end in directory="),
]


@pytest.mark.parametrize("render, name, message", REFUSED, ids=[f"{row[0].__name__}-{row[1]!r}" for row in REFUSED])
def test_a_directory_an_export_cannot_hold_is_refused_naming_the_character(render, name, message, tmp_path):
    plan = make_plan()
    dep = make_deployment(plan, tmp_path / name)
    if "program of ExecStart=" not in message:
        dep = dataclasses.replace(dep, warp=(sys.executable, "-m", "warp"))
    assert refusal(render, plan, dep).startswith(message)


# ---------------------------------------------------------------- supervisor


def read_supervisor_program(text: str):
    parser = UnhosedConfigParser()
    parser.read_string(text)
    (program,) = ServerOptions().processes_from_section(parser, "program:blog", "blog")
    return program


@pytest.mark.parametrize("name", [*AWKWARD, "hash#x", "semi; x"])
def test_supervisor_reads_back_the_directory_environment_and_command(name, tmp_path):
    plan = make_plan()
    dep = make_deployment(plan, tmp_path / name)
    program = read_supervisor_program(supervisor.render(plan, dep)[0].text)
    assert program.directory == str(dep.source)
    assert program.environment == {"WARP_HOME": str(dep.warp_home), "WARP_ENV_NAME": "blog", "PYTHONUNBUFFERED": "1"}
    assert shlex.split(program.command) == [*dep.warp, "start", *dep.start_args]  # as supervisor splits it


def test_supervisor_command_keeps_a_hash_after_a_blank(tmp_path):
    """Its ini parser takes ` #` for a comment, quotes or not; command= is split by shlex, so the # gets quotes of its own."""
    plan = make_plan()
    dep = make_deployment(plan, tmp_path / "x", warp=(str(tmp_path / "x" / "bin" / "python"), "-m", "warp", "--app", "a #b ;c"))
    program = read_supervisor_program(supervisor.render(plan, dep)[0].text)
    assert shlex.split(program.command)[:5] == [*dep.warp]


@pytest.mark.parametrize("warp_home, message", [
    ("/h/'both\"x", "supervisor cannot express a single quote together with a double quote in environment=WARP_HOME"),
    ('/h/end"', "supervisor cannot express a double quote at its start or end in environment=WARP_HOME"),
])
def test_supervisor_refuses_an_environment_value_its_tokenizer_cannot_read_back(warp_home, message, tmp_path):
    plan = make_plan()
    assert refusal(supervisor.render, plan, make_deployment(plan, tmp_path / "x", warp_home=Path(warp_home))).startswith(message)


# ---------------------------------------------------------------- nginx


@needs_nginx
@pytest.mark.parametrize("name", [n for n in AWKWARD if "$" not in n] + ["hash #x", "new\nline"])
def test_nginx_serves_static_files_from_an_awkward_static_root(name, world_dir, nginx_in):
    static = world_dir / "site" / name
    static.mkdir(parents=True)
    (static / "app.css").write_text("body { color: teal }")
    port = free_port()
    plan = make_plan(static_root=static)
    (conf,) = nginx_export.render(plan, make_deployment(plan, world_dir / "project", listen=f"127.0.0.1:{port}"))
    (world_dir / "site.conf").write_text(conf.text)
    nginx = nginx_in(world_dir / "site.conf")
    checked = nginx.test()
    assert checked.returncode == 0, checked.stderr + conf.text
    nginx.start()
    wait_for(f"http://127.0.0.1:{port}/static/app.css", proc=nginx.proc, log=nginx.log)
    assert get(f"http://127.0.0.1:{port}/static/app.css")[::2] == (200, "body { color: teal }")


def test_nginx_refuses_a_dollar_in_a_static_root(tmp_path):
    """alias expands $variables and nginx has no escape for a literal $."""
    plan = make_plan(static_root=Path("/srv/dol$x"))
    message = refusal(nginx_export.render, plan, make_deployment(plan, tmp_path / "project"))
    assert message == "nginx cannot express '$' in alias ('/srv/dol$x/')"


@pytest.mark.parametrize("raw, written", [
    ("80", "80"), (" 8081 ", "8081"), ("127.0.0.1:8081", "127.0.0.1:8081"), ("[::1]:8081", "[::1]:8081"),
    ("*:80", "*:80"), ("localhost:8081", "localhost:8081"), ("web-1.example.com:443", "web-1.example.com:443"),
])
def test_listen_takes_a_port_or_an_address_and_port(raw, written):
    assert nginx_export.find_listen(raw) == written


@pytest.mark.parametrize("raw", ["80; } server { listen 81", "80 default_server", "0", "70000", "http", "1.2.3:80", "[1.2.3.4]:80",
                                 "::1:80", "-a:80", "a b:80", ":80", "", "８０"])
def test_listen_refuses_anything_else(raw):
    with pytest.raises(UsageError) as caught:
        nginx_export.find_listen(raw)
    assert caught.value.message == f"--listen {raw!r} is not a port, address:port or [IPv6 address]:port"
    assert caught.value.hint == "e.g. --listen 80, --listen 127.0.0.1:8081 or --listen [::1]:8081"


@needs_nginx
@pytest.mark.parametrize("listen", ["127.0.0.1:{port}", "[::1]:{port}", "{port}"])
def test_nginx_accepts_every_listen_that_warp_accepts(listen, world_dir, nginx_in):
    plan = make_plan()
    (conf,) = nginx_export.render(plan, make_deployment(plan, world_dir / "project", listen=listen.format(port=free_port())))
    (world_dir / "site.conf").write_text(conf.text)
    checked = nginx_in(world_dir / "site.conf").test()
    assert checked.returncode == 0, checked.stderr


# ---------------------------------------------------------------- kubectl


@needs_kubectl
@pytest.mark.parametrize("name", [*AWKWARD, "comma,x", "new\nline"])
def test_kubectl_reads_the_env_file_the_printed_command_names(name, tmp_path):
    """--from-env-file is a list read as CSV: a quote or a comma in the path is quoted for CSV, then for the shell."""
    environment = tmp_path / name / ".warp" / "environment"
    environment.parent.mkdir(parents=True)
    environment.write_text("SECRET_KEY=s3cret\n")
    command = kubernetes.make_secret_command("blog", tmp_path / name)
    made = subprocess.run(["sh", "-c", command + " --dry-run=client -o json"], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert base64.b64decode(json.loads(made.stdout)["data"]["SECRET_KEY"]) == b"s3cret"


@pytest.mark.e2e
@needs_kubectl
def test_kubernetes_export_warns_of_the_lines_kubectl_reads_otherwise_as_warp_image_does(tmp_path):
    app = build_app("flask_wsgi", "gunicorn", copy_as="flask-kube-secret")
    environment = app.src / ".warp" / "environment"
    environment.parent.mkdir(exist_ok=True)

    def export_kubernetes(text: str) -> tuple[str, subprocess.CompletedProcess]:
        environment.write_text(text)
        stderr = warp("export", "kubernetes", "--out", str(tmp_path), "--force", cwd=app.src, home=app.home).stderr
        lines = stderr.splitlines()
        command = lines[lines.index(next(line for line in lines if line.endswith("create it with:"))) + 1].strip()
        return stderr, subprocess.run(["sh", "-c", command + " --dry-run=client -o json"], capture_output=True, text=True)

    stderr, made = export_kubernetes("PLAIN=1\nexport EXPORTED=2\nQUOTED='3'\n")
    assert ("warning: .warp/environment line(s) 2, 3 use export or quotes, which kubectl's --from-env-file reads otherwise "
            "(an export line is no assignment to it, and quotes stay in the value); write them as plain KEY=VALUE") in stderr
    assert made.returncode != 0 and '"export EXPORTED" is not a valid key name' in made.stderr  # what the warning is for
    stderr, made = export_kubernetes("PLAIN=1\nEXPORTED=2\nQUOTED=3\n")
    assert "warning:" not in stderr
    assert made.returncode == 0, made.stderr
    assert {key: base64.b64decode(value) for key, value in json.loads(made.stdout)["data"].items()} == {
        "PLAIN": b"1", "EXPORTED": b"2", "QUOTED": b"3"}
