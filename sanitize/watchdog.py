"""A deadline per sample on worker processes: a sample still being checked after `seconds` is
abandoned by ending its worker process, once the caller has been told which sample it was.

A decoder that hangs (a loop on crafted input, a read from a stalled network file system) would
otherwise hang the whole scan: a running task cannot be stopped from outside, and no exception
can be raised into C code. So each worker process runs one daemon thread that looks at the
sample being checked every `poll` seconds; past the deadline it tells the caller, through the
channel the runner chose (a Dask event, a pipe to the process that forked the worker), and exits
the process. The runner replaces the worker (a Dask Nanny restarts it; forked workers hand over
to a local cluster), reports the sample as `decode:timeout` and re-runs the rest of its batch.

A decoder stuck while holding the GIL stops that thread as well. faulthandler's watchdog, a C
thread that needs no GIL, re-armed by the Python thread on every wake, then ends the process a
few polls later; the runner cannot tell that from a crash, and isolates the sample as one
(`decode:crashed`). Nothing here runs in the calling process: the synchronous runner has no
deadline (ending the process would end the caller).
"""

from __future__ import annotations

import faulthandler
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: How long the thread lets a message to the caller leave before it ends the process.
GRACE_SECONDS = 0.5
#: The exit status of a worker ended by its watchdog (EX_TEMPFAIL).
TIMEOUT_EXIT = 75

#: How the watchdog tells the caller which sample it abandoned: {"index", "path", "seconds"}.
Tell = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Deadline:
    """What a task's watchdog enforces: `seconds` per sample. `connect`, called in the task's own
    thread (where e.g. Dask knows which worker runs it), gives how the watchdog tells the caller
    which sample ran out; None keeps the channel the worker process was started with."""

    seconds: float
    connect: Callable[[], Tell] | None = None


class Watchdog:
    """The one watchdog thread of a worker process (see the module's docstring)."""

    def __init__(self, seconds: float, tell: Tell) -> None:
        #: The deadline, or None while the process runs tasks without one (a standing cluster's
        #: worker keeps its watchdog from one scan to the next).
        self.seconds: float | None = seconds
        self.tell = tell
        #: (index, path, monotonic start) of the sample being checked, or None between samples.
        self.current: tuple[int, str, float] | None = None
        self._devnull = open(os.devnull, "w")  # noqa: SIM115 - faulthandler writes here until the process ends
        threading.Thread(target=self._watch, name="sanitize-watchdog", daemon=True).start()

    def _watch(self) -> None:
        while True:
            seconds = self.seconds
            if seconds is None:
                faulthandler.cancel_dump_traceback_later()
                time.sleep(1.0)
                continue
            poll = min(1.0, max(0.02, seconds / 8))
            faulthandler.dump_traceback_later(seconds + 4 * poll + GRACE_SECONDS, exit=True, file=self._devnull)
            time.sleep(poll)
            current = self.current
            if current is not None and time.monotonic() - current[2] > seconds:
                index, path, started = current
                try:
                    self.tell({"index": index, "path": path, "seconds": round(time.monotonic() - started, 2)})
                finally:
                    time.sleep(GRACE_SECONDS)
                    os._exit(TIMEOUT_EXIT)


_watchdog: Watchdog | None = None


def enforce(deadline: Deadline | None) -> None:
    """Start this process's watchdog, or give the running one this deadline and channel; None
    stops the running one from enforcing any (a later scan on the same worker without a limit)."""
    global _watchdog
    if deadline is None:
        if _watchdog is not None:
            _watchdog.seconds = None
        return
    tell = deadline.connect() if deadline.connect is not None else None
    if _watchdog is None:
        if tell is None:
            raise ValueError("the first deadline of a process must say how to tell the caller")
        _watchdog = Watchdog(deadline.seconds, tell)
        return
    _watchdog.seconds = deadline.seconds
    if tell is not None:
        _watchdog.tell = tell


def checking(index: int, path: str) -> None:
    """Sample `index` (`path`) is being checked from now: its deadline starts (a no-op without a watchdog)."""
    if _watchdog is not None:
        _watchdog.current = (index, path, time.monotonic())


def between_samples() -> None:
    """No sample is being checked: nothing to abandon (a no-op without a watchdog)."""
    if _watchdog is not None:
        _watchdog.current = None
