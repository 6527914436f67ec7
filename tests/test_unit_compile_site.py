"""hooks/compile_site.py's bytecode cache: a kept module is the code of exactly its source bytes."""

from __future__ import annotations

import importlib.util
import marshal
from pathlib import Path

from warp.hookdir import HOOKS_DIR

_spec = importlib.util.spec_from_file_location("compile_site", HOOKS_DIR / "compile_site.py")
compile_site = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compile_site)


def value_in_pyc(source) -> int:
    """VALUE, as the module's .pyc (past its 16-byte header) defines it."""
    code = marshal.loads(Path(importlib.util.cache_from_source(str(source))).read_bytes()[16:])
    namespace: dict = {}
    exec(code, namespace)
    return namespace["VALUE"]


def test_the_cache_gives_back_the_code_of_the_same_source_and_never_of_another(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    module = tmp_path / "site" / "mod.py"
    module.parent.mkdir()
    module.write_text("VALUE = 1\n")
    assert compile_site.compile_one(str(module), str(cache)) == "written"
    module.write_text("VALUE = 22\n")  # a new source (of another size: Python's own check is by mtime and size)
    assert compile_site.compile_one(str(module), str(cache)) == "written"
    assert value_in_pyc(module) == 22
    module.write_text("VALUE = 1\n")  # the first source again: its code is kept
    assert compile_site.compile_one(str(module), str(cache)) == "reused"
    assert value_in_pyc(module) == 1
    assert len(list(cache.iterdir())) == 2


def test_the_cache_is_one_per_interpreter_version(tmp_path, monkeypatch):
    home = tmp_path / "cache"
    home.mkdir()
    (tmp_path / "site").mkdir()
    monkeypatch.setattr(compile_site.sysconfig, "get_path", lambda name: str(tmp_path / "site"))
    compile_site.main(["--cache", str(home), "--all"])
    assert [path.name for path in home.iterdir()] == [f"{compile_site.sys.implementation.cache_tag}-{compile_site.MAGIC.hex()}"]
