"""The project's action hooks (.warp/action_hooks): deploy-cfg once per env and deploy on every start; the named ones
that `warp setup`, `migrate`, `alive`, `ready` and `verify` run, with what each does when the project has none."""

from __future__ import annotations

from typing import Callable

from warp import proc
from warp.context import Context
from warp.errors import WarpError
from warp.plan import find_usable_hook
from warp.report import Report


def run_start_hooks(ctx: Context, environ: dict[str, str], report: Report) -> None:
    hooks = ctx.project.hooks
    meta = ctx.env.read_meta()
    if "deploy-cfg" in hooks and not meta.get("deploy_cfg_done"):
        report(" -----> Running deploy-cfg hook (once per env)")
        run_user_hook(ctx, "deploy-cfg", environ, report)
        ctx.env.update_meta(deploy_cfg_done=True)
    if "deploy" in hooks:
        report(" -----> Running deploy hook")
        run_user_hook(ctx, "deploy", environ, report)


def run_user_hook(ctx: Context, name: str, environ, report: Report) -> None:
    warnings: list[str] = []
    hook = find_usable_hook(ctx.project, name, warnings)
    for warning in warnings:
        report(f"warning: {warning}")
    if hook is not None:
        proc.run_hook(hook.path, env=environ, cwd=ctx.source, step=f"{name} hook")


def run_named_hook(ctx: Context, name: str, report: Report, default: Callable[[], None] | None = None) -> None:
    """The hook ``name``; without one, ``default``, else say there is nothing to do."""
    if name in ctx.project.hooks:
        report(f" -----> Running {name} hook")
        run_user_hook(ctx, name, ctx.app_environ(), report)
    elif default is not None:
        default()
    else:
        report(f" -----> No .warp/action_hooks/{name}; nothing to do")


def run_migrate(ctx: Context, report: Report) -> None:
    """`warp migrate`: the migrate hook, else Django's `manage.py migrate --noinput`."""

    def django_migrate() -> None:
        if not ctx.app.is_django:
            report(" -----> No migrate hook and not a Django project; nothing to do")
            return
        report(" -----> Running manage.py migrate --noinput")
        proc.run([str(ctx.env.python), "manage.py", "migrate", "--noinput"], env=ctx.app_environ(), cwd=ctx.app.home,
                 step="manage.py migrate", capture=False)

    run_named_hook(ctx, "migrate", report, django_migrate)


def probe_app(ctx: Context, name: str, report: Report) -> None:
    """`warp alive` / `warp ready`: the hook of that name, else an HTTP GET on the app's port (an answer below 500 passes)."""

    def http_get() -> None:
        import urllib.error
        import urllib.request

        host = ctx.settings["host"].value or "127.0.0.1"
        host = "127.0.0.1" if host == "0.0.0.0" else host
        url = f"http://{host}:{ctx.settings['port'].value}/"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            raise WarpError(f"{name}: no answer from {url} ({exc})", hint="is the app running? start it with `warp start`") from None
        if status >= 500:
            raise WarpError(f"{name}: {url} answered {status}", hint="see the server's log")
        report(f" -----> {name}: {url} answered {status}")

    run_named_hook(ctx, name, report, http_get)
