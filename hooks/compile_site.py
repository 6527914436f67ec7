"""Byte-compile what an install put into the env, as pip does, reusing bytecode that another env compiled.

Run by the env's python (the .pyc must be its own). Arguments: ``--cache DIR`` (where compiled modules are kept,
by content and interpreter: a private directory warp made or checked), then the ``.dist-info`` directories whose
modules to compile, or ``--all`` for every installed distribution. A module whose .pyc matches its source is left
alone; one that does not compile (a package's Python 2 test file, say) is left to import as it can, as pip and uv
leave it. Prints JSON: the modules written, and how many of them came from the cache.

A kept module is the marshalled code of the same source bytes compiled by the same interpreter version (the magic
number), so it is what compiling would give, save the file name inside it, which the import system sets to the
module's own path when it loads a .pyc (importlib's _fix_co_filename). The .pyc's header is made for this source:
its mtime and size, or its hash when SOURCE_DATE_EPOCH asks for reproducible files, as py_compile does.
"""

import concurrent.futures
import csv
import hashlib
import importlib.util
import json
import marshal
import multiprocessing
import os
import stat
import sys
import sysconfig
import types

MAGIC = importlib.util.MAGIC_NUMBER
HASHED = bool(os.environ.get("SOURCE_DATE_EPOCH"))  # py_compile's rule: checked-hash .pyc files


def find_sources(site, infos):
    for info in infos:
        try:
            with open(os.path.join(info, "RECORD"), newline="", encoding="utf-8", errors="replace") as handle:
                rows = list(csv.reader(handle))
        except OSError:
            continue
        for row in rows:
            if row and row[0].endswith(".py") and "__pycache__" not in row[0]:
                path = os.path.normpath(os.path.join(site, row[0]))
                if path.startswith(site + os.sep):
                    yield path


def make_header(source, stat):
    if HASHED:
        return MAGIC + (3).to_bytes(4, "little") + importlib.util.source_hash(source)
    return MAGIC + (0).to_bytes(4, "little") + (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (stat.st_size & 0xFFFFFFFF).to_bytes(4, "little")


def write_atomic(path, data, mode):
    temporary = f"{path}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o666)
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def compile_one(path, cache):
    """'written', 'reused' (from the cache), or '' (up to date, gone, or not compilable)."""
    pyc = importlib.util.cache_from_source(path)
    try:
        stat = os.stat(path)
        with open(path, "rb") as handle:
            source = handle.read()
    except OSError:
        return ""
    header = make_header(source, stat)
    try:
        with open(pyc, "rb") as handle:
            if handle.read(len(header)) == header:
                return ""
    except OSError:
        pass
    kept = os.path.join(cache, hashlib.sha256(source).hexdigest()) if cache else None
    body = None
    if kept:
        try:
            with open(kept, "rb") as handle:
                body = handle.read()
        except OSError:
            pass
    if body is not None and not is_code(body):  # damaged: the .pyc would fail every import of the module
        body = None
    reused = body is not None
    if body is None:
        try:
            body = marshal.dumps(compile(source, path, "exec", dont_inherit=True))
        except (SyntaxError, ValueError, UnicodeError):
            return ""
    try:
        os.makedirs(os.path.dirname(pyc), exist_ok=True)
        write_atomic(pyc, header + body, stat.st_mode | 0o200)
        if kept and not reused:
            write_atomic(kept, body, 0o644)
    except OSError:
        pass
    return "reused" if reused else "written"


def is_code(body):
    try:
        return isinstance(marshal.loads(body), types.CodeType)
    except (ValueError, EOFError, TypeError):
        return False


def is_private_dir(path):
    """No symlink, this user's, writable by no one else (warp checked the directories above it)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022


def compile_chunk(paths, cache):
    return [compile_one(path, cache) for path in paths]


def main(argv):
    cache = None
    if argv[:1] == ["--cache"]:
        cache = os.path.join(argv[1], f"{sys.implementation.cache_tag}-{MAGIC.hex()}")
        argv = argv[2:]
        try:  # the user's alone: what it holds becomes the code of every env's packages
            os.mkdir(cache, mode=0o700)
        except FileExistsError:
            pass
        except OSError:  # not writable (a read-only home): compile without it
            cache = None
        if cache and not is_private_dir(cache):
            cache = None
    site = os.path.realpath(sysconfig.get_path("purelib"))
    if argv == ["--all"]:
        argv = [os.path.join(site, name) for name in sorted(os.listdir(site)) if name.endswith(".dist-info")]
    sources = sorted(set(find_sources(site, argv)))
    workers = min(len(sources) // 100 + 1, os.cpu_count() or 1)
    chunks = [sources[index::workers] for index in range(workers)]
    if workers > 1:
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            results = [result for done in pool.map(compile_chunk, chunks, [cache] * workers) for result in done]
    else:
        results = compile_chunk(sources, cache)
    sys.stdout.write(json.dumps({"written": results.count("written") + results.count("reused"), "reused": results.count("reused")}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
