"""warp.export: every target rendered from one StartPlan, in memory."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import pytest
import yaml

from test_unit_plan import MODULE, STATIC_ROOT, make_project, make_settings, start, with_static
from warp import export

SOCK = "/run/warp/blog/uwsgi.sock"


def deployment(plan, settings=None, *, platform=False, **changes) -> export.Deployment:
    base = dict(
        name="blog",
        source=Path("/srv/blog"),
        warp_home=Path("/srv/warp home"),
        warp=("/opt/warp/bin/python", "-m", "warp"),
        start_args=export.make_start_args(plan, settings or make_settings(), platform=platform),
        python_version="3.12.4",
        warp_version="1.2.3",
        user="app",
        dependency_files=("requirements.txt", "requirements/base.txt"),
    )
    return export.Deployment(**{**base, **changes})


def text(files: list[export.File], index: int = 0) -> str:
    return files[index].text


def uwsgi_plan(timeout="30"):
    return start("uwsgi", with_static(MODULE), flags={"socket": SOCK, "graceful_timeout": timeout})


def gunicorn_plan():
    return start("gunicorn", with_static(MODULE), flags={"port": "9000"})


# ---------------------------------------------------------------- the exported `warp start`


def test_start_args_name_the_socket_or_the_host_and_port():
    assert export.make_start_args(uwsgi_plan(), make_settings(), platform=False) == (
        "--server", "uwsgi", "--socket", SOCK, "--graceful-timeout", "30")
    assert export.make_start_args(gunicorn_plan(), make_settings(), platform=False) == (
        "--server", "gunicorn", "--host", "127.0.0.1", "--port", "9000", "--graceful-timeout", "30")


def test_start_args_on_a_platform_leave_the_port_to_it():
    assert export.make_start_args(gunicorn_plan(), make_settings(), platform=True) == (
        "--server", "gunicorn", "--host", "0.0.0.0", "--graceful-timeout", "30")


def test_start_args_carry_flags_and_variables_but_not_what_the_project_says_itself():
    settings = make_settings({"processes": "3", "app": "blog.wsgi:app"}, {"WARP_THREADS": "2"}, tool={"home": "site"})
    args = export.make_start_args(gunicorn_plan(), settings, platform=False)
    assert shlex.join(args).startswith("--server gunicorn --app blog.wsgi:app --processes 3 --threads 2 --host")
    assert "--home" not in args  # warp start reads [tool.warp] itself


# ---------------------------------------------------------------- systemd and supervisor


def test_systemd_unit_stops_warp_alone_within_the_graceful_timeout():
    plan = uwsgi_plan("20")
    unit = text(export.render_systemd(plan, deployment(plan)))
    assert "KillMode=mixed\nKillSignal=SIGTERM\nTimeoutStopSec=25\n" in unit
    assert "# on SIGTERM warp writes 'q' to uwsgi's master FIFO (its graceful stop)." in unit
    assert f"ExecStart=/opt/warp/bin/python -m warp start --server uwsgi --socket {SOCK} --graceful-timeout 20\n" in unit
    assert "Restart=on-failure" in unit and "User=app" in unit and "WorkingDirectory=/srv/blog\n" in unit
    assert 'Environment="WARP_HOME=/srv/warp home"\n' in unit
    assert "RuntimeDirectory=warp/blog\n" in unit


def test_systemd_escapes_its_specifiers():
    plan = gunicorn_plan()
    unit = text(export.render_systemd(plan, deployment(plan, source=Path("/srv/100%"), warp=("/opt/$x/python",))))
    assert "WorkingDirectory=/srv/100%%\n" in unit
    assert 'ExecStart="/opt/$$x/python" start' in unit
    assert "RuntimeDirectory" not in unit


def test_supervisor_program_stops_gracefully_and_logs_to_supervisor():
    plan = start("mod_wsgi", MODULE, flags={"graceful_timeout": "12"})
    conf = text(export.render_supervisor(plan, deployment(plan)))
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
    conf = text(export.render_nginx(plan, deployment(plan, listen="127.0.0.1:8081")))
    assert f"upstream warp_blog {{\n    server unix:{SOCK};\n}}" in conf
    assert "include uwsgi_params;\n        uwsgi_pass warp_blog;" in conf
    assert "proxy_pass" not in conf
    assert f"location /static/ {{\n        alias {STATIC_ROOT}/;\n        expires 30d;" in conf
    assert "location ~ \\.py$ {\n        deny all;" in conf
    assert "listen 127.0.0.1:8081;" in conf and "client_max_body_size 10m;" in conf


def test_nginx_proxies_http_with_the_forwarded_headers():
    plan = gunicorn_plan()
    conf = text(export.render_nginx(plan, deployment(plan)))
    assert "server 127.0.0.1:9000;" in conf and "proxy_pass http://warp_blog;" in conf
    for header in ("Host $http_host", "X-Forwarded-For $proxy_add_x_forwarded_for", "X-Forwarded-Proto $scheme"):
        assert f"proxy_set_header {header};" in conf
    assert "uwsgi_pass" not in conf and "listen 80;" in conf


def test_nginx_leaves_static_files_to_an_app_that_serves_them_itself():
    """The app's WhiteNoise middleware sets their headers (WHITENOISE_*, immutable hashed names): nginx passes them on."""
    plan = start("gunicorn", dataclasses.replace(with_static(MODULE), app_serves_static=True))
    conf = text(export.render_nginx(plan, deployment(plan)))
    assert "location /static/" not in conf and "alias" not in conf
    assert "proxy_pass http://warp_blog;" in conf


def test_nginx_reaches_a_wildcard_host_over_loopback_and_skips_static_without_django():
    plan = start("waitress", MODULE, flags={"host": "0.0.0.0"})
    conf = text(export.render_nginx(plan, deployment(plan)))
    assert "server 127.0.0.1:8080;" in conf and "location /static/" not in conf


# ---------------------------------------------------------------- Procfile, Kubernetes


def test_procfile():
    plan = gunicorn_plan()
    assert export.render_procfile(plan, deployment(plan, platform=True)) == [
        export.File("Procfile", "web: warp start --server gunicorn --host 0.0.0.0 --graceful-timeout 30\n")]


def test_kubernetes_deployment_and_service():
    plan = start("uwsgi", MODULE, flags={"port": "8000", "graceful_timeout": "20"})
    files = export.render_kubernetes(plan, deployment(plan, platform=True, name="My_Blog"))
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
    assert container["livenessProbe"]["exec"]["command"] == ["warp", "-q", "alive"]
    assert container["readinessProbe"]["exec"]["command"] == ["warp", "-q", "ready"]
    assert container["resources"]["limits"]["memory"]
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    assert service["spec"]["selector"] == deployment_["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("name, expected", [("blog", "blog"), ("My_Site.v2", "my-site-v2"), ("__", "app"), ("a" * 80, "a" * 63)])
def test_unit_names_are_dns_labels(name, expected):
    assert export.find_unit_name(name) == expected


# ---------------------------------------------------------------- Containerfile and S2I


def test_containerfile_installs_dependencies_in_their_own_layer_and_runs_as_a_user():
    plan = start("uwsgi", MODULE, flags={"port": "8000"})
    lines = text(export.render_containerfile(plan, deployment(plan, platform=True))).splitlines()
    assert "ARG PYTHON=3.12" in lines
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(stages) == 2 and lines[stages[0]].endswith(" AS build")
    deps = lines.index('COPY ["requirements/base.txt", "./requirements/base.txt"]')
    everything = lines.index("COPY . .")
    builds = [i for i, line in enumerate(lines) if line == "RUN warp build --server uwsgi"]
    assert deps < builds[0] < everything < builds[1] < stages[1]
    assert any("gcc" in line for line in lines[: stages[1]]) and not any("gcc" in line for line in lines[stages[1]:])
    final = lines[stages[1]:]
    assert "USER 1001" in final and "EXPOSE 8000" in final
    assert 'HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["warp", "-q", "alive"]' in final
    assert json.loads(final[-1].removeprefix("CMD ")) == ["warp", "start", "--server", "uwsgi", "--host", "0.0.0.0", "--graceful-timeout", "30"]


def test_containerfile_without_dependency_files_has_one_build():
    plan = gunicorn_plan()
    lines = text(export.render_containerfile(plan, deployment(plan, platform=True, dependency_files=()))).splitlines()
    assert lines.count("RUN warp build --server gunicorn") == 1


def test_s2i_scripts_call_warp():
    plan = gunicorn_plan()
    files = {file.path: file for file in export.render_s2i(plan, deployment(plan, platform=True))}
    assert set(files) == {".s2i/bin/assemble", ".s2i/bin/run", ".s2i/bin/usage"}
    assert all(file.mode == 0o755 and file.text.startswith("#!/bin/sh\n") for file in files.values())
    assert files[".s2i/bin/assemble"].text.endswith("cp -Rf /tmp/src/. ./\nrm -rf /tmp/src\necho \"---> Building with warp\"\nexec warp build --server gunicorn\n")
    assert files[".s2i/bin/run"].text.endswith("exec warp start --server gunicorn --host 0.0.0.0 --graceful-timeout 30\n")


def test_every_target_renders_from_one_plan_without_touching_the_project():
    plan = start("gunicorn", MODULE, project=make_project())
    for name, (render, platform) in export.TARGETS.items():
        files = render(plan, deployment(plan, platform=platform))
        assert files and all(file.text.strip() for file in files), name
