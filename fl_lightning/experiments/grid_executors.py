"""Where a comparison grid's federations run: here, in N worker processes, or on a Ray cluster.

Every executor runs the same picklable function on each item and yields `(index, outcome)` as
items finish, where the outcome is the function's result or the exception it raised: a run that
fails is reported by the caller while the others go on. Results are put back in plan order by
the caller, so the report does not depend on which run finished first.

- `local`, `jobs=1`: one run after the other in this process (torch threads untouched unless
  `threads` is given).
- `local`, `jobs=N`: N worker processes (spawned: no forked torch or Ray state), each with
  `threads` torch threads (default `cores // N`), so N federations share the cores instead of
  fighting over them.

Reproducibility: CPU convolution kernels split their reductions by thread count, so the same
federation run with 1 and with 2 torch threads differs in the last bits of its weights (and, many
rounds later, by a test image or two). Give `threads` to make a grid's numbers independent of
`jobs`: `--jobs 1 --threads 1` and `--jobs 2 --threads 1` write identical summaries.
- `ray`: each run is a Ray task needing `ray.num_cpus` CPUs, on the cluster at `ray.address`
  (None: a Ray instance started here). Workers must import the same fl_lightning and see the
  same files (the grid's configs and output folder: a shared filesystem on a real cluster).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from fl_lightning.errors import UsageError
from fl_lightning.interrupts import (
    Interrupted,
    NotStarted,
    raise_if_stopped,
    stop_on_signals,
    stop_when_told,
    told_to_stop,
)

ExecutorName = Literal["local", "ray"]
EXECUTORS: tuple[ExecutorName, ...] = ("local", "ray")

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class RayOptions:
    """The Ray cluster that runs the federations of `--executor ray`.

    Args:
        address: the Ray cluster to submit to (`ray start --head` prints it; `auto` finds the
            cluster this machine belongs to); None starts a Ray instance on this machine.
        num_cpus: CPUs each federation asks Ray for (its torch threads are set to match).
    """

    address: str | None = None
    num_cpus: float = 1.0

    def __post_init__(self) -> None:
        if not self.num_cpus > 0:
            raise UsageError(f"--ray.num_cpus={self.num_cpus!r} must be > 0.")


@dataclass(frozen=True)
class Execution:
    """How many federations run at once, and where.

    Args:
        jobs: federations at once on this machine (`local`), >= 1.
        threads: torch threads of each federation on this machine (`local`), >= 1; None:
            `cores // jobs` for `jobs > 1`, torch's own default for `jobs = 1`. Fix it to get
            the same numbers whatever `jobs` is.
        executor: `local` (this machine) or `ray` (a Ray cluster, `ray` options).
        ray: the Ray cluster's settings (for `executor=ray`).
    """

    jobs: int = 1
    executor: ExecutorName = "local"
    ray: RayOptions = RayOptions()
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise UsageError(f"--jobs={self.jobs!r} must be >= 1.")
        if self.threads is not None and self.threads < 1:
            raise UsageError(
                f"--threads={self.threads!r} must be >= 1 (or left out: cores // jobs)."
            )
        if self.executor not in EXECUTORS:
            raise UsageError(
                f"--executor={self.executor!r} is not known; choose one of: {', '.join(EXECUTORS)}."
            )


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """torch threads for each of `jobs` processes sharing `cores` (default: this machine's)."""
    return max(1, (cores or os.cpu_count() or 1) // jobs)


def _with_threads(fn: Callable[[T], R], threads: int, item: T) -> R:
    """`fn(item)` with torch limited to `threads` intra-op threads (in a worker)."""
    import torch

    torch.set_num_threads(threads)
    return fn(item)


def _in_worker(fn: Callable[[T], R], threads: int, item: T) -> R:
    """`_with_threads` in a worker process, under the signal handling of a command: SIGINT and
    SIGTERM stop the run as `Interrupted` (sent back to the parent), and a worker stopped once
    starts no further task (one already queued to it included)."""
    raise_if_stopped()
    try:
        with stop_on_signals():
            return _with_threads(fn, threads, item)
    except Interrupted as err:
        told_to_stop(err.signum)
        raise


class ItemsInterrupted(Interrupted):
    """`run_all` was stopped by a signal after starting items in worker processes.

    Args:
        signum: the signal.
        stopped: index -> the item's own `Interrupted.detail`, for each item stopped mid-way.
        not_started: indices of the items that never started (cancelled).
    """

    def __init__(self, signum: int, stopped: dict[int, str | None], not_started: list[int]) -> None:
        super().__init__(signum)
        self.stopped = stopped
        self.not_started = not_started


def run_all(
    fn: Callable[[T], R], items: Sequence[T], execution: Execution
) -> Iterator[tuple[int, R | Exception]]:
    """Run `fn` on every item as `execution` says; yield `(index, result or exception)` as each
    finishes. `fn` must be a module-level function (it is pickled by name for workers)."""
    if execution.executor == "ray":
        yield from _on_ray(fn, items, execution.ray)
    elif execution.jobs == 1:
        yield from _here(fn, items, execution.threads)
    else:
        yield from _in_processes(fn, items, execution.jobs, execution.threads)


def _here(
    fn: Callable[[T], R], items: Sequence[T], threads: int | None
) -> Iterator[tuple[int, R | Exception]]:
    import torch

    before = torch.get_num_threads()
    try:
        for i, item in enumerate(items):
            try:
                yield i, fn(item) if threads is None else _with_threads(fn, threads, item)
            except Exception as err:  # reported by the caller; the other runs go on
                yield i, err
    finally:
        torch.set_num_threads(before)  # this process goes on after the grid


def _in_processes(
    fn: Callable[[T], R], items: Sequence[T], jobs: int, threads: int | None
) -> Iterator[tuple[int, R | Exception]]:
    """`fn` on every item in `jobs` spawned worker processes.

    A signal here (`Interrupted`) stops the pool rather than letting every queued item run to
    its end: queued items are cancelled, the workers get the same signal (their runs stop as
    the parent's would, checkpoints intact), and `ItemsInterrupted` says which items stopped
    mid-way and which never started."""
    threads = threads or threads_per_job(jobs)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=stop_when_told)
    pending: dict[Future[R], int] = {}
    try:
        # The workers start (spawned) on the first submit, with SIGINT ignored until their
        # initializer runs: a Ctrl-C to the process group then prints no worker's traceback.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for i, item in enumerate(items[:1]):
                pending[pool.submit(_in_worker, fn, threads, item)] = i
        finally:
            signal.signal(signal.SIGINT, previous)
        for i, item in enumerate(items[1:], start=1):
            pending[pool.submit(_in_worker, fn, threads, item)] = i
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                error = future.exception()
                yield i, (future.result() if error is None else _as_exception(error))
    except Interrupted as err:
        raise _stop_workers(pool, pending, err.signum) from None
    except GeneratorExit:  # the caller stopped reading (it was interrupted itself)
        _stop_workers(pool, pending, signal.SIGTERM)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _stop_workers(
    pool: ProcessPoolExecutor, pending: dict[Future[Any], int], signum: int
) -> ItemsInterrupted:
    """Cancel the queued items, pass `signum` on to the workers and wait for the running items
    to stop; what stopped where, as the exception to raise. (A second signal meanwhile is
    ignored: `stop_on_signals` ignores every signal after the first until it is left.)"""
    not_started = sorted(i for future, i in pending.items() if future.cancel())
    # The pool's worker processes, by pid (concurrent.futures keeps them in `_processes`).
    workers: dict[int, Any] = getattr(pool, "_processes", None) or {}
    for pid in list(workers):
        with suppress(ProcessLookupError):
            os.kill(pid, signum)
    running = {f: i for f, i in pending.items() if not f.cancelled()}
    wait(running)
    stopped: dict[int, str | None] = {}
    for future, i in running.items():
        error = future.exception()
        if isinstance(error, NotStarted):
            not_started.append(i)  # queued to a worker that had been told to stop
        elif isinstance(error, Interrupted):
            stopped[i] = error.detail
        # an item that finished (or failed) meanwhile keeps its files; the caller reruns it
    return ItemsInterrupted(signum, stopped, sorted(not_started))


def _as_exception(error: BaseException) -> Exception:
    return error if isinstance(error, Exception) else RuntimeError(repr(error))


def _on_ray(
    fn: Callable[[T], R], items: Sequence[T], options: RayOptions
) -> Iterator[tuple[int, R | Exception]]:
    try:
        import ray
    except ImportError:
        raise UsageError(
            "--executor=ray needs Ray (pip install 'flwr[simulation]' or 'ray')."
        ) from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(
                address=options.address,
                include_dashboard=False,
                logging_level=logging.ERROR,
                log_to_driver=False,
            )
        except Exception as err:  # no cluster at that address, or a bad address
            raise UsageError(
                f"--ray.address={options.address!r}: cannot connect to a Ray cluster ({err})."
            ) from None
    try:
        task: Any = ray.remote(num_cpus=options.num_cpus, max_retries=0)(_with_threads)
        threads = max(1, int(options.num_cpus))
        pending: dict[Any, int] = {
            task.remote(fn, threads, item): i for i, item in enumerate(items)
        }
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i = pending.pop(ref)
                try:
                    yield i, ray.get(ref)
                except ray.exceptions.RayTaskError as err:  # the run's own exception
                    cause = err.as_instanceof_cause()  # type: ignore[no-untyped-call, unused-ignore]
                    yield i, cause if isinstance(cause, Exception) else RuntimeError(str(err))
                except Exception as err:  # the worker died, or Ray lost the task
                    yield i, err
    finally:
        if started_here:
            ray.shutdown()
