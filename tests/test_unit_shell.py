"""warp.shell: everything printed for `eval` survives a real shell unchanged and runs nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from warp import cli
from warp.shell import ACTIVATION_KEYS, make_activate, make_deactivate, make_exports, make_unsets, quote_fish

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def hostile_values(sentinel: Path) -> list[str]:
    return [
        "plain",
        "",
        "with spaces  and  runs",
        "it's",
        'say "hi"',
        "'",
        "''",
        '"',
        f"$(touch {sentinel})",
        f"`touch {sentinel}`",
        f"x; touch {sentinel}",
        f"x && touch {sentinel} || touch {sentinel}",
        "$HOME ${HOME} $((1+1)) $$ $? $0 !!",
        "back\\slash\\",
        "\\'",
        "\\",
        "line one\nline two",
        "trailing newline\n\n",
        "\ttab\r\n",
        "* ? [a-z] ~ {a,b}",
        "#not a comment",
        f"'$(touch {sentinel})'\"`touch {sentinel}`\"",
        "ünïcödé ✓",
        "-n",
        "--",
    ]


def run_bash(code: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [BASH, "--noprofile", "--norc", "-c", code],
        cwd=cwd, capture_output=True, text=True, env=env if env is not None else {"PATH": os.environ["PATH"]},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def dump_environ(keys) -> str:
    """Bash code printing the named variables as JSON, with an absolute python (PATH may be changed)."""
    script = "import json, os, sys; print(json.dumps({k: os.environ.get(k) for k in sys.argv[1:]}))"
    return f"{sys.executable} -c '{script}' " + " ".join(keys)


def test_bash_exports_round_trip_and_run_nothing(tmp_path):
    sentinel = tmp_path / "SENTINEL"
    values = {f"V{i}": value for i, value in enumerate(hostile_values(sentinel))}
    code = make_exports("bash", values)
    out = run_bash(f"{code}\n{dump_environ(values)}", tmp_path)
    assert json.loads(out) == values
    assert not sentinel.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("index", range(len(hostile_values(Path("/S")))))
def test_bash_export_one_value_via_eval(tmp_path, index):
    # The way users run it: eval "$(warp ...)"; printf %s keeps trailing newlines.
    sentinel = tmp_path / "SENTINEL"
    value = hostile_values(sentinel)[index]
    code = make_exports("bash", {"WARP_X": value})
    result = subprocess.run(
        [BASH, "--noprofile", "--norc", "-c", 'eval "$1"; printf %s "$WARP_X"', "bash", code],
        cwd=tmp_path, capture_output=True, env={"PATH": os.environ["PATH"]},
    )
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout.decode() == value  # bytes: text mode would fold \r\n
    assert not sentinel.exists()


def test_make_activate_in_bash(tmp_path):
    sentinel = tmp_path / "SENTINEL"
    hostile = f"/tmp/my app $(touch {sentinel}) `touch {sentinel}` 'q\"\nnl"
    values = {
        "WARP_HOME": hostile + "/home",
        "WARP_ENV_NAME": "my-app",
        "WARP_ENV_ROOT": hostile + "/home/envs/my-app",
        "WARP_SRC_ROOT": hostile,
        "WARP_APP_ROOT": hostile,
        "VIRTUAL_ENV": hostile + "/home/envs/my-app",
    }
    path = hostile + "/home/envs/my-app/bin:/usr/bin:/bin"
    code = make_activate("bash", values, path)
    env = {"PATH": os.environ["PATH"], "PYTHONHOME": "/wrong"}
    out = run_bash(f"{code}\n{dump_environ([*values, 'PATH', 'PYTHONHOME'])}", tmp_path, env)
    assert json.loads(out) == {**values, "PATH": path, "PYTHONHOME": None}
    assert not sentinel.exists()


def test_make_deactivate_in_bash(tmp_path):
    env = {key: "/x" for key in ACTIVATION_KEYS}
    env["PATH"] = "/env/bin:" + os.environ["PATH"]
    env["UNRELATED"] = "kept"
    code = make_deactivate("bash", "/usr/bin:/bin it's")
    out = run_bash(f"{code}\n{dump_environ([*ACTIVATION_KEYS, 'PATH', 'UNRELATED'])}", tmp_path, env)
    assert json.loads(out) == {**{key: None for key in ACTIVATION_KEYS}, "PATH": "/usr/bin:/bin it's", "UNRELATED": "kept"}


@pytest.mark.parametrize("shell, argv", [("zsh", ["zsh", "-f", "-c"]), ("fish", ["fish", "--no-config", "-c"])])
def test_real_shell_exports_round_trip(shell, argv, tmp_path):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    sentinel = tmp_path / "SENTINEL"
    values = {f"V{i}": value for i, value in enumerate(hostile_values(sentinel))}
    result = subprocess.run(
        [*argv, f"{make_exports(shell, values)}\n{dump_environ(values)}"],
        cwd=tmp_path, capture_output=True, text=True, env={"PATH": os.environ["PATH"]},
    )
    assert json.loads(result.stdout) == values
    assert not sentinel.exists()


# ---------------------------------------------------------------- fish

FISH_QUOTES = [
    ("plain", "'plain'"),
    ("", "''"),
    ("it's", "'it\\'s'"),
    ("back\\slash", "'back\\\\slash'"),
    ("\\'", "'\\\\\\''"),
    ("$(touch x) `y` (z) $HOME", "'$(touch x) `y` (z) $HOME'"),
    ('say "hi"', "'say \"hi\"'"),
    ("a\nb", "'a\nb'"),
]


@pytest.mark.parametrize("value, quoted", FISH_QUOTES)
def test_quote_fish(value, quoted):
    assert quote_fish(value) == quoted


def unquote_fish(text: str) -> str:
    """fish's rule for one single-quoted word: only \\\\ and \\' are escapes inside."""
    assert text[0] == "'" and text[-1] == "'"
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in "\\'":
            out.append(body[i + 1])
            i += 2
            continue
        assert body[i] != "'", f"unescaped quote ends the word early in {text!r}"
        out.append(body[i])
        i += 1
    return "".join(out)


def test_quote_fish_round_trips_by_fishs_rules(tmp_path):
    for value in hostile_values(tmp_path / "SENTINEL"):
        assert unquote_fish(quote_fish(value)) == value


def test_fish_code_shape():
    assert make_exports("fish", {"A": "it's", "B": "x"}) == "set -gx A 'it\\'s';\nset -gx B 'x';"
    assert make_unsets("fish", ["A", "B"]) == "set -e A;\nset -e B;"
    assert make_activate("fish", {"A": "1"}, "/e/bin:/usr/bin") == "set -gx A '1';\nset -gx PATH '/e/bin:/usr/bin';\nset -e PYTHONHOME;\n"
    assert "hash" not in make_deactivate("fish", "/usr/bin")


# ---------------------------------------------------------------- through the CLI

HOSTILE_NAME = "my app $(touch SENTINEL) `touch SENTINEL2` 'q\"\nnl"


def cli_environ(home: Path) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("WARP_") and key not in ("VIRTUAL_ENV", "PYTHONHOME")}
    environ["WARP_HOME"] = str(home)
    return environ


def activate_and_eval(tmp_path: Path, dirname: str) -> tuple[dict, subprocess.CompletedProcess, Path, Path]:
    home = tmp_path / "warp home"
    source = tmp_path / dirname
    source.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "warp", "activate", "--shell", "bash"],
        cwd=source, capture_output=True, text=True, env=cli_environ(home), timeout=120,
    )
    assert result.returncode == 0, result.stderr
    keys = ["WARP_HOME", "WARP_ENV_NAME", "WARP_ENV_ROOT", "WARP_SRC_ROOT", "WARP_APP_ROOT", "VIRTUAL_ENV", "PATH"]
    evaluated = subprocess.run(
        [BASH, "--noprofile", "--norc", "-c", f'eval "$1"\n{dump_environ(keys)}', "bash", result.stdout],
        cwd=source, capture_output=True, text=True, env={"PATH": os.environ["PATH"]},
    )
    assert evaluated.returncode == 0, evaluated.stderr
    return json.loads(evaluated.stdout), result, home, source


@pytest.mark.e2e
def test_activate_in_hostile_directory(tmp_path):
    values, result, home, source = activate_and_eval(tmp_path, HOSTILE_NAME)
    real_source = os.path.realpath(source)
    assert values["WARP_SRC_ROOT"] == real_source
    assert values["WARP_APP_ROOT"] == real_source
    assert values["WARP_HOME"] == str(home)
    name = values["WARP_ENV_NAME"]
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)
    assert name.startswith("my-app-touch-SENTINEL")
    assert values["VIRTUAL_ENV"] == values["WARP_ENV_ROOT"] == str(home / "envs" / name)
    assert values["PATH"].split(":")[0] == str(home / "envs" / name / "bin")
    assert (home / "envs" / name / "bin" / "python").exists()
    for where in (tmp_path, source, home):
        assert not (where / "SENTINEL").exists() and not (where / "SENTINEL2").exists()
    assert f" -----> Created env {name} (" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
def test_activate_in_directory_with_escape_sequence(tmp_path):
    values, _, _, source = activate_and_eval(tmp_path, "app\x1b[31mred")
    assert values["WARP_SRC_ROOT"] == os.path.realpath(source)


@pytest.mark.parametrize("name", ["../x", "a/b", "a;b", "$(x)", "..", "-rf", "a b", "x" * 65, "é"])
def test_activate_invalid_name(tmp_path, monkeypatch, capsys, name):
    home = tmp_path / "home"
    monkeypatch.setenv("WARP_HOME", str(home))
    monkeypatch.delenv("WARP_ENV_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["warp", "activate", "--shell", "bash", "--", name])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    shown = name.encode("unicode_escape").decode("ascii")
    assert out == ""
    assert err == (
        f"error: invalid env name {shown!r}\n"
        "       use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)\n"
    )
    assert not home.exists() and not (tmp_path / "x").exists()


@pytest.mark.e2e
def test_activate_invalid_name_real_process(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "warp", "activate", "--shell", "bash", "$(touch SENTINEL)"],
        cwd=tmp_path, capture_output=True, text=True, env=cli_environ(tmp_path / "home"), timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == "error: invalid env name '$(touch SENTINEL)'"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "SENTINEL").exists()
