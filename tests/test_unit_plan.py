"""warp.plan: pure planning (the server, concurrency, host, the build plan, lock files, a paste ini, the one start planner), table-driven, in memory."""

from __future__ import annotations

from planning import *  # noqa: F403  (the facts and helpers every planning test uses)

from warp.env.inputs import scan_digests

MIB = 1 << 20
NAMED = [
    ("mod_wsgi==5\n", "mod_wsgi"),
    ("mod-wsgi\n", "mod_wsgi"),
    ("uWSGI>=2\n", "uwsgi"),
    ("pyuwsgi\n", "uwsgi"),
    ('waitress ; python_version>"3"\n', "waitress"),
    ("gunicorn[gthread]==23.0\n", "gunicorn"),
    ("Django>=4.2\n  Waitress~=3.0  # prod server\n", "waitress"),
    ("Django\nwaitress\ngunicorn\n", "waitress"),  # the first one named wins
]


@pytest.mark.parametrize("requirements, server", NAMED, ids=[row[0].strip().splitlines()[-1] for row in NAMED])
def test_server_named_in_requirements(requirements, server):
    project = make_project(requirements_text=requirements)
    assert find_server(make_settings(), project, {}) == (server, "named in requirements.txt")
    # a name in requirements beats mod_wsgi merely being installed
    assert find_server(make_settings(), project, {"mod-wsgi": "5.0.0"})[0] == server


@pytest.mark.parametrize(
    "requirements",
    ["", "Django\n", "# gunicorn\n", "-r gunicorn.txt\n", "django-uwsgi\n", "waitress-extras\n", "--find-links gunicorn\n"],
)


def test_server_not_named(requirements):
    project = make_project(requirements_text=requirements)
    assert find_server(make_settings(), project, {}) == ("gunicorn", "the default (pure Python, installs everywhere)")


def test_server_installed_mod_wsgi():
    assert find_server(make_settings(), make_project(), {"mod-wsgi": "5.0.2", "django": "5.0"}) == (
        "mod_wsgi", "mod_wsgi is installed in the env",
    )


@pytest.mark.parametrize(
    "flags, environ, tool, expected",
    [
        ({"server": "uwsgi"}, {}, {}, ("uwsgi", "from --server")),
        ({}, {"WARP_SERVER_TYPE": "mod_wsgi"}, {}, ("mod_wsgi", "from WARP_SERVER_TYPE")),
        ({}, {}, {"server": "waitress"}, ("waitress", "from [tool.warp] server")),
    ],
)


def test_server_explicit_beats_requirements_and_installed(flags, environ, tool, expected):
    project = make_project(requirements_text="gunicorn\n")
    assert find_server(make_settings(flags, environ, tool=tool), project, {"mod-wsgi": "5"}) == expected


LAST_BUILD = [
    # requirements now, the last build's record, the server chosen
    ("flask\n", {"server": "waitress", "servers_named": []}, "waitress"),
    ("flask\n", {"server": "mod_wsgi", "servers_named": []}, "mod_wsgi"),
    ("gunicorn\n", {"server": "waitress", "servers_named": ["gunicorn"]}, "waitress"),  # --server beat the file then
    ("uwsgi\n", {"server": "waitress", "servers_named": []}, "uwsgi"),  # the project names another one since
    ("flask\n", {"server": "waitress", "servers_named": ["waitress"]}, "gunicorn"),  # and names none any more
    ("flask\n", {"server": "nginx", "servers_named": []}, "gunicorn"),  # not a server warp knows
    ("flask\n", {}, "gunicorn"),
]


@pytest.mark.parametrize("requirements, record, server", LAST_BUILD)
def test_the_last_builds_server_stays_chosen_until_the_user_or_the_project_names_another(requirements, record, server):
    project = make_project(requirements_text=requirements)
    assert find_server(make_settings(), project, {}, record)[0] == server
    assert find_server(make_settings({"server": "uwsgi"}), project, {}, record)[0] == "uwsgi"


def test_build_start_and_exports_share_the_one_server_decision():
    """The build plan, warp.run.start and the exports call this one function, with the build record; nothing else chooses."""
    callers = subprocess.run(["grep", "-rln", "find_server(", str(Path(__file__).parents[1] / "warp")], capture_output=True, text=True).stdout.split()
    assert sorted(Path(path).name for path in callers) == ["plan.py"]  # plan_start and make_build_plan
    for path in callers:
        for line in Path(path).read_text().splitlines():
            if "find_server(" in line and "def find_server" not in line:
                assert "record" in line or "read_record()" in line, line


CONCURRENCY = [
    # server, flags, environ, cpus, memory, (processes, threads)
    ("gunicorn", {}, {}, 4, 16 * GIB, (4, 4)),
    ("gunicorn", {}, {}, 2.5, 16 * GIB, (3, 4)),  # a fractional CPU quota rounds up
    ("gunicorn", {}, {}, 0.5, 16 * GIB, (1, 4)),
    ("gunicorn", {}, {}, 8, 512 * MIB, (2, 4)),  # memory caps processes at one per 256 MiB
    ("gunicorn", {}, {}, 8, 100 * MIB, (1, 4)),
    ("gunicorn", {}, {}, 8, None, (8, 4)),  # unknown memory: no cap
    ("uwsgi", {}, {}, 4, 16 * GIB, (4, 2)),  # the throughput grid: uWSGI 2 threads
    ("mod_wsgi", {}, {}, 4, 16 * GIB, (4, 4)),
    ("waitress", {}, {}, 4, 16 * GIB, (4, 4)),  # warp's launcher forks one waitress per CPU
    ("waitress", {}, {}, 1, 16 * GIB, (1, 4)),
    ("waitress", {"processes": "3"}, {}, 4, 16 * GIB, (3, 4)),
    ("waitress", {}, {"WEB_CONCURRENCY": "5"}, 4, 16 * GIB, (5, 4)),
    ("gunicorn", {"processes": "3", "threads": "7"}, {}, 4, 16 * GIB, (3, 7)),
    ("gunicorn", {"processes": "12"}, {}, 1, 256 * MIB, (12, 4)),  # flags override the memory cap
    ("gunicorn", {}, {"WEB_CONCURRENCY": "6"}, 2, 16 * GIB, (6, 4)),
    ("gunicorn", {}, {"WARP_PROCESSES": "2", "WEB_CONCURRENCY": "6"}, 2, 16 * GIB, (2, 4)),
    ("mod_wsgi", {"threads": "1"}, {}, 2, 16 * GIB, (2, 1)),
]


@pytest.mark.parametrize("server, flags, environ, cpus, memory, expected", CONCURRENCY)
def test_find_concurrency(server, flags, environ, cpus, memory, expected):
    machine = MachineFacts(cpus=cpus, memory_bytes=memory, in_container=False, euid=1000)
    processes, threads, _ = find_concurrency(server, make_settings(flags, environ), machine)
    assert (processes, threads) == expected


@pytest.mark.parametrize(
    "server, flags, environ, because",
    [
        ("gunicorn", {}, {}, "processes: default for 4 usable CPU(s); threads: default"),
        ("gunicorn", {"processes": "3", "threads": "7"}, {}, "processes from --processes; threads from --threads"),
        ("gunicorn", {}, {"WEB_CONCURRENCY": "6"}, "processes from WEB_CONCURRENCY; threads: default"),
        ("waitress", {"processes": "3"}, {}, "processes from --processes; threads: default"),
    ],
)


def test_find_concurrency_because(server, flags, environ, because):
    assert find_concurrency(server, make_settings(flags, environ), WORKSTATION)[2] == because


@pytest.mark.parametrize(
    "flags, environ, in_container, expected",
    [
        ({}, {}, False, ("127.0.0.1", "the default on a workstation (pass --host 0.0.0.0 to listen on all interfaces)")),
        ({}, {}, True, ("0.0.0.0", "running inside a container")),
        ({"host": "0.0.0.0"}, {}, False, ("0.0.0.0", "from --host")),
        ({"host": "127.0.0.1"}, {}, True, ("127.0.0.1", "from --host")),
        ({}, {"WARP_HTTP_HOST": "::"}, True, ("::", "from WARP_HTTP_HOST")),
    ],
)


def test_find_host(flags, environ, in_container, expected):
    machine = WORKSTATION._replace(in_container=in_container)
    assert find_host(make_settings(flags, environ), machine) == expected


def test_build_step_order():
    project = make_project(
        dependency_files=("requirements.txt",),
        requirements_text="Django\n",
        hooks={"pre-build": hook("pre-build"), "build": hook("build"), "deploy": hook("deploy")},
    )
    plan = build(project=project, app=make_app(manage_py=True, django_settings="mysite.settings"))
    assert [(step.kind, step.title) for step in plan.steps] == [
        ("hook", "Running pre-build hook"),
        ("install", "Installing dependencies with uv (requirements.txt)"),
        ("server", "Installing gunicorn if missing"),
        ("hook", "Running build hook"),
        ("collectstatic", "Collecting Django static files"),
    ]
    steps = plan.steps
    assert steps[0].hook == project.hooks["pre-build"] and steps[3].hook == project.hooks["build"]
    assert steps[1].argv == ("/usr/bin/uv", "pip", "install", "--python", str(ENV / "bin/python"), "-r", "requirements.txt")
    assert steps[2].packages == ("gunicorn", "whitenoise")
    assert steps[2].argv == ("/usr/bin/uv", "pip", "install", "--python", str(ENV / "bin/python"))
    assert steps[4].argv == ("python", str(HOOKS / "django_collectstatic.py"))
    assert plan.server == "gunicorn" and plan.warnings == ()
    decisions = {d.name: (d.value, d.because) for d in plan.decisions}
    assert decisions["dependencies"] == ("requirements.txt", "requirements.txt is present")
    assert decisions["server"] == ("gunicorn", "the default (pure Python, installs everywhere)")
    assert decisions["collectstatic"] == ("yes", "manage.py sets DJANGO_SETTINGS_MODULE=mysite.settings")


def test_build_minimal_has_only_the_server_step():
    plan = build(project=make_project(), digests={})
    assert [step.kind for step in plan.steps] == ["server"]
    assert {d.name: d.value for d in plan.decisions}["dependencies"] == "none"


def test_build_manage_py_without_settings_has_no_collectstatic():
    plan = build(app=make_app(manage_py=True))
    assert "collectstatic" not in [step.kind for step in plan.steps]


def test_build_project_installed_editable():
    project = make_project(dependency_files=("pyproject.toml", "setup.cfg"), pyproject={"build-system": {"requires": ["setuptools"]}})
    plan = build(project=project, digests={"pyproject.toml": "p", "setup.cfg": "c"})
    install = plan.steps[0]
    assert (install.kind, install.title) == ("install", "Installing the project with uv (editable)")
    assert install.argv[-2:] == ("-e", ".")
    assert {d.name: d.because for d in plan.decisions}["dependencies"] == (
        "pyproject.toml declares a package (build-system) and there is no requirements.txt or lock file"
    )


def test_build_requirement_files_from_warp_pip_packages():
    settings = make_settings(environ={"WARP_PIP_PACKAGES": "base.txt prod.txt"})
    plan = build(settings=settings, digests={"base.txt": "b", "prod.txt": "p"})
    assert plan.steps[0].argv[-4:] == ("-r", "base.txt", "-r", "prod.txt")
    assert plan.steps[0].title == "Installing dependencies with uv (base.txt, prod.txt)"
    assert {d.name: d.because for d in plan.decisions}["dependencies"] == "listed in WARP_PIP_PACKAGES"


def test_build_pip_offline_with_wheelhouse():
    pip = Installer("pip", None, ENV / "bin/python", find_links=ROOT / ".warp/wheelhouse", offline=True)
    plan = build(installer=pip, settings=make_settings({"server": "waitress"}))
    assert plan.steps[0].argv == (
        str(ENV / "bin/python"), "-m", "pip", "install", "--disable-pip-version-check",
        "--find-links", str(ROOT / ".warp/wheelhouse"), "--no-index", "-r", "requirements.txt",
    )
    assert plan.steps[0].title == "Installing dependencies with pip (requirements.txt)"
    assert plan.steps[1].title == "Installing waitress if missing"
    assert plan.steps[1].packages == ("waitress", "whitenoise")


@pytest.mark.parametrize("server, packages", [("mod_wsgi", ("mod-wsgi",)), ("uwsgi", ("uwsgi",))])
def test_build_server_packages(server, packages):
    plan = build(settings=make_settings({"server": server}))
    assert plan.server == server
    assert [step.packages for step in plan.steps if step.kind == "server"] == [packages]


@pytest.mark.parametrize("name", ["pre-build", "build"])
def test_non_executable_hook_is_a_warning_and_skipped(name):
    project = make_project(dependency_files=("requirements.txt",), hooks={name: hook(name, executable=False)})
    plan = build(project=project)
    assert plan.warnings == (f"hook .warp/action_hooks/{name} is not executable and was skipped (chmod +x it to run it)",)
    assert [step.kind for step in plan.steps] == ["install", "server"]


@pytest.mark.parametrize("executable", [True, False])
@pytest.mark.parametrize("name", ["pre-build", "build"])
def test_hook_escaping_the_project_is_refused(name, executable):
    project = make_project(hooks={name: hook(name, executable=executable, escapes=True)})
    with pytest.raises(UsageError) as caught:
        build(project=project)
    assert caught.value.message == f"hook .warp/action_hooks/{name} is a symlink to a file outside the project"
    assert caught.value.hint == "hooks must live inside the project; copy the script into .warp/action_hooks/"


BASE_FINGERPRINT = build().fingerprint
CHANGES_FINGERPRINT = {
    "digest": dict(digests={"requirements.txt": "bbb"}),
    "python": dict(python_version="3.12.2"),
    "server": dict(settings=make_settings({"server": "uwsgi"})),
    "server-from-installed": dict(installed={"mod-wsgi": "5.0"}),
    "interface": dict(settings=make_settings({"server": "gunicorn", "interface": "asgi"})),  # gunicorn's worker changes
    "installer": dict(installer=Installer("pip", None, ENV / "bin" / "python")),
    "offline": dict(installer=dataclasses.replace(UV, offline=True)),
    "wheelhouse": dict(installer=dataclasses.replace(UV, find_links=ROOT / ".warp/wheelhouse")),
    "warp": dict(warp_version="0.2.0"),
    "input-files": dict(settings=make_settings(environ={"WARP_PIP_PACKAGES": "requirements.txt other.txt"})),
}


KEEPS_FINGERPRINT = {
    "same": {},
    "installed-unrelated": dict(installed={"django": "5.0", "gunicorn": "23.0.0"}),
    "django-app": dict(app=make_app(manage_py=True, django_settings="mysite.settings")),
    "port": dict(settings=make_settings({"port": "9000", "processes": "3"})),
}


@pytest.mark.parametrize("changes", CHANGES_FINGERPRINT.values(), ids=CHANGES_FINGERPRINT)
def test_fingerprint_changes(changes):
    fingerprint = build(**changes).fingerprint
    assert fingerprint != BASE_FINGERPRINT
    assert build(**changes).fingerprint == fingerprint  # and is stable


@pytest.mark.parametrize("changes", KEEPS_FINGERPRINT.values(), ids=KEEPS_FINGERPRINT)
def test_fingerprint_unchanged(changes):
    assert build(**changes).fingerprint == BASE_FINGERPRINT


def test_fingerprint_is_the_same_in_the_next_process():
    """Each build compares with the fingerprint a previous process recorded: no hash seed or set order may enter it."""
    code = "from test_unit_plan import build_from_several_files; print(build_from_several_files().fingerprint)"
    seen = {
        subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent, env={**os.environ, "PYTHONHASHSEED": seed},
                       capture_output=True, text=True, check=True).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert seen == {build_from_several_files().fingerprint}


PACKAGE = {"build-system": {"requires": ["setuptools"]}, "project": {"dependencies": ["flask"]}}
APP = {"project": {"dependencies": ["flask"]}}
NO_PACKAGE_POETRY = {"build-system": {}, "tool": {"poetry": {"package-mode": False}}}
INPUTS = [
    # (files present, pyproject, WARP_PIP_PACKAGES, expected how, expected files)
    (("requirements.txt", "uv.lock", "pyproject.toml"), APP, None, "requirements", ("requirements.txt",)),
    (("uv.lock", "poetry.lock", "pyproject.toml"), APP, None, "uv.lock", ("uv.lock", "pyproject.toml")),
    (("poetry.lock", "Pipfile.lock", "pyproject.toml"), APP, None, "poetry.lock", ("poetry.lock", "pyproject.toml")),
    (("Pipfile.lock", "Pipfile"), {}, None, "Pipfile.lock", ("Pipfile.lock", "Pipfile")),
    (("pyproject.toml",), APP, None, "pyproject", ("pyproject.toml",)),
    (("pyproject.toml", "setup.cfg"), PACKAGE, None, "project", ("pyproject.toml", "setup.cfg")),
    (("setup.py",), {}, None, "project", ("setup.py",)),
    ((), {}, None, "none", ()),
    (("requirements.txt", "uv.lock"), APP, "a.txt b.txt", "requirements", ("a.txt", "b.txt")),
]


@pytest.mark.parametrize("files, pyproject, named, how, expected", INPUTS)
def test_dependency_inputs_in_order(files, pyproject, named, how, expected):
    settings = make_settings(environ={"WARP_PIP_PACKAGES": named} if named else {})
    got = find_dependency_inputs(make_project(dependency_files=files, pyproject=pyproject), settings)
    assert got[:2] == (expected, how)


def test_more_than_one_lock_says_which_and_why():
    project = make_project(dependency_files=("uv.lock", "poetry.lock", "Pipfile.lock", "pyproject.toml"), pyproject=APP)
    _, how, because = find_dependency_inputs(project, make_settings())
    assert how == "uv.lock"
    assert because == "uv.lock is present; also found poetry.lock, Pipfile.lock, but uv.lock comes first (uv.lock > poetry.lock > Pipfile.lock)"


@pytest.mark.parametrize(
    "how, pyproject, editable",
    [("uv.lock", APP, False), ("poetry.lock", PACKAGE, True), ("poetry.lock", NO_PACKAGE_POETRY, False), ("Pipfile.lock", {}, False)],
)


def test_a_lock_is_read_then_installed_exactly(how, pyproject, editable):
    files = (how, "pyproject.toml") if pyproject else (how,)
    plan = build(project=make_project(dependency_files=files, pyproject=pyproject), digests={name: "x" for name in files})
    lock, install = plan.steps[0], plan.steps[1]
    assert (lock.kind, lock.packages[0]) == ("lock", how)
    assert install.argv[-2 - 2 * editable :][:2] == ("-r", lock.packages[1])
    assert (install.argv[-2:] == ("-e", ".")) is editable


POETRY_NO_PACKAGE_DIR = {"project": {"name": "shop"}, "build-system": {"build-backend": "poetry.core.masonry.api"}}


@pytest.mark.parametrize("top_level, editable", [(frozenset({"wsgi.py"}), False), (frozenset({"shop/", "wsgi.py"}), True)])
def test_a_poetry_project_without_its_package_installs_only_the_lock_and_says_so(top_level, editable):
    files = ("poetry.lock", "pyproject.toml")
    project = make_project(dependency_files=files, pyproject=POETRY_NO_PACKAGE_DIR, top_level=top_level)
    plan = build(project=project, digests={name: "x" for name in files})
    assert (plan.steps[1].argv[-2:] == ("-e", ".")) is editable
    assert plan.warnings == (() if editable else (
        "the project itself is not installed, only its dependencies: Poetry's package mode finds no package shop "
        "(no shop/ or shop.py, at the top or in src/, and no [tool.poetry] packages); the app is served from the "
        "source tree (set [tool.poetry] package-mode = false to say so)",
    ))


@pytest.mark.parametrize("top_level, builds_again", [
    (frozenset({"wsgi.py", "shop/"}), True),  # Poetry's package mode finds shop/ now: the project is installed too
    (frozenset({"wsgi.py", "static/"}), False),  # still no package shop
], ids=["gains-its-package", "gains-another-directory"])
def test_a_poetry_project_that_gains_its_package_builds_again(top_level, builds_again):
    files = ("poetry.lock", "pyproject.toml")
    plans = [
        build(project=make_project(dependency_files=files, pyproject=POETRY_NO_PACKAGE_DIR, top_level=top_level),
              digests={name: "x" for name in files})
        for top_level in (frozenset({"wsgi.py"}), top_level)
    ]
    assert (plans[0].fingerprint != plans[1].fingerprint) is builds_again


REQUIREMENTS_TREE = {"requirements.txt": "-r base.txt\nflask\n", "base.txt": "django\n", "dev.txt": "pytest\n"}
UV_TREE = {"uv.lock": "version = 1\n", "pyproject.toml": "[project]\n", "poetry.lock": "# poetry\n", "Pipfile.lock": "{}\n"}
POETRY_TREE = {"poetry.lock": "# poetry\n", "pyproject.toml": "[project]\n", "Pipfile.lock": "{}\n"}
FOLLOWS_FILES = [
    # (how the dependencies are installed, the project's dependency files, the one edited, whether the fingerprint changes)
    ("requirements", REQUIREMENTS_TREE, "requirements.txt", True),
    ("requirements", REQUIREMENTS_TREE, "base.txt", True),  # included by a -r line
    ("requirements", REQUIREMENTS_TREE, "dev.txt", False),  # beside it, included by nothing
    ("uv.lock", UV_TREE, "uv.lock", True),
    ("uv.lock", UV_TREE, "pyproject.toml", True),
    ("uv.lock", UV_TREE, "poetry.lock", False),  # a lock that uv.lock comes before
    ("uv.lock", UV_TREE, "Pipfile.lock", False),
    ("poetry.lock", POETRY_TREE, "poetry.lock", True),
    ("poetry.lock", POETRY_TREE, "Pipfile.lock", False),
]


def scan_tree_fingerprint(root: Path, names) -> str:
    """The fingerprint of a project whose dependency files are ``names`` in ``root``, read as a build reads them."""
    project = make_project(root=root, dependency_files=tuple(names), pyproject=APP)
    inputs, _, _ = find_dependency_inputs(project, make_settings())
    return build(project=project, digests=scan_digests(root, inputs)).fingerprint


@pytest.mark.parametrize("how, files, edited, changes", FOLLOWS_FILES, ids=[f"{row[0]}-{row[2]}" for row in FOLLOWS_FILES])
def test_fingerprint_follows_the_content_of_the_dependency_inputs_alone(tmp_path, how, files, edited, changes):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert find_dependency_inputs(make_project(dependency_files=tuple(files), pyproject=APP), make_settings())[1] == how
    before = scan_tree_fingerprint(tmp_path, files)
    (tmp_path / edited).write_text(files[edited])  # the same content again, a new mtime
    os.utime(tmp_path / edited, ns=(1_000_000_000, 1_000_000_000))
    assert scan_tree_fingerprint(tmp_path, files) == before
    (tmp_path / edited).write_text(files[edited] + "requests\n")
    assert (scan_tree_fingerprint(tmp_path, files) != before) is changes


INI_WAITRESS = PasteServer("egg:waitress#main", "localhost:6543", "localhost", 6543)
PASTE_SERVER_NOTES = [
    # (server, flags, [server:main], decision value, because, warning)
    ("gunicorn", {}, INI_WAITRESS, "egg:waitress#main on localhost:6543, not used",
     "warp runs gunicorn on 127.0.0.1:8080 itself (the server, host and port above), not production.ini's [server:main]; "
     "to follow it pass --port 6543 (or set PORT=6543) and --server waitress",
     "production.ini's [server:main] (egg:waitress#main on localhost:6543) is not used: warp runs gunicorn on 127.0.0.1:8080; "
     "to follow it pass --port 6543 (or set PORT=6543) and --server waitress"),
    ("waitress", {"port": "6543"}, INI_WAITRESS, "egg:waitress#main on localhost:6543, not used",
     "warp runs waitress on 127.0.0.1:6543 itself (the server, host and port above), not production.ini's [server:main]", None),
    ("uwsgi", {"port": "5000"}, PasteServer("egg:Paste#http", "0.0.0.0:5000", "0.0.0.0", 5000), "egg:Paste#http on 0.0.0.0:5000, not used",
     "warp runs uwsgi on 127.0.0.1:5000 itself (the server, host and port above), not production.ini's [server:main]; "
     "to follow it pass --host 0.0.0.0",
     "production.ini's [server:main] (egg:Paste#http on 0.0.0.0:5000) is not used: warp runs uwsgi on 127.0.0.1:5000; "
     "to follow it pass --host 0.0.0.0"),
    ("gunicorn", {"host": "::1"}, PasteServer("egg:gunicorn#main", "*:%(port)s", "*", None), "egg:gunicorn#main on *:%(port)s, not used",
     "warp runs gunicorn on [::1]:8080 itself (the server, host and port above), not production.ini's [server:main]; "
     "to follow it pass --host 0.0.0.0",
     "production.ini's [server:main] (egg:gunicorn#main on *:%(port)s) is not used: warp runs gunicorn on [::1]:8080; "
     "to follow it pass --host 0.0.0.0"),
    ("gunicorn", {}, PasteServer("call:waitress:serve_paste"), "call:waitress:serve_paste, not used",
     "warp runs gunicorn on 127.0.0.1:8080 itself (the server, host and port above), not production.ini's [server:main]; "
     "to follow it pass --server waitress",
     "production.ini's [server:main] (call:waitress:serve_paste) is not used: warp runs gunicorn on 127.0.0.1:8080; "
     "to follow it pass --server waitress"),
    ("uwsgi", {"socket": "/run/u.sock"}, INI_WAITRESS, "egg:waitress#main on localhost:6543, not used",
     "warp runs uwsgi on unix:/run/u.sock itself (the server, host and port above), not production.ini's [server:main]; "
     "to follow it pass --server waitress",
     "production.ini's [server:main] (egg:waitress#main on localhost:6543) is not used: warp runs uwsgi on unix:/run/u.sock; "
     "to follow it pass --server waitress"),
]


@pytest.mark.parametrize("server, flags, paste, value, because, warning", PASTE_SERVER_NOTES)
def test_a_paste_ini_server_section_is_named_with_what_runs_instead(server, flags, paste, value, because, warning):
    plan = start(server, PASTE, flags=flags, mode=Mode("paste", "production.ini is present", PASTE))
    noted = make_plan_with_paste_server(plan, paste)
    names = [d.name for d in noted.decisions]
    assert [name for name in names if name != "paste server"] == [d.name for d in plan.decisions]
    assert names[names.index("paste server") - 1] == "application"
    decision = noted.decisions[names.index("paste server")]
    assert (decision.value, decision.because) == (value, because)
    assert noted.warnings == ((warning,) if warning else ())
    assert (noted.argv, noted.host, noted.port) == (plan.argv, plan.host, plan.port)


def test_a_paste_ini_without_a_server_section_changes_nothing():
    plan = start("gunicorn", PASTE, mode=Mode("paste", "production.ini is present", PASTE))
    assert make_plan_with_paste_server(plan, None) == plan


def test_a_paste_ini_outside_the_app_home_is_named_by_its_path():
    ini = Path("/etc/app/prod.ini")
    target = Target("paste", ini=ini)
    plan = make_plan_with_paste_server(start("gunicorn", target, mode=Mode("paste", "from --app", target)), INI_WAITRESS)
    assert plan.warnings[0].startswith("/etc/app/prod.ini's [server:main] (egg:waitress#main on localhost:6543) is not used")


def test_plan_start_decides_everything_from_the_facts_with_no_patching_after():
    from warp.plan import plan_start

    plan = plan_start(make_facts())
    decisions = {d.name: (d.value, d.because) for d in plan.decisions}
    assert decisions["mode"] == ("wsgi", "wsgi.py defines application")
    assert decisions["server"][0] == "gunicorn" and plan.warnings == ()
    both = plan_start(make_facts(app=make_app(app_py=True, wsgi_py=True, wsgi_py_has_application=True)))
    assert both.mode == "python" and both.warnings == (
        f"more than one entry point in {ROOT}: using app.py (python mode), not wsgi.py; pass --mode or --app to choose",)


def test_plan_start_takes_django_static_files_from_the_build_record_or_what_reload_read():
    from warp.plan import plan_start

    app = make_app(manage_py=True, django_settings="mysite.settings")
    record = {"django": {"wsgi_application": "mysite.wsgi.application", "static_url": "/static/", "static_root": "/srv/collected"}}
    built = plan_start(make_facts(app=app, record=record))
    assert (built.static_url, built.static_root, built.target.spec) == ("/static/", Path("/srv/collected"), "mysite.wsgi:application")
    reloaded = plan_start(make_facts(app=app, record=record, django={"static_url": "/assets/", "static_root": None}))
    assert (reloaded.static_url, reloaded.static_root) == ("/assets/", ENV / ".warp" / "static")  # the env's, as collectstatic chose


def test_plan_start_names_a_paste_inis_own_server_it_does_not_run():
    from warp.config.project import PasteServer
    from warp.plan import plan_start

    app = make_app(paste_file="production.ini")
    plan = plan_start(make_facts(app=app, paste_server=PasteServer(use="egg:waitress#main", address="0.0.0.0:6543", host="0.0.0.0", port=6543)))
    assert "paste server" in {d.name for d in plan.decisions}
    assert any("--port 6543" in warning for warning in plan.warnings)
