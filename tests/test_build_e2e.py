"""`warp build` end to end: real virtualenvs, real installs from the package index.

Every test gets its own project directory and its own WARP_HOME (both under
tmp_path), so the env of a test is always ``$WARP_HOME/envs/project``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import warp

pytestmark = pytest.mark.e2e

MISSING_PACKAGE = "this-package-does-not-exist-warp-xyz"


# ---------------------------------------------------------------- helpers


def make_project(tmp_path: Path, requirements: str | None = None) -> tuple[Path, Path]:
    project = tmp_path / "project"
    project.mkdir()
    if requirements is not None:
        (project / "requirements.txt").write_text(requirements)
    return project, tmp_path / "warp-home"


def env_of(home: Path) -> Path:
    return home / "envs" / "project"


def installed(env: Path) -> dict[str, str]:
    """Distribution name -> the INSTALLER that put it there (pip or uv), read from the env on disk."""
    found = {}
    for info in env.glob("lib/python*/site-packages/*.dist-info"):
        name = info.name[: -len(".dist-info")].partition("-")[0].lower().replace("_", "-")
        installer = info / "INSTALLER"
        found[name] = installer.read_text().strip() if installer.is_file() else ""
    return found


def uninstall(env: Path, *names: str) -> None:
    """Remove packages from the env behind warp's back (the env is seeded with pip)."""
    subprocess.run([str(env / "bin" / "python"), "-m", "pip", "uninstall", "--yes", "--quiet", *names], check=True, capture_output=True)
    for name in names:
        assert name not in installed(env)


def record(env: Path) -> dict:
    path = env / ".warp" / "build.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def tree(root: Path) -> set[str]:
    """Every path in a source tree, except the bytecode caches Python writes when it imports settings."""
    return {str(path.relative_to(root)) for path in root.rglob("*") if "__pycache__" not in path.parts}


def assert_clean_failure(result: subprocess.CompletedProcess, exit_code: int) -> None:
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "error: " in result.stderr


def write_hook(project: Path, name: str, body: str, executable: bool = True) -> Path:
    hooks = project / ".warp" / "action_hooks"
    hooks.mkdir(parents=True, exist_ok=True)
    path = hooks / name
    path.write_text("#!/bin/sh\nset -e\n" + body + "\n")
    path.chmod(0o755 if executable else 0o644)
    return path


def make_django_project(tmp_path: Path) -> tuple[Path, Path]:
    """A `django-admin startproject mysite .` project, made with warp's own env."""
    project, home = make_project(tmp_path, "Django\n")
    first = warp("build", cwd=project, home=home)
    assert "Collecting Django static files" not in first.stderr
    warp("exec", "django-admin", "startproject", "mysite", ".", cwd=project, home=home)
    assert (project / "manage.py").is_file()
    return project, home


# ---------------------------------------------------------------- Django static files


def test_django_static_files_go_to_the_env_when_settings_name_no_static_root(tmp_path):
    project, home = make_django_project(tmp_path)
    before = tree(project)

    result = warp("build", cwd=project, home=home)

    assert " -----> Collecting Django static files" in result.stderr
    collected = env_of(home) / ".warp" / "static"
    assert (collected / "admin" / "css" / "base.css").is_file()
    assert f"-> {collected} (warp's directory; the project sets no STATIC_ROOT)" in result.stderr
    # build never writes into the source tree (bytecode caches aside)
    assert tree(project) == before
    assert not any(part in ("static", "staticfiles", "admin") for path in tree(project) for part in Path(path).parts)
    assert record(env_of(home))["static_root"] == str(collected)


def test_django_static_files_go_to_the_projects_static_root(tmp_path):
    project, home = make_django_project(tmp_path)
    public = tmp_path / "public"
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + f"\nSTATIC_ROOT = {str(public)!r}\n")

    result = warp("build", cwd=project, home=home)

    assert " -----> Collecting Django static files" in result.stderr
    assert (public / "admin" / "css" / "base.css").is_file()
    assert f"-> {public}\n" in result.stderr
    assert "warp's directory" not in result.stderr
    assert not (env_of(home) / ".warp" / "static").exists()
    assert record(env_of(home))["static_root"] == str(public)


# ---------------------------------------------------------------- skipping and repeating installs


def test_unchanged_inputs_skip_the_installer_and_changes_or_force_run_it(tmp_path):
    project, home = make_project(tmp_path, "six\n")
    env = env_of(home)
    first = warp("build", cwd=project, home=home)
    assert " -----> Installing dependencies with uv (requirements.txt)" in first.stderr
    assert "six" in installed(env)

    second = warp("build", cwd=project, home=home)
    assert " -----> Dependencies unchanged, skipping install (use --force to reinstall)" in second.stderr
    assert "Installing dependencies" not in second.stderr
    assert record(env)["skipped_install"] is True

    # Taken away behind warp's back (`warp exec pip uninstall -y six`): what the env holds is an input too.
    uninstall(env, "six")
    repaired = warp("build", cwd=project, home=home)
    assert " -----> Installing dependencies with uv (requirements.txt)" in repaired.stderr
    assert "six" in installed(env)

    (project / "requirements.txt").write_text("six\niniconfig\n")
    third = warp("build", cwd=project, home=home)
    assert " -----> Installing dependencies with uv (requirements.txt)" in third.stderr
    assert "Dependencies unchanged" not in third.stderr
    assert {"six", "iniconfig"} <= set(installed(env))

    uninstall(env, "iniconfig")
    forced = warp("build", "--force", cwd=project, home=home)
    assert " -----> Installing dependencies with uv (requirements.txt)" in forced.stderr
    assert "Dependencies unchanged" not in forced.stderr
    assert "iniconfig" in installed(env)
    assert record(env)["state"] == "ok"


def test_the_server_is_installed_in_the_dependencies_installer_run_unless_it_compiles(tmp_path):
    """One installer run, not two: its start-up, a resolution and (uv) a byte-compiling pass over the env once."""
    project, home = make_project(tmp_path, "six\n")
    first = warp("build", cwd=project, home=home)
    lines = first.stderr.splitlines()
    assert " -----> Installing gunicorn, whitenoise (with the dependencies: one resolution)" in lines, first.stderr
    assert " -----> Installing gunicorn, whitenoise" not in lines and "already installed" not in first.stderr
    assert {"six", "gunicorn", "whitenoise"} <= set(installed(env_of(home)))
    switched = warp("build", "--server", "waitress", cwd=project, home=home)
    assert " -----> Installing waitress (with the dependencies: one resolution)" in switched.stderr.splitlines()
    assert "waitress" in installed(env_of(home))


def test_a_server_chosen_with_server_stays_chosen_for_build_plan_and_start(tmp_path):
    project, home = make_project(tmp_path, "six\n")
    env = env_of(home)
    warp("build", "--server", "waitress", cwd=project, home=home)
    again = warp("build", cwd=project, home=home)
    assert "Dependencies unchanged, skipping install" in again.stderr
    assert "Installing gunicorn" not in again.stderr and "gunicorn" not in installed(env)
    assert record(env)["server"] == "waitress"
    (project / "wsgi.py").write_text("def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'']\n")
    plan = warp("plan", cwd=project, home=home).stdout
    assert "server" in plan and "waitress" in plan.split("command:")[1].split("\n")[0]
    assert "the server of the last `warp build`" in plan
    switched = warp("build", "--server", "gunicorn", cwd=project, home=home)
    assert "Installing gunicorn" in switched.stderr and record(env)["server"] == "gunicorn"


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_installed_packages_are_byte_compiled_whatever_pythondontwritebytecode_says(tmp_path, installer):
    project, home = make_project(tmp_path, "six\n")
    warp("build", "--installer", installer, cwd=project, home=home, env={"PYTHONDONTWRITEBYTECODE": "1"})
    (site,) = env_of(home).glob("lib/python*/site-packages")
    assert list((site / "__pycache__").glob("six.*.pyc")), "six was installed without its bytecode"
    assert list((site / "gunicorn" / "__pycache__").glob("arbiter.*.pyc")), "the server was installed without its bytecode"
    assert_bytecode_is_current(env_of(home), "six", "gunicorn.arbiter")


IMPORTED_FROM_BYTECODE = """
import importlib, importlib.util, json, sys
for name in sys.argv[1:]:
    spec = importlib.util.find_spec(name)
    # SourceFileLoader.get_code reads the .pyc only when its header matches the source; else it compiles the source.
    code = spec.loader.get_code(name)
    source = spec.loader.source_to_code(spec.loader.get_data(spec.origin), spec.origin)
    print(json.dumps([name, code.co_filename, code == source, spec.origin, spec.cached]))
"""


def assert_bytecode_is_current(env: Path, *modules: str) -> None:
    """Each module's .pyc is the one the import system uses (its header matches the source), its code is what
    compiling the source gives, and it names the module's own file."""
    result = subprocess.run([str(env / "bin" / "python"), "-c", IMPORTED_FROM_BYTECODE, *modules], capture_output=True, text=True, check=True)
    for line, module in zip(result.stdout.splitlines(), modules):
        name, filename, same, origin, cached = json.loads(line)
        assert same and filename.startswith(str(env)), (module, filename)
        header = Path(cached).read_bytes()[:16]
        assert int.from_bytes(header[8:12], "little") == int(Path(origin).stat().st_mtime), f"{cached} is not current for {origin}"


def test_a_second_env_takes_the_bytecode_another_env_compiled_from_the_same_source(tmp_path):
    cache = tmp_path / "cache"
    first, home = make_project(tmp_path, "six\n")
    warp("build", cwd=first, home=home, env={"WARP_CACHE_DIR": str(cache), "PYTHONDONTWRITEBYTECODE": "1"})
    (site,) = env_of(home).glob("lib/python*/site-packages")
    six_source = (site / "six.py").read_bytes()
    # The kept code of six.py, replaced by code that says where it came from: the second env must use it.
    (kept,) = cache.glob(f"bytecode/*/{hashlib.sha256(six_source).hexdigest()}")
    python = env_of(home) / "bin" / "python"
    subprocess.run([str(python), "-c", f"import marshal; open({str(kept)!r}, 'wb').write(marshal.dumps(compile('WHERE = \"the cache\"', 'six.py', 'exec')))"],
                   check=True)
    second = tmp_path / "second"
    second.mkdir()
    (second / "requirements.txt").write_text("six\n")
    warp("build", cwd=second, home=home, env={"WARP_CACHE_DIR": str(cache), "PYTHONDONTWRITEBYTECODE": "1"})
    other = home / "envs" / "second" / "bin" / "python"
    said = subprocess.run([str(other), "-c", "import six; print(six.WHERE, six.__file__)"], capture_output=True, text=True, check=True).stdout.split()
    assert said[:2] == ["the", "cache"] and said[2].startswith(str(home / "envs" / "second"))
    # What the cache does not hold is compiled, and kept for the next env; the server came from the cache too.
    assert_bytecode_is_current(home / "envs" / "second", "gunicorn.arbiter")


@pytest.mark.parametrize("how", ["the cache is world-writable", "its bytecode directory is another user's", "its directory of one Python is group-writable"])
def test_a_bytecode_cache_another_user_can_write_to_is_not_used(tmp_path, how):
    """What the cache holds becomes the code of every env's packages: warp uses it only where it is the user's alone."""
    if how.startswith("its bytecode") and os.geteuid() != 0:
        pytest.skip("giving a directory to another user needs root")
    cache = tmp_path / "cache"
    first, home = make_project(tmp_path, "six\n")
    warp("build", cwd=first, home=home, env={"WARP_CACHE_DIR": str(cache), "PYTHONDONTWRITEBYTECODE": "1"})
    (site,) = env_of(home).glob("lib/python*/site-packages")
    (kept,) = cache.glob(f"bytecode/*/{hashlib.sha256((site / 'six.py').read_bytes()).hexdigest()}")
    python = env_of(home) / "bin" / "python"
    subprocess.run([str(python), "-c", f"import marshal; open({str(kept)!r}, 'wb').write(marshal.dumps(compile('PLANTED = 1', 'six.py', 'exec')))"],
                   check=True)
    if how.startswith("the cache"):
        cache.chmod(0o777)
    elif how.startswith("its bytecode"):
        os.chown(cache / "bytecode", 65534, 65534)
    else:
        kept.parent.chmod(0o770)
    second = tmp_path / "second"
    second.mkdir()
    (second / "requirements.txt").write_text("six\n")
    built = warp("build", cwd=second, home=home, env={"WARP_CACHE_DIR": str(cache), "PYTHONDONTWRITEBYTECODE": "1"})
    other = home / "envs" / "second" / "bin" / "python"
    assert subprocess.run([str(other), "-c", "import six; print(hasattr(six, 'PLANTED'), six.moves.__name__)"],
                          capture_output=True, text=True, check=True).stdout.split() == ["False", "six.moves"]
    assert_bytecode_is_current(home / "envs" / "second", "six", "gunicorn.arbiter")
    if not how.startswith("its directory of one Python"):  # the hook passes over that one without a word
        refused = cache if how.startswith("the cache") else cache / "bytecode"
        assert f"warning: the bytecode cache is not used: {refused} is not a private directory of this user (owner, mode or symlink)" in built.stderr


@pytest.mark.parametrize("how", ["WARP_NO_CACHE=1", "a cache directory that cannot be made"])
def test_without_a_bytecode_cache_everything_is_compiled_all_the_same(tmp_path, how):
    (tmp_path / "a-file").write_text("")
    cache = tmp_path / "cache" if how.startswith("WARP_NO_CACHE") else tmp_path / "a-file" / "cache"
    project, home = make_project(tmp_path, "six\n")
    extra = {"WARP_NO_CACHE": "1"} if how.startswith("WARP_NO_CACHE") else {}
    warp("build", cwd=project, home=home, env={"WARP_CACHE_DIR": str(cache), "PYTHONDONTWRITEBYTECODE": "1", **extra})
    assert not cache.exists()
    assert_bytecode_is_current(env_of(home), "six", "gunicorn.arbiter")


def test_a_damaged_entry_of_the_bytecode_cache_is_compiled_again(tmp_path):
    cache = tmp_path / "cache"
    first, home = make_project(tmp_path, "six\n")
    warp("build", cwd=first, home=home, env={"WARP_CACHE_DIR": str(cache)})
    (site,) = env_of(home).glob("lib/python*/site-packages")
    (kept,) = cache.glob(f"bytecode/*/{hashlib.sha256((site / 'six.py').read_bytes()).hexdigest()}")
    kept.write_bytes(kept.read_bytes()[:100])  # cut short, as a full disk or another program might leave it
    second = tmp_path / "second"
    second.mkdir()
    (second / "requirements.txt").write_text("six\n")
    warp("build", cwd=second, home=home, env={"WARP_CACHE_DIR": str(cache)})
    assert_bytecode_is_current(home / "envs" / "second", "six")


# ---------------------------------------------------------------- failures


def test_unknown_requirement_fails_cleanly_and_the_next_build_repairs(tmp_path):
    project, home = make_project(tmp_path, "six\n")
    env = env_of(home)
    warp("build", cwd=project, home=home)
    assert record(env)["state"] == "ok"

    (project / "requirements.txt").write_text(f"six\n{MISSING_PACKAGE}==1.0\n")
    failed = warp("build", cwd=project, home=home, check=False)

    assert_clean_failure(failed, 1)
    assert MISSING_PACKAGE in failed.stderr
    assert "error: Installing dependencies with uv (requirements.txt) failed (exit code" in failed.stderr
    assert "       fix the requirement named above and run `warp build` again" in failed.stderr
    assert "Build of env project finished" not in failed.stderr
    assert record(env).get("state") != "ok"

    # Back to the inputs of the last success: the failed build must not let it count as done.
    (project / "requirements.txt").write_text("six\n")
    uninstall(env, "six")
    repaired = warp("build", cwd=project, home=home)
    assert "Dependencies unchanged" not in repaired.stderr
    assert " -----> Installing dependencies with uv (requirements.txt)" in repaired.stderr
    assert "six" in installed(env)
    assert record(env)["state"] == "ok"


def test_first_build_with_unknown_requirement_records_no_success(tmp_path):
    project, home = make_project(tmp_path, f"{MISSING_PACKAGE}==1.0\n")
    failed = warp("build", cwd=project, home=home, check=False)
    assert_clean_failure(failed, 1)
    assert MISSING_PACKAGE in failed.stderr
    assert record(env_of(home)).get("state") != "ok"

    (project / "requirements.txt").write_text("six\n")
    fixed = warp("build", cwd=project, home=home)
    assert " -----> Build of env project finished" in fixed.stderr
    assert "six" in installed(env_of(home))


def test_a_build_after_one_that_did_not_finish_installs_incomplete_packages_again(tmp_path):
    """A failed build records "building"; the next one reinstalls any package that lacks files its RECORD lists (what
    an install cut short by a kill or a full disk leaves), which an installer alone would take for installed."""
    project, home = make_project(tmp_path, "six\n")
    env = env_of(home)
    warp("build", cwd=project, home=home)
    hook = write_hook(project, "build", "exit 3")
    assert_clean_failure(warp("build", "--force", cwd=project, home=home, check=False), 1)
    assert record(env)["state"] == "building"
    six = next(env.glob("lib/python*/site-packages/six.py"))
    six.unlink()  # as if the install had been cut short before this file was written
    hook.unlink()

    repaired = warp("build", cwd=project, home=home)

    assert " -----> The last build did not finish; installing again what it left incomplete: six" in repaired.stderr
    assert six.is_file()
    assert files_missing(env) == []
    assert record(env)["state"] == "ok"


# ---------------------------------------------------------------- WARP_PIP_PACKAGES


def test_warp_pip_packages_installs_every_file_it_names(tmp_path):
    # requirements.txt would fail: WARP_PIP_PACKAGES must replace it, not add to it.
    project, home = make_project(tmp_path, f"{MISSING_PACKAGE}==1.0\n")
    (project / "req-one.txt").write_text("six\n")
    (project / "req-two.txt").write_text("iniconfig\n")

    result = warp("build", cwd=project, home=home, env={"WARP_PIP_PACKAGES": "req-one.txt req-two.txt"})

    assert " -----> Installing dependencies with uv (req-one.txt, req-two.txt)" in result.stderr
    assert {"six", "iniconfig"} <= set(installed(env_of(home)))


# ---------------------------------------------------------------- installers


def test_installer_pip_installs_with_the_envs_own_pip(tmp_path):
    project, home = make_project(tmp_path, "six\n")
    env = env_of(home)

    result = warp("build", "--installer", "pip", cwd=project, home=home)

    # uv-created envs are seeded, so pip is there to be used
    assert (env / "bin" / "pip").exists()
    assert " -----> Installing dependencies with pip (requirements.txt)" in result.stderr
    packages = installed(env)
    assert packages["six"] == "pip"
    assert packages["gunicorn"] == "pip"
    assert record(env)["installer"] == "pip"


# ---------------------------------------------------------------- action hooks


def test_pre_build_and_build_hooks_run_in_order_with_the_project_environment(tmp_path):
    project, home = make_project(tmp_path, "six\n")
    (project / ".warp").mkdir()
    (project / ".warp" / "environment").write_text("SOME_VAR=from-the-environment-file\n")
    probe = 'python -c "import six" 2>/dev/null && echo six-installed || echo six-missing'
    write_hook(project, "pre-build", f'echo "pre-build $SOME_VAR $({probe})" >> hooks.log')
    write_hook(project, "build", f'echo "build $SOME_VAR $({probe})" >> hooks.log')

    result = warp("build", cwd=project, home=home)

    assert (project / "hooks.log").read_text().splitlines() == [
        "pre-build from-the-environment-file six-missing",
        "build from-the-environment-file six-installed",
    ]
    lines = result.stderr.splitlines()
    order = [" -----> Running pre-build hook", " -----> Installing dependencies with uv (requirements.txt)", " -----> Running build hook"]
    assert [lines.index(line) for line in order] == sorted(lines.index(line) for line in order)


# ---------------------------------------------------------------- mod_wsgi without apxs


def test_mod_wsgi_without_apxs_says_which_package_to_install(tmp_path):
    """apxs is looked up on PATH; this test gives warp a real PATH without it.

    Only the edge is changed: PATH is a directory holding just `sh`, so neither
    /usr/bin/apxs nor apxs2 can be found. Everything else (uv, the interpreter)
    warp reaches by absolute path.
    """
    if os.environ.get("MOD_WSGI_APXS"):
        pytest.skip("MOD_WSGI_APXS is set, which tells mod_wsgi where apxs is")
    project, home = make_project(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sh").symlink_to("/bin/sh")

    result = warp("build", "--server", "mod_wsgi", cwd=project, home=home, check=False, env={"PATH": str(bin_dir)})

    assert_clean_failure(result, 1)
    assert "error: mod_wsgi needs Apache's apxs tool to build, and it was not found" in result.stderr
    assert "apache2-dev" in result.stderr
    assert "httpd-devel" in result.stderr
    assert "mod-wsgi" not in installed(env_of(home))
    assert record(env_of(home)).get("state") != "ok"


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of its own for WARP_HOME, so that a test can fill it; skipped where mounting is not permitted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not shutil.which("mount"):
        pytest.skip("no mount command to make a small file system with")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Take all the free space of ``disk`` but ``leave`` bytes, with one file."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, stat.f_bavail * stat.f_frsize - leave)
    return filler


def files_missing(env: Path) -> list[str]:
    """Files that an installed distribution's RECORD lists and the env lacks (what an install cut short leaves)."""
    missing = []
    for record_file in env.glob("lib/python*/site-packages/*.dist-info/RECORD"):
        site = record_file.parent.parent
        for line in record_file.read_text().splitlines():
            name = line.rsplit(",", 2)[0]
            if name and not (site / name).exists():
                missing.append(name)
    return missing


FILL_BY_HOOK = 'head -c 1G /dev/zero > "$WARP_ENV_ROOT/../../../filler" 2>/dev/null || true'  # WARP_HOME/envs/project
DJANGO_SETTINGS = (
    "from pathlib import Path\nSECRET_KEY = 'x'\nINSTALLED_APPS = ['django.contrib.staticfiles']\n"
    "STATIC_URL = '/static/'\nSTATICFILES_DIRS = [Path(__file__).resolve().parent.parent / 'assets']\n"
)


@pytest.mark.parametrize("where", ["creating the env", "installing", "collectstatic", "writing the build record"])
def test_a_full_disk_is_an_error_and_the_next_build_with_space_repairs_the_env(where, tmp_path, small_disk):
    project, home = make_project(tmp_path, "Flask\n")
    home = small_disk / "home"
    env = env_of(home)
    expected = {
        "creating the env": "error: Creating env project failed: the disk is full",
        "installing": "error: Installing dependencies with uv (requirements.txt) failed: the disk is full",
        "collectstatic": "error: collectstatic failed: the disk is full",
        "writing the build record": "error: the disk is full: cannot write",
    }[where]
    if where == "creating the env":
        fill(small_disk, leave=256 * 1024)
    elif where == "installing":
        warp("activate", cwd=project, home=home)
        fill(small_disk, leave=256 * 1024)
    else:
        write_hook(project, "build", FILL_BY_HOOK)  # after the installs, before collectstatic and the record
    if where == "collectstatic":
        (project / "requirements.txt").write_text("Django\n")
        (project / "manage.py").write_text(
            "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n"
            "from django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n"
        )
        (project / "mysite").mkdir()
        (project / "mysite" / "__init__.py").write_text("")
        (project / "mysite" / "settings.py").write_text(DJANGO_SETTINGS)
        (project / "assets").mkdir()
        (project / "assets" / "site.css").write_text("body { color: black; }\n" * 20000)

    failed = warp("build", cwd=project, home=home, check=False)

    assert_clean_failure(failed, 1)
    lines = failed.stderr.splitlines()
    error = next((i for i, line in enumerate(lines) if line.startswith(expected)), None)
    assert error is not None, failed.stderr
    assert lines[error + 1].startswith("       free some space on that disk (see `df -h`)"), failed.stderr
    assert "Build of env project finished" not in failed.stderr
    assert record(env).get("state") != "ok"

    (small_disk / "filler").unlink()
    (project / ".warp" / "action_hooks" / "build").unlink(missing_ok=True)
    repaired = warp("build", cwd=project, home=home)
    assert " -----> Build of env project finished" in repaired.stderr
    assert record(env)["state"] == "ok"
    assert files_missing(env) == []
    module = "django" if where == "collectstatic" else "flask"
    warp("exec", "python", "-c", f"import {module}", cwd=project, home=home)
    if where == "collectstatic":
        assert (env / ".warp" / "static" / "site.css").read_text() == (project / "assets" / "site.css").read_text()


def record_of(app) -> dict:
    return json.loads((app.home / "envs" / app.name / ".warp" / "build.json").read_text())


def test_collectstatic_runs_on_every_build_and_collects_what_changed():
    """Only Django knows every source (installed apps, STATICFILES_DIRS wherever they point): it runs each time."""
    from conftest import django_site_with_assets

    app, css = django_site_with_assets("collect_when_changed")
    settings = app.src / "mysite" / "settings.py"
    collected = app.home / "envs" / app.name / ".warp" / "static"

    def build(*args) -> str:
        return warp("build", *args, cwd=app.src, home=app.home).stderr

    assert "Collecting Django static files" in build()
    assert "Collecting Django static files" in build() and "skipping collectstatic" not in build()
    css.write_text("body { color: blue; }\n")  # a static source
    later = time.time() + 2  # collectstatic copies a source only when it is newer, to the second
    os.utime(css, (later, later))
    assert "Collecting Django static files" in build()
    assert (collected / "site.css").read_text() == "body { color: blue; }\n"
    (collected / "site.css").unlink()  # the collected files altered
    assert "Collecting Django static files" in build()
    assert (collected / "site.css").exists()
    settings.write_text(settings.read_text() + '\nSTATIC_URL = "assets/"\n')  # the settings
    assert "Collecting Django static files" in build()
    assert record_of(app)["django"]["static_url"] == "/assets/"  # what the build read, for `warp plan` and uWSGI, mod_wsgi
