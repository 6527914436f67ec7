"""mod_wsgi-express: Apache in the foreground; compiled against apxs; embedded mode under --reload."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import stat
from pathlib import Path
from typing import Mapping

from warp import proc
from warp.errors import EnvError, StepFailed, UsageError
from warp.servers.base import HASHED_STATIC_NAME, IMMUTABLE_CACHE_CONTROL, SHORT_CACHE_CONTROL, Adapter, Launch, ServerCommand, Stop
from warp.servers.wrapper import WRAPPER_MODULE, make_loading, make_wrapper_source

#: Accounts Apache may serve as when warp runs as root, first found wins (WARP_APACHE_USER chooses).
APACHE_USERS = ("www-data", "apache", "daemon", "nobody")
APACHE_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/opt/homebrew/bin", "/usr/local/bin")
APXS_HINT = (
    "install Apache's development files: apt-get install apache2-dev apache2-bin (Debian/Ubuntu), "
    "dnf install httpd-devel (RHEL/Fedora), brew install httpd (macOS)"
)


class ModWsgi(Adapter):
    name = "mod_wsgi"
    aliases = ("modwsgi", "mod-wsgi")
    packages = ("mod-wsgi",)
    requirement_names = ("mod-wsgi", "mod_wsgi")
    takes_socket = False
    preferred_when_installed = True
    reloads_in_place = True
    image_build_packages = ("gcc", "libc6-dev", "apache2-dev")
    image_run_packages = ("apache2-bin",)
    static_server = "Apache (--url-alias)"
    compiled_as = "mod_wsgi"
    compile_seconds = 15
    build_variables = ("APXS", "MOD_WSGI_", "LD_RUN_PATH")

    def make_command(self, launch: Launch) -> ServerCommand:
        target = launch.target
        # Apache's daemon sockets live in the server root, so it must have a short path.
        server_root = launch.runtime_dir / f"mod_wsgi-{launch.port}"
        setup = [str(launch.bin / "mod_wsgi-express"), "setup-server"]
        files = {}
        python_path = list(launch.python_path)
        # The app is loaded by warp's module (which tells warp when it cannot be, and under --reload when it is).
        loading = make_loading(launch, self.name, static_in_argv=True)  # the static files are mapped below, never by WhiteNoise
        files[launch.run_dir / f"{WRAPPER_MODULE}.py"] = make_wrapper_source(target, loading, signal_ready=launch.reload)
        python_path.insert(0, launch.run_dir)
        if launch.reload:
            # Development: the app runs in Apache's own children (embedded mode), so a SIGHUP restart
            # loads the new code at once, while Apache keeps its listening socket (requests wait, none are refused).
            setup.append("--embedded-mode")
        setup += ["--application-type", "module", "--entry-point", WRAPPER_MODULE, "--callable-object", "application"]
        capacity = launch.processes * launch.threads
        setup += [
            "--server-root", str(server_root),
            "--host", launch.host,
            "--port", str(launch.port),
            "--processes", str(launch.processes),
            "--threads", str(launch.threads),
            "--max-clients", str(max(100, 4 * capacity)),
            "--working-directory", str(launch.home),
            "--log-to-terminal",
            "--access-log",
            "--locale", "C.UTF-8",
            "--shutdown-timeout", str(min(launch.graceful_timeout, 30)),
        ]
        for path in python_path:
            setup += ["--python-path", str(path)]
        if not launch.reload:
            # The worker MPM, every Apache child started at once and none retired for being idle: the event
            # MPM closes keep-alive connections when a child is over its connection limit, and a retired child
            # closes its own; clients see both as reset requests (docs/benchmarks.md). Apache only proxies to
            # the daemon processes here, so a thread per connection costs little.
            setup += ["--server-mpm", "worker", "--initial-workers", "1.0", "--maximum-spare-workers", "1.0"]
        if target.should_serve_static:
            conf = launch.run_dir / "apache-static.conf"
            files[conf] = make_static_conf(target.static_url, target.static_root)
            setup += ["--url-alias", target.static_url.rstrip("/") or "/", str(target.static_root), "--include-file", str(conf)]
        if launch.run_user:
            setup += ["--user", launch.run_user[0], "--group", launch.run_user[1]]
        setup += list(launch.extra_args)
        return ServerCommand(
            argv=(str(server_root / "apachectl"), "start", "-DFOREGROUND"),
            prepare=(tuple(setup),),
            # Apache's SIGTERM aborts requests in flight; SIGWINCH is its graceful stop.
            # Apache's own graceful restart (SIGUSR1 to it) cuts off the requests inside the daemon processes.
            stop=Stop("signal", signal="SIGWINCH", timeout=launch.graceful_timeout, reload="SIGUSR1", reload_processes="(wsgi:"),
            files=files,
            server_root=server_root,
        )

    def check_build(self, environ: Mapping[str, str]) -> None:
        if not (shutil.which("apxs") or shutil.which("apxs2") or environ.get("MOD_WSGI_APXS")):
            raise StepFailed("mod_wsgi needs Apache's apxs tool to build, and it was not found", hint=APXS_HINT)

    def scan_build_facts(self, environ: Mapping[str, str]) -> dict:
        """The apxs mod_wsgi's setup.py will find, and the Apache it belongs to (its release header)."""
        apxs = find_apxs(environ)
        facts = {"apxs": apxs, "apxs_sha256": _hash_file(Path(apxs)) if apxs else None, "apache": None}
        include = proc.run_probe([apxs, "-q", "INCLUDEDIR"]) if apxs else None
        if include and include.strip():
            facts["apache"] = _hash_file(Path(include.strip()) / "ap_release.h")
        return facts

    def find_run_user(self, environ: Mapping[str, str], euid: int) -> tuple[str, str] | None:
        if euid != 0:
            return None
        wanted = environ.get("WARP_APACHE_USER", "").strip()
        for name in (wanted,) if wanted else APACHE_USERS:
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return name, grp.getgrgid(entry.pw_gid).gr_name
        raise UsageError(
            "Apache refuses to run as root and no unprivileged account was found (www-data, apache, daemon, nobody)",
            hint="set WARP_APACHE_USER to an account that may read the env and the project, or run warp as that user",
        )

    def check_start(self, plan, readable: list[Path], report) -> None:
        if not any(Path(directory, name).exists() for directory in APACHE_DIRS for name in ("apache2", "httpd")):
            raise StepFailed(
                "mod_wsgi needs the Apache web server binary (apache2 or httpd), and it was not found",
                hint="install it: apt-get install apache2-bin (Debian/Ubuntu), dnf install httpd (RHEL/Fedora), brew install httpd (macOS)",
            )
        if plan.run_user is None:
            return
        user = plan.run_user[0]
        report(f" -----> Running as root: Apache will serve the app as user {user}")
        unreadable = find_unreadable(readable, user)
        if unreadable:
            raise EnvError(
                f"Apache runs the app as {user} (it refuses to run as root), and {user} cannot read {unreadable[0]}",
                hint=(
                    f"use an interpreter and directories {user} can read, e.g. WARP_HOME=/srv/warp and "
                    f"`warp activate --python /usr/bin/python3` with the project outside /root; or run warp as a normal user"
                ),
            )

    def reload_in_place(self, pid: int) -> bool:
        """SIGHUP: Apache rereads its configuration and starts new children, keeping its socket.

        Apache would first signal its children and wait for them in growing naps (16, 64, 256 ms...);
        one that takes 80 ms to finalize Python costs the whole 256 ms. They are being discarded
        anyway, so warp kills them first and Apache finds them gone at its first look.
        """
        for child in proc.find_descendants(pid):  # embedded mode: Apache's children are all the app's
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            return False
        return True


def _hash_file(path: Path) -> str | None:
    import hashlib  # only when building: every command imports this module through the registry

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def find_apxs(environ: Mapping[str, str]) -> str | None:
    """The apxs that mod_wsgi's setup.py uses: $APXS, else the first of mod_wsgi-apxs, apxs2, apxs on PATH or in /usr/sbin."""
    wanted = environ.get("APXS")
    if wanted and os.path.isabs(wanted):
        return os.path.realpath(wanted)
    dirs = environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin"]
    for name in [wanted] if wanted else ["mod_wsgi-apxs", "apxs2", "apxs"]:
        for directory in dirs:
            if directory and os.path.exists(os.path.join(directory, name)):
                return os.path.realpath(os.path.join(directory, name))
    return None


def make_static_conf(url: str, root: Path) -> str:
    """Apache directives for the directory --url-alias serves: precompressed copies, Cache-Control, Vary.

    mod_rewrite (loaded by mod_wsgi-express) answers with FILE.br, else FILE.gz, when the client accepts it and
    collectstatic wrote one; mod_mime then keeps the type of FILE and sends the copy's Content-Encoding.
    mod_headers sets Cache-Control, immutable for a hashed name or its copy.
    """
    hashed_or_copy = HASHED_STATIC_NAME.removesuffix("$") + r"(\.gz|\.br)?$"
    lines = [
        "# Generated by warp for each start; do not edit.",
        f"<Directory '{root}'>",
        "    RemoveType .gz .br",
        "    AddEncoding gzip .gz",
        "    AddEncoding br .br",
        "    RewriteEngine On",
        f"    RewriteBase {url.rstrip('/')}/",
    ]
    for suffix, coding in ((".br", "br"), (".gz", "gzip")):
        lines += [
            rf"    RewriteCond %{{HTTP:Accept-Encoding}} \b{coding}\b",
            f"    RewriteCond %{{REQUEST_FILENAME}}{suffix} -f",
            f"    RewriteRule ^(.+)$ $1{suffix} [L]",
        ]
    lines += [
        "    Header merge Vary Accept-Encoding",
        f'    Header set Cache-Control "{SHORT_CACHE_CONTROL}"',
        f'    <FilesMatch "{hashed_or_copy}">',
        f'        Header set Cache-Control "{IMMUTABLE_CACHE_CONTROL}"',
        "    </FilesMatch>",
        "</Directory>",
    ]
    return "\n".join(lines) + "\n"


def find_unreadable(paths: list[Path], user: str) -> list[Path]:
    """Paths that ``user`` cannot reach and read, judged from permission bits."""
    entry = pwd.getpwnam(user)
    groups = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    bad = []
    for path in paths:
        chain = [path, *path.parents]
        for index, item in enumerate(chain):
            try:
                info = item.stat()
            except OSError:
                bad.append(item)
                break
            need = stat.S_IXOTH if index else (stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(info.st_mode) else 0))
            if info.st_uid == entry.pw_uid:
                need <<= 6
            elif info.st_gid in groups:
                need <<= 3
            if info.st_mode & need != need:
                bad.append(item)
                break
    return bad
