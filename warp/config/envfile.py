""".warp/environment: the variables a project gives its app, KEY=VALUE per line.

Its values are read at each command and never recorded.
"""

from __future__ import annotations

import os

from warp.config.files import is_project_file, read_project_file
from warp.errors import UsageError


def scan_environment_file(path: str | os.PathLike) -> tuple[tuple[str, str], ...]:
    """Parse ``.warp/environment``: KEY=VALUE lines, ``#`` comments, optional ``export``."""
    if not is_project_file(path):
        return ()
    pairs = []
    for number, line in enumerate(split_env_lines(read_project_file(path)), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("export "):
            text = text[len("export ") :].lstrip()
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not (key.isascii() and key.isidentifier()):
            raise UsageError(
                f".warp/environment line {number}: expected KEY=VALUE",
                hint="fix that line; keys are letters, digits and _, and do not start with a digit",
            )
        if "\0" in value:
            raise UsageError(
                f".warp/environment line {number}: the value of {key} contains a NUL byte",
                hint="remove it; no environment variable can hold a NUL byte",
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        pairs.append((key, value))
    return tuple(pairs)


def find_env_file_quirks(path: str | os.PathLike) -> list[int]:
    """The numbers of the ``.warp/environment`` lines that docker's and podman's ``--env-file`` and kubectl's
    ``--from-env-file`` read otherwise than warp: they take ``export KEY=`` as a variable named "export KEY" (kubectl
    refuses it) and keep quotes in the value."""
    if not is_project_file(path):
        return []
    quirks = []
    for number, line in enumerate(split_env_lines(read_project_file(path)), start=1):
        text = line.strip()
        value = text.partition("=")[2].strip()
        if text.startswith("export ") or (len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""):
            quirks.append(number)
    return quirks


def split_env_lines(text: str) -> list[str]:
    """The lines of an env file as docker's --env-file and kubectl's --from-env-file read them: ended by \\n or \\r\\n
    only (not by a form feed or U+2028, as str.splitlines would), after a UTF-8 byte order mark, which is dropped."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
