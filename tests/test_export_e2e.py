"""Exports end to end, each checked by the real program that reads it.

nginx (`nginx -t`, then serving the Django admin in front of gunicorn over TCP
and uWSGI over a Unix socket), supervisord and supervisorctl, systemd-analyze,
kubernetes-validate's bundled JSON schemas, honcho for the Procfile, the docker
client for `warp image`. nginx and supervisord run in the foreground with
their own files in a temporary directory, on free 127.0.0.1 ports, and are
stopped by PID.
"""

from __future__ import annotations

import grp
import gzip
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import build_app, free_port, server_param, warp, warp_environ

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
CSS = "/static/admin/css/base.css"
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian: apt-get install nginx; see .ci/install-system-deps)")


def export(app, target: str, out: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return warp("export", target, "--out", str(out), *args, cwd=app.src, home=app.home, check=check)


def collected_css(app) -> str:
    return (app.home / "envs" / app.name / ".warp" / "static" / "admin" / "css" / "base.css").read_text()


@pytest.fixture
def world_dir():
    """A directory nginx's workers (www-data when the tests run as root) can pass through."""
    path = Path(tempfile.mkdtemp(prefix="warp-export-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def get(url: str, timeout: float = 30) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode("utf-8", "replace")


def wait_for(url: str, timeout: float = 90, proc: subprocess.Popen | None = None, log=lambda: "") -> None:
    """Until the URL answers with anything but a gateway error (the app behind nginx is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before serving\n{log()}")
        try:
            if get(url, timeout=5)[0] not in (502, 503, 504):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"no answer from {url} within {timeout}s\n{log()}")


class Nginx:
    """nginx in the foreground with its own prefix, pid, logs and temp paths; the given server block included."""

    def __init__(self, root: Path, server_conf: Path) -> None:
        self.root = root
        shutil.copy("/etc/nginx/uwsgi_params", root / "uwsgi_params")  # `include uwsgi_params` is relative to the config
        user = "user www-data;" if os.geteuid() == 0 and _has_group("www-data") else ""
        temp = " ".join(f"{kind}_temp_path {root / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.conf = root / "nginx.conf"
        self.conf.write_text(
            f"{user}\ndaemon off;\nworker_processes 1;\npid {root / 'nginx.pid'};\nerror_log {root / 'error.log'} info;\n"
            "events { worker_connections 64; }\n"
            f"http {{\n include /etc/nginx/mime.types;\n access_log {root / 'access.log'};\n {temp}\n include {server_conf};\n}}\n"
        )
        self.proc: subprocess.Popen | None = None

    def test(self) -> subprocess.CompletedProcess:
        return subprocess.run([NGINX, "-t", "-p", str(self.root), "-c", str(self.conf)], capture_output=True, text=True)

    def start(self) -> None:
        self.proc = subprocess.Popen([NGINX, "-p", str(self.root), "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.root / "stderr.log", "w"), start_new_session=True)

    def log(self) -> str:
        return "\n".join(p.read_text() for p in (self.root / "error.log", self.root / "stderr.log") if p.exists())

    def access_log(self) -> str:
        return (self.root / "access.log").read_text() if (self.root / "access.log").exists() else ""

    def wait_logged(self, text: str, timeout: float = 10) -> bool:
        """nginx writes the access log line once the response is sent, a moment after the client has it."""
        deadline = time.monotonic() + timeout
        while text not in self.access_log():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # nginx's graceful shutdown, to its master's PID
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture
def nginx_in(world_dir):
    started: list[Nginx] = []

    def make(server_conf: Path) -> Nginx:
        root = world_dir / f"nginx-{len(started)}"
        root.mkdir(mode=0o755)
        instance = Nginx(root, server_conf)
        started.append(instance)
        return instance

    yield make
    for instance in started:
        instance.stop()


def check_served_by_nginx(port: int, app, nginx: Nginx, server_log: str) -> None:
    """The admin page from the app; its CSS from STATIC_ROOT by nginx itself, never reaching the app server."""
    status, _, body = get(f"http://127.0.0.1:{port}/admin/login/")
    assert status == 200 and "Django" in body, body[:500]
    status, headers, css = get(f"http://127.0.0.1:{port}{CSS}")
    assert status == 200
    assert css == collected_css(app)
    assert headers.get("Cache-Control") == "max-age=2592000", headers  # nginx's `expires 30d`
    assert nginx.wait_logged(f"GET {CSS} HTTP/1.1\" 200"), nginx.access_log()
    assert CSS not in server_log, "the CSS request reached the app server"
    assert get(f"http://127.0.0.1:{port}/manage.py")[0] == 403


# ---------------------------------------------------------------- nginx in front of the app


def serve_behind_nginx(app, server: str, run_warp, world_dir, nginx_in, ready: str):
    """``app`` on ``server`` over TCP with the exported nginx config in front, both serving: (running, nginx, conf, listen)."""
    running = run_warp(app, "--server", server)
    listen = free_port()
    out = export(app, "nginx", world_dir, "--server", server, "--host", "127.0.0.1", "--port", str(running.port),
                 "--listen", f"127.0.0.1:{listen}")
    conf = Path(out.stdout.strip())
    nginx = nginx_in(conf)
    checked = nginx.test()
    assert checked.returncode == 0 and "syntax is ok" in checked.stderr, checked.stderr
    running.wait_ready(ready)
    nginx.start()
    wait_for(f"http://127.0.0.1:{listen}{ready}", proc=nginx.proc, log=nginx.log)
    return running, nginx, conf, listen


@needs_nginx
def test_nginx_in_front_of_gunicorn_over_tcp(run_warp, world_dir, nginx_in):
    app = build_app("django_site", "gunicorn")
    running, nginx, conf, listen = serve_behind_nginx(app, "gunicorn", run_warp, world_dir, nginx_in, "/admin/login/")
    assert conf == world_dir / f"{app.name}.nginx.conf"
    assert f"server 127.0.0.1:{running.port};" in conf.read_text() and "proxy_pass" in conf.read_text()
    check_served_by_nginx(listen, app, nginx, running.output())
    assert "GET /admin/login/" in running.output()  # gunicorn's access log: the page did go through it
    assert running.stop() == 0, running.output()


@needs_nginx
def test_a_websocket_through_the_exported_nginx_to_an_asgi_app(run_warp, world_dir, nginx_in):
    from conftest import WebSocket

    app = build_app("fastapi_app", "uvicorn")
    running, _, _, listen = serve_behind_nginx(app, "uvicorn", run_warp, world_dir, nginx_in, "/")
    assert "hello from fastapi" in get(f"http://127.0.0.1:{listen}/")[2]
    socket = WebSocket(listen, "/ws", timeout=10)
    for word in ("through", "nginx"):
        socket.send(word)
        assert socket.receive() == (1, word.encode())
    socket.close()
    assert '"WebSocket /ws" [accepted]' in running.output()
    assert running.stop() == 0, running.output()


@needs_nginx
def test_nginx_caches_hashed_static_names_for_good_and_sends_the_gz_copies(run_warp, world_dir, nginx_in):
    from test_static_e2e import IMMUTABLE, fetch, hashed_name

    app = build_app("django_manifest", "gunicorn")
    hashed = hashed_name(app, "site.css")
    original = (app.src / "collected" / hashed).read_bytes()
    running, _, _, listen = serve_behind_nginx(app, "gunicorn", run_warp, world_dir, nginx_in, "/admin/login/")
    status, headers, body = fetch(f"http://127.0.0.1:{listen}/static/{hashed}", "gzip")
    assert status == 200 and headers.get("Content-Encoding") == "gzip", headers
    assert gzip.decompress(body) == original
    assert headers.get("Cache-Control") == IMMUTABLE and "Accept-Encoding" in headers.get("Vary", ""), headers
    status, headers, body = fetch(f"http://127.0.0.1:{listen}/static/site.css")
    assert (status, body) == (200, original) and headers.get("Cache-Control") == "max-age=2592000", headers
    assert f"/static/{hashed}" not in running.output(), "the static request reached the app server"
    assert running.stop() == 0, running.output()


@needs_nginx
@pytest.mark.parametrize("server", [server_param("uwsgi")])
def test_nginx_in_front_of_uwsgi_over_a_unix_socket(server, run_warp, world_dir, nginx_in):
    app = build_app("django_site", server)
    socket_path = world_dir / "run" / "uwsgi.sock"
    listen = free_port()
    out = export(app, "nginx", world_dir, "--server", "uwsgi", "--socket", str(socket_path), "--listen", f"127.0.0.1:{listen}")
    assert f" -----> uwsgi listens on unix:{socket_path} (uwsgi protocol)" in out.stderr
    conf = Path(out.stdout.strip())
    assert "uwsgi_pass" in conf.read_text() and f"server unix:{socket_path};" in conf.read_text()
    nginx = nginx_in(conf)
    checked = nginx.test()
    assert checked.returncode == 0, checked.stderr
    running = run_warp(app, "--server", "uwsgi", "--socket", str(socket_path))
    nginx.start()
    wait_for(f"http://127.0.0.1:{listen}/admin/login/", proc=running.proc, log=lambda: running.output() + nginx.log())
    assert f"Starting uwsgi on unix:{socket_path} (uwsgi protocol)" in running.output()
    info = socket_path.stat()
    assert stat.S_ISSOCK(info.st_mode)
    if os.geteuid() == 0 and _has_group("www-data"):
        assert (stat.S_IMODE(info.st_mode), grp.getgrgid(info.st_gid).gr_name) == (0o660, "www-data")
    check_served_by_nginx(listen, app, nginx, running.output())
    assert running.stop() == 0, running.output()
    assert not running.leftovers()


# ---------------------------------------------------------------- supervisor, systemd


@pytest.mark.parametrize("server", [server_param("gunicorn"), server_param("uwsgi")])
def test_supervisord_runs_the_exported_program_and_stops_it_gracefully(server, world_dir, nginx_in):
    """gunicorn on a port; uWSGI on a Unix socket behind nginx, the classic recipe.

    The program runs from the exported command, directory and environment alone, its
    output lands in supervisor's log, and `supervisorctl stop` lets a request in
    flight finish before the process is gone.
    """
    app = build_app("flask_wsgi", server)
    port = free_port()
    if server == "uwsgi":
        socket_path = world_dir / "run" / "uwsgi.sock"
        where = ("--socket", str(socket_path))
        nginx = nginx_in(Path(export(app, "nginx", world_dir, "--server", server, *where, "--listen", f"127.0.0.1:{port}").stdout.strip()))
        nginx.start()
    else:
        where = ("--host", "127.0.0.1", "--port", str(port))
    out = export(app, "supervisor", world_dir, "--server", server, *where, "--graceful-timeout", "15")
    program = Path(out.stdout.strip())
    text = program.read_text()
    assert "stopsignal=TERM" in text and "stopwaitsecs=20" in text and "killasgroup=true" in text
    logs = world_dir / "logs"
    logs.mkdir()
    conf = world_dir / "supervisord.conf"
    sock = world_dir / "supervisor.sock"
    conf.write_text(
        f"[unix_http_server]\nfile={sock}\n\n"
        f"[supervisord]\nnodaemon=true\nlogfile={world_dir / 'supervisord.log'}\npidfile={world_dir / 'supervisord.pid'}\n"
        f"childlogdir={logs}\n\n"
        "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        f"[supervisorctl]\nserverurl=unix://{sock}\n\n[include]\nfiles = {program}\n"
    )
    # Nothing of warp's in supervisord's environment: the program's own environment= must find the env.
    environ = {key: value for key, value in warp_environ(app.home).items() if not key.startswith("WARP_")}
    supervisord = subprocess.Popen([BIN / "supervisord", "-c", str(conf)], env={**environ, "SLOW_SECONDS": "3"},
                                   start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctl = [BIN / "supervisorctl", "-c", str(conf)]
    try:
        wait_for(f"http://127.0.0.1:{port}/", proc=supervisord, log=lambda: (world_dir / "supervisord.log").read_text())
        deadline = time.monotonic() + 20
        while "RUNNING" not in (status := subprocess.run([*ctl, "status", app.name], capture_output=True, text=True).stdout):
            assert time.monotonic() < deadline, status  # RUNNING once it has stayed up for startsecs
            time.sleep(0.2)
        result = {}
        thread = threading.Thread(target=lambda: result.update(slow=get(f"http://127.0.0.1:{port}/slow")))
        thread.start()
        time.sleep(0.7)  # the request is inside the app
        started = time.monotonic()
        stopped = subprocess.run([*ctl, "stop", app.name], capture_output=True, text=True, timeout=60)
        thread.join(timeout=30)
        assert f"{app.name}: stopped" in stopped.stdout, stopped.stdout + stopped.stderr
        assert result["slow"][::2] == (200, "slow done"), result
        assert time.monotonic() - started < 15
        if server == "uwsgi":
            assert not accepts(socket.AF_UNIX, str(socket_path))
        else:
            assert not accepts(socket.AF_INET, ("127.0.0.1", port))
        stdout_log = next(logs.glob(f"{app.name}-stdout*.log")).read_text()
        assert "GET /slow" in stdout_log  # the server's output in supervisor's own log
    finally:
        supervisord.send_signal(signal.SIGTERM)
        try:
            supervisord.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(supervisord.pid, signal.SIGKILL)
            supervisord.wait()


def accepts(family: int, address) -> bool:
    with socket.socket(family) as probe:
        return probe.connect_ex(address) == 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    app = build_app("django_site", "gunicorn")
    unit = Path(export(app, "systemd", tmp_path, "--server", "gunicorn").stdout.strip())
    assert unit.name == f"{app.name}.service"
    checked = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert unit.name not in checked.stderr, checked.stderr  # systemd-analyze only warns about unknown keys and bad values
    assert "KillMode=mixed" in unit.read_text()


# ---------------------------------------------------------------- Kubernetes, Procfile


def test_kubernetes_manifests_validate_against_the_kubernetes_schema(tmp_path):
    app = build_app("django_site", "gunicorn")
    manifest = Path(export(app, "kubernetes", tmp_path, "--server", "gunicorn").stdout.strip())
    checked = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", str(manifest)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("INFO") == 2, checked.stdout  # the Deployment and the Service
    # and a broken manifest does not validate: the schema is really applied
    broken = tmp_path / "broken.yaml"
    docs = list(yaml.safe_load_all(manifest.read_text()))
    docs[0]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "thirty"
    broken.write_text(yaml.safe_dump_all(docs))
    assert subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", str(broken)], capture_output=True).returncode != 0


def test_honcho_runs_the_procfile(tmp_path):
    app = build_app("django_site", "gunicorn")
    procfile = Path(export(app, "procfile", tmp_path, "--server", "gunicorn").stdout.strip())
    assert procfile.read_text().startswith("web: warp start --server gunicorn --host 0.0.0.0")
    port = free_port()
    environ = {**warp_environ(app.home), "PATH": f"{BIN}:{os.environ['PATH']}"}
    honcho = subprocess.Popen([BIN / "honcho", "-f", str(procfile), "-d", str(app.src), "start", "-p", str(port)], cwd=app.src,
                              env=environ, stdout=open(tmp_path / "honcho.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/admin/login/", proc=honcho, log=lambda: (tmp_path / "honcho.log").read_text())
        assert get(f"http://127.0.0.1:{port}/admin/login/")[0] == 200
    finally:
        honcho.send_signal(signal.SIGTERM)
        honcho.wait(timeout=60)
    assert f"PORT={port}" not in procfile.read_text()  # the platform's $PORT, read by warp


# ---------------------------------------------------------------- image, S2I


@pytest.fixture(scope="module")
def own_site():
    """A private copy of the Django site: `warp image` and `warp s2i` write into the source tree."""
    return build_app("django_site", "gunicorn", copy_as="django_site-deploy")


def test_image_without_a_working_engine_leaves_a_ready_containerfile(own_site, tmp_path):
    app = own_site
    nothing = tmp_path / "bin"  # a PATH with no docker, podman or buildah
    nothing.mkdir()
    bare = warp("image", "mysite", "--force", cwd=app.src, home=app.home, env={"PATH": str(nothing)})
    containerfile = app.src / "Containerfile"
    assert bare.stdout.split() == [str(containerfile), str(app.src / ".containerignore")]
    assert "warning: no docker, podman or buildah on PATH" in bare.stderr
    build = f"docker build -f {containerfile} -t mysite:latest {app.src}"
    assert f" -----> The Containerfile is ready; no working container engine here. Build it with: {build}" in bare.stderr
    text = containerfile.read_text()
    assert text.count("\nFROM ") == 2 and "USER 1001" in text and "EXPOSE 8080" in text and "HEALTHCHECK" in text
    assert text.index('COPY ["requirements.txt", "./requirements.txt"]') < text.index("COPY . .")
    # The wheelhouse the build installs from: warp itself, the env's exact set, the server.
    wheels = {path.name.split("-")[0].lower() for path in (app.src / ".warp" / "wheelhouse").iterdir()}
    assert {"warp_web", "django", "gunicorn", "click", "pip"} <= wheels
    again = warp("image", "mysite", cwd=app.src, home=app.home, env={"PATH": str(nothing)})
    assert f" -----> {containerfile} (unchanged)" in again.stderr


def test_image_of_a_package_that_cannot_go_into_the_wheelhouse_names_it_and_writes_nothing(tmp_path):
    app = build_app("flask_wsgi", "gunicorn", copy_as="flask-unwheelable")
    site = Path(warp("exec", "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=app.src, home=app.home).stdout.strip())
    info = site / "warp_no_such_dist-9.9.dist-info"  # installed, and on no index
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: warp-no-such-dist\nVersion: 9.9\n")
    (info / "RECORD").write_text("")
    (info / "INSTALLER").write_text("pip\n")
    try:
        result = warp("image", "--force", cwd=app.src, home=app.home, check=False, env={"PATH": str(tmp_path)})
    finally:
        shutil.rmtree(info)
    assert result.returncode == 1
    assert "error: warp-no-such-dist==9.9 cannot be put into the wheelhouse" in result.stderr
    assert not (app.src / "Containerfile").exists() and not (app.src / ".containerignore").exists()
    assert not (app.src / ".warp" / "wheelhouse").exists() and not (app.src / ".warp" / "wheelhouse.partial").exists()


def test_s2i_run_script_serves_the_site(own_site, tmp_path):
    app = own_site
    result = warp("s2i", "--force", cwd=app.src, home=app.home)
    scripts = [app.src / ".s2i" / "bin" / name for name in ("assemble", "run", "usage")]
    assert result.stdout.split() == [str(path) for path in scripts]
    for script in scripts:
        assert os.access(script, os.X_OK)
        assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    assert "cp -Rf /tmp/src/. ./" in scripts[0].read_text()
    port = free_port()
    environ = {**warp_environ(app.home), "PATH": f"{BIN}:{os.environ['PATH']}", "PORT": str(port)}
    run = subprocess.Popen([scripts[1]], cwd=app.src, env=environ, stdout=open(tmp_path / "run.log", "w"),
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/admin/login/", proc=run, log=lambda: (tmp_path / "run.log").read_text())
        status, _, css = get(f"http://127.0.0.1:{port}{CSS}")
        assert status == 200 and css == collected_css(app)
    finally:
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 0
    usage = subprocess.run([scripts[2]], capture_output=True, text=True)
    assert "warp start --server gunicorn --host 0.0.0.0" in usage.stdout


# ---------------------------------------------------------------- mistakes


def test_export_mistakes_are_clear_errors(tmp_path):
    app = build_app("django_site", "gunicorn")
    result = warp("export", "helm", cwd=app.src, home=app.home, check=False)
    assert result.returncode == 2 and result.stderr.splitlines()[-2:] == [
        "error: unknown export target 'helm'",
        "       choose one of: systemd, supervisor, nginx, procfile, kubernetes",
    ]
    export(app, "procfile", tmp_path)
    (tmp_path / "Procfile").write_text("web: my own\n")
    refused = export(app, "procfile", tmp_path, check=False)
    assert refused.returncode == 2
    assert f"error: {tmp_path / 'Procfile'} exists and differs from what warp would write" in refused.stderr
    assert "       pass --force to overwrite it, or --out DIR to write elsewhere" in refused.stderr
    assert (tmp_path / "Procfile").read_text() == "web: my own\n"
    export(app, "procfile", tmp_path, "--force")
    assert (tmp_path / "Procfile").read_text().startswith("web: warp start")
    waitress = export(app, "nginx", tmp_path, "--server", "waitress", "--socket", "/tmp/x.sock", check=False)
    assert waitress.returncode == 2 and "error: waitress cannot listen on a Unix socket (socket from --socket)" in waitress.stderr
    for result in (refused, waitress):
        assert "Traceback" not in result.stderr


def test_export_needs_a_built_env(tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    project.mkdir()
    none = warp("export", "systemd", cwd=project, home=home, check=False)
    assert none.returncode == 1 and f"error: no env for {project}" in none.stderr
    warp("activate", "unbuilt", cwd=project, home=home)
    unbuilt = warp("export", "systemd", cwd=project, home=home, check=False, env={"WARP_ENV_NAME": "unbuilt"})
    assert unbuilt.returncode == 1, unbuilt.stderr
    assert "error: env 'unbuilt' has no successful build" in unbuilt.stderr
    assert "       run `warp build` first: exports describe a built env" in unbuilt.stderr
    assert "Traceback" not in none.stderr + unbuilt.stderr
