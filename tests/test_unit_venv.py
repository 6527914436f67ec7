"""warp.env.venv's own files: env.json written by several warps at once (real processes, real files)."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from warp.env.venv import Env

WRITERS = 4
UPDATES = 200


def update_own_key(path: str, key: str, start) -> None:
    env = Env("project", Path(path))
    start.wait()
    for n in range(UPDATES):
        env.update_meta(**{key: str(n)})


def test_concurrent_metadata_updates_all_survive(tmp_path):
    """`warp start` records deploy-cfg while a build records its time: each warp's update must survive the others'."""
    env = Env("project", tmp_path / "project")
    env.state.mkdir(parents=True)
    env.meta_path.write_text(json.dumps({"name": "project"}))
    fork = multiprocessing.get_context("fork")
    start = fork.Event()
    writers = [fork.Process(target=update_own_key, args=(str(env.path), f"key{i}", start)) for i in range(WRITERS)]
    for writer in writers:
        writer.start()
    start.set()
    for writer in writers:
        writer.join(timeout=120)

    assert [writer.exitcode for writer in writers] == [0] * WRITERS  # no writer failed (FileNotFoundError, unreadable JSON)
    meta = env.read_meta()
    assert {key: meta.get(key) for key in (f"key{i}" for i in range(WRITERS))} == {f"key{i}": str(UPDATES - 1) for i in range(WRITERS)}
    assert meta["name"] == "project"
    assert sorted(path.name for path in env.state.iterdir() if path.name != "env.json.lock") == ["env.json"]  # no temporary file left
