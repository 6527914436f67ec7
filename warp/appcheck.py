"""Import the WSGI app once in its env before a server starts, so a broken app is shown as the app's error."""

from __future__ import annotations

import json
from pathlib import Path

from warp import learned, proc
from warp.hookdir import HOOKS_DIR
from warp.context import Context
from warp.errors import StepFailed, UsageError, WarpError
from warp.plan import StartPlan
from warp.servers import Target

APP_HINT = "name the application with --app module:callable (or a .wsgi/.py file) relative to the application home"


def check_app_imports(ctx: Context, plan: StartPlan, record: dict) -> None:
    """Import the app in the env, unless nothing it depends on changed since the last import that succeeded."""
    if plan.mode in ("wsgi", "asgi"):
        import_app(ctx, plan.target, plan.environ, plan.cwd, record)


def probe_app(ctx: Context, target: Target | None, environ: dict, cwd: Path) -> dict | None:
    """What the app's interpreter says the callable is ({"interface": ..., "because": ...}); None when the env
    is not built or the app does not import now (the start shows why before the server runs)."""
    record = ctx.env.read_record()
    if record.get("state") != "ok" or not ctx.env.python.exists():
        return None
    try:
        return import_app(ctx, target, environ, cwd, record)
    except WarpError:
        return None


def import_app(ctx: Context, target: Target | None, environ: dict, cwd: Path, record: dict) -> dict | None:
    """Import the app in its env and return the answer, or the last answer if nothing it depends on changed since."""
    if target is None or target.kind not in ("module", "script"):
        return None
    where = target.module if target.kind == "module" else str(target.script)
    stamp = ctx.env.run_dir / "app-check.json"
    fingerprint = app_fingerprint(ctx, environ, (target.kind, str(where), target.callable), record)
    cached = _read_json(stamp)
    if isinstance(cached, dict) and cached.get("fingerprint") == fingerprint:
        return cached.get("answer")  # the same code, env and environment imported fine last time: start at once
    try:
        answer = proc.run_json(
            (str(ctx.env.python), str(HOOKS_DIR / "wsgi_check.py"), target.kind, str(where), target.callable),
            env=environ, cwd=cwd, step="Importing the application",
            hint="fix the error in the application (its traceback is above) and start again",
        )
    except StepFailed as exc:
        if exc.returncode in (2, 3):
            raise UsageError(exc.detail.strip().splitlines()[-1], hint=APP_HINT) from None
        raise
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"fingerprint": fingerprint, "answer": answer}))
    except OSError:
        pass  # only a shortcut for the next start
    return answer


def app_fingerprint(ctx: Context, environ: dict, target: tuple[str, ...], record: dict) -> dict:
    """What an import of the app depends on that warp can see cheaply: the target, and what learned.py keys
    the app's other answers on (every file of the project, the build and what it installed, the environment)."""
    return {"target": list(target), **learned.scan_inputs(ctx, environ)}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
