"""OpenShift Source-to-Image: the assemble, run and usage scripts `warp s2i` writes, and its builder image's Containerfile."""

from __future__ import annotations

import shlex

from warp.deploy.base import IMAGE_HOME, IMAGE_UID, Deployment, File, find_base_image, make_build_command, make_header
from warp.plan import StartPlan

#: Runs on a platform that gives the port in $PORT (and wants every interface), not on this machine.
PLATFORM = True


def render(plan: StartPlan, dep: Deployment) -> list[File]:
    """assemble/run/usage for an OpenShift Source-to-Image builder that has warp installed."""
    build = make_build_command(plan)
    start = shlex.join(("warp", "start", *dep.start_args))
    header = make_header("#", "s2i", dep)
    assemble = (
        "#!/bin/sh\n" + header + "set -eu\n"
        'echo "---> Installing application source"\n'
        "cp -Rf /tmp/src/. ./\n"
        "rm -rf /tmp/src 2>/dev/null || true  # another user's copy (podman cp) may not be removable\n"
        'echo "---> Building with warp"\n'
        f"{build}\n"
        "# OpenShift runs the image as a random user of group 0: give the group what the owner has.\n"
        'chmod -R g=u "$WARP_HOME" "$PWD" 2>/dev/null || true\n'
    )
    run = "#!/bin/sh\n" + header + "set -eu\n" + f"exec {start}\n"
    usage = (
        "#!/bin/sh\n" + header + "cat <<'EOF'\n"
        f"This builder builds and runs {dep.name} with warp: `{build}` at build time, `{start}` as the command.\n\n"
        "  s2i build <source> <this builder image> <application image>\n"
        f"  docker run -p {plan.port}:{plan.port} <application image>\n"
        "EOF\n"
    )
    return [
        File(".s2i/bin/assemble", assemble, 0o755),
        File(".s2i/bin/run", run, 0o755),
        File(".s2i/bin/usage", usage, 0o755),
    ]


def render_builder(plan: StartPlan, dep: Deployment) -> list[File]:
    """The Containerfile of an S2I builder image: the base, warp from the wheelhouse beside it, the scripts, a group-0 user.

    Its context is a directory with ``wheelhouse/`` (warp and its dependencies) and ``bin/`` (render's scripts).
    """
    python = ".".join(dep.python_version.split(".")[:2])
    lines = [
        make_header("#", "s2i --builder", dep).rstrip(),
        f"ARG PYTHON={python}",
        f"FROM {find_base_image(dep)}",
        f"RUN useradd --uid {IMAGE_UID} --gid 0 --home-dir {IMAGE_HOME} --no-create-home app"
        f" && mkdir -p {IMAGE_HOME}/src && chown -R {IMAGE_UID}:0 {IMAGE_HOME} && chmod -R g=u {IMAGE_HOME}",
        'COPY ["wheelhouse", "/tmp/warp-wheelhouse"]',
        "RUN python -m venv /opt/warp && /opt/warp/bin/pip install --no-cache-dir --no-index --find-links /tmp/warp-wheelhouse"
        f" warp-web=={dep.warp_version} && rm -rf /tmp/warp-wheelhouse",
        'COPY ["bin", "/usr/libexec/s2i"]',
        f"ENV PATH=/opt/warp/bin:$PATH WARP_HOME={IMAGE_HOME}/warp PYTHONUNBUFFERED=1 WARP_NO_CACHE=1 PORT={plan.port} WARP_HTTP_HOST=0.0.0.0",
        f'LABEL io.openshift.s2i.scripts-url="image:///usr/libexec/s2i" io.k8s.description="Builds and runs {dep.name} with warp"'
        f' io.openshift.expose-services="{plan.port}:http"',
        f"WORKDIR {IMAGE_HOME}/src",
        f"USER {IMAGE_UID}",
        f"EXPOSE {plan.port}",
        'CMD ["/usr/libexec/s2i/usage"]',
    ]
    return [File("Containerfile", "\n".join(lines) + "\n")]
