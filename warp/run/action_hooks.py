"""The project's action hooks around a start: deploy-cfg once per env, deploy on every start, and the named ones."""

from __future__ import annotations

from warp import proc
from warp.context import Context
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
