"""Change detection for --reload: what to watch, what a change means, and the watcher.

``make_filter`` and ``classify`` are pure; ``watch_changes`` wraps watchfiles
(Rust notify: inotify on Linux).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator, Mapping

from warp.config.files import IGNORED_DIRS
from warp.errors import UsageError

CODE_SUFFIXES = frozenset({".py", ".pyi", ".wsgi", ".ini", ".cfg", ".toml", ".mo", ".sh"})
TEMPLATE_SUFFIXES = frozenset({".html", ".htm", ".jinja", ".jinja2", ".j2", ".txt", ".xml", ".mako", ".pt"})
STATIC_SUFFIXES = frozenset(
    {".css", ".js", ".mjs", ".map", ".svg", ".png", ".jpg", ".jpeg", ".gif", ".ico", ".webp", ".avif",
     ".woff", ".woff2", ".ttf", ".eot"}
)
DEPENDENCY_NAMES = frozenset({"requirements.txt", "pyproject.toml", "setup.py", "setup.cfg", "uv.lock", "poetry.lock", "Pipfile", "Pipfile.lock"})


@dataclass(frozen=True)
class Reaction:
    """What a batch of changes asks for. kind: install | config | settings | restart | static."""

    kind: str
    path: str  # the first relevant path, relative to the project
    #: The batch also changed a static file (a `git pull` brings code and CSS at once): Django collects them too.
    collect: bool = False


def make_filter(root: Path, *, excluded: Iterable[Path] = (), patterns: Iterable[str] = ()) -> Callable[[object, str], bool]:
    """A watchfiles filter: True for files whose change matters."""
    root = root.resolve()
    excluded = tuple(path.resolve() for path in excluded)
    patterns = tuple(patterns)

    def accept(change: object, path: str) -> bool:
        return find_kind(root, Path(path), excluded, patterns) is not None

    return accept


def find_kind(root: Path, path: Path, excluded: tuple[Path, ...] = (), patterns: tuple[str, ...] = (),
              settings: tuple[Path, ...] = ()) -> str | None:
    """install, config, settings, restart, static, or None (not watched).

    ``settings``: the Django settings module's file or package, whose change may change what warp plans
    (STATIC_URL, STATIC_ROOT, INSTALLED_APPS, WSGI_APPLICATION).
    """
    try:
        relative = PurePosixPath(path.relative_to(root).as_posix())
    except ValueError:
        return None
    parts = relative.parts
    if not parts or any(part in IGNORED_DIRS for part in parts[:-1]):
        return None
    if any(path == item or item in path.parents for item in excluded):
        return None
    if is_excluded(relative, patterns):
        return None
    name = parts[-1]
    suffix = relative.suffix.lower()
    if parts[0] == ".warp":
        return "config"
    if name in DEPENDENCY_NAMES or (name.startswith("requirements") and suffix == ".txt"):
        return "install"
    if name == ".env" or any(path == item or item in path.parents for item in settings):
        return "settings"  # settings modules commonly read a .env too
    if suffix in CODE_SUFFIXES or suffix in TEMPLATE_SUFFIXES:
        return "restart"
    if suffix in STATIC_SUFFIXES:
        return "static"  # Django: collectstatic again; never a restart (uploads must not cause reload storms)
    return None


def is_excluded(relative: PurePosixPath, patterns: tuple[str, ...]) -> bool:
    """gitignore-like: "media/" a directory anywhere, "*.log" a name anywhere, "a/b/*" from the root."""
    text = relative.as_posix()
    for pattern in patterns:
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        if pattern.endswith("/"):
            if pattern.rstrip("/") in relative.parts[:-1] or fnmatch.fnmatch(text, pattern + "*"):
                return True
        elif "/" in pattern.strip("/"):
            if fnmatch.fnmatch(text, pattern.strip("/")) or fnmatch.fnmatch(text, pattern.strip("/") + "/*"):
                return True
        elif any(fnmatch.fnmatch(part, pattern) for part in relative.parts):
            return True
    return False


PRIORITY = ("install", "config", "settings", "restart", "static")


def classify(root: Path, paths: Iterable[str], excluded: tuple[Path, ...] = (), patterns: tuple[str, ...] = (),
             settings: tuple[Path, ...] = ()) -> Reaction | None:
    """The strongest reaction a batch of changed paths asks for, and whether it changed a static file too."""
    best: Reaction | None = None
    collect = False
    root = root.resolve()
    for raw in sorted(paths):
        kind = find_kind(root, Path(raw), excluded, patterns, settings)
        if kind is None:
            continue
        collect = collect or kind == "static"
        if best is None or PRIORITY.index(kind) < PRIORITY.index(best.kind):
            best = Reaction(kind, Path(raw).relative_to(root).as_posix())
    return Reaction(best.kind, best.path, collect) if best else None


def watch_changes(root: Path, accept: Callable[[object, str], bool], stop) -> Iterator[set[str]]:
    """Batches of changed paths; an empty batch every 100 ms so the caller can look around.

    Bursts of writes (editors save in several steps) arrive as one batch:
    watchfiles waits for 50 ms of quiet (at most 1.6 s) before yielding.
    """
    from watchfiles import watch

    for changes in watch(
        root, watch_filter=accept, stop_event=stop, yield_on_timeout=True, rust_timeout=100,
        debounce=1600, step=50, raise_interrupt=False,
    ):
        yield {path for _, path in changes}


def find_reload_excludes(tool: Mapping[str, Any]) -> tuple[str, ...]:
    """The patterns `[tool.warp] reload-exclude` adds to what --reload never watches."""
    value = tool.get("reload-exclude", [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError("[tool.warp] reload-exclude must be a list of patterns", hint='write it as reload-exclude = ["media/", "*.log"]')
    return tuple(value)
