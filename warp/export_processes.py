"""Every process type in the exports, from the same plans: the StartPlan (web) and the ProcessPlan (the rest).

Each process type runs as `warp start TYPE`, which runs its declared command in the app's environment, and the
release step as `warp release`; web is `warp start` with the flags that make the same StartPlan. A project that
declares nothing but web gets the single-process files of warp.export unchanged. Pure: files, never written.
"""

from __future__ import annotations

import shlex

import yaml

from warp import export
from warp.config.processes import RELEASE, WEB, Process, ProcessPlan
from warp.export import Deployment, File, find_image_name, find_secret_name, find_unit_name
from warp.plan import StartPlan

#: Seconds a release Job may run before Kubernetes gives up on it (migrations of a large database take a while).
RELEASE_DEADLINE = 3600


def has_more_than_web(processes: ProcessPlan | None) -> bool:
    return processes is not None and (len(processes.processes) > 1 or processes.web.count_source != "default")


def others(processes: ProcessPlan) -> tuple[Process, ...]:
    """The long-running types besides web."""
    return tuple(process for process in processes.long_running if process.name != WEB)


def make_type_argv(process: Process) -> tuple[str, ...]:
    return ("warp", "release") if process.name == RELEASE else ("warp", "start", process.name)


def _describe_web(processes: ProcessPlan) -> str:
    web = processes.web
    return f"web ({web.source})" if web.is_declared else "web"


# ---------------------------------------------------------------- Procfile


def render_procfile(plan: StartPlan, dep: Deployment) -> list[File]:
    """Every type: web as `warp start …`, each other as `warp start TYPE`, release as `warp release` (Heroku runs it
    once per deploy, before the new web dynos take traffic)."""
    if not has_more_than_web(dep.processes):
        return export.render_procfile(plan, dep)
    lines = ["web: " + shlex.join(("warp", "start", *dep.start_args))]
    lines += [f"{process.name}: {shlex.join(make_type_argv(process))}" for process in others(dep.processes)]
    if dep.processes.release is not None:
        lines.append(f"release: {shlex.join(make_type_argv(dep.processes.release))}")
    return [File("Procfile", "\n".join(lines) + "\n")]


# ---------------------------------------------------------------- systemd


def render_systemd(plan: StartPlan, dep: Deployment) -> list[File]:
    """NAME.target wants every unit: NAME.service (web), a template NAME-TYPE@.service per other type with an
    instance per its count, and NAME-release.service, a oneshot that web waits for (and needs)."""
    files = export.render_systemd(plan, dep)
    if not has_more_than_web(dep.processes):
        return files
    processes = dep.processes
    name, target = dep.name, f"{dep.name}.target"
    release = f"{name}-release.service" if processes.release is not None else None
    after = f"After=network.target {release}" if release else "After=network.target"
    web = files[0].text.replace("After=network.target\n", f"{after}\nPartOf={target}\n" + (f"Requires={release}\n" if release else ""), 1)
    web = web.replace("WantedBy=multi-user.target", f"WantedBy={target}")
    if processes.web.count > 1:
        web = web.replace("[Service]\n", f"# web count {processes.web.count}: one web unit per host; its server runs the processes (--processes).\n[Service]\n", 1)
    files = [File(files[0].path, web), *files[1:]]
    wants = [f"{name}.service"]
    for process in others(processes):
        unit = f"{name}-{process.name}@.service"
        files.append(File(unit, _unit(plan, dep, process, f"{dep.name} {process.name} %i", after, target,
                                      ["Type=exec"], ["Restart=on-failure", "RestartSec=2"])))
        wants += [f"{name}-{process.name}@{index}.service" for index in range(1, process.count + 1)]
    if release:
        files.append(File(release, _unit(plan, dep, processes.release, f"{dep.name} release step (once per start of {target})",
                                         "After=network.target", target,
                                         ["Type=oneshot", "RemainAfterExit=yes", "TimeoutStartSec=infinity"], [])))
        wants.insert(0, release)
    lines = [
        export._header("#", "export systemd", dep).rstrip(),
        f"# Every process type of {name}: `systemctl enable --now {target}`; a deploy: `systemctl restart {target}`",
        "# (the release step runs again, then web starts).",
        "[Unit]",
        f"Description={name}: every process type (started by warp)",
        "Wants=" + " ".join(wants),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    files.append(File(target, "\n".join(lines) + "\n"))
    return files


def _unit(plan: StartPlan, dep: Deployment, process: Process, description: str, after: str, target: str,
          kind: list[str], restart: list[str]) -> str:
    """A unit running ``process`` with warp, as the web unit runs: same user, directory, environment and stop."""
    word = export._systemd_word
    program, *arguments = (*dep.warp, *make_type_argv(process)[1:])
    lines = [
        export._header("#", "export systemd", dep).rstrip(),
        "[Unit]",
        f"Description={description} (started by warp)",
        after,
        f"PartOf={target}",
        "",
        "[Service]",
        *kind,
        f"User={dep.user}",
        f"WorkingDirectory={export._systemd_path(str(dep.source), 'WorkingDirectory=')}",
        *[f"Environment={word(f'{key}={value}', 'Environment=')}" for key, value in export._service_environment(dep).items()],
        "ExecStart=" + " ".join([export._systemd_program(program), *(word(w, "ExecStart=", expands=True) for w in arguments)]),
        *restart,
    ]
    if process.name != RELEASE:
        lines += [
            f"# {process.name}: {process.command} ({process.source}); warp execs it, so SIGTERM reaches it.",
            "# mixed: SIGTERM to the process only (Celery's worker then finishes its tasks); SIGKILL to what is left.",
            "KillMode=mixed",
            "KillSignal=SIGTERM",
            f"TimeoutStopSec={export._stop_seconds(plan)}",
        ]
    lines += ["", "[Install]", f"WantedBy={target}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- supervisor


def render_supervisor(plan: StartPlan, dep: Deployment) -> list[File]:
    """[group:NAME-processes] of the web program, a program per other type (numprocs from its count) and the
    release step, which supervisor starts first (priority) but does not wait for."""
    files = export.render_supervisor(plan, dep)
    if not has_more_than_web(dep.processes):
        return files
    processes, name = dep.processes, dep.name
    environment = export._supervisor_environment(export._service_environment(dep))
    programs = [name]
    sections = []
    for process in (*([processes.release] if processes.release else []), *others(processes)):
        program = f"{name}-{process.name}"
        programs.append(program)
        lines = [
            "",
            f"; {process.name}: {process.command} ({process.source})",
            f"[program:{program}]",
            "command=" + export._supervisor_command((*dep.warp, *make_type_argv(process)[1:])),
            f"directory={export._supervisor_path(str(dep.source), 'directory=')}",
            f"user={dep.user}",
            f"environment={environment}",
        ]
        if process.name == RELEASE:
            lines += [
                "; Once per start of the group, before the others (a lower priority starts first); supervisor does not",
                "; wait for it to end, so web may start during the release. Two at once take turns (warp's lock).",
                "priority=100",
                "autostart=true",
                "autorestart=false",
                "startsecs=0",
                "exitcodes=0",
            ]
        else:
            lines += [
                f"numprocs={process.count}",
                "process_name=%(program_name)s-%(process_num)d",
                f"autostart={'true' if process.count else 'false'}",
                "autorestart=unexpected",
                "exitcodes=0",
                "startsecs=3",
                "; TERM to the process only (Celery's worker then finishes its tasks); SIGKILL to its group after stopwaitsecs.",
                "stopsignal=TERM",
                f"stopwaitsecs={export._stop_seconds(plan)}",
                "stopasgroup=false",
                "killasgroup=true",
            ]
        lines += ["redirect_stderr=true", "stdout_logfile=AUTO"]
        sections.append("\n".join(lines))
    group = ["", f"; Every process type of {name}: `supervisorctl start {name}-processes:*`", f"[group:{name}-processes]",
             "programs=" + ",".join(programs)]
    first = File(files[0].path, files[0].text + "\n".join(sections) + "\n" + "\n".join(group) + "\n")
    return [first, *files[1:]]


# ---------------------------------------------------------------- Kubernetes


def render_kubernetes(plan: StartPlan, dep: Deployment) -> list[File]:
    """A Deployment per process type (replicas from its count; probes, port and Service for web only) in
    NAME.kubernetes.yaml, and the release step as one Job in NAME-release.job.yaml, applied and waited for first."""
    if not has_more_than_web(dep.processes):
        return export.render_kubernetes(plan, dep)
    processes = dep.processes
    image = find_image_name(dep.name)
    objects = export.make_kubernetes_objects(plan, dep, image)
    web = objects[0]
    if processes.web.count_source != "default":
        web["spec"]["replicas"] = processes.web.count
    objects[1:1] = [make_type_deployment(plan, dep, process, web, image) for process in others(processes)]
    text = export._header("#", "export kubernetes", dep)
    if dep.secret_names:
        text += f"# {', '.join(dep.secret_names)} come from Secret {find_secret_name(dep.name)}; create it with:\n#   {export.make_secret_command(dep.name, dep.source)}\n"
    files = []
    if processes.release is not None:
        job_file = f"{dep.name}-release.job.yaml"
        job = make_release_job(dep, processes.release, web, image)
        text += (f"# Apply {job_file} first, and wait for it: the release step runs once, in one Job, not in every pod.\n"
                 f"#   {make_release_commands(dep, job_file)}\n")
        files.append(File(job_file, export._header("#", "export kubernetes", dep) + f"# {make_release_commands(dep, job_file)}\n"
                          + yaml.safe_dump(job, sort_keys=False)))
    return [File(f"{dep.name}.kubernetes.yaml", text + yaml.safe_dump_all(objects, sort_keys=False)), *files]


def make_release_commands(dep: Deployment, job_file: str) -> str:
    job = f"job/{find_unit_name(dep.name)}-release"
    return (f"kubectl delete {job} --ignore-not-found && kubectl apply -f {job_file} && "
            f"kubectl wait --for=condition=complete --timeout={RELEASE_DEADLINE}s {job}")


def _pod_container(dep: Deployment, process: Process, web: dict, image: str) -> dict:
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


def make_type_deployment(plan: StartPlan, dep: Deployment, process: Process, web: dict, image: str) -> dict:
    """A process type's Deployment: no port, no probes, no Service."""
    metadata, labels = _objects_meta(dep, process, find_unit_name(process.name))
    template_spec = web["spec"]["template"]["spec"]
    pod = {
        # SIGTERM reaches the process (warp execs it): Celery's worker finishes its tasks within this.
        "terminationGracePeriodSeconds": template_spec["terminationGracePeriodSeconds"],
        "securityContext": dict(template_spec["securityContext"]),
        "containers": [_pod_container(dep, process, web, image)],
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
        "containers": [_pod_container(dep, process, web, image)],
    }
    spec = {"backoffLimit": 0, "activeDeadlineSeconds": RELEASE_DEADLINE, "template": {"metadata": {"labels": labels}, "spec": pod}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}


def describe_image_types(dep: Deployment) -> list[str]:
    """Comment lines for the Containerfile: how the image runs each other process type."""
    if not has_more_than_web(dep.processes):
        return []
    processes = dep.processes
    lines = [f"# The default command is {_describe_web(processes)}; every other process type runs from this image too:"]
    lines += [f"#   podman run IMAGE {shlex.join(make_type_argv(process))}" for process in others(processes)]
    if processes.release is not None:
        lines.append(f"#   podman run IMAGE {shlex.join(make_type_argv(processes.release))}   (the release step, once per deploy)")
    return lines


def render_containerfile(plan: StartPlan, dep: Deployment) -> list[File]:
    """warp.export's Containerfile, which says how to run each other process type from the image."""
    files = export.render_containerfile(plan, dep)
    lines = describe_image_types(dep)
    if not lines:
        return files
    text = files[0].text.replace("\nCMD ", "\n" + "\n".join(lines) + "\nCMD ", 1)
    return [File(files[0].path, text, files[0].mode), *files[1:]]


#: Export targets whose files carry every process type.
RENDERERS = {
    "systemd": render_systemd,
    "supervisor": render_supervisor,
    "procfile": render_procfile,
    "kubernetes": render_kubernetes,
}
