"""The image: a two-stage Containerfile built from the wheelhouse `warp image` puts in the project, and its
.containerignore."""

from __future__ import annotations

import json
import shlex

from warp.config.processes import ProcessPlan
from warp.deploy.base import (
    IMAGE_HOME,
    IMAGE_UID,
    Deployment,
    File,
    describe_stop,
    find_base_image,
    find_image_name,
    find_other_types,
    has_more_than_web,
    make_build_command,
    make_header,
    make_probe_command,
    make_type_argv,
)
from warp.plan import StartPlan

#: Runs on a platform that gives the port in $PORT (and wants every interface), not on this machine.
PLATFORM = True
#: Where `warp image` puts the wheelhouse in the build context: where `warp build` looks for one.
WHEELHOUSE = ".warp/wheelhouse"
#: Never copied into an image: the VCS, local envs and caches, logs, and the values of .warp/environment.
CONTAINER_IGNORE = (
    ".git", ".hg", ".svn", "**/__pycache__", "**/*.py[co]", ".venv", "venv", "env", ".tox", ".nox",
    ".mypy_cache", ".pytest_cache", "node_modules", "*.log", "logs", ".env", ".warp/environment",
    "Containerfile", ".containerignore",
)


def render_containerignore(dep: Deployment) -> list[File]:
    """What stays out of the build context; the wheelhouse stays in (the build installs from it)."""
    lines = [make_header("#", "image", dep).rstrip(), "# Secrets are given at run time: podman run --env-file .warp/environment"]
    return [File(".containerignore", "\n".join(lines + list(CONTAINER_IGNORE)) + "\n")]


def render(plan: StartPlan, dep: Deployment) -> list[File]:
    """A two-stage Containerfile built from the wheelhouse warp put in the context: no package index is contacted.

    The first stage holds the compilers (uWSGI, mod_wsgi build there from their sdists)
    and the build; the second, a non-root runtime with what the first built. Its comments say how to run each other
    process type from the image.
    """
    python = ".".join(dep.python_version.split(".")[:2])
    app = IMAGE_HOME / "src"
    build = make_build_command(plan)
    env = f"PATH=/opt/warp/bin:$PATH WARP_HOME={IMAGE_HOME}/warp PYTHONUNBUFFERED=1"
    base = find_base_image(dep)
    lines = [
        make_header("#", "image", dep).rstrip(),
        f"# Build it with: warp image, or podman build --format docker -f Containerfile -t {find_image_name(dep.name)} .",
        f"# (after `warp image` has put the wheelhouse into {WHEELHOUSE}).",
        f"ARG PYTHON={python}",
        "",
        f"FROM {base} AS build",
    ]
    lines += _apt_install(plan.adapter.image_build_packages if plan.adapter else ())
    lines += [
        f"WORKDIR {app}",
        "# Every Python package comes from the wheelhouse: the versions the env was built with, and no index.",
        f"COPY {_json_list([WHEELHOUSE, f'./{WHEELHOUSE}'])}",
        f"RUN python -m venv /opt/warp && /opt/warp/bin/pip install --no-cache-dir --no-index --find-links ./{WHEELHOUSE} warp-web=={dep.warp_version}",
        "# No bytecode cache: nothing would reuse it, and the layer would carry it.",
        f"ENV {env} WARP_PIP_NO_INDEX=1 WARP_NO_CACHE=1",
    ]
    if dep.dependency_files:
        lines.append("# Dependencies first: this layer is rebuilt when these files change, not on every source edit.")
        lines += [f"COPY {_json_list([name, f'./{name}'])}" for name in dep.dependency_files]
        lines.append(f"RUN {build}")
    lines += [
        "COPY . .",
        "# Unchanged dependencies are not installed again: hooks and collectstatic run. The wheelhouse stays behind.",
        "# OpenShift runs the image as a random user of group 0: give the group what the owner has.",
        f"RUN {build} && rm -rf ./{WHEELHOUSE} && chmod -R g=u /opt/warp {IMAGE_HOME}",
        "",
        f"FROM {base}",
    ]
    lines += _apt_install(plan.adapter.image_run_packages if plan.adapter else ())
    lines += [
        f"RUN useradd --uid {IMAGE_UID} --gid 0 --home-dir {IMAGE_HOME} --no-create-home app",
        f"COPY --from=build --chown={IMAGE_UID}:0 /opt/warp /opt/warp",
        f"COPY --from=build --chown={IMAGE_UID}:0 {IMAGE_HOME} {IMAGE_HOME}",
        f"ENV {env} PORT={plan.port} WARP_HTTP_HOST=0.0.0.0",
        f"WORKDIR {app}",
        f"USER {IMAGE_UID}",
        f"EXPOSE {plan.port}",
        "HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD " + _json_list(make_probe_command(dep, "alive", plan.port)),
        f"# {describe_stop(plan)}.",
        "STOPSIGNAL SIGTERM",
        *describe_image_types(dep),
        "CMD " + _json_list(["warp", "start", *dep.start_args]),
    ]
    return [File("Containerfile", "\n".join(lines) + "\n")]


def _apt_install(packages: tuple[str, ...]) -> list[str]:
    if not packages:
        return []
    return [
        "RUN apt-get update && apt-get install -y --no-install-recommends "
        + " ".join(packages)
        + " && rm -rf /var/lib/apt/lists/*"
    ]


def _json_list(words) -> str:
    """The exec form of COPY/CMD: no shell in between, so SIGTERM reaches warp."""
    return json.dumps(list(words))


def describe_image_types(dep: Deployment) -> list[str]:
    """Comment lines for the Containerfile: how the image runs each other process type."""
    if not has_more_than_web(dep.processes):
        return []
    processes = dep.processes
    lines = [f"# The default command is {_describe_web(processes)}; every other process type runs from this image too:"]
    lines += [f"#   podman run IMAGE {shlex.join(make_type_argv(process))}" for process in find_other_types(processes)]
    if processes.release is not None:
        lines.append(f"#   podman run IMAGE {shlex.join(make_type_argv(processes.release))}   (the release step, once per deploy)")
    return lines


def _describe_web(processes: ProcessPlan) -> str:
    web = processes.web
    return f"web ({web.source})" if web.is_declared else "web"

