"""The parked process of `warp start --reload`: the server and the app's dependencies imported once, forked per reload.

It imports the server and the installed modules (site-packages and the standard
library) that the app's own processes loaded, as they report them in
--modules, and nothing of the project's own code. On each `fork` request from
warp it forks a child that runs the server's command as a new interpreter would
(same argv, working directory and environment) and imports the project afresh.

A module is parked only when importing it, in a throwaway fork first,
raised nothing and left the process as clean as it was: no module from outside
the installed and standard directories (the project's settings, models or
blueprints, through a third-party import), no thread, no socket, Django's
settings not configured and its app registry empty. Those are imported by each
child instead.

With --django (a Django project, DJANGO_SETTINGS_MODULE in the environment) it
first runs django.setup(), checked in a throwaway fork like a module: then the
project's settings, app configs, models and whatever else the setup imports are
parked too, and so are the installed modules that need the app registry. Every
file of the project it read on the way (imported or opened) and every listing of
a project directory it looked at is noted; a fork is refused while any of them
differs on disk (`refused project FILE ...`), and warp starts anew. The URLconf,
views and templates are not read by the setup; an installed module whose import
would import a project module is left to the children, and one that only opens a
project file is parked, with that file noted like the rest.

Protocol, one line each way: warp writes `fork JSON` ({"argv", "cwd", "environ"})
or `stop` to --control; this process writes `ready JSON`, `started PID`,
`refused REASON` (`refused stale FILE ...` when a parked module's file changed
on disk, `refused project FILE ...` when a project file the setup read did),
`exited PID CODE` and `learned N` to --answer.
Standard library only.
"""

import argparse
import importlib
import importlib.machinery
import json
import hashlib
import os
import runpy
import select
import signal
import sys
import sysconfig
import threading
import time
import traceback
from importlib import import_module

from _common import exit_with_parent, write_json  # hooks/ is this script's directory, first on sys.path

#: Seconds a throwaway fork may take to import a list; a module that hangs is left to the children.
IMPORT_TIMEOUT = 30.0
#: How often the reported module list is looked at for news, in seconds.
LEARN_EVERY = 0.5
#: Packages whose import changes the interpreter for everything imported after it: never parked.
NEVER = ("gevent", "eventlet", "greenlet", "__main__", "__mp_main__", "warp_wsgi", "warp_asgi")
#: The endings of a file an import can find (.py, .pyc, extension modules).
IMPORTABLE = tuple(importlib.machinery.all_suffixes())


def installed_roots(source_roots):
    """The directories a parked module may come from: the standard library and site-packages."""
    paths = sysconfig.get_paths()
    roots = {os.path.realpath(paths[key]) + os.sep for key in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(key)}
    return tuple(roots), tuple(os.path.realpath(root) + os.sep for root in source_roots)


class Cleanliness:
    """Tells whether what was imported left the process as safe to fork as it was."""

    def __init__(self, roots, project_roots, own_files):
        self.roots, self.project_roots, self.own_files = roots, project_roots, set(own_files)
        self.sockets = count_sockets()
        #: Modules found clean, first those the interpreter loaded before this script ran (site, a distribution's
        #: sitecustomize), which every child has too.
        self.checked = set(sys.modules)
        #: Django's settings and app registry are the parked process's own (set up on purpose, --django).
        self.django_ready = False

    def allow_current(self):
        """What is imported now is clean by decision (what django.setup() imported, the project's included)."""
        self.checked.update(sys.modules)

    def is_installed_file(self, path):
        path = os.path.realpath(path)
        return path.startswith(self.roots) and not path.startswith(self.project_roots)

    def find_dirt(self):
        """Why the process is no longer safe to fork, or None."""
        for name, module in list(sys.modules.items()):
            if name in self.checked:
                continue
            where = getattr(module, "__file__", None)
            if where and os.path.realpath(where) not in self.own_files and not self.is_installed_file(where):
                return f"it imported {name} from {where}"
            for path in list(getattr(module, "__path__", None) or ()):
                if isinstance(path, str) and not self.is_installed_file(path + os.sep):
                    return f"it imported the package {name} from {path}"
            self.checked.add(name)
        if threading.active_count() > 1 or count_threads() > 1:
            return "it started a thread"
        if count_sockets() > self.sockets:
            return "it opened a socket"
        if self.django_ready:
            return find_open_database()
        conf = sys.modules.get("django.conf")
        if conf is not None and getattr(conf, "settings", None) is not None and conf.settings.configured:
            return "it read Django's settings"
        apps = sys.modules.get("django.apps")
        if apps is not None and (apps.apps.apps_ready or apps.apps.loading):
            return "it filled Django's app registry"
        return None


def find_open_database():
    """Why a database connection Django opened may not be shared by forks, or None."""
    db = sys.modules.get("django.db")
    if db is None:
        return None
    try:
        wrappers = db.connections.all(initialized_only=True)
    except TypeError:  # Django before 4.1
        wrappers = db.connections.all()
    for wrapper in wrappers:
        if getattr(wrapper, "connection", None) is not None:
            return f"it opened the database connection {wrapper.alias!r}"
    return None


class ProjectFiles:
    """The project's files this process read and the listings of its directories it looked at, from audit events.

    A fork is safe while each is as it was: the same content (or still absent), the same importable names; a
    settings file replaced by one of the same size and mtime (a release unpacked with `tar --mtime`) is a change.
    Files written (a log file) and bytecode caches are not reading the project.
    """

    def __init__(self, project_roots):
        self.roots = project_roots
        self.files = {}  # path -> its content's digest, or None: it was looked for and absent
        self.listings = {}  # directory -> its importable names
        self.recording = False

    def hear(self, event, args):
        if not self.recording or event not in ("open", "os.listdir", "os.scandir"):
            return
        path = args[0] if args else None
        if event != "open":
            path = "." if path is None else path
        elif len(args) > 2 and isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR):
            return
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return  # a descriptor
        path = os.path.realpath(path)
        if not (path + os.sep).startswith(self.roots) or "__pycache__" in path:
            return
        self.recording = False  # listing a directory is an audit event too
        try:
            if event == "open":
                if path not in self.files:
                    self.files[path] = digest_file(path)
            elif path not in self.listings:
                self.listings[path] = list_importable(path)
        finally:
            self.recording = True

    def note_modules(self, modules):
        """The project's modules among ``modules``: an import from a valid .pyc opens only the .pyc, which is not noted."""
        for module in modules:
            path = getattr(module, "__file__", None)
            if isinstance(path, str):
                path = os.path.realpath(path)
                if (path + os.sep).startswith(self.roots) and path not in self.files:
                    self.files[path] = digest_file(path)

    def find_changed(self):
        """A file or directory of the project that differs from what this process read, or None."""
        for path, seen in self.files.items():
            if digest_file(path) != seen:
                return path
        for path, seen in self.listings.items():
            if list_importable(path) != seen:
                return path + os.sep
        return None


def digest_file(path):
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def list_importable(path):
    """The names in ``path`` an import could find: modules and packages, not an editor's temporary files."""
    try:
        names = os.listdir(path)
    except OSError:
        return None
    return sorted(
        n for n in names
        if n.partition(".")[0].isidentifier() and (n.endswith(IMPORTABLE) or os.path.exists(os.path.join(path, n, "__init__.py")))
    )


def count_threads():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 1


def count_sockets():
    count = 0
    try:
        for fd in os.listdir("/proc/self/fd"):
            try:
                count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
            except OSError:
                pass
    except OSError:
        pass
    return count


def is_wanted(name):
    return not any(name == top or name.startswith(top + ".") for top in NEVER)


class Parked:
    def __init__(self, args):
        self.args = args
        self.control = os.fdopen(args.control, "rb", buffering=0)
        self.answer = args.answer
        roots, project_roots = installed_roots(args.source)
        here = os.path.realpath(__file__)
        self.clean = Cleanliness(roots, project_roots, [here])
        self.project = ProjectFiles(project_roots)
        sys.addaudithook(self.project.hear)
        #: The settings module Django was set up with here, or None and why not (--django).
        self.django = self.django_why = None
        #: The environment warp started this process with: what parked imports and django.setup() changed in it since
        #: (TZ, from TIME_ZONE) is changed in each child too, as a new interpreter's imports would.
        self.environ = dict(os.environ)
        #: name -> why it is left to the children, kept for the next session (a module that became clean since is only
        #: not parked; one that became unsafe is still found, since clean ones are always tried).
        self.unsafe_file = args.modules + ".unsafe"
        self.unsafe = read_json(self.unsafe_file, {})
        self.files = {}  # parked file -> its (size, mtime) when imported
        self.seen_modules = None  # (mtime, size) of --modules last read
        self.children = set()
        self.buffer = b""
        #: Descriptors of a throwaway fork in progress, closed in a server forked meanwhile.
        self.transient = set()
        self.chld_read, self.chld_write = os.pipe()
        os.set_blocking(self.chld_read, False)
        os.set_blocking(self.chld_write, False)
        signal.set_wakeup_fd(self.chld_write)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C is warp's to handle

    def say(self, line):
        os.write(self.answer, (line + "\n").encode())

    # ---------------------------------------------------------------- parking modules

    def park(self, names):
        """Import, in order, each of ``names`` that a throwaway fork imported cleanly; the count of modules added.

        A fork imports the list in order until an import raises or leaves dirt; this process then imports
        the ones before it (the fork's state, reproduced), leaves that one to the children, and goes on after it.
        """
        before, unsafe_before = len(sys.modules), len(self.unsafe)
        todo = [n for n in dict.fromkeys(names) if is_wanted(n) and n not in self.unsafe]
        while todo:
            todo = [n for n in todo if n not in sys.modules]
            if not todo:
                break
            clean, bad, why = self.try_in_fork(todo)
            for name in clean:
                self.hear_if_any()
                try:
                    import_module(name)
                except BaseException as exc:  # noqa: BLE001  (the fork imported it: this process is not what it seemed)
                    self.say(f"broken importing {name} failed here but not in a fork: {exc!r}")
                    os._exit(1)
            dirt = self.clean.find_dirt()
            if dirt:
                self.say(f"broken {dirt}, here but not in a fork")
                os._exit(1)
            self.note_files()
            if bad is None:
                break
            self.unsafe[bad] = why
            todo = todo[todo.index(bad) + 1:]
        if len(self.unsafe) != unsafe_before:
            write_json(self.unsafe_file, self.unsafe)
        return len(sys.modules) - before

    def note_files(self):
        for module in list(sys.modules.values()):
            where = getattr(module, "__file__", None)
            if where and where not in self.files:
                try:
                    info = os.stat(where)
                except OSError:
                    continue
                self.files[where] = (info.st_size, info.st_mtime_ns)

    def find_changed(self):
        """A parked module's file that changed on disk since it was imported (someone edits a library), or None."""
        for where, seen in self.files.items():
            try:
                info = os.stat(where)
            except OSError:
                return where
            if (info.st_size, info.st_mtime_ns) != seen:
                return where
        return None

    def try_in_fork(self, todo):
        """(clean, bad, why): importing ``todo`` in order in a throwaway fork, ``clean`` went well, then ``bad`` did not."""

        def work(out):
            for name in todo:
                if name in sys.modules:  # imported by one before it, which was clean
                    out.write(f"ok {name}\n")
                    continue
                try:
                    import_module(name)
                except BaseException as exc:  # noqa: BLE001  (any failure leaves the module to the children)
                    out.write(f"bad {name} its import raised {type(exc).__name__}\n")
                    break
                dirt = self.clean.find_dirt()
                if dirt:
                    out.write(f"bad {name} {dirt}\n")
                    break
                out.write(f"ok {name}\n")

        data = self.run_in_fork(work)
        lines = data.decode("utf-8", "replace").splitlines()
        clean = [line[3:] for line in lines if line.startswith("ok ")]
        bad = next((line for line in lines if line.startswith("bad ")), None)
        if bad is not None:
            _, name, why = bad.split(" ", 2)
            return clean, name, why
        rest = [n for n in todo if n not in clean and n not in sys.modules]
        if data.endswith(b"\n") and not rest:
            return clean, None, None
        # It ended (or hung) during the import after the last clean one, which may have imported some of the rest.
        return clean, rest[0] if rest else None, "its import did not finish"

    def run_in_fork(self, work):
        """What ``work(out)`` wrote to ``out`` in a throwaway fork (cut short after IMPORT_TIMEOUT); warp is heard meanwhile."""
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)  # what an import prints is the children's to print
                os.dup2(devnull, 2)
                work(os.fdopen(write, "w", buffering=1))
            finally:
                os._exit(0)
        os.close(write)
        self.transient.add(read)
        data, deadline = b"", time.monotonic() + IMPORT_TIMEOUT
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([read, self.control], [], [], 0.5)
                if self.control in ready:
                    self.hear()
                if read in ready:
                    chunk = os.read(read, 65536)
                    if not chunk:
                        break
                    data += chunk
            else:
                os.kill(pid, signal.SIGKILL)
        finally:
            self.transient.discard(read)
            os.close(read)
            os.waitpid(pid, 0)
        return data

    def set_up_django(self):
        """Run django.setup() here if it does in a throwaway fork and leaves nothing that forks cannot share.

        When it does not, the children set Django up themselves, as without --django, and ``django_why`` says why.
        """
        settings_module = os.environ.get("DJANGO_SETTINGS_MODULE")
        if not settings_module:
            self.django_why = "DJANGO_SETTINGS_MODULE is not set"
            return

        def work(out):
            try:
                import django

                django.setup()
            except BaseException as exc:  # noqa: BLE001  (the children set Django up, and show what it raises)
                out.write(f"bad django.setup() raised {type(exc).__name__}\n")
                return
            self.clean.django_ready = True
            self.clean.allow_current()
            dirt = self.clean.find_dirt()
            out.write(f"bad {dirt}\n" if dirt else "ok\n")

        answer = self.run_in_fork(work).decode("utf-8", "replace").strip()
        if answer != "ok":
            self.django_why = answer[len("bad "):] if answer.startswith("bad ") else "django.setup() did not finish"
            return
        self.project.recording = True
        importlib.invalidate_caches()  # each directory the setup searches is listed again, and noted
        import django

        try:
            django.setup()
        except BaseException as exc:  # noqa: BLE001  (the fork set it up: this process is not what it seemed)
            self.say(f"broken django.setup() failed here but not in a fork: {exc!r}")
            os._exit(1)
        self.clean.django_ready = True
        self.clean.allow_current()
        self.project.note_modules(list(sys.modules.values()))
        self.note_files()
        self.django = settings_module
        self.unsafe_file = self.args.modules + ".unsafe-django"
        self.unsafe = read_json(self.unsafe_file, {})

    def learn(self):
        """Park what the app's processes reported since the last look."""
        try:
            info = os.stat(self.args.modules)
        except OSError:
            return
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp == self.seen_modules:
            return
        self.seen_modules = stamp
        try:
            with open(self.args.modules) as handle:
                names = json.load(handle)
        except (OSError, ValueError):
            return
        if isinstance(names, list) and self.park([n for n in names if isinstance(n, str)]):
            self.say(f"learned {len(sys.modules)}")

    # ---------------------------------------------------------------- serving warp

    def run(self):
        self.park(self.args.imports)
        if self.args.django:
            self.set_up_django()
        self.learn()
        self.say("ready " + json.dumps({"modules": len(sys.modules), "paths": sysconfig.get_paths(), "unsafe": len(self.unsafe),
                                        "django": self.django, "django_why": self.django_why, "project_files": len(self.project.files)}))
        while True:
            ready, _, _ = select.select([self.control, self.chld_read], [], [], LEARN_EVERY)
            self.reap()
            if self.control in ready:
                self.hear()
            if not ready:
                self.learn()

    def hear(self):
        """Act on what warp wrote: fork a server for each request; exit on `stop` or once warp is gone."""
        chunk = os.read(self.control.fileno(), 65536)
        if not chunk:
            sys.exit(0)  # warp is gone
        self.buffer += chunk
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line == b"stop":
                sys.exit(0)
            if line.startswith(b"fork "):
                self.fork(json.loads(line[5:]))

    def hear_if_any(self):
        """While parking: a fork asked for is served between two imports, not after the whole list."""
        if select.select([self.control], [], [], 0)[0]:
            self.hear()

    def reap(self):
        try:
            while os.read(self.chld_read, 4096):
                pass
        except BlockingIOError:
            pass
        for child in list(self.children):  # the servers only: a throwaway fork is waited for where it was made
            try:
                pid, status = os.waitpid(child, os.WNOHANG)
            except ChildProcessError:
                self.children.discard(child)
                continue
            if pid:
                self.children.discard(pid)
                self.say(f"exited {pid} {os.waitstatus_to_exitcode(status)}")

    def fork(self, request):
        script, arguments = find_script(request["argv"])
        if script is None:
            self.say(f"refused {arguments}")
            return
        for word, find, since in (("project", self.project.find_changed, "the parked process read it"), ("stale", self.find_changed, "it was parked")):
            changed = find()
            if changed:
                self.say(f"refused {word} {changed} changed since {since}")
                return
        environ = dict(request["environ"])
        if any(environ.get(key) != self.environ.get(key) for key in set(environ) | set(self.environ) if key not in WARP_OWN):
            self.say("refused the environment differs from the parked process's")
            return
        sys.stdout.flush()
        sys.stderr.flush()
        signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGCHLD, signal.SIGTERM))
        try:
            parked = os.getpid()
            pid = os.fork()
            if pid == 0:
                self.become(script, arguments, request["cwd"], environ, parked)
            try:
                os.setpgid(pid, pid)  # as the child does: a signal warp sends at once reaches it either way
            except OSError:
                pass
            self.children.add(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGCHLD, signal.SIGTERM))
        self.say(f"started {pid}")

    def become(self, script, arguments, cwd, environ, parked):
        """In the child: run ``script`` as `python script arguments...` would, then exit; never return.

        It exits with ``parked``, this process, as warp's own children do with warp."""
        code = 1
        try:
            os.setpgid(0, 0)  # a process group of its own, as warp's other children (warp stops it by group)
            exit_with_parent(parked)
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGCHLD, signal.SIGTERM))
            for fd in (self.control.fileno(), self.answer, self.chld_read, self.chld_write, *self.transient):
                os.close(fd)
            self.project.recording = False
            importlib.invalidate_caches()  # a project file added since the parked process listed its directory is found
            os.chdir(cwd)
            changed = {key: os.environ.get(key) for key in {*os.environ, *self.environ} if os.environ.get(key) != self.environ.get(key)}
            os.environ.clear()
            os.environ.update(environ)
            for key, value in changed.items():  # what the parked imports changed, as they would in a new interpreter
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            if self.django:
                forget_django_caches()
            sys.argv = [script, *arguments]
            sys.path[0] = os.path.dirname(os.path.realpath(script))
            reseed()
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if not isinstance(exc.code, (int, type(None))):
                sys.stderr.write(f"{exc.code}\n")
        except KeyboardInterrupt:
            code = 128 + signal.SIGINT
        except BaseException:  # noqa: BLE001  (the child must never return into the parked loop)
            traceback.print_exc()
        finally:
            try:
                finish_as_at_exit()
            finally:
                os._exit(code)


def forget_django_caches():
    """What Django builds from the project's files on first use, built anew by each server should the parked process have.

    Neither the setup nor a parked module builds them as far as seen (a module that would import the URLconf is left
    to the children); this keeps it so for a dependency that asks for a template engine when imported.
    """
    template = sys.modules.get("django.template")
    if template is not None:
        template.engines._engines = {}  # noqa: SLF001  (EngineHandler's own cache)
        vars(template.engines).pop("templates", None)
    utils = sys.modules.get("django.template.utils")
    if utils is not None:
        utils.get_app_template_dirs.cache_clear()
    urls = sys.modules.get("django.urls")
    if urls is not None:
        urls.clear_url_caches()


def reseed():
    """New random state where a parked library keeps its own: each fresh interpreter seeds it anew at import.

    (The standard library's random reseeds itself after a fork; NumPy's global generator does not.)
    """
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        try:
            numpy_random.seed()
        except Exception:  # noqa: BLE001  (a NumPy without the legacy global generator has nothing to reseed)
            pass


def finish_as_at_exit():
    """What a fresh interpreter does when its program ends: wait for non-daemon threads, run atexit, flush.

    A child cannot return into the parked process's loop, so it ends with os._exit, which does none of it
    (the app's atexit handlers, logging's flush, a coverage run's data).
    """
    import atexit

    try:
        threading._shutdown()  # noqa: SLF001  (the interpreter's own step at exit)
    except Exception:  # noqa: BLE001  (best effort: the process ends either way)
        pass
    atexit._run_exitfuncs()  # noqa: SLF001  (idem)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001  (idem)
            pass


#: What differs between the parked process and each child by design.
WARP_OWN = ("WARP_READY_FD",)


def read_json(path, default):
    try:
        with open(path) as handle:
            value = json.load(handle)
    except (OSError, ValueError):
        return default
    return value if isinstance(value, type(default)) else default


def find_script(argv):
    """(script, arguments) of a command a fork can run: `PYTHON SCRIPT ARGS` or a console script; (None, why) otherwise."""
    python = os.path.realpath(sys.executable)
    first = argv[0]
    if os.path.realpath(first) == python or os.path.realpath(first) == os.path.realpath(os.path.join(sys.prefix, "bin", "python")):
        if len(argv) > 1 and not argv[1].startswith("-"):
            return argv[1], list(argv[2:])
        return None, "the server is started with interpreter options"
    try:
        with open(first, "rb") as handle:
            head = handle.readline()
    except OSError as exc:
        return None, f"cannot read {first}: {exc.strerror}"
    shebang = head[2:].decode(errors="replace").strip().split()
    if not head.startswith(b"#!") or not shebang or os.path.realpath(shebang[0]) != python or len(shebang) > 1:
        return None, f"{first} is not a script of this interpreter"
    return first, list(argv[1:])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("--answer", type=int, required=True)
    parser.add_argument("--modules", required=True, help="a JSON list of module names the app's processes loaded")
    parser.add_argument("--source", action="append", default=[], help="the project's directories: nothing is parked from them")
    parser.add_argument("--django", action="store_true", help="run django.setup() with DJANGO_SETTINGS_MODULE before parking")
    parser.add_argument("--import", dest="imports", action="append", default=[], help="a module to park at once (the server)")
    args = parser.parse_args()
    Parked(args).run()  # sys.path[0], this script's directory, is replaced in each child by its script's


if __name__ == "__main__":
    main()
