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

from warp.watch import IGNORED_DIRS

if TYPE_CHECKING:  # not imported: `warp start` replays a start with this module (see warp.quickstart)
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
    """Replace ``path`` whole with ``value``; a stamp is only a shortcut for the next command, so a failure is not one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as handle:
            handle.write(json.dumps(value))
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


def scan_files(root: Path, skip: tuple[Path, ...] = (), exact: bool = False) -> str:
    """A hash of the name, size and mtime of every file under ``root``, but for warp's ignored directories and ``skip``.

    ``exact``: also each file's mode and ctime (a chmod, a copy that keeps mtimes), and the directories a symlink
    leads to, each once.
    """
    files = []
    skipped = {Path(os.path.realpath(path)) for path in skip}
    seen = {os.path.realpath(root)}
    for top, dirs, names in os.walk(root, followlinks=exact):
        kept = []
        for d in dirs:
            real = os.path.realpath(os.path.join(top, d))
            if d in IGNORED_DIRS or Path(real) in skipped or (exact and real in seen):
                continue
            seen.add(real)
            kept.append(d)
        dirs[:] = kept
        for name in names:
            path = os.path.join(top, name)
            try:
                info = os.stat(path)
            except OSError:
                continue
            entry = [os.path.relpath(path, root), info.st_size, info.st_mtime_ns]
            files.append(entry + [info.st_mode, info.st_ctime_ns] if exact else entry)
    files.sort()
    return hashlib.sha256(json.dumps(files).encode()).hexdigest()
