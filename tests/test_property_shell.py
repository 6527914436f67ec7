"""Property: whatever the env name, directory name or .warp/environment value, the shell code warp prints
for `eval` (activate, env exports, deactivate) runs no command and hands every value over exactly.

Hypothesis generates hostile text (quotes, $( ), backticks, newlines, control
characters, any Unicode) and each example is eval'd in a real bash, and in zsh
and fish where they are installed.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warp.config.project import scan_environment_file
from warp.env.venv import check_env_name, make_env_name
from warp.errors import UsageError
from warp.shell import ACTIVATION_KEYS, make_activate, make_deactivate, make_exports

SHELLS = {
    "bash": ["bash", "--noprofile", "--norc", "-c"],
    "zsh": ["zsh", "-f", "-c"],
    "fish": ["fish", "--no-config", "-c"],
}
INSTALLED = [name for name in SHELLS if shutil.which(name)]
pytestmark = pytest.mark.skipif("bash" not in INSTALLED, reason="bash is not installed")

INJECTIONS = [
    "$(touch pwned)", "`touch pwned`", "'; touch pwned; '", '"; touch pwned; "', "\ntouch pwned\n", "$HOME", "${PATH}",
    "\\", "'", '"', "\\'", "(touch pwned)", "; touch pwned", "&& touch pwned", "| touch pwned", "$(", "{a,b}", "*", "~",
    "\r", "\t", "\x1b[31m", "!!", "%s", "$'\\x41'", "-e", "--",
]
#: Anything an environment variable can hold: every character but NUL (and lone surrogates, which are not text).
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
HOSTILE = st.lists(st.one_of(st.text(CHARS, max_size=8), st.sampled_from(INJECTIONS)), max_size=6).map("".join)
#: A single directory name: no "/" (and no NUL).
DIR_NAME = HOSTILE.map(lambda text: text.replace("/", "_")).filter(lambda text: text not in ("", ".", ".."))
#: A value on one line of .warp/environment.
LINE_VALUE = HOSTILE.map(lambda text: "".join(" " if len(f"a{c}a".splitlines()) > 1 else c for c in text))

MARK = f"--8<-- {uuid.uuid4().hex}"


def read_env0(blob: bytes) -> dict[str, str]:
    pairs = [item.decode("utf-8", "surrogateescape").partition("=") for item in blob.split(b"\0") if item]
    return {key: value for key, _, value in pairs}


def spawn_shell(shell: str, code: str, cwd: Path, home: Path) -> subprocess.Popen:
    """Eval ``code`` (activate and exports, MARK, deactivate), printing the environment after each half."""
    activate, _, deactivate = code.partition(MARK)
    script = f"{activate}\n/usr/bin/env -0\necho '{MARK}'\n{deactivate}\n/usr/bin/env -0\n"
    argv = [*SHELLS[shell], "eval $argv[1]", script] if shell == "fish" else [*SHELLS[shell], 'eval "$1"', shell, script]
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ)


def read_shell(shell: str, child: subprocess.Popen) -> tuple[dict[str, str], dict[str, str]]:
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, (shell, err.decode(errors="replace"))
    before, _, after = out.partition(f"{MARK}\n".encode())
    return read_env0(before), read_env0(after)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(name=HOSTILE, directory=DIR_NAME, home_dir=DIR_NAME, value=LINE_VALUE, raw=HOSTILE)
def test_eval_runs_nothing_and_values_round_trip(tmp_path_factory, name, directory, home_dir, value, raw):
    sandbox, home_of_shells = tmp_path_factory.mktemp("eval"), tmp_path_factory.mktemp("home")  # fish writes ~/.config
    source = f"/srv/{directory}"
    # Env names: a hostile one is refused; a default one is made safe from the directory's name.
    try:
        env_name = check_env_name(name)
        assert all(c.isascii() and (c.isalnum() or c in "._-") for c in env_name)
    except UsageError:
        env_name = make_env_name(Path(source))
    check_env_name(env_name)
    home = f"/tmp/{home_dir}/.warp"
    env_root = f"{home}/envs/{env_name}"
    # .warp/environment: one line parsed by warp, and a value that came from elsewhere (any text but NUL).
    env_file = sandbox / "environment"
    env_file.write_text(f"SECRET={value}\n", encoding="utf-8", errors="surrogateescape")
    (parsed,) = scan_environment_file(env_file)
    assert parsed == ("SECRET", value.strip()[1:-1] if _is_quoted(value.strip()) else value.strip())
    env_file.unlink()
    values = {
        "WARP_HOME": home, "WARP_ENV_NAME": env_name, "WARP_ENV_ROOT": env_root,
        "WARP_SRC_ROOT": source, "WARP_APP_ROOT": source, "VIRTUAL_ENV": env_root,
    }
    path = f"{env_root}/bin:/usr/bin:/bin"
    file_vars = {"SECRET": parsed[1], "RAW": raw}
    children = {
        shell: spawn_shell(shell, f"{make_activate(shell, values, path)}\n{make_exports(shell, file_vars)}\n{MARK}\n"
                           f"{make_deactivate(shell, '/usr/bin:/bin')}", sandbox, home_of_shells)
        for shell in INSTALLED
    }
    for shell, child in children.items():
        active, after = read_shell(shell, child)
        expected_path = path
        if shell == "fish":  # fish turns an empty PATH entry (a WARP_HOME with "::") into "." by design
            expected_path = ":".join(part or "." for part in path.split(":"))
        assert {key: active.get(key) for key in [*values, *file_vars, "PATH"]} == {**values, **file_vars, "PATH": expected_path}, shell
        assert not any(key in after for key in ACTIVATION_KEYS), shell
        assert after["PATH"] == "/usr/bin:/bin", shell
        assert list(sandbox.iterdir()) == [], f"{shell} ran a command: {list(sandbox.iterdir())}"


def _is_quoted(text: str) -> bool:
    return len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""


@pytest.mark.parametrize("directory, name", [("0..0", "0.0"), ("my..app...", "my.app"), ("..", "app"), ("a b;c", "a-b-c")])
def test_default_env_names_are_always_valid(directory, name):
    """Found by the property above: a directory called "0..0" gave a default name that activate refused."""
    assert make_env_name(Path("/srv") / directory) == name
    assert check_env_name(name) == name
