"""The app's processes from one image: `podman run IMAGE warp start worker` runs the Celery worker, and the exported
Kubernetes manifests run under `podman kube play`: web answers, the worker consumes, beat ticks. The release Job is
played too where podman can, else run as its container would be.

The pods use the host's network (hostNetwork): Redis listens on the machine's loopback, and podman 4.3 has no
Service networking. The Secret reference is dropped (podman 4.3 cannot read a Secret for envFrom; kubernetes-validate
checks it in test_processes_e2e.py) and GREETING given as a plain value instead.
"""

from __future__ import annotations

import functools
import os
import uuid

import pytest
import yaml

from conftest import build_app, free_port, warp
from test_container_e2e import base_image, build_offline, podman, write_image_files  # noqa: F401  (base_image: a fixture)
from test_processes_e2e import answer_on, redis, wait_for  # noqa: F401  (redis: a fixture)

# One podman at a time: a build looking up its cached layers while another test removes its image fails ("layer not known").
pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.xdist_group("podman")]


def test_the_image_runs_any_type_and_the_kubernetes_export_plays_under_podman(base_image, redis, tmp_path):
    app = build_app("django_celery", "gunicorn", copy_as="django_celery_image")
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    os.chmod(jobs, 0o777)  # the image's user writes there
    name = f"warp-test-procs-{uuid.uuid4().hex[:8]}"
    tag = f"localhost/{name}:latest"
    manifest = tmp_path / "kube.yaml"
    containers: list[str] = []
    try:
        write_image_files(app, tmp_path)
        assert "#   podman run IMAGE warp start worker\n" in (app.src / "Containerfile").read_text()
        build_offline(app, tag)
        common = ("--network", "host", "-e", f"REDIS_URL={redis}", "-e", "JOBS_DIR=/jobs", "-e", "GREETING=from-podman",
                  "-v", f"{jobs}:/jobs")

        # One image, any type by name: the worker alone consumes what this test enqueues through Redis.
        containers.append(podman("run", "-d", *common, tag, "warp", "start", "worker").stdout.strip())
        enqueue = podman("run", "--rm", *common, tag, "warp", "exec", "python", "manage.py", "shell", "-c",
                         "from jobs.tasks import add; print(add.delay(20, 22).get(timeout=60))", timeout=120)
        assert enqueue.stdout.strip().endswith("42 from-podman"), enqueue.stdout + enqueue.stderr
        # podman stop sends SIGTERM to the worker itself (warp exec'd it): a warm shutdown, exit code 0.
        podman("stop", "-t", "40", containers[0])
        assert podman("inspect", containers[0], "--format", "{{.State.ExitCode}}").stdout.strip() == "0"
        assert "Warm shutdown" in podman("logs", containers[0]).stderr + podman("logs", containers[0]).stdout

        # The exported manifests, as podman 4.3 can play them.
        paths = warp("export", "kubernetes", "--out", str(tmp_path / "export"), cwd=app.src, home=app.home).stdout.split()
        docs = list(yaml.safe_load_all(open(paths[0])))
        job = yaml.safe_load(open(paths[1]))
        port = free_port()
        deployments = [doc for doc in docs if doc["kind"] == "Deployment"]
        base = app.name.replace("_", "-")
        assert [d["metadata"]["name"] for d in deployments] == [base, f"{base}-worker", f"{base}-beat"]
        for doc in (*deployments, job):
            doc["metadata"]["name"] = f"{name}-{doc['metadata']['labels'].get('app.kubernetes.io/component', 'web')}"
            spec = doc["spec"]["template"]["spec"]
            spec["hostNetwork"] = True
            spec["volumes"] = [{"name": "jobs", "hostPath": {"path": str(jobs), "type": "Directory"}}]
            container = spec["containers"][0]
            container["image"] = tag
            container.pop("envFrom", None)
            container.pop("ports", None)
            container["env"] = [item for item in container["env"] if item["name"] != "PORT"] + [
                {"name": "PORT", "value": str(port)}, {"name": "REDIS_URL", "value": redis},
                {"name": "JOBS_DIR", "value": "/jobs"}, {"name": "GREETING", "value": "from-kube"}]
            container["volumeMounts"] = [{"name": "jobs", "mountPath": "/jobs"}]
            if doc["kind"] == "Deployment":
                doc["spec"]["replicas"] = 1
        manifest.write_text(yaml.safe_dump_all(deployments))

        # The release step: its Job where podman plays Jobs, else its container as the Job runs it.
        (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
        played = podman("kube", "play", str(tmp_path / "job.yaml"), check=False)
        if played.returncode != 0:
            print(f"\npodman {podman('--version').stdout.split()[-1]} does not play the release Job: {played.stderr.strip()}")
            container = job["spec"]["template"]["spec"]["containers"][0]
            released = podman("run", "--rm", *common, tag, *container["args"], timeout=300)
            assert " -----> Release done" in released.stderr + released.stdout, released.stderr
        else:
            wait_for(lambda: (jobs / "migrated").exists() and "end" in (jobs / "migrated").read_text(), 180, "the release Job did not migrate")
        assert (jobs / "migrated").read_text().count("start") == 1

        podman("kube", "play", str(manifest))

        answer = functools.partial(answer_on, port)
        wait_for(lambda: answer("/result/none"), 180, "web did not answer",
                 lambda: podman("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout)
        task_id = answer("/enqueue?x=3&y=4")[1]
        wait_for(lambda: answer(f"/result/{task_id}")[1] == "SUCCESS 7 from-kube", 120, "the worker pod did not consume the task")
        wait_for(lambda: (jobs / "ticks").exists(), 60, "beat's pod did not tick")
    finally:
        if manifest.exists():
            podman("kube", "down", str(manifest), check=False)
        if (tmp_path / "job.yaml").exists():
            podman("kube", "down", str(tmp_path / "job.yaml"), check=False)
        for container in containers:
            podman("rm", "-f", "-t", "0", container, check=False)
        podman("rmi", "-f", tag, check=False)
