"""Kubernetes: a Deployment and a Service for web, a Deployment per other process type, the release step as a Job."""

from __future__ import annotations

import csv
import io
import shlex
from pathlib import Path

import yaml

from warp.config.processes import Process
from warp.deploy.base import (
    STOP_MARGIN,
    Deployment,
    File,
    find_image_name,
    find_other_types,
    find_stop_seconds,
    find_unit_name,
    has_more_than_web,
    make_header,
    make_probe_command,
    make_type_argv,
)
from warp.plan import MEMORY_PER_PROCESS, StartPlan

#: Runs on a platform that gives the port in $PORT (and wants every interface), not on this machine.
PLATFORM = True
#: Seconds a release Job may run before Kubernetes gives up on it (migrations of a large database take a while).
RELEASE_DEADLINE = 3600


def render(plan: StartPlan, dep: Deployment) -> list[File]:
    """NAME.kubernetes.yaml: web's Deployment and Service, and a Deployment per other process type (replicas from its
    count; probes, port and Service for web only); the release step as one Job in NAME-release.job.yaml, applied and
    waited for first."""
    processes = dep.processes if has_more_than_web(dep.processes) else None
    image = find_image_name(dep.name)
    objects = make_kubernetes_objects(plan, dep, image)
    web = objects[0]
    if processes is not None:
        if processes.web.count_source != "default":
            web["spec"]["replicas"] = processes.web.count
        objects[1:1] = [make_type_deployment(dep, process, web, image) for process in find_other_types(processes)]
    text = make_header("#", "export kubernetes", dep)
    if dep.secret_names:
        command = make_secret_command(dep.name, dep.source)
        text += f"# {', '.join(dep.secret_names)} come from Secret {find_secret_name(dep.name)}; create it with:\n"
        text += "".join(f"#   {line}\n" for line in command.split("\n"))  # a path may hold a line break
    files = []
    if processes is not None and processes.release is not None:
        job_file = f"{dep.name}-release.job.yaml"
        job = make_release_job(dep, processes.release, web, image)
        text += (f"# Apply {job_file} first, and wait for it: the release step runs once, in one Job, not in every pod.\n"
                 f"#   {make_release_commands(dep, job_file)}\n")
        files.append(File(job_file, make_header("#", "export kubernetes", dep) + f"# {make_release_commands(dep, job_file)}\n"
                          + yaml.safe_dump(job, sort_keys=False)))
    return [File(f"{dep.name}.kubernetes.yaml", text + yaml.safe_dump_all(objects, sort_keys=False)), *files]


def _probe(command: list[str], period: int) -> dict:
    return {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": 5, "failureThreshold": 3}


def find_secret_name(name: str) -> str:
    """The Secret that holds the values of .warp/environment."""
    return f"{find_unit_name(name)}-environment"[:63]


def make_resources(plan: StartPlan) -> dict:
    """What `warp start` plans: one CPU and MEMORY_PER_PROCESS per process, so the pod's limit gives warp the same count."""
    processes = plan.launch.processes if plan.launch else 1
    memory = f"{processes * (MEMORY_PER_PROCESS >> 20)}Mi"
    return {"requests": {"cpu": str(processes), "memory": memory}, "limits": {"memory": memory}}


def make_kubernetes_objects(plan: StartPlan, dep: Deployment, image: str) -> list[dict]:
    """A Deployment and a Service; the pod's grace period covers the server's graceful stop.

    The probes are the image's HEALTHCHECK (an HTTP GET from bash, no Python start-up),
    not httpGet: the kubelet's Host is the pod's IP, which Django refuses (400), and
    httpGet counts a site's 404 at / as a failure, where any answer below 500 shows the server is up.
    """
    name = find_unit_name(dep.name)
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "warp"}
    container = {
        "name": "web",
        "image": image,
        "args": ["warp", "start", *dep.start_args],
        "ports": [{"name": "http", "containerPort": plan.port}],
        "env": [{"name": "PORT", "value": str(plan.port)}, {"name": "WARP_HTTP_HOST", "value": "0.0.0.0"}],
        "resources": make_resources(plan),
        "startupProbe": {**_probe(make_probe_command(dep, "alive", plan.port), 5), "failureThreshold": 24},
        "livenessProbe": _probe(make_probe_command(dep, "alive", plan.port), 10),
        "readinessProbe": _probe(make_probe_command(dep, "ready", plan.port), 5),
        # The Service stops sending traffic a moment after the pod is told to stop: wait for that first.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(STOP_MARGIN)]}}},
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    if dep.secret_names:
        # Names only: the values are created apart (see make_secret_command) and never written here.
        container["envFrom"] = [{"secretRef": {"name": find_secret_name(dep.name)}}]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "terminationGracePeriodSeconds": find_stop_seconds(plan) + STOP_MARGIN,
                    "securityContext": {"runAsNonRoot": True},
                    "containers": [container],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    return [deployment, service]


def make_secret_command(name: str, source: Path) -> str:
    """The command that makes the Secret the Deployment reads .warp/environment's values from.

    kubectl (1.23 and later) reads --from-env-file as a list of files in CSV, so a path with a quote or a comma is
    quoted for CSV first, then the whole flag for the shell.
    """
    row = io.StringIO()
    csv.writer(row, lineterminator="\n").writerow([str(source / ".warp" / "environment")])  # quotes a field with a line break
    return shlex.join(("kubectl", "create", "secret", "generic", find_secret_name(name), f"--from-env-file={row.getvalue()[:-1]}"))


def make_release_commands(dep: Deployment, job_file: str) -> str:
    job = f"job/{find_unit_name(dep.name)}-release"
    return (f"kubectl delete {job} --ignore-not-found && kubectl apply -f {job_file} && "
            f"kubectl wait --for=condition=complete --timeout={RELEASE_DEADLINE}s {job}")


def _pod_container(process: Process, web: dict, image: str) -> dict:
    """The web container's image, environment, secrets and security, running ``process`` instead."""
    web_container = web["spec"]["template"]["spec"]["containers"][0]
    container = {
        "name": find_unit_name(process.name),
        "image": image,
        "args": list(make_type_argv(process)),
        "env": [item for item in web_container["env"] if item["name"] != "PORT"],
        "securityContext": dict(web_container["securityContext"]),
    }
    if "envFrom" in web_container:
        container["envFrom"] = web_container["envFrom"]
    return container


def _objects_meta(dep: Deployment, process: Process, suffix: str) -> tuple[dict, dict]:
    """(metadata, labels) of a process type's object: its own name label, so web's Service never selects its pods."""
    name = f"{find_unit_name(dep.name)}-{suffix}"[:63].strip("-")
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": find_unit_name(dep.name),
              "app.kubernetes.io/component": suffix, "app.kubernetes.io/managed-by": "warp"}
    metadata = {"name": name, "labels": dict(labels), "annotations": {"warp/command": process.command, "warp/declared-in": process.source}}
    return metadata, labels


def make_type_deployment(dep: Deployment, process: Process, web: dict, image: str) -> dict:
    """A process type's Deployment: no port, no probes, no Service."""
    metadata, labels = _objects_meta(dep, process, find_unit_name(process.name))
    template_spec = web["spec"]["template"]["spec"]
    pod = {
        # SIGTERM reaches the process (warp execs it): Celery's worker finishes its tasks within this.
        "terminationGracePeriodSeconds": template_spec["terminationGracePeriodSeconds"],
        "securityContext": dict(template_spec["securityContext"]),
        "containers": [_pod_container(process, web, image)],
    }
    spec = {"replicas": process.count, "selector": {"matchLabels": {"app.kubernetes.io/name": metadata["name"]}},
            "template": {"metadata": {"labels": labels}, "spec": pod}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def make_release_job(dep: Deployment, process: Process, web: dict, image: str) -> dict:
    """The release step, once per deploy: one pod, never retried by itself (a half-applied migration needs a person)."""
    metadata, labels = _objects_meta(dep, process, "release")
    pod = {
        "restartPolicy": "Never",
        "securityContext": dict(web["spec"]["template"]["spec"]["securityContext"]),
        "containers": [_pod_container(process, web, image)],
    }
    spec = {"backoffLimit": 0, "activeDeadlineSeconds": RELEASE_DEADLINE, "template": {"metadata": {"labels": labels}, "spec": pod}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}

