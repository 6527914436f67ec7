"""`warp start --reload`, the development session: the server runs as the loop's child, the tree is watched, and
each change is answered from the project as it is now (a build, collectstatic, a new plan, then a restart)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from warp import build
from warp.context import Context
from warp.errors import WarpError
from warp.hookdir import HOOKS_DIR
from warp.plan import StartPlan, plan_start
from warp.reload import loop, watch
from warp.reload.warm import WarmParent
from warp.report import Report
from warp.run import claims, parent
from warp.run.start import Prepared, run_prepare, scan_start_facts, scan_start_plan, write_plan_files


def run_reload(ctx: Context, plan: StartPlan, held: Prepared, report: Report, reload_context) -> int:
    """Development mode: watch the tree and restart (or reload) the server on change.

    ``plan`` has been prepared already; ``reload_context`` reads the project again, at every change but a static
    file's: nothing warp decided is kept from before.
    """
    sock = None
    if plan.adapter is not None and plan.adapter.takes_socket:
        sock = claims.bind_socket(plan.host, plan.port)
        sock.listen(1024)
        plan = scan_start_plan(ctx, listen_fd=sock.fileno())
    warm = WarmParent(ctx.env.python, HOOKS_DIR, ctx.env.record_path, ctx.env.run_dir / "warm-modules.json", report) if plan.warm else None
    children = loop.ServerChildren(plan, sock, warm)
    state = {"ctx": ctx}

    def prepare_reaction(reaction) -> bool:
        """Make the next child's plan from the project as it is now; False: no restart is needed."""
        try:
            if reaction.kind != "static":
                # The entry point, the settings and .warp/ as they are now: nothing warp decided is kept from before.
                state["ctx"] = reload_context()
            current = state["ctx"]
            if reaction.kind == "install":
                report(f" -----> {reaction.path} changed: building")
                build.run_build(current, report)
                state.pop("django", None)  # the new build record says what its collectstatic read
            elif (reaction.collect or reaction.kind in ("static", "settings")) and current.app.is_django:
                state["django"] = build.run_collectstatic(current, report) or {}
            if reaction.kind == "static":
                # What warp serves is read from disk; the app's own WhiteNoise lists the files when it starts (DEBUG aside).
                target = children.plan.target
                if not (target and target.app_serves_static):
                    return False
            else:
                facts = scan_start_facts(current, listen_fd=children.sock.fileno() if children.sock else None, django=state.get("django"))
                children.plan = plan_start(facts)
                if children.sock is not None and not (children.plan.adapter and children.plan.adapter.takes_socket):
                    # The entry point now binds the port itself (a new app.py, say): the old server goes first.
                    children.plan = plan_start(dataclasses.replace(facts, listen_fd=None))
                    if children.warm is not None:  # its parked process holds the socket too
                        children.warm.close()
                    children.sock.close()
                    children.sock = None
            write_plan_files(current, children.plan)
            if reaction.kind != "static":
                run_prepare(current, children.plan)
        except WarpError as exc:
            report(f"warning: {exc.message}; the server keeps running the previous code")
            return False
        return True

    reloader = loop.Reloader(
        loop.World(
            spawn=children.spawn,
            wait_ready=children.wait_ready,
            prepare=prepare_reaction,
            report=report,
            reload_in_place=children.reload_in_place,
            sequential=lambda: children.sock is None,  # a server that binds the port itself: the old one goes first
            stop_child=children.stop_child,
            idle=children.idle,
            crashed=children.crashed,
        ),
        name=plan.server or plan.mode,
    )
    children.stop_requested = lambda: reloader.stop_requested is not None
    excluded = [ctx.env.path, ctx.env.static_root, *([Path(plan.static_root)] if plan.static_root else [])]
    patterns = watch.find_reload_excludes(ctx.project.tool)
    settings = find_settings_files(ctx)
    accept = watch.make_filter(ctx.source, excluded=excluded, patterns=patterns)
    with loop.StopOnSignal(reloader) as stop:
        report(f" -----> Watching {ctx.source} for changes (Ctrl-C to stop)")
        held.server_started()  # the builds a change may start take the build lock themselves
        try:
            loop.run_loop(
                reloader,
                watch.watch_changes(ctx.source, accept, stop),
                lambda batch: watch.classify(ctx.source, batch, tuple(Path(p) for p in excluded), patterns, settings),
            )
        finally:
            reloader.shutdown(timeout=min(plan.stop.timeout, 10))
            if children.sock:
                children.sock.close()
            children.close()
    if reloader.crashed and reloader.child is not None:
        return parent.exit_code(reloader.child.poll() or 0)
    return 0



def find_settings_files(ctx: Context) -> tuple[Path, ...]:
    """The Django settings module's file, or its package (settings/base.py, settings/local.py...)."""
    module = ctx.app_environ().get("DJANGO_SETTINGS_MODULE") if ctx.app.is_django else None
    if not module:
        return ()
    base = ctx.app.home.joinpath(*module.split("."))
    if base.is_dir():  # a package: settings/__init__.py and what it imports
        return (base,)
    if base.parent.name == "settings" and base.parent != ctx.app.home:  # config/settings/production.py beside base.py
        return (base.parent,)
    return (base.with_suffix(".py"),)


def watch_source(ctx: Context, changed: threading.Event, stop: threading.Event) -> None:
    """`warp start all --reload`: set ``changed`` at each batch of changes to the app's code, templates or settings
    (what `warp start --reload` watches); the process types restart on it."""
    patterns = watch.find_reload_excludes(ctx.project.tool)
    accept = watch.make_filter(ctx.source, excluded=[ctx.env.path], patterns=patterns)
    for batch in watch.watch_changes(ctx.source, accept, stop):
        reaction = watch.classify(ctx.source, batch, (ctx.env.path,), patterns) if batch else None
        if reaction is not None and reaction.kind != "static":  # a stylesheet is no reason to restart a worker
            changed.set()
