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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from fl_lightning.errors import UsageError

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
    threads = threads or threads_per_job(jobs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        pending: dict[Future[R], int] = {
            pool.submit(_with_threads, fn, threads, item): i for i, item in enumerate(items)
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                error = future.exception()
                yield i, (future.result() if error is None else _as_exception(error))


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
                    cause = err.as_instanceof_cause()
                    yield i, cause if isinstance(cause, Exception) else RuntimeError(str(err))
                except Exception as err:  # the worker died, or Ray lost the task
                    yield i, err
    finally:
        if started_here:
            ray.shutdown()
