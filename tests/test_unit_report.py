"""warp.report.working: a long step, shown while it runs on a terminal, as two plain lines in a log, not at all with -q."""

from __future__ import annotations

import io
import re
import time
from contextlib import nullcontext

import pytest

from warp import cli
from warp.report import working


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_working(monkeypatch, stream: io.StringIO, *, fail: bool = False) -> str:
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(cli, "_quiet", False)
    reporter = cli.Reporter()
    with pytest.raises(RuntimeError) if fail else nullcontext():
        with working(reporter, "        compiling uWSGI 2.0.31", "        compiled uWSGI 2.0.31 in {seconds:.1f} s"):
            time.sleep(0.6)
            if fail:
                raise RuntimeError("the compiler failed")
    return stream.getvalue()


def test_in_a_log_a_long_step_is_two_plain_lines(monkeypatch):
    out = run_working(monkeypatch, io.StringIO())
    assert "\r" not in out and "\033" not in out
    assert re.fullmatch(r"        compiling uWSGI 2\.0\.31\n        compiled uWSGI 2\.0\.31 in \d+\.\d s\n", out)


def test_on_a_terminal_a_long_step_spins_with_its_seconds_then_says_it_finished(monkeypatch):
    out = run_working(monkeypatch, Terminal())
    frames = out.split("\r")[1:]
    assert len(frames) >= 3  # redrawn while it runs
    assert all(re.fullmatch(r"        compiling uWSGI 2\.0\.31 [|/\\-] \d+ s\033\[K", frame) for frame in frames[:-1]), frames
    assert len({frame.split()[-3] for frame in frames[:-1]}) > 1  # the spinner turns
    assert re.fullmatch(r"        compiled uWSGI 2\.0\.31 in \d+\.\d s\033\[K\n", frames[-1])


def test_on_a_terminal_a_failed_step_stays_named_without_finished(monkeypatch):
    out = run_working(monkeypatch, Terminal(), fail=True)
    assert out.split("\r")[-1] == "        compiling uWSGI 2.0.31\033[K\n"
    assert "compiled" not in out


def test_a_plain_report_gets_the_two_lines():
    lines: list[str] = []
    with working(lines.append, "        compiling mod_wsgi 5.0.2", "        compiled in {seconds:.0f} s"):
        pass
    assert lines == ["        compiling mod_wsgi 5.0.2", "        compiled in 0 s"]


def test_quiet_shows_no_progress(monkeypatch):
    monkeypatch.setattr(cli, "_quiet", True)
    stream = Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    with working(cli.Reporter(), "        compiling", "        compiled"):
        pass
    assert stream.getvalue() == ""


def test_a_step_shown_only_live_leaves_no_line_in_a_log(monkeypatch):
    monkeypatch.setattr(cli, "_quiet", False)
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    with working(cli.Reporter(), "        uv is installing the dependencies"):
        time.sleep(0.2)
    assert stream.getvalue() == ""


def test_on_a_terminal_a_step_shown_only_live_appears_after_its_delay_and_goes_when_it_ends(monkeypatch):
    monkeypatch.setattr(cli, "_quiet", False)
    quick, slow = Terminal(), Terminal()
    monkeypatch.setattr("sys.stderr", quick)
    with working(cli.Reporter(), "        uv is installing the dependencies", after=0.5):
        pass
    assert quick.getvalue() == ""
    monkeypatch.setattr("sys.stderr", slow)
    with working(cli.Reporter(), "        uv is installing the dependencies", after=0.2):
        time.sleep(0.7)
    frames = slow.getvalue().split("\r")[1:]
    assert len(frames) >= 2 and all(frame.startswith("        uv is installing the dependencies ") for frame in frames[:-1])
    assert frames[-1] == "\033[K"  # the line is cleared for the next step's
