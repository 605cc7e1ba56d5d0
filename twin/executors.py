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


def make_executor(workers: int | None = None) -> Executor:
    if workers == 1:
        return SerialExecutor()
    return LocalExecutor(workers)
