"""How samples are cut into tasks: batches sized by the time a sample takes, drawn lazily.

A task's size decides two costs. Too small, and the per-task overhead outweighs the work: about
3 ms of CPU in the calling process (which hosts a local cluster's scheduler) and 10 ms of latency
on a worker, measured with tasks that do nothing, while 64 tiny images are ~4 ms of decoding; at
0.2 s a task it was still a third of the calling process's CPU on photos (88 us a photo, 67 at
0.5 s). Too large, and workers finish unevenly at the end, a worker holds more decoded frames, and
bisecting a batch whose worker died re-checks more. So each batch is sized to take about
TARGET_SECONDS of a worker's time, at the rate the workers report (timed_task), and the last ones
shrink so that all workers finish together.
"""

from __future__ import annotations

import math
import pickle
import time
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path

from sanitize import watchdog
from sanitize.config import ScanConfig
from sanitize.model import BatchResult, Sample
from sanitize.watchdog import Deadline

#: A task should take about this long on a worker: long enough that the per-task cost (see above)
#: is small, short enough that workers stay balanced at the end and that bisecting a batch whose
#: worker died stays cheap.
TARGET_SECONDS = 0.5
#: The last batches shrink so that the workers finish together, but not below this much work: each
#: task costs the calling process ~3 ms of CPU and a worker ~10 ms of latency, whatever its size,
#: and a tail shrinking to one sample a task took some 25 tasks more.
TAIL_SECONDS = 0.05
#: The first tasks' size, before any has been timed (64 photos take ~0.05 s).
FIRST_BATCH = 64
#: No task holds more samples than this, however cheap they are.
MAX_BATCH = 8192
#: Tasks in flight per worker: one running, one queued behind it, so no worker waits on this process.
IN_FLIGHT_PER_WORKER = 2
#: Samples in flight at most, whatever the cluster: 2 tasks for each of a big cluster's thousand
#: threads, of up to MAX_BATCH tiny samples each, would hold millions of samples in this process
#: (batches and their results: ~250 bytes a sample). It never limits the rate: these many samples
#: are 0.5 s of work for 32+ threads, which this process cannot keep up with anyway (it handles
#: about 75,000 tiny samples or 45,000 photos a second: docs/performance.md's projection).
MAX_IN_FLIGHT = 1 << 18

#: What a task runs on a batch (batch.check_batch, or a test's stand-in).
Task = Callable[[list[Sample], Path, ScanConfig], BatchResult]


class Batches:
    """The samples cut into batches as the runners ask for them, each sized to take about
    TARGET_SECONDS of a worker's time at the rate measured so far, so tiny images do not drown in
    per-task overhead and photos do not make huge tasks. Samples are drawn from `samples` only
    when a batch is cut: with a bounded number of tasks in flight, a run holds a few batches at a
    time, never the whole dataset. Batches handed back (`give_back`: bisected after a crash, left
    by forked workers) go out first, at their own size."""

    def __init__(self, samples: Iterable[Sample], workers: int, total: int | None = None) -> None:
        self._samples = iter(samples)
        self.workers = workers
        self.total = total
        self.drawn = 0
        self.size = FIRST_BATCH if total is None else max(1, min(FIRST_BATCH, math.ceil(total / (workers * 4))))
        self._returned: deque[list[Sample]] = deque()
        self._seconds_per_sample: float | None = None
        self._floor = 1  # the smallest tail batch, once a rate is known

    def next(self) -> list[Sample] | None:
        """The next batch, or None when every sample has been handed out."""
        if self._returned:
            return self._returned.popleft()
        size = self.size
        if self.total is not None and self.drawn < self.total:  # the last tasks shrink: workers finish together
            left = self.total - self.drawn
            share = math.ceil(left / (self.workers * IN_FLIGHT_PER_WORKER))
            size = min(size, max(1, share, min(self._floor, math.ceil(left / self.workers))))
        batch = list(islice(self._samples, size))
        self.drawn += len(batch)
        return batch or None

    def give_back(self, *batches: list[Sample]) -> None:
        self._returned.extend(batches)

    def timed(self, samples: int, seconds: float) -> None:
        """A batch of `samples` took a worker `seconds`: size the next ones after it."""
        if samples < 1 or seconds <= 0:
            return
        rate = seconds / samples
        known = self._seconds_per_sample
        self._seconds_per_sample = rate if known is None else 0.7 * known + 0.3 * rate
        self.size = max(1, min(MAX_BATCH, round(TARGET_SECONDS / self._seconds_per_sample)))
        self._floor = round(TAIL_SECONDS / self._seconds_per_sample)


def packed(batch: list[Sample]) -> bytes:
    """A batch as one bytes object, for a task's spec (see run_on_client): pickled as columns of
    plain values, for pickle spends about 1.6 us on each NamedTuple (its __reduce_ex__ runs in
    Python), 3 ms of the calling process's time for a task of 2,000 samples; columns, 0.6 ms."""
    return pickle.dumps(tuple(zip(*batch, strict=True)), protocol=pickle.HIGHEST_PROTOCOL)


def unpacked(payload: bytes) -> list[Sample]:
    """The batch `packed` made, as Sample tuples again (its own pickle, of values a dataset reader
    listed, never a user's file)."""
    return list(map(Sample._make, zip(*pickle.loads(payload), strict=True)))


def timed_task(
    task: Task, batch: list[Sample] | bytes, real_root: Path, config: ScanConfig, deadline: Deadline | None = None
) -> tuple[BatchResult, float]:
    """Run `task` on a worker, each sample under `deadline` (see watchdog; None for no limit, and
    always in the calling process, which has no watchdog), and say how long it took there (what
    Batches sizes tasks by). A batch may come `packed`."""
    started = time.perf_counter()
    watchdog.enforce(deadline)
    samples = unpacked(batch) if isinstance(batch, bytes) else batch
    try:
        results = task(samples, real_root, config)
    finally:
        watchdog.between_samples()
    return results, time.perf_counter() - started
