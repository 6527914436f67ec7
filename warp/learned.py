"""What warp learns by asking the app's interpreter, kept until something it could depend on changes.

Django's settings (WSGI_APPLICATION, STATIC_URL, STATIC_ROOT...) cost a Django start-up to read.
The answer is kept in the env's .warp/run/ with the inputs it was read from: every file of the
project (name, size, mtime; a settings module may read a .env or a YAML file as well as .py),
the build's inputs and the distributions installed, and the environment given to the app.
Any change asks again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from warp.files import scan_files

if TYPE_CHECKING:
    from warp.context import Context

#: Where the app listens is not something its settings depend on.
WHERE_IT_LISTENS = ("PORT", "WARP_HTTP_PORT", "WARP_HTTP_HOST")


def ask_once(ctx: Context, name: str, environ: Mapping[str, str], ask: Callable[[], dict], skip: tuple[Path, ...] = ()) -> dict:
    """``ask()``'s answer, from the env's record of it when the project, build and environment are as they were."""
    stamp = ctx.env.run_dir / f"{name}.json"
    inputs = scan_inputs(ctx, environ, skip)
    saved = read_stamp(stamp)
    if saved is not None and saved.get("inputs") == inputs and isinstance(saved.get("answer"), dict):
        return saved["answer"]
    answer = ask()
    write_stamp(stamp, {"inputs": inputs, "answer": answer})
    return answer


def read_stamp(path: Path) -> dict | None:
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def write_stamp(path: Path, value: dict, mode: int = 0o666) -> None:
    write_atomic(path, json.dumps(value).encode(), mode)


def write_atomic(path: str | os.PathLike, data: bytes, mode: int = 0o666) -> None:
    """Replace ``path`` whole with ``data``; a stamp is only a shortcut for the next command, so a failure is not one."""
    path = os.fspath(path)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}")
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except OSError:
        pass


def scan_inputs(ctx: Context, environ: Mapping[str, str], skip: tuple[Path, ...] = ()) -> dict:
    record = ctx.env.read_record()
    return {
        # What was installed, not when: a build with nothing to install keeps the answer.
        "build": [record.get("fingerprint"), hashlib.sha256(json.dumps(sorted(ctx.installed().items())).encode()).hexdigest()],
        "environ": hash_environ(environ),
        "files": scan_files(ctx.source, (ctx.env.path, *skip)),
    }


def hash_environ(environ: Mapping[str, str]) -> str:
    shown = sorted(item for item in environ.items() if item[0] not in WHERE_IT_LISTENS)
    return hashlib.sha256(json.dumps(shown).encode()).hexdigest()
