"""Procfile: web as `warp start …` for a platform that runs warp, every other process type as `warp start TYPE`."""

from __future__ import annotations

import shlex

from warp.deploy.base import Deployment, File, find_other_types, has_more_than_web, make_type_argv
from warp.plan import StartPlan

#: Runs on a platform that gives the port in $PORT (and wants every interface), not on this machine.
PLATFORM = True


def render(plan: StartPlan, dep: Deployment) -> list[File]:
    """`web: warp start …`: the platform gives $PORT, which warp reads itself. Each other type as `warp start TYPE`,
    release as `warp release` (Heroku runs it once per deploy, before the new web dynos take traffic)."""
    lines = ["web: " + shlex.join(("warp", "start", *dep.start_args))]
    if has_more_than_web(dep.processes):
        lines += [f"{process.name}: {shlex.join(make_type_argv(process))}" for process in find_other_types(dep.processes)]
        if dep.processes.release is not None:
            lines.append(f"release: {shlex.join(make_type_argv(dep.processes.release))}")
    return [File("Procfile", "\n".join(lines) + "\n")]
