"""`warp image` built and run for real with podman: the page and its static files, a random UID, a graceful stop,
the health check, a source edit that reuses the dependency layer, no index during the build, no secret in the image.

No image registry is reachable in CI: the base image is made once per test run from Debian packages
(debootstrap: python3, python3-venv, python3-dev as python:slim has its headers, and the machine's CA bundle)
and imported under the name the Containerfile uses. podman runs with a containers.conf the tests write
(CONTAINERS_CONF): runc and cgroupfs, no default ulimits (see docs or .ci/install-system-deps).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest
import yaml

from conftest import SHARED, TEST_PYTHON, build_app, file_lock, free_port, http_get, warp

# One podman at a time: a build looking up its cached layers while another test removes its image fails ("layer not known").
pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.xdist_group("podman")]

#: What podman needs on this kind of machine (firecracker VM, cgroup v1 hybrid): crun rejects the layout and the
#: kernel refuses to raise RLIMIT_NOFILE/NPROC.
CONTAINERS_CONF = '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
SECRET = "value-that-stays-out-" + uuid.uuid4().hex[:8]


def _python_minor() -> str:
    out = subprocess.run([TEST_PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True)
    return out.stdout.strip()


def why_no_podman() -> str | None:
    if os.geteuid() != 0:
        return "podman's images here are made as root (debootstrap, podman import)"
    for tool in ("podman", "runc", "debootstrap"):
        if not shutil.which(tool):
            return f"{tool} is not installed; run .ci/install-system-deps"
    if _python_minor() != "3.11":
        return f"the stand-in base image has Debian 12's Python 3.11, the envs {_python_minor()}"
    return None


def podman(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def base_image():
    """python:3.11-slim made from Debian packages, once for the whole run (a file lock among xdist workers)."""
    reason = why_no_podman()
    if reason:
        pytest.skip(reason)
    conf = SHARED / "containers.conf"
    with file_lock(SHARED / "locks" / "base-image.lock"):
        conf.write_text(CONTAINERS_CONF)
        os.environ["CONTAINERS_CONF"] = str(conf)
        name = "docker.io/library/python:3.11-slim"
        if podman("image", "exists", name, check=False).returncode != 0:
            rootfs = SHARED / "rootfs"
            shutil.rmtree(rootfs, ignore_errors=True)
            subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,python3-dev,ca-certificates",
                            
                            "bookworm", str(rootfs)], check=True, capture_output=True)
            (rootfs / "usr/bin/python").symlink_to("python3")
            shutil.copy("/etc/ssl/certs/ca-certificates.crt", rootfs / "etc/ssl/certs/ca-certificates.crt")
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(["podman", "import", "-", name], stdin=tar.stdout, check=True, capture_output=True)
            tar.wait()
            shutil.rmtree(rootfs, ignore_errors=True)
    return name


def wait_get(url: str, container: str = "", timeout: float = 60) -> tuple[int, str]:
    """The first answer to GET ``url`` while the container starts; none in time fails with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return http_get(url, timeout=5)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"no answer within {timeout}s\n" + (podman("logs", container, check=False).stdout if container else ""))


class Container:
    """One `podman run -d` published on loopback, removed at the end."""

    def __init__(self, image: str, *args: str) -> None:
        self.port = free_port()
        self.id = podman("run", "-d", "-p", f"127.0.0.1:{self.port}:8080", *args, image).stdout.strip()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self) -> None:
        wait_get(self.url("/"), self.id)

    def remove(self) -> None:
        podman("rm", "-f", "-t", "0", self.id, check=False)


@pytest.fixture
def run_container():
    started: list[Container] = []

    def start(image: str, *args: str) -> Container:
        container = Container(image, *args)
        started.append(container)
        container.wait_ready()
        return container

    yield start
    for container in started:
        container.remove()


def write_image_files(app, tmp_path) -> None:
    """`warp image` where no engine is on PATH: the wheelhouse, Containerfile and .containerignore, no build."""
    bare = tmp_path / "no-engine"
    bare.mkdir(exist_ok=True)
    for tool in ("apxs", "apxs2"):  # mod_wsgi's sdist asks for it while pip fetches it
        if shutil.which(tool) and not (bare / tool).exists():
            (bare / tool).symlink_to(shutil.which(tool))
    warp("image", "--force", cwd=app.src, home=app.home, env={"PATH": str(bare)})


def build_offline(app, tag: str, network: bool = False) -> float:
    """podman build with the network off for the whole build: every package comes from the wheelhouse.

    ``network`` for the servers that need OS packages (a compiler for uWSGI, Apache for mod_wsgi): apt-get reaches
    Debian, and pip in the Containerfile still installs with --no-index from the wheelhouse.
    """
    started = time.monotonic()
    podman("build", *(() if network else ("--network", "none")), "--format", "docker", "-f", str(app.src / "Containerfile"),
           "-t", tag, str(app.src))
    return time.monotonic() - started


def assert_serves_the_site(container: Container) -> None:
    """The admin's login page, and its CSS from the static files collected in the image."""
    status, body = http_get(container.url("/admin/login/"))
    assert status == 200 and "csrfmiddlewaretoken" in body
    status, css = http_get(container.url("/static/admin/css/base.css"))
    assert status == 200 and "body" in css


def assert_stops_gracefully(container: Container) -> None:
    """SIGTERM (podman stop), and the container exits 0 well within the graceful timeout."""
    started = time.monotonic()
    podman("stop", "-t", "40", container.id)
    assert time.monotonic() - started < 35
    assert podman("inspect", container.id, "--format", "{{.State.ExitCode}}").stdout.strip() == "0"


def assert_stop_lets_a_slow_request_finish(container: Container, answer: tuple[int, str]) -> None:
    """A request to /slow (the app sleeps SLOW_SECONDS) under way when podman stop sends SIGTERM still gets ``answer``."""
    answers = []
    slow = threading.Thread(target=lambda: answers.append(http_get(container.url("/slow"))))
    slow.start()
    time.sleep(1)
    assert_stops_gracefully(container)
    slow.join(timeout=40)
    assert answers == [answer]


def test_startproject_site_image_serves_as_any_user_stops_gracefully_and_keeps_secrets_out(base_image, run_container, tmp_path):
    app = build_app("django_site", "gunicorn", copy_as="django_site-image")
    (app.src / ".warp").mkdir(exist_ok=True)
    (app.src / ".warp" / "environment").write_text(f"WARP_TEST_SECRET={SECRET}\n")
    tag = f"warp-test-site-{uuid.uuid4().hex[:8]}:latest"
    try:
        write_image_files(app, tmp_path)
        cold = build_offline(app, tag)
        # warp's own build of the same context: every layer is podman's cache.
        again = warp("image", tag, cwd=app.src, home=app.home)
        assert f" -----> Built image {tag}; run it with: podman run --env-file .warp/environment -p 8080:8080 {tag}" in again.stderr
        for container in (run_container(tag, "--env-file", str(app.src / ".warp" / "environment")),
                          run_container(tag, "--user", "1000770000:0")):  # OpenShift: a random UID in group 0
            assert_serves_the_site(container)
        assert podman("healthcheck", "run", container.id).returncode == 0
        assert_stops_gracefully(container)
        inspect = podman("image", "inspect", tag, "--format", "{{json .Config.Healthcheck}}").stdout
        assert "/dev/tcp" in inspect  # kept: built in docker's format
        # The secret's value is in no layer, no history line and no file of the image.
        history = podman("history", "--no-trunc", tag).stdout
        assert SECRET not in history and "WARP_TEST_SECRET" not in history
        search = podman("run", "--rm", "--network", "none", "--user", "0", tag, "grep", "-rl", SECRET, "/opt", "/etc", "/root", "/tmp", check=False)
        assert search.returncode == 1 and search.stdout == ""
        assert podman("run", "--rm", tag, "test", "-e", "/opt/app-root/src/.warp/environment", check=False).returncode == 1
        assert podman("run", "--rm", tag, "test", "-e", "/opt/app-root/src/.warp/wheelhouse", check=False).returncode == 1
        # A source edit: the dependency layer is podman's cache, the dependencies are not installed again.
        with open(app.src / "mysite" / "urls.py", "a") as handle:
            handle.write("\n# edited\n")
        started = time.monotonic()
        edited = warp("image", tag, cwd=app.src, home=app.home)
        after_edit = time.monotonic() - started
        lines = edited.stderr.splitlines()
        dependency_step = next(i for i, line in enumerate(lines) if "RUN warp build" in line)
        assert "Using cache" in lines[dependency_step + 1]
        assert "Dependencies unchanged, skipping install" in edited.stderr and "Installing dependencies" not in edited.stderr
        size = podman("image", "inspect", tag, "--format", "{{.Size}}").stdout.strip()
        print(f"\nstartproject/gunicorn image: {int(size) >> 20} MiB; cold build {cold:.0f}s; after a source edit {after_edit:.0f}s")
    finally:
        podman("rmi", "-f", tag, check=False)


@pytest.mark.parametrize("server", ["waitress", "uwsgi", "mod_wsgi"])
def test_startproject_site_image_on_each_server_serves_as_any_user_and_stops_gracefully(server, base_image, run_container, tmp_path):
    """gunicorn's image is the test above. uWSGI builds in the image's build stage; mod_wsgi runs Apache as UID 1001."""
    app = build_app("django_site", server, copy_as=f"django_site-image-{server}")
    tag = f"warp-test-site-{server.replace('_', '-')}-{uuid.uuid4().hex[:8]}:latest"
    try:
        if server == "mod_wsgi":
            # Where Apache's apxs is missing, mod_wsgi's sdist cannot be fetched: named with the cause, nothing written.
            (tmp_path / "empty").mkdir()
            result = warp("image", "--force", cwd=app.src, home=app.home, check=False, env={"PATH": str(tmp_path / "empty")})
            assert result.returncode == 1
            assert "error: mod_wsgi cannot be put into the wheelhouse: its source distribution failed to build (RuntimeError: " in result.stderr
            assert "apxs" in result.stderr.split("error: ")[-1].splitlines()[0]
            assert not (app.src / "Containerfile").exists() and not (app.src / ".warp" / "wheelhouse").exists()
        write_image_files(app, tmp_path)
        cold = build_offline(app, tag, network=server in ("uwsgi", "mod_wsgi"))
        inspect = podman("image", "inspect", tag, "--format", "{{json .Config.Cmd}}").stdout
        assert f'"--server","{server}"' in inspect
        for container in (run_container(tag), run_container(tag, "--user", "1000770000:0")):
            assert_serves_the_site(container)
            assert podman("healthcheck", "run", container.id).returncode == 0
            assert_stops_gracefully(container)
        size = podman("image", "inspect", tag, "--format", "{{.Size}}").stdout.strip()
        print(f"\nstartproject/{server} image: {int(size) >> 20} MiB; cold build {cold:.0f}s")
    finally:
        podman("rmi", "-f", tag, check=False)


@pytest.mark.parametrize(("name", "server", "runs", "page", "slow"), [
    ("flask_wsgi", "waitress", "waitress", "hello from flask", "slow done"),
    # The ASGI plan: Granian (warp's ASGI default) from the wheelhouse, the app's lifespan run.
    ("fastapi_app", "auto", "granian", '"lifespan":true', '{"slow":true}'),
])
def test_app_image_builds_offline_and_finishes_a_slow_request_on_stop(name, server, runs, page, slow, base_image, run_container, tmp_path):
    app = build_app(name, server, copy_as=f"{name}-image")
    tag = f"warp-test-{name.replace('_', '-')}-{uuid.uuid4().hex[:8]}:latest"
    try:
        write_image_files(app, tmp_path)
        build_offline(app, tag)
        assert f'"--server","{runs}"' in podman("image", "inspect", tag, "--format", "{{json .Config.Cmd}}").stdout
        container = run_container(tag, "--user", "1000770000:0", "-e", "SLOW_SECONDS=3")
        status, body = http_get(container.url("/"))
        assert status == 200 and page in body
        assert podman("healthcheck", "run", container.id).returncode == 0
        assert_stop_lets_a_slow_request_finish(container, (200, slow))
    finally:
        podman("rmi", "-f", tag, check=False)


def test_engine_that_cannot_start_a_container_names_the_setting(base_image, tmp_path):
    app = build_app("flask_wsgi", "gunicorn", copy_as="flask-gunicorn-image")
    conf = tmp_path / "containers.conf"
    conf.write_text('[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n')  # the default ulimits, which runc cannot set here
    tag = f"warp-test-ulimits-{uuid.uuid4().hex[:8]}:latest"
    try:
        result = warp("image", tag, "--force", cwd=app.src, home=app.home, check=False, env={"CONTAINERS_CONF": str(conf)})
        assert result.returncode == 1
        assert "error: podman cannot run containers on this machine: " in result.stderr
        assert "       set [containers] default_ulimits = [] in a containers.conf and point CONTAINERS_CONF at it" in result.stderr
    finally:
        podman("rmi", "-f", tag, check=False)


def test_kubernetes_export_runs_under_podman_kube_play(base_image, tmp_path):
    """The exported Deployment with the image built from the same plan; podman 4.3 publishes a container port's hostPort."""
    app = build_app("flask_wsgi", "gunicorn", copy_as="flask-kube-image")
    name = f"warp-test-kube-{uuid.uuid4().hex[:8]}"
    tag = f"localhost/{name}:latest"
    manifest = tmp_path / "kube.yaml"
    try:
        write_image_files(app, tmp_path)
        build_offline(app, tag)
        exported = warp("export", "kubernetes", "--out", str(tmp_path), cwd=app.src, home=app.home).stdout.strip()
        deployment, service = yaml.safe_load_all(open(exported))
        deployment["metadata"]["name"] = name
        deployment["spec"]["replicas"] = 1
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        container["image"] = tag
        port = free_port()
        container["ports"][0].update(hostPort=port, hostIP="127.0.0.1")
        manifest.write_text(yaml.safe_dump(deployment))
        podman("kube", "play", str(manifest))
        status, body = wait_get(f"http://127.0.0.1:{port}/")
        assert status == 200 and body.startswith("hello from flask")
        # The probe the manifest gives the kubelet passes in the running container (no Python start-up).
        pods = podman("ps", "--filter", f"label=app.kubernetes.io/name={deployment['metadata']['labels']['app.kubernetes.io/name']}",
                      "--filter", f"ancestor={tag}", "--format", "{{.ID}}").stdout.split()
        assert pods
        assert podman("exec", pods[0], *container["livenessProbe"]["exec"]["command"], check=False).returncode == 0
    finally:
        if manifest.exists():
            podman("kube", "down", str(manifest), check=False)
        podman("rmi", "-f", tag, check=False)


def test_s2i_builder_assembles_and_runs_the_site_as_s2i_does(base_image, tmp_path):
    """`warp s2i --builder`, then what `s2i build` does: the source in /tmp/src, assemble, commit, run as the command."""
    app = build_app("django_site", "gunicorn", copy_as="django_site-s2i")
    builder = f"warp-test-builder-{uuid.uuid4().hex[:8]}:latest"
    image = f"warp-test-s2i-app-{uuid.uuid4().hex[:8]}:latest"
    container = None
    try:
        result = warp("s2i", "--force", "--builder", builder, cwd=app.src, home=app.home)
        assert f" -----> Built builder image {builder}; use it with: s2i build <source> {builder} <application image>" in result.stderr
        labels = podman("image", "inspect", builder, "--format", "{{json .Config.Labels}}").stdout
        assert '"io.openshift.s2i.scripts-url":"image:///usr/libexec/s2i"' in labels
        warp("wheels", cwd=app.src, home=app.home)  # the source brings its wheelhouse: no index inside the build
        assembling = podman("create", "--network", "none", "-e", "WARP_PIP_NO_INDEX=1", builder, "/usr/libexec/s2i/assemble").stdout.strip()
        podman("cp", f"{app.src}/.", f"{assembling}:/tmp/src")
        started = podman("start", "-a", assembling, check=False)
        assert started.returncode == 0, started.stdout + started.stderr
        assert "---> Building with warp" in started.stdout + started.stderr
        podman("commit", "--change", 'CMD ["/usr/libexec/s2i/run"]', assembling, image)
        podman("rm", assembling)
        port = free_port()
        container = podman("run", "-d", "--user", "1000770000:0", "-p", f"127.0.0.1:{port}:8080", image).stdout.strip()
        status, body = wait_get(f"http://127.0.0.1:{port}/admin/login/", container)
        assert status == 200 and "csrfmiddlewaretoken" in body
        assert http_get(f"http://127.0.0.1:{port}/static/admin/css/base.css")[0] == 200
    finally:
        if container:
            podman("rm", "-f", "-t", "0", container, check=False)
        podman("rmi", "-f", image, builder, check=False)
