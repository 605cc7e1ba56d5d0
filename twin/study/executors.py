"""Executors run independent tasks (replications, sweep points) and yield results as they finish.

The seam is one method, ``map_unordered(fn, tasks)``: results carry their own index, so the
output never depends on the executor, the number of workers or the order of completion.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]: ...


class SerialExecutor:
    """Runs tasks one after another in this process."""

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        for task in tasks:
            yield fn(task)


class LocalExecutor:
    """Runs tasks on local worker processes (default: one per CPU core)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        tasks = list(tasks)
        if self.workers <= 1 or len(tasks) <= 1:
            yield from SerialExecutor().map_unordered(fn, tasks)
            return
        with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks))) as pool:
            pending: set[Future[Any]] = {pool.submit(fn, t) for t in tasks}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
            finally:
                for future in pending:
                    future.cancel()


class DaskExecutor:
    """Runs tasks on a Dask distributed cluster: ``address`` of its scheduler, or a Client."""

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        from dask.distributed import Client, as_completed

        tasks = list(tasks)
        if not tasks:
            return
        own = not isinstance(self.scheduler, Client)
        client = Client(self.scheduler) if own else self.scheduler
        try:
            futures = client.map(fn, tasks, pure=False)
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                client.cancel(futures)
        finally:
            if own:
                client.close()


def make_executor(workers: int | None = None, kind: str = "local",
                  scheduler: str | None = None) -> Executor:
    """The executor the command line asks for."""
    if kind == "dask":
        if not scheduler:
            raise ValueError("the dask executor needs a scheduler address")
        return DaskExecutor(scheduler)
    if workers == 1:
        return SerialExecutor()
    return LocalExecutor(workers)
