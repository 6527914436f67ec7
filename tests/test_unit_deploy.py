"""warp.deploy: every target rendered from one StartPlan, in memory."""

from __future__ import annotations

import dataclasses
import json
import pwd
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from honcho.environ import parse_procfile
from supervisor.options import ServerOptions, UnhosedConfigParser

from conftest import canned_server, free_port
from test_unit_plan import MODULE, STATIC_ROOT, make_project, make_settings, start, with_static
from test_unit_processes import CELERY
from test_unit_processes import plan as process_plan
from warp import deploy
from warp.deploy import container, kubernetes, nginx, procfile, s2i, supervisor, systemd
from warp.deploy.base import Deployment, File, find_unit_name, make_health_command, make_start_args
from warp.errors import UsageError

SOCK = "/run/warp/blog/uwsgi.sock"


def deployment(plan, settings=None, *, platform=False, **changes) -> Deployment:
    base = dict(
        name="blog",
        source=Path("/srv/blog"),
        warp_home=Path("/srv/warp home"),
        warp=("/opt/warp/bin/python", "-m", "warp"),
        start_args=make_start_args(plan, settings or make_settings(), platform=platform),
        python_version="3.12.4",
        warp_version="1.2.3",
        user="app",
        dependency_files=("requirements.txt", "requirements/base.txt"),
    )
    return Deployment(**{**base, **changes})


def text(files: list[File], index: int = 0) -> str:
    return files[index].text


def uwsgi_plan(timeout="30"):
    return start("uwsgi", with_static(MODULE), flags={"socket": SOCK, "graceful_timeout": timeout})


def gunicorn_plan():
    return start("gunicorn", with_static(MODULE), flags={"port": "9000"})


# ---------------------------------------------------------------- the exported `warp start`


def test_start_args_name_the_socket_or_the_host_and_port():
    assert make_start_args(uwsgi_plan(), make_settings(), platform=False) == (
        "--server", "uwsgi", "--socket", SOCK, "--graceful-timeout", "30")
    assert make_start_args(gunicorn_plan(), make_settings(), platform=False) == (
        "--server", "gunicorn", "--host", "127.0.0.1", "--port", "9000", "--graceful-timeout", "30")


def test_start_args_on_a_platform_leave_the_port_to_it():
    assert make_start_args(gunicorn_plan(), make_settings(), platform=True) == (
        "--server", "gunicorn", "--host", "0.0.0.0", "--graceful-timeout", "30")


def test_start_args_carry_flags_and_variables_but_not_what_the_project_says_itself():
    settings = make_settings({"processes": "3", "app": "blog.wsgi:app"}, {"WARP_THREADS": "2"}, tool={"home": "site"})
    args = make_start_args(gunicorn_plan(), settings, platform=False)
    assert shlex.join(args).startswith("--server gunicorn --app blog.wsgi:app --processes 3 --threads 2 --host")
    assert "--home" not in args  # warp start reads [tool.warp] itself


# ---------------------------------------------------------------- systemd and supervisor


def test_systemd_unit_stops_warp_alone_within_the_graceful_timeout():
    plan = uwsgi_plan("20")
    unit = text(systemd.render(plan, deployment(plan)))
    assert "KillMode=mixed\nKillSignal=SIGTERM\nTimeoutStopSec=25\n" in unit
    assert "# on SIGTERM warp writes 'q' to uwsgi's master FIFO (its graceful stop)." in unit
    assert f"ExecStart=/opt/warp/bin/python -m warp start --server uwsgi --socket {SOCK} --graceful-timeout 20\n" in unit
    assert "Restart=on-failure" in unit and "User=app" in unit and "WorkingDirectory=/srv/blog\n" in unit
    assert 'Environment="WARP_HOME=/srv/warp home"\n' in unit
    assert "RuntimeDirectory=warp/blog\n" in unit


def test_systemd_escapes_its_specifiers_and_a_dollar_only_where_it_expands_one():
    """% is a specifier everywhere; $ expands in ExecStart='s arguments only, not in its program's path
    (systemd-analyze verify looks for "/opt/$$x/python" when written so) nor in Environment= or WorkingDirectory=."""
    plan = gunicorn_plan()
    dep = deployment(plan, source=Path("/srv/100%/$a"), warp=("/opt/$x/python", "-m", "w$y"), warp_home=Path("/h/$z %"))
    unit = text(systemd.render(plan, dep))
    assert "WorkingDirectory=/srv/100%%/$a\n" in unit
    assert 'ExecStart="/opt/$x/python" -m "w$$y" start' in unit
    assert 'Environment="WARP_HOME=/h/$z %%"\n' in unit
    assert "RuntimeDirectory" not in unit


@pytest.mark.parametrize("source, message", [
    ("/srv/a\nb", "systemd cannot express a newline in WorkingDirectory= ('/srv/a\\nb')"),
    ("/srv/a\rb", "systemd cannot express a carriage return in WorkingDirectory= ('/srv/a\\rb')"),
    ("/srv/ab ", "systemd cannot express a space at the end in WorkingDirectory= ('/srv/ab ')"),
    ("/srv/ab\\", "systemd cannot express a backslash at the end in WorkingDirectory= ('/srv/ab\\\\')"),
    ("/srv/\udcff", "systemd cannot express a name that is not UTF-8 in WorkingDirectory= ('/srv/\\udcff')"),
])
def test_systemd_refuses_a_working_directory_a_unit_line_cannot_hold(source, message):
    """WorkingDirectory= is read as written (no quotes, no escapes): a line break ends it, blanks at its end are
    stripped and a backslash there joins the next line."""
    plan = gunicorn_plan()
    with pytest.raises(UsageError) as caught:
        systemd.render(plan, deployment(plan, source=Path(source)))
    assert caught.value.message == message
    assert caught.value.hint.endswith("then export again")


def test_systemd_runtime_directory_with_a_blank_is_one_directory():
    plan = start("uwsgi", with_static(MODULE), flags={"socket": "/run/my site/uwsgi.sock"})
    assert 'RuntimeDirectory="my site"\n' in text(systemd.render(plan, deployment(plan)))


def test_systemd_escapes_control_characters_in_quoted_words():
    plan = gunicorn_plan()
    unit = text(systemd.render(plan, deployment(plan, warp_home=Path('/h/a"b\\c\nd\te\x01'))))
    assert 'Environment="WARP_HOME=/h/a\\"b\\\\c\\nd\\te\\x01"\n' in unit


def test_supervisor_program_stops_gracefully_and_logs_to_supervisor():
    plan = start("mod_wsgi", MODULE, flags={"graceful_timeout": "12"})
    conf = text(supervisor.render(plan, deployment(plan)))
    assert conf.splitlines()[1] == "[program:blog]"
    assert "; on SIGTERM warp sends mod_wsgi SIGWINCH (its graceful stop)." in conf
    for line in ("stopsignal=TERM", "stopwaitsecs=17", "stopasgroup=false", "killasgroup=true",
                 "redirect_stderr=true", "stdout_logfile=AUTO", "autorestart=unexpected", "directory=/srv/blog"):
        assert f"\n{line}\n" in conf
    assert 'environment=WARP_HOME="/srv/warp home",WARP_ENV_NAME="blog",PYTHONUNBUFFERED="1"' in conf
    assert "command=/opt/warp/bin/python -m warp start --server mod_wsgi --host 127.0.0.1 --port 8080" in conf


# ---------------------------------------------------------------- nginx


def test_nginx_passes_to_uwsgi_over_its_socket_and_serves_static_files_itself():
    plan = uwsgi_plan()
    conf = text(nginx.render(plan, deployment(plan, listen="127.0.0.1:8081")))
    assert f"upstream warp_blog {{\n    server unix:{SOCK};\n}}" in conf
    assert "include uwsgi_params;\n        uwsgi_pass warp_blog;" in conf
    assert "proxy_pass" not in conf
    assert f"location /static/ {{\n        alias {STATIC_ROOT}/;\n        expires 30d;" in conf
    assert "location ~ \\.py$ {\n        deny all;" in conf
    assert "listen 127.0.0.1:8081;" in conf and "client_max_body_size 10m;" in conf


def test_nginx_proxies_http_with_the_forwarded_headers():
    plan = gunicorn_plan()
    conf = text(nginx.render(plan, deployment(plan)))
    assert "server 127.0.0.1:9000;" in conf and "proxy_pass http://warp_blog;" in conf
    for header in ("Host $http_host", "X-Forwarded-For $proxy_add_x_forwarded_for", "X-Forwarded-Proto $scheme"):
        assert f"proxy_set_header {header};" in conf
    assert "uwsgi_pass" not in conf and "listen 80;" in conf


def test_nginx_passes_websockets_to_an_asgi_app_and_only_to_one():
    from test_unit_plan import asgi_plan

    plan = asgi_plan("uvicorn")
    conf = text(nginx.render(plan, deployment(plan)))
    assert "map $http_upgrade $warp_blog_connection {\n    default upgrade;\n    '' close;\n}" in conf
    for line in ("proxy_http_version 1.1;", "proxy_set_header Upgrade $http_upgrade;", "proxy_set_header Connection $warp_blog_connection;"):
        assert f"        {line}" in conf.split("location / {")[1]
    assert "Upgrade" not in text(nginx.render(gunicorn_plan(), deployment(gunicorn_plan())))


def test_nginx_leaves_static_files_to_an_app_that_serves_them_itself():
    """The app's WhiteNoise middleware sets their headers (WHITENOISE_*, immutable hashed names): nginx passes them on."""
    plan = start("gunicorn", dataclasses.replace(with_static(MODULE), app_serves_static=True))
    conf = text(nginx.render(plan, deployment(plan)))
    assert "location /static/" not in conf and "alias" not in conf
    assert "proxy_pass http://warp_blog;" in conf


def test_nginx_reaches_a_wildcard_host_over_loopback_and_skips_static_without_django():
    plan = start("waitress", MODULE, flags={"host": "0.0.0.0"})
    conf = text(nginx.render(plan, deployment(plan)))
    assert "server 127.0.0.1:8080;" in conf and "location /static/" not in conf


# ---------------------------------------------------------------- Procfile, Kubernetes


def test_procfile():
    plan = gunicorn_plan()
    assert procfile.render(plan, deployment(plan, platform=True)) == [
        File("Procfile", "web: warp start --server gunicorn --host 0.0.0.0 --graceful-timeout 30\n")]


def test_kubernetes_deployment_and_service():
    plan = start("uwsgi", MODULE, flags={"port": "8000", "graceful_timeout": "20"})
    files = kubernetes.render(plan, deployment(plan, platform=True, name="My_Blog"))
    assert files[0].path == "My_Blog.kubernetes.yaml"
    deployment_, service = yaml.safe_load_all(files[0].text)
    assert deployment_["kind"] == "Deployment" and service["kind"] == "Service"
    assert deployment_["metadata"]["name"] == "my-blog"
    pod = deployment_["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 30  # 20 s graceful + 5 s margin + 5 s preStop
    container = pod["containers"][0]
    assert container["image"] == "my-blog:latest"
    assert container["args"] == ["warp", "start", "--server", "uwsgi", "--host", "0.0.0.0", "--graceful-timeout", "20"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    assert {"name": "PORT", "value": "8000"} in container["env"]
    # No hook: the probes are the GET from bash (no Python start-up at every probe).
    assert container["livenessProbe"]["exec"]["command"] == make_health_command(8000)
    assert container["readinessProbe"]["exec"]["command"] == make_health_command(8000)
    processes = plan.launch.processes
    assert container["resources"] == {"requests": {"cpu": str(processes), "memory": f"{processes * 256}Mi"},
                                      "limits": {"memory": f"{processes * 256}Mi"}}
    assert "envFrom" not in container and "Secret" not in files[0].text
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    assert service["spec"]["selector"] == deployment_["spec"]["selector"]["matchLabels"]


def test_kubernetes_probes_run_the_hooks_and_read_secrets_by_name_only():
    plan = start("gunicorn", MODULE, flags={"processes": "3"})
    dep = deployment(plan, platform=True, probe_hooks=("ready",), secret_names=("SECRET_KEY", "DATABASE_URL"))
    text_ = kubernetes.render(plan, dep)[0].text
    container = next(yaml.safe_load_all(text_))["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["exec"]["command"] == ["warp", "-q", "ready"]
    assert container["livenessProbe"]["exec"]["command"][0] == "bash"
    assert container["envFrom"] == [{"secretRef": {"name": "blog-environment"}}]
    assert container["resources"]["requests"] == {"cpu": "3", "memory": "768Mi"}
    assert "# SECRET_KEY, DATABASE_URL come from Secret blog-environment; create it with:\n" in text_
    assert "#   kubectl create secret generic blog-environment --from-env-file=/srv/blog/.warp/environment\n" in text_


@pytest.mark.parametrize("status, healthy", [(200, True), (302, True), (404, True), (400, True), (500, False), (503, False)])
def test_health_command_counts_any_answer_below_500_without_python(status, healthy):
    answer = f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
    with canned_server(answer) as url:
        port = int(url.rsplit(":", 1)[1])
        done = subprocess.run(make_health_command(port), env={"PATH": "/usr/bin:/bin"}, timeout=20)
    assert (done.returncode == 0) is healthy


def test_health_command_fails_when_nothing_listens():
    port = free_port()
    assert subprocess.run(make_health_command(port), env={"PATH": "/usr/bin:/bin"}, timeout=20).returncode != 0


@pytest.mark.parametrize("name, expected", [("blog", "blog"), ("My_Site.v2", "my-site-v2"), ("__", "app"), ("a" * 80, "a" * 63)])
def test_unit_names_are_dns_labels(name, expected):
    assert find_unit_name(name) == expected


# ---------------------------------------------------------------- Containerfile and S2I


def test_containerfile_installs_dependencies_in_their_own_layer_and_runs_as_a_user():
    plan = start("uwsgi", MODULE, flags={"port": "8000"})
    lines = text(container.render(plan, deployment(plan, platform=True))).splitlines()
    assert "ARG PYTHON=3.12" in lines
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(stages) == 2 and lines[stages[0]].endswith(" AS build")
    assert lines[stages[0]] == "FROM docker.io/library/python:${PYTHON}-slim AS build"
    wheelhouse = lines.index('COPY [".warp/wheelhouse", "./.warp/wheelhouse"]')
    warp_installed = lines.index("RUN python -m venv /opt/warp && /opt/warp/bin/pip install --no-cache-dir --no-index "
                                 "--find-links ./.warp/wheelhouse warp-web==1.2.3")
    deps = lines.index('COPY ["requirements/base.txt", "./requirements/base.txt"]')
    everything = lines.index("COPY . .")
    builds = [i for i, line in enumerate(lines) if line.startswith("RUN warp build --server uwsgi")]
    assert wheelhouse < warp_installed < deps < builds[0] < everything < builds[1] < stages[1]
    assert any(line.startswith("ENV ") and "WARP_PIP_NO_INDEX=1" in line for line in lines[:deps])
    # The wheelhouse does not reach the runtime stage.
    assert lines[builds[1]] == "RUN warp build --server uwsgi && rm -rf ./.warp/wheelhouse && chmod -R g=u /opt/warp /opt/app-root"
    assert any("gcc" in line for line in lines[: stages[1]]) and not any("gcc" in line for line in lines[stages[1]:])
    final = lines[stages[1]:]
    assert "USER 1001" in final and "EXPOSE 8000" in final
    assert 'HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["bash", "-c", ' in "\n".join(final)
    assert json.loads(final[-1].removeprefix("CMD ")) == ["warp", "start", "--server", "uwsgi", "--host", "0.0.0.0", "--graceful-timeout", "30"]


def test_containerfile_without_dependency_files_has_one_build():
    plan = gunicorn_plan()
    lines = text(container.render(plan, deployment(plan, platform=True, dependency_files=()))).splitlines()
    assert sum(line.startswith("RUN warp build --server gunicorn") for line in lines) == 1


def test_containerfile_starts_from_the_base_image_named_and_runs_the_alive_hook():
    plan = gunicorn_plan()
    lines = text(container.render(plan, deployment(plan, platform=True, base_image="registry.example/py:3.12",
                                                              probe_hooks=("alive",)))).splitlines()
    assert [line for line in lines if line.startswith("FROM ")] == ["FROM registry.example/py:3.12 AS build", "FROM registry.example/py:3.12"]
    assert 'HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["warp", "-q", "alive"]' in lines


def test_containerignore_keeps_out_secrets_and_local_envs_but_not_the_wheelhouse():
    plan = gunicorn_plan()
    [file] = container.render_containerignore(deployment(plan, platform=True))
    patterns = [line for line in file.text.splitlines() if line and not line.startswith("#")]
    for name in (".git", ".venv", "**/__pycache__", "node_modules", "*.log", ".warp/environment", ".env"):
        assert name in patterns
    assert not any(pattern.startswith(".warp/wheelhouse") or pattern in (".warp", ".warp/") for pattern in patterns)


def test_s2i_scripts_call_warp():
    plan = gunicorn_plan()
    files = {file.path: file for file in s2i.render(plan, deployment(plan, platform=True))}
    assert set(files) == {".s2i/bin/assemble", ".s2i/bin/run", ".s2i/bin/usage"}
    assert all(file.mode == 0o755 and file.text.startswith("#!/bin/sh\n") for file in files.values())
    assert files[".s2i/bin/assemble"].text.endswith(
        "cp -Rf /tmp/src/. ./\nrm -rf /tmp/src 2>/dev/null || true  # another user's copy (podman cp) may not be removable\n"
        "echo \"---> Building with warp\"\nwarp build --server gunicorn\n"
        "# OpenShift runs the image as a random user of group 0: give the group what the owner has.\n"
        "chmod -R g=u \"$WARP_HOME\" \"$PWD\" 2>/dev/null || true\n")
    assert files[".s2i/bin/run"].text.endswith("exec warp start --server gunicorn --host 0.0.0.0 --graceful-timeout 30\n")


def test_s2i_builder_has_warp_the_scripts_label_and_a_group_0_user():
    plan = gunicorn_plan()
    lines = text(s2i.render_builder(plan, deployment(plan, platform=True))).splitlines()
    assert "FROM docker.io/library/python:${PYTHON}-slim" in lines
    assert 'COPY ["bin", "/usr/libexec/s2i"]' in lines and "USER 1001" in lines
    assert any("--no-index --find-links /tmp/warp-wheelhouse warp-web==1.2.3" in line for line in lines)
    assert any(line.startswith('LABEL io.openshift.s2i.scripts-url="image:///usr/libexec/s2i"') for line in lines)


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit's sections as (key, value) lines, in order; a key may repeat (Environment=)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif line.strip() and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            current.append((key, value))
    return sections


def check_systemd(files, dep):
    service = parse_unit(text(files))["Service"]
    assert [shlex.split(value) for key, value in service if key == "ExecStart"] == [[*dep.warp, "start", *dep.start_args]]
    assert [shlex.split(value)[0] for key, value in service if key == "Environment"] == [
        "WARP_HOME=/srv/warp home", "WARP_ENV_NAME=blog", "PYTHONUNBUFFERED=1"]
    assert ("TimeoutStopSec", "25") in service and ("KillMode", "mixed") in service and ("User", "nobody") in service


def check_supervisor(files, dep):
    parser = UnhosedConfigParser()
    parser.read_string(text(files))
    (program,) = ServerOptions().processes_from_section(parser, "program:blog", "blog")
    assert program.command == shlex.join((*dep.warp, "start", *dep.start_args))
    assert (program.stopsignal, program.stopwaitsecs, program.stopasgroup, program.killasgroup) == (signal.SIGTERM, 25, False, True)
    assert program.environment == {"WARP_HOME": "/srv/warp home", "WARP_ENV_NAME": "blog", "PYTHONUNBUFFERED": "1"}
    assert (program.directory, program.uid) == ("/srv/blog", pwd.getpwnam("nobody").pw_uid)


def check_nginx(files, _dep):
    conf = text(files)
    assert conf.count("{") == conf.count("}")
    assert "upstream warp_blog {\n    server 127.0.0.1:9000;\n}" in conf
    assert "    location / {\n        proxy_pass http://warp_blog;\n" in conf
    assert f"    location /static/ {{\n        alias {STATIC_ROOT}/;\n" in conf


def check_procfile(files, dep):
    assert [file.path for file in files] == ["Procfile"]
    assert parse_procfile(text(files)).processes == {"web": shlex.join(("warp", "start", *dep.start_args))}


def check_kubernetes(files, dep):
    deployment_, service = yaml.safe_load_all(text(files))
    pod = deployment_["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 30  # 20 s graceful + 5 s margin + 5 s preStop
    (container,) = pod["containers"]
    assert container["args"] == ["warp", "start", *dep.start_args]
    assert container["ports"] == [{"name": "http", "containerPort": 9000}]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


CHECKS = {"systemd": check_systemd, "supervisor": check_supervisor, "nginx": check_nginx, "procfile": check_procfile, "kubernetes": check_kubernetes}


def test_every_target_has_its_check():
    assert set(CHECKS) == set(deploy.TARGETS)


@pytest.mark.parametrize("name", deploy.TARGETS)
def test_every_target_renders_the_one_plan_readably_for_its_consumer_without_writing(name, tmp_path, monkeypatch):
    """Each target's own parser (supervisor's, honcho's, YAML) reads the start command and the stop timeout of the plan."""
    monkeypatch.chdir(tmp_path)
    plan = start("gunicorn", with_static(MODULE), flags={"port": "9000", "graceful_timeout": "20"}, project=make_project())
    target = deploy.find_target(name)
    render, platform = target.render, target.PLATFORM
    dep = deployment(plan, platform=platform, user="nobody")
    assert dep.start_args == ("--server", "gunicorn", *(("--host", "0.0.0.0") if platform else ("--host", "127.0.0.1", "--port", "9000")),
                              "--graceful-timeout", "20")
    CHECKS[name](render(plan, dep), dep)
    assert list(tmp_path.iterdir()) == []


def test_supervisor_with_a_socket_under_run_brings_a_tmpfiles_entry_that_makes_its_directory(tmp_path):
    """/run is emptied at boot; systemd's RuntimeDirectory remakes it, supervisor does not."""
    plan = uwsgi_plan()
    files = supervisor.render(plan, deployment(plan))
    assert [file.path for file in files] == ["blog.supervisor.conf", "blog.tmpfiles.conf"]
    assert "copy it to /etc/tmpfiles.d/" in files[0].text
    assert files[1].text.splitlines()[-1] == "d /run/warp/blog 0755 app - -"
    tmpfiles = shutil.which("systemd-tmpfiles")
    if tmpfiles:  # the real tool makes the directory from it (into a scratch root)
        (tmp_path / "run").mkdir()
        config = tmp_path / "blog.conf"
        config.write_text(files[1].text.replace(" app ", " root "))
        subprocess.run([tmpfiles, "--create", f"--root={tmp_path}", str(config)], check=True, capture_output=True)
        assert (tmp_path / "run/warp/blog").is_dir()
    on_port = supervisor.render(gunicorn_plan(), deployment(gunicorn_plan()))
    assert [file.path for file in on_port] == ["blog.supervisor.conf"]


# ---------------------------------------------------------------- every process type


def export_dep(processes):
    plan = gunicorn_plan()
    return plan, deployment(plan, processes=processes)


@pytest.mark.parametrize("target", ["systemd", "supervisor", "procfile", "kubernetes"])
def test_without_other_types_every_export_is_the_single_web_one(target):
    render = deploy.find_target(target).render
    for processes in (None, process_plan(), process_plan("web: warp start\n")):
        the_plan, dep = export_dep(processes)
        assert render(the_plan, dep) == render(*export_dep(None))


def test_the_exports_carry_every_type_and_their_counts():
    the_plan, dep = export_dep(process_plan(CELERY + "release: python manage.py migrate\n", concurrency=("worker=3", "-c")))
    assert procfile.render(the_plan, dep)[0].text.splitlines()[1:] == [
        "worker: warp start worker", "beat: warp start beat", "release: warp release"]
    units = {file.path: file.text for file in systemd.render(the_plan, dep)}
    assert set(units) == {"blog.service", "blog-worker@.service", "blog-beat@.service", "blog-release.service", "blog.target"}
    assert "Wants=blog-release.service blog.service blog-worker@1.service blog-worker@2.service blog-worker@3.service blog-beat@1.service\n" in units["blog.target"]
    assert "ExecStart=/opt/warp/bin/python -m warp start worker\n" in units["blog-worker@.service"]
    conf = supervisor.render(the_plan, dep)[0].text
    assert "[group:blog-processes]\nprograms=blog,blog-release,blog-worker,blog-beat\n" in conf
    assert "[program:blog-worker]\ncommand=/opt/warp/bin/python -m warp start worker\n" in conf and "numprocs=3\n" in conf
    containerfile = container.render(the_plan, dep)[0].text
    assert "#   podman run IMAGE warp start worker\n" in containerfile
    assert containerfile.index("podman run IMAGE warp start beat") < containerfile.index("\nCMD ")


@pytest.mark.parametrize("with_types", [False, True], ids=["web", "every-type"])
def test_kubernetes_comments_each_line_of_a_secret_command_whose_path_has_a_line_break(with_types):
    plan = gunicorn_plan()
    processes = process_plan(CELERY) if with_types else None
    dep = deployment(plan, platform=True, source=Path("/srv/a\nb"), secret_names=("SECRET_KEY",), processes=processes)
    text_ = kubernetes.render(plan, dep)[0].text
    comments = text_[: text_.index("apiVersion:")].splitlines()
    assert all(line.startswith("#") for line in comments), comments
    command = [line.removeprefix("#   ") for line in comments[comments.index("# SECRET_KEY come from Secret blog-environment; create it with:") + 1:]]
    assert "\n".join(command[:2]) == kubernetes.make_secret_command("blog", Path("/srv/a\nb"))
    assert [document["kind"] for document in yaml.safe_load_all(text_)][0] == "Deployment"
