"""The warp command line through real subprocesses: envs, exec/env/activate, plan, errors.

Each test runs `python -m warp` in a child process with its own WARP_HOME
(stdin closed, so there is never a terminal unless a test makes one), and
asserts exact messages and exit codes: the messages are part of the contract.
Tests that only read share one built copy of tests/apps/blog per module.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import APPS, TEST_PYTHON, build_app, warp, warp_environ

pytestmark = pytest.mark.e2e

WARP = [sys.executable, "-m", "warp"]
PYTHON_VERSION = subprocess.run(
    [TEST_PYTHON, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True, check=True
).stdout.strip()
BAD_NAME_HINT = "       use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)"


def cli(*args: str, cwd: Path, home: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`warp ARGS` with no terminal on stdin; never raises on a non-zero exit."""
    return subprocess.run(
        [*WARP, *args], cwd=cwd, env={**warp_environ(home), **(env or {})},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
    )


def assert_error(result: subprocess.CompletedProcess, exit_code: int, *lines: str) -> None:
    """A user mistake: the exit code, `error:` lines as given, and no traceback."""
    assert result.returncode == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    err = result.stderr.splitlines()
    for line in lines:
        assert line in err, result.stderr


def make_env(home: Path, project: Path, name: str) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    result = warp("activate", name, cwd=project, home=home)
    assert f" -----> Created env {name} ({home / 'envs' / name})" in result.stderr
    env = home / "envs" / name
    assert (env / "bin" / "python").exists()
    return env


def make_fake_env(path: Path) -> None:
    """A directory that looks like a warp env, so that only name checks keep destroy away from it."""
    (path / ".warp").mkdir(parents=True)
    (path / ".warp" / "env.json").write_text('{"name": "decoy"}')
    (path / "bin").mkdir()
    (path / "bin" / "python").write_text("")
    (path / "precious.txt").write_text("user data")


@pytest.fixture(scope="module")
def blog(tmp_path_factory):
    """tests/apps/blog copied and built once for the tests that only read it."""
    root = tmp_path_factory.mktemp("blog")
    project = root / "blog"
    shutil.copytree(APPS / "blog", project)
    home = root / "warp-home"
    warp("build", cwd=project, home=home)
    return project, home, home / "envs" / "blog"


# ---------------------------------------------------------------- list and destroy


def test_list_shows_name_python_last_build_and_source(tmp_path):
    home = tmp_path / "home"
    empty = cli("list", cwd=tmp_path, home=home)
    assert empty.returncode == 0
    assert 'no envs yet; create one with eval "$(warp activate)"' in empty.stderr

    make_env(home, tmp_path / "one", "alpha")
    (tmp_path / "beta").mkdir()
    warp("build", cwd=tmp_path / "beta", home=home)

    result = cli("list", cwd=tmp_path, home=home)
    assert result.returncode == 0
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["NAME", "PYTHON", "LAST", "BUILD", "SOURCE"]
    assert rows[1] == ["alpha", PYTHON_VERSION, "never", str(tmp_path / "one")]
    assert rows[2][:2] == ["beta", PYTHON_VERSION]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", rows[2][2])
    assert rows[2][3] == str(tmp_path / "beta")
    assert len(rows) == 3


def test_destroy_removes_the_env(tmp_path):
    home = tmp_path / "home"
    env = make_env(home, tmp_path / "project", "doomed")

    result = cli("destroy", "doomed", "--yes", cwd=tmp_path, home=home)

    assert result.returncode == 0, result.stderr
    assert " -----> Deleted env doomed" in result.stderr
    assert not env.exists()
    assert "doomed" not in cli("list", cwd=tmp_path, home=home).stdout
    assert (tmp_path / "project").is_dir()  # the source tree is the user's


@pytest.mark.parametrize("name", ["../x", "../../x", "/etc", "a/b", "..", "."])
def test_destroy_refuses_names_that_leave_the_envs_directory(tmp_path, name):
    home = tmp_path / "home"
    make_env(home, tmp_path / "project", "keep")
    # Decoys where each name would lead if it were joined to $WARP_HOME/envs unchecked.
    decoys = [home / "x", tmp_path / "x", home / "envs" / "a" / "b"]
    for decoy in decoys:
        make_fake_env(decoy)

    result = cli("destroy", name, "--yes", cwd=tmp_path, home=home)

    assert_error(result, 2, f"error: invalid env name {name!r}", BAD_NAME_HINT)
    for decoy in decoys:
        assert (decoy / "precious.txt").read_text() == "user data"
    assert (home / "envs" / "keep" / "bin" / "python").exists()
    assert Path("/etc/passwd").exists()


def run_in_terminal(argv: list[str], *, cwd: Path, env: dict, answer: str, timeout: float = 60) -> tuple[int, str]:
    """Run argv on a pseudo-terminal, type ``answer`` at the first question, return (exit code, screen)."""
    master, slave = pty.openpty()
    child = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    screen, answered = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                screen += chunk
            if not answered and b"?" in screen:
                os.write(master, answer.encode() + b"\n")
                answered = True
            if child.poll() is not None and not ready:
                break
        return child.wait(timeout=10), screen.decode(errors="replace")
    finally:
        if child.poll() is None:
            child.kill()
        os.close(master)


def test_destroy_asks_on_a_terminal(tmp_path):
    home = tmp_path / "home"
    env = make_env(home, tmp_path / "project", "asked")
    argv = [*WARP, "destroy", "asked"]

    code, screen = run_in_terminal(argv, cwd=tmp_path, env=warp_environ(home), answer="n")
    assert f"Delete env asked ({env})? [y/N]" in screen
    assert code == 1, screen
    assert "error: aborted" in screen
    assert (env / "bin" / "python").exists()

    code, screen = run_in_terminal(argv, cwd=tmp_path, env=warp_environ(home), answer="y")
    assert code == 0, screen
    assert "-----> Deleted env asked" in screen
    assert not env.exists()


def test_destroy_refuses_a_directory_warp_did_not_create(tmp_path):
    home = tmp_path / "home"
    stranger = home / "envs" / "stranger"
    stranger.mkdir(parents=True)
    (stranger / "notes.txt").write_text("not warp's")

    result = cli("destroy", "stranger", "--yes", cwd=tmp_path, home=home)

    assert_error(
        result, 1, f"error: {stranger} is not a warp env", "       warp deletes only envs it created; remove it yourself if you are sure"
    )
    assert (stranger / "notes.txt").read_text() == "not warp's"


# ---------------------------------------------------------------- exec, env, activate


def test_exec_runs_in_the_env(blog):
    project, home, env = blog
    code = "import os, sys, flask; print(sys.prefix); print(os.environ['BLOG_TITLE']); print(os.getcwd())"

    result = cli("exec", "python", "-c", code, cwd=project, home=home)

    assert result.returncode == 0, result.stderr
    prefix, title, cwd = result.stdout.splitlines()
    assert Path(prefix).resolve() == env.resolve()
    assert title == "My personal"
    assert cwd == str(project)
    # exec hands the exit code through
    assert cli("exec", "python", "-c", "raise SystemExit(7)", cwd=project, home=home).returncode == 7


def test_env_prints_exports_that_a_shell_can_eval(blog):
    """Values from .warp/environment are secrets: printed only with --show-secrets, and then eval'd exactly."""
    project, home, env = blog

    hidden = cli("env", cwd=project, home=home)

    assert hidden.returncode == 0, hidden.stderr
    assert "not-shown-in-plans" not in hidden.stdout + hidden.stderr
    assert "My personal" not in hidden.stdout
    assert "warning: not printed, from .warp/environment: BLOG_TITLE, SECRET_KEY (pass --show-secrets to include them)" in hidden.stderr.splitlines()
    result = cli("env", "--show-secrets", cwd=project, home=home)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for line in (
        f"export VIRTUAL_ENV={env};",
        "export WARP_ENV_NAME=blog;",
        f"export WARP_SRC_ROOT={project};",
        "export BLOG_TITLE='My personal';",
        "export SECRET_KEY=not-shown-in-plans;",
    ):
        assert line in lines, result.stdout
        assert line in hidden.stdout.splitlines() or "BLOG_TITLE" in line or "SECRET_KEY" in line
    assert any(line.startswith(f"export PATH={env}/bin:") for line in lines)

    script = f'eval "$({shlex.join(WARP)} env --show-secrets)" && printf "%s|%s|%s\\n" "$VIRTUAL_ENV" "$BLOG_TITLE" "$(command -v python)"'
    shell = subprocess.run(["bash", "-c", script], cwd=project, env=warp_environ(home), stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert shell.stdout.strip() == f"{env}|My personal|{env}/bin/python", shell.stderr


def test_commands_outside_an_activated_shell_say_which_env(blog, tmp_path):
    project, home, env = blog
    used = cli("exec", "true", cwd=project, home=home)
    assert used.returncode == 0
    assert f' -----> Using env blog for {project} (activate it with: eval "$(warp activate)")' in used.stderr.splitlines()

    activated = cli("exec", "true", cwd=project, home=home, env={"WARP_ENV_NAME": "blog"})
    assert activated.returncode == 0
    assert "Using env" not in activated.stderr

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    created = cli("exec", "true", cwd=fresh, home=tmp_path / "home")
    assert created.returncode == 0, created.stderr
    assert f' -----> Created env fresh for {fresh} (activate it with: eval "$(warp activate)")' in created.stderr.splitlines()
    assert (tmp_path / "home" / "envs" / "fresh" / "bin" / "python").exists()
    again = cli("exec", "true", cwd=fresh, home=tmp_path / "home")
    assert f" -----> Using env fresh for {fresh}" in again.stderr


def test_activate_and_deactivate_in_a_real_bash(blog):
    project, home, env = blog
    warp_cmd = shlex.join(WARP)
    script = f"""
        eval "$({warp_cmd} activate)" || exit 9
        echo "venv=$VIRTUAL_ENV"
        echo "name=$WARP_ENV_NAME"
        echo "python=$(which python)"
        eval "$({warp_cmd} deactivate)" || exit 8
        echo "after_venv=${{VIRTUAL_ENV-unset}}"
        echo "after_name=${{WARP_ENV_NAME-unset}}"
        echo "after_path=$PATH"
        echo "after_python=$(which python || true)"
    """
    result = subprocess.run(["bash", "-c", script], cwd=project, env=warp_environ(home), stdin=subprocess.DEVNULL, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    out = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert out["venv"] == str(env)
    assert out["name"] == "blog"
    assert out["python"] == f"{env}/bin/python"
    assert out["after_venv"] == "unset"
    assert out["after_name"] == "unset"
    assert f"{env}/bin" not in out["after_path"].split(":")
    assert out["after_path"].split(":") == [p for p in os.environ["PATH"].split(":") if p]
    assert not out["after_python"].startswith(str(env))


# ---------------------------------------------------------------- plan


def gunicorn_version(env: Path) -> tuple[int, ...]:
    (info,) = env.glob("lib/python*/site-packages/gunicorn-*.dist-info")
    version = info.name[len("gunicorn-") : -len(".dist-info")]
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def test_plan_explains_every_decision_and_masks_secrets(blog):
    project, home, env = blog
    args = ["--home", "personal-blog", "--app", "wsgiapp:wsgi_app", "--host", "127.0.0.1", "--port", "8123", "--processes", "3", "--threads", "2"]

    result = cli("plan", *args, cwd=project, home=home)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "not-shown-in-plans" not in out + result.stderr
    lines = out.splitlines()
    assert lines[0] == f"project  {project}"
    assert lines[1] == f"env      blog ({env})"
    decisions = lines[3 : lines.index("", 3)]
    assert decisions and all("  because " in line for line in decisions)
    expected = {
        "mode": ("wsgi", "from --app"),
        "host": ("127.0.0.1", "from --host"),
        "port": ("8123", "from --port"),
        # (why gunicorn depends on what the build recorded; any stated reason will do)
        "server": ("gunicorn", None),
        "application": ("wsgiapp:wsgi_app", "from --app"),
        "processes x threads": ("3 x 2", "processes from --processes; threads from --threads"),
        "graceful timeout": ("30s", "from default"),
    }
    for name, (value, because) in expected.items():
        reason = re.escape(because) if because else r"\S.*"
        assert any(re.fullmatch(rf"{re.escape(name)}\s+{re.escape(value)}\s+because {reason}", line) for line in decisions), (name, out)

    home_dir = project / "personal-blog"
    command = [
        f"{env}/bin/gunicorn", "--bind", "127.0.0.1:8123", "--workers", "3", "--threads", "2",
        "--graceful-timeout", "30", "--access-logfile", "-", "--chdir", str(home_dir), "--worker-class", "gthread",
    ]
    if gunicorn_version(env) >= (25, 1):
        command.append("--no-control-socket")
    if gunicorn_version(env) >= (24,):
        command += ["--reuse-port", "--logger-class", "warp_gunicorn_log.Logger"]  # the log names the address
    # The app is loaded by warp's module in the env's .warp/run/, which imports wsgiapp:wsgi_app in the server's process.
    # The application home before the project's root: warp's module puts them first on sys.path in this order.
    command += ["--pythonpath", f"{env}/.warp/run,{home_dir},{project}", "warp_wsgi:application"]
    assert f"command: {shlex.join(command)}" in lines
    assert "stop:    exec, then kill after 30s" in lines
    assert "  SECRET_KEY=******** (from .warp/environment)" in lines
    assert "  BLOG_TITLE=******** (from .warp/environment)" in lines
    assert "  PORT=8123" in lines

    # `warp start --dry-run` comes from the same plan
    dry = cli("start", "--dry-run", *args, cwd=project, home=home)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == out


# ---------------------------------------------------------------- broken things


def test_corrupt_env_metadata_is_an_error_with_a_fix(tmp_path):
    home = tmp_path / "home"
    project = tmp_path / "project"
    env = make_env(home, project, "broken")
    meta = env / ".warp" / "env.json"
    meta.write_text("\x00garbage{{")
    unreadable = f"error: metadata of env 'broken' is unreadable ({meta})"
    fix = "       destroy and recreate the env: warp destroy broken --yes && warp build"

    assert_error(cli("activate", "broken", cwd=project, home=home), 1, unreadable, fix)
    assert_error(cli("exec", "true", cwd=project, home=home, env={"WARP_ENV_NAME": "broken"}), 1, unreadable, fix)
    listed = cli("list", cwd=project, home=home)
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[1].split() == ["broken", "?", "never", "(metadata", "unreadable)"]

    # the fix works
    assert cli("destroy", "broken", "--yes", cwd=project, home=home).returncode == 0
    assert cli("activate", "broken", cwd=project, home=home).returncode == 0
    assert '"source"' in meta.read_text()


def test_corrupt_metadata_of_the_directorys_own_env_is_an_error(tmp_path):
    home = tmp_path / "home"
    project = tmp_path / "project"
    project.mkdir()
    warp("exec", "true", cwd=project, home=home)
    meta = home / "envs" / "project" / ".warp" / "env.json"
    meta.write_text("garbage")

    result = cli("exec", "true", cwd=project, home=home)

    assert not (home / "envs" / "project-2").exists()
    assert_error(result, 1, f"error: metadata of env 'project' is unreadable ({meta})")


def test_plan_and_start_never_ask_the_app_and_a_build_reads_the_settings_again(tmp_path, run_warp):
    """No interpreter asks the app before a start: `warp plan` shows what the last build's collectstatic read, and the
    server's own process reads the settings as they are now."""
    app = build_app("django_site", "gunicorn", copy_as="django_settings_read")
    settings = app.src / "mysite" / "settings.py"
    reads = tmp_path / "reads"
    (app.src / "static_url.txt").write_text("assets/\n")
    settings.write_text(settings.read_text() + (
        f"\nopen({str(reads)!r}, 'a').write('x')\n"
        "STATIC_URL = (BASE_DIR / 'static_url.txt').read_text().strip()\n"
    ))

    def static_url() -> str:
        plan = warp("plan", cwd=app.src, home=app.home).stdout
        return next(line.split()[2] for line in plan.splitlines() if line.startswith("static files"))

    warp("build", cwd=app.src, home=app.home)
    read_by_the_build = reads.read_text()
    assert static_url() == "/assets/"
    (app.src / "static_url.txt").write_text("files/\n")
    assert static_url() == "/assets/" and reads.read_text() == read_by_the_build  # plan asked nothing of the app
    running = run_warp(app)
    running.wait_ready("/admin/login/")
    assert "/files/admin/css/" in running.get("/admin/login/")[1]  # the server's process read the settings as they are
    assert running.get("/files/admin/css/base.css")[0] == 200
    warp("build", cwd=app.src, home=app.home)
    assert static_url() == "/files/"


def test_warp_keeps_its_own_bytecode_where_pythondontwritebytecode_is_set(tmp_path):
    """Every command imports warp's modules: compiled once, not on every command, as in images that set the variable."""
    shutil.copytree(Path(__file__).parent.parent / "warp", tmp_path / "warp", ignore=shutil.ignore_patterns("__pycache__"))
    environ = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(tmp_path)}
    subprocess.run([sys.executable, "-m", "warp", "--help"], env=environ, check=True, capture_output=True, cwd=tmp_path)
    assert list((tmp_path / "warp" / "__pycache__").glob("cli.*.pyc"))
    # The app's interpreters still get the environment as it is.
    script = "import warp, os, sys; print(os.environ['PYTHONDONTWRITEBYTECODE'])"
    assert subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True, text=True).stdout == "1\n"
