"""A dependency that starts a thread when imported: a fork of a process that imported it has no such thread."""

import threading
import time

ticks = []


def _tick():
    while True:
        ticks.append(time.monotonic())
        time.sleep(0.05)


thread = threading.Thread(target=_tick, daemon=True)
thread.start()
