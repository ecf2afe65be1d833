"""All of the Dask code: batches of samples checked on workers, results streamed back.

The embedded default is a `distributed.LocalCluster` of one single-threaded worker process
per core, with nothing to start; `scheduler=ADDRESS` uses an existing Dask scheduler instead,
through the very same code path. `scheduler="synchronous"` checks in this process, for
debugging and small tests (a decoder that crashes the process would take the caller with it).

A small run (at most FORK_LIMIT samples, e.g. what changed since the last nightly audit) does
not pay the local cluster's ~1 s start and stop: by default it is checked by worker processes
forked from this one, ready in milliseconds. If one of them dies (a decoder crash), the batches
still unchecked go to a local cluster, which isolates the sample responsible. `scheduler="local"`
always starts the cluster.

Two things keep the cluster fast (see benchmarks/): many samples per task (~0.1 s of work),
and glibc's dynamic mmap threshold left alone. distributed's Nanny starts every worker with
MALLOC_TRIM_THRESHOLD_=65536, which turns that threshold off, so each decoded-image buffer
over 128 KiB becomes a fresh mmap plus page faults: about twice the CPU per image.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from functools import partial
from itertools import chain, islice
from pathlib import Path

from sanitize.batching import IN_FLIGHT_PER_WORKER, MAX_IN_FLIGHT, Batches, Task, packed, timed_task
from sanitize.config import FORK_LIMIT, LOCAL, SYNCHRONOUS, ScanConfig
from sanitize.errors import SanitizeError
from sanitize.model import BatchResult, Sample
from sanitize.remote import ObjectRoot, ObjectStore, normalized
from sanitize.watchdog import Deadline, Tell, enforce

PR_SET_PDEATHSIG = 1  # linux/prctl.h
#: The local cluster's settings: glibc's dynamic mmap threshold left alone (see above); each
#: single-threaded worker holds exactly one task at a time, so when a worker dies the task it
#: held is the culprit: it is failed at once and split by run_on_client, instead of killing up
#: to three more workers first (and no innocent task queued beside it is blamed).
LOCAL_CLUSTER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.scheduler.allowed-failures": 0,
    "distributed.scheduler.worker-saturation": 1.0,
    "logging.distributed": "error",
    # Background loops a short local scan does not need, which otherwise cost ~13% of the CPU:
    # the workers' statistical profiler (a stack sample every 10 ms), work stealing (every task
    # is already balanced), and fast event-loop ticks and monitors in every process.
    "distributed.worker.profile.enabled": False,
    "distributed.scheduler.work-stealing": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
    # Debugging history that holds tasks' specs, so batches of samples, in this process: the
    # scheduler's last computations (100 by default) and every connection's last 1,000 messages.
    "distributed.diagnostics.computations.max-history": 2,
    "distributed.admin.low-level-log-length": 16,
}

OnResults = Callable[[BatchResult], None]


def default_task() -> Task:
    """batch.check_batch, imported when a sample is first checked: the decoders are not loaded by
    a run that checks nothing (an unchanged audit) or by `sanitize --help`."""
    from sanitize.batch import check_batch

    return check_batch


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Hide the caller's __main__ from the worker processes while they may start.

    Worker processes are spawned, and spawn re-imports the parent's __main__ script in each
    child: a training script that calls sanitize.scan() without an `if __name__ ==
    "__main__":` guard would run again in every worker. The workers need nothing from it.
    """
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__spec__", "__file__") if hasattr(main, name)}
    if main is not None:
        main.__spec__ = None
        if "__file__" in saved:
            del main.__file__
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


@contextmanager
def _client(scheduler: str | None, workers: int | None) -> Iterator[object]:
    """A distributed Client on the given scheduler, or on a fresh LocalCluster.

    Dask is imported here, not at the top: a run that needs no cluster (an unchanged audit, a
    small forked run, quarantine) starts 0.1 s sooner without it."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise SanitizeError(f"cannot reach Dask scheduler {scheduler!r}: {exc}") from None
        with client:  # what fails while the scan runs is not the scheduler's fault: it is raised as it is
            yield client
        return
    saved_environ = dict(os.environ)  # in-process Nannies leave their variables behind
    try:
        with (
            _main_module_hidden(),
            dask.config.set(LOCAL_CLUSTER_CONFIG),
            LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address="127.0.0.1:0",  # its HTTP server (metrics), at a free port: 8787 is the user's
                # CRITICAL only: at shutdown a worker may log a heartbeat to the closing scheduler as
                # an ERROR with a traceback (dask/distributed#7105), after a scan that went fine;
                # what goes wrong in a task reaches the report, not the log
                silence_logs=logging.CRITICAL,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)


def forking_is_safe() -> bool:
    """fork() is how Linux starts a process, and it is safe while no other Python thread runs: a
    thread holding a lock at the fork would leave it held forever in the child. (Native threads
    are not seen; numpy's OpenBLAS pool, always there, re-initialises itself in a forked child.)"""
    return sys.platform == "linux" and threading.active_count() == 1


def _start_forked_worker(parent: int, deadline: Deadline | None) -> None:
    """A forked worker dies with the process that forked it, even by kill -9 (instead of waiting
    forever for work, holding the files its parent had open, e.g. an audit's lock), and does not
    run the caller's signal handlers: SIGTERM (how the pool stops a worker) kills it, SIGINT is
    the caller's to handle. Its watchdog tells the forking process through `deadline.connect`."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before prctl
        os._exit(1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    enforce(deadline)


class DaskEvent:
    """A watchdog's channel on a Dask worker: an event on the run's own topic, which the caller
    reads when the worker's death fails a task (the event leaves first: see watchdog)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def __call__(self) -> Tell:
        from distributed import get_worker

        return partial(get_worker().log_event, self.topic)


def run_forked(
    batches: Batches,
    real_root: Path,
    config: ScanConfig,
    workers: int,
    on_results: OnResults,
    task: Task | None = None,
    sample_timeout: float | None = None,
) -> list[list[Sample]]:
    """Check batches as `task` in worker processes forked from this one until none is left; return
    the batches left unchecked because a worker died (which of the running batches killed it is
    unknown, unless its watchdog said: that sample is reported as timed out and left out), or the
    first ones if no worker could be forked (e.g. no memory for it). Batches not yet cut stay in
    `batches`."""
    task = task or default_task()
    first = [batch for batch in (batches.next() for _ in range(workers * IN_FLIGHT_PER_WORKER)) if batch]
    if not first:
        return []
    context = multiprocessing.get_context("fork")
    told = context.SimpleQueue()  # a pipe: a watchdog's put() is written before its process exits
    deadline = Deadline(sample_timeout, lambda: told.put) if sample_timeout else None
    each_task = Deadline(sample_timeout) if sample_timeout else None  # the channel stays the pipe
    pool = ProcessPoolExecutor(
        min(workers, len(first)),
        mp_context=context,
        initializer=_start_forked_worker,
        initargs=(os.getpid(), deadline),
    )
    running: dict[Future, list[Sample]] = {}
    left: list[list[Sample]] = []

    def start(batch: list[Sample]) -> None:
        running[pool.submit(timed_task, task, packed(batch), real_root, config, each_task)] = batch

    try:
        with warnings.catch_warnings():  # Python >= 3.12 warns of any thread at a fork; see forking_is_safe
            warnings.filterwarnings("ignore", r".*multi-threaded, use of fork\(\)", DeprecationWarning)
            for batch in first:  # forks every worker at the first submit
                start(batch)
    except OSError:
        pool.shutdown(wait=False, cancel_futures=True)
        return first
    try:
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                batch = running.pop(future)
                try:
                    results, seconds = future.result()
                except Exception:  # noqa: BLE001 - BrokenProcessPool and friends: the cluster isolates the cause
                    left.append(batch)
                    continue
                batches.timed(len(batch), seconds)
                on_results(results)
                following = None if left else batches.next()
                if following:
                    try:
                        start(following)
                    except BrokenProcessPool:  # a worker died since: the cluster takes it with the rest
                        left.append(following)
    except BaseException:  # on_results failed, or Ctrl-C: stop now, not after the batches under way
        _kill_workers(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if not left:
        return left
    from sanitize.batch import TimedOut

    timed_out = TimedOut()
    while not told.empty():
        timed_out.heard(told.get())
    return [rest for batch in left if (rest := timed_out.settle(batch, real_root, on_results))]


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's worker processes (ProcessPoolExecutor has no public way before Python 3.14)."""
    if hasattr(pool, "kill_workers"):
        pool.kill_workers()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


def run_on_client(
    batches: Batches,
    real_root: Path,
    config: ScanConfig,
    client: object,
    on_results: OnResults,
    task: Task | None = None,
    sample_timeout: float | None = None,
    max_in_flight: int = MAX_IN_FLIGHT,
) -> None:
    """Check every batch as `task` on the client's cluster, a bounded number in flight (two a
    thread, and no more than `max_in_flight` samples once one is in flight); a batch whose
    worker died is split until the sample that kills a worker is isolated and reported, so the
    scan goes on. A sample still being checked after `sample_timeout` seconds ends its worker,
    whose watchdog says which sample it was: that one is reported, the rest of its batch re-run."""
    from distributed import as_completed

    task = task or default_task()
    topic = f"sanitize-timeout-{uuid.uuid4().hex}"
    deadline = Deadline(sample_timeout, DaskEvent(topic)) if sample_timeout else None
    timed_out = None

    threads = sum(info.get("nthreads", 1) for info in client.scheduler_info().get("workers", {}).values())
    window = max(threads, batches.workers, 1) * IN_FLIGHT_PER_WORKER
    pending: dict[str, tuple[list[Sample], bool]] = {}
    in_flight = 0  # samples in the pending tasks
    stream = as_completed()

    def submit(batch: list[Sample], bisected: bool = False) -> None:
        # The batch travels as one bytes object bound into the callable: dask walks every list and
        # tuple argument looking for futures, and the scheduler (in this process, for a local
        # cluster) unpickles and keeps each task's spec, so thousands of Sample tuples per task
        # cost CPU and memory here; a bytes object is neither walked nor unpickled on the way
        # (and `packed` makes it at a fifth of pickle's cost for the tuples themselves).
        nonlocal in_flight
        future = client.submit(partial(timed_task, task, packed(batch), real_root, config, deadline), pure=False)
        pending[future.key] = (batch, bisected)
        in_flight += len(batch)
        stream.add(future)

    def top_up() -> None:
        while len(pending) < window and (not pending or in_flight < max_in_flight) and (batch := batches.next()):
            submit(batch)

    top_up()
    while pending:
        future = next(stream)
        batch, bisected = pending.pop(future.key)
        in_flight -= len(batch)
        try:
            results, seconds = future.result()
        except Exception as exc:  # noqa: BLE001 - KilledWorker and friends: isolate the cause
            if timed_out is None:
                from sanitize.batch import TimedOut

                timed_out = TimedOut()
            for _, message in client.get_events(topic) if deadline else ():
                timed_out.heard(message)
            rest = timed_out.settle(batch, real_root, on_results)
            if len(rest) < len(batch):  # a watchdog named the sample: the others are innocent
                if rest:
                    submit(rest, bisected=True)
            elif len(batch) == 1:
                from sanitize.batch import crashed_result

                on_results(crashed_result(batch[0], type(exc).__name__, real_root))
            else:
                half = len(batch) // 2
                submit(batch[:half], bisected=True)
                submit(batch[half:], bisected=True)
        else:
            if not bisected:
                batches.timed(len(batch), seconds)
            on_results(results)
        finally:
            future.release()
        top_up()  # after a crash too: the window must not drain while samples are left


def run(
    samples: Iterable[Sample],
    root: Path | str,
    config: ScanConfig,
    on_results: OnResults,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    task: Task | None = None,
    total: int | None = None,
    store: ObjectStore | None = None,
    sample_timeout: float | None = None,
) -> str:
    """Check every sample as `task`, calling `on_results` with each finished batch as it arrives.
    `samples` is drawn lazily, batch by batch; `total` (their count, if known: `len(samples)` for a
    list) lets the last batches shrink for balance; `store` reaches a `root` in object storage;
    a sample still being checked after `sample_timeout` seconds is abandoned (not in-process).
    Returns what checked them: "synchronous", "forked", "local cluster", "forked, local cluster" (a
    forked worker died) or the scheduler's address."""
    real_root = ObjectRoot(normalized(str(root)), store) if store else Path(os.path.realpath(root))
    task = task or default_task()
    if workers is not None and workers < 1:
        raise SanitizeError(f"--workers must be at least 1, got {workers}")
    if total is None and isinstance(samples, Sized):
        total = len(samples)
    samples = iter(samples)
    if scheduler == SYNCHRONOUS:
        batches = Batches(samples, 1, total)
        while batch := batches.next():
            results, seconds = timed_task(task, batch, real_root, config)
            batches.timed(len(batch), seconds)
            on_results(results)
        return SYNCHRONOUS
    n_workers = workers or os.cpu_count() or 1
    forked = ""
    if scheduler is None and forking_is_safe():
        head = list(islice(samples, FORK_LIMIT + 1))  # a small run: forked workers, no cluster to start
        if len(head) <= FORK_LIMIT:
            batches = Batches(head, n_workers, len(head))
            left = run_forked(batches, real_root, config, n_workers, on_results, task, sample_timeout)
            if not left:
                _all_drawn(batches)
                return "forked"
            batches.give_back(*left)
            forked = "forked, "
        else:
            batches = Batches(chain(head, samples), n_workers, total)
    else:
        batches = Batches(samples, n_workers, total)
    address = None if scheduler == LOCAL else scheduler
    with _client(address, workers) as client:
        run_on_client(batches, real_root, config, client, on_results, task, sample_timeout)
    _all_drawn(batches)
    return forked + (address or "local cluster")


def _all_drawn(batches: Batches) -> None:
    """A runner that stopped with samples left would leave them unchecked and out of the report: never."""
    if batches.next() is not None:
        raise RuntimeError("the runner stopped with samples left unchecked")
