"""Running the replications of a study, saving each as it finishes, and resuming.

A study is one or more variants of a scenario (a run is a study of one variant; compare and
sweep have several), each run over the same replications. Every (variant, replication) pair is
one task on an executor. With an output folder, each finished replication is saved at once
(atomically) under ``runs/<variant>/``; a study started again on the same folder loads those and
runs only what is missing, so an interrupted study loses nothing.

``study.json`` at the top of the folder ties it to one study (its kind and the fingerprint of
its scenario and settings): a folder that holds another study, of another scenario or of the
same one with other settings, is refused instead of mixed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.engine.options import RunOptions
from twin.engine.options import has_sensors as has_sensors  # where the study's code found it
from twin.engine.replication import ReplicationResult, simulate
from twin.errors import InputError
from twin.language.loading import to_data
from twin.language.schema import Scenario
from twin.records.output import write_json
from twin.study.executors import Executor, make_executor

Progress = Callable[[int, int], None]
"""Called with (replications done, replications in all)."""

STUDY_FILES = {"compare": "compare.json", "sweep": "sweep.json", "run": "summary.json"}
"""The document each kind of study writes at the top of its folder."""


@dataclass(frozen=True)
class Variant:
    """One scenario of a study: its folder id, label, the parameters that make it, and the
    scenario."""

    id: str
    """Folder-safe identifier, unique in the study."""
    label: str
    params: dict[str, Any]
    scenario: Scenario


Options = RunOptions
"""What each replication records besides its statistics (the engine's ``RunOptions``; the
name a study's code used before)."""

STUDY_OPTIONS = RunOptions(inventory=False)
"""What a compare or sweep records: statistics only (no warehouse levels at every change, no
order rows)."""


def fingerprint(scenario: Scenario, *extra: Any) -> str:
    """A short hash of the scenario as run (and of ``extra`` settings, JSON-serializable)."""
    data = [to_data(scenario), *extra] if extra else to_data(scenario)
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


Task = tuple[str, Scenario, int, RunOptions]
"""One replication of one variant: (variant id, its scenario, replication, options)."""


def _task(item: Task) -> tuple[str, ReplicationResult]:
    variant_id, scenario, replication, options = item
    return variant_id, simulate(scenario, replication, options)


Timing = tuple[float, float]
"""What a simulation took: seconds of wall-clock time and of the process's CPU time."""


def _batch(items: list[Task]) -> list[tuple[str, ReplicationResult, Timing]]:
    """Several replications in one task, each with what its simulation took."""
    out = []
    for item in items:
        wall, cpu = time.perf_counter(), time.process_time()
        variant_id, result = _task(item)
        out.append((variant_id, result,
                    (time.perf_counter() - wall, time.process_time() - cpu)))
    return out


def batch_size(tasks: int, workers: int | None) -> int:
    """Replications per task: one where there are few (each is long, and is saved as soon as
    it ends), more where there are many short ones, so that sending them to the workers and
    back costs little against the simulations; enough tasks stay for every worker to be kept
    busy to the end (eight per worker)."""
    if workers is None or workers <= 1:
        return 1
    return max(1, min(64, tasks // (8 * workers)))


def result_to_json(result: ReplicationResult) -> dict[str, Any]:
    """Every field of the result (whatever fields it has), as JSON data."""
    return dataclasses.asdict(result)


def result_from_json(data: dict[str, Any]) -> ReplicationResult:
    """The result back from ``result_to_json``: fields it does not know are left out, fields
    missing (saved by an older version) take their defaults."""
    names = {f.name for f in dataclasses.fields(ReplicationResult)}
    data = {k: v for k, v in data.items() if k in names}
    deadlock = data.get("deadlock")
    if deadlock:
        data["deadlock"] = (deadlock[0], list(deadlock[1]))
    return ReplicationResult(**data)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class RunStore:
    """Finished replications of a study, one JSON file each under ``root/runs/<variant>/``."""

    def __init__(self, root: Path) -> None:
        self.out = root
        self.root = root / "runs"

    def _folder(self, variant: Variant) -> Path:
        return self.root / variant.id

    def claim_study(self, kind: str, scenario: Scenario, key: str,
                    variants: Sequence[Variant]) -> None:
        """Tie the folder to this study; refuse a folder that holds another one (another
        scenario, the same scenario with other settings, or another kind of study)."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise InputError(str(out), [((), "--out names a file, not a folder: choose a folder "
                                              "(it is created if it does not exist)", None)])
        stamp = out / "study.json"
        mark = {"kind": kind, "scenario": scenario.name, "fingerprint": key,
                "variants": [v.id for v in variants]}
        old = _read_json(stamp) if stamp.exists() else None
        if isinstance(old, dict):
            if (old.get("kind"), old.get("fingerprint")) != (kind, key):
                self._refuse(old.get("kind", "study"), old.get("scenario"), scenario.name)
            return
        # a folder written before study.json, or by hand: look at what it holds
        for other_kind, name in STUDY_FILES.items():
            doc = _read_json(out / name)
            if isinstance(doc, dict) and "scenario" in doc and (
                    doc["scenario"] != scenario.name or other_kind != kind):
                self._refuse(other_kind, doc["scenario"], scenario.name)
        if self.root.is_dir():
            ours = {v.id for v in variants}
            strays = sorted(p.name for p in self.root.iterdir()
                            if p.is_dir() and p.name not in ours)
            if strays:
                raise InputError(str(out), [((), (
                    f"this folder holds runs of other variants ({', '.join(strays[:5])}"
                    f"{', ...' if len(strays) > 5 else ''}), not of this {kind} of "
                    f"{scenario.name!r}; choose a new --out folder (or remove this one)"), None)])
        write_json(stamp, mark)

    def _refuse(self, kind: str, held: str | None, ours: str) -> None:
        what = (f"another version of {ours!r} (other settings, overrides or options)"
                if held == ours else f"scenario {held!r}")
        raise InputError(str(self.out), [((), (
            f"this folder holds a {kind} of {what}; choose a new --out folder (or remove this "
            f"one) to start afresh, or give the same command as before to resume it"), None)])

    def claim(self, variant: Variant) -> None:
        """Tie the variant's folder to its scenario; refuse a folder of another scenario.
        Temporary files left by a write that was killed are removed."""
        folder = self._folder(variant)
        if folder.exists():
            for stale in folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        stamp = folder / "variant.json"
        mark = {"label": variant.label, "params": variant.params,
                "fingerprint": fingerprint(variant.scenario)}
        if stamp.exists():
            old = json.loads(stamp.read_text())
            if old.get("fingerprint") != mark["fingerprint"]:
                raise InputError(str(stamp), [((), (
                    f"this folder holds results of another version of {variant.label!r}; "
                    "choose a new --out folder (or remove this one) to start afresh"), None)])
            return
        write_json(stamp, mark)

    def path(self, variant: Variant, replication: int) -> Path:
        """The result file of one replication of ``variant``."""
        return self._folder(variant) / f"replication-{replication:04d}.json"

    def load(self, variant: Variant, replication: int) -> ReplicationResult | None:
        """The saved result of one replication of ``variant``, or None if not saved yet."""
        path = self.path(variant, replication)
        if not path.exists():
            return None
        return result_from_json(json.loads(path.read_text()))

    def save(self, variant: Variant, result: ReplicationResult,
             took: Timing | None = None) -> None:
        """Save a finished replication; what its simulation took is kept beside the result
        (``seconds`` of wall-clock time, ``cpu_seconds``; ``load`` leaves them out)."""
        # the fields as they are: json writes tuples as lists, so the text is that of
        # result_to_json's data, without copying every nested list first
        data = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        if took is not None:
            data["seconds"], data["cpu_seconds"] = took
        _write_small(self.path(variant, result.replication), json.dumps(data).encode())


def _write_small(path: Path, data: bytes) -> None:
    """``data`` into ``path`` atomically, as ``atomic_write`` does, with fewer system calls
    (one open of a temporary file named by this process, one write, one rename): a study
    saves thousands of these."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run_variants(
    variants: Sequence[Variant],
    *,
    executor: Executor | None = None,
    out: Path | None = None,
    progress: Progress | None = None,
    study: tuple[str, Scenario, str] | None = None,
    options: RunOptions | None = None,
    batch: int | None = None,
) -> dict[str, list[ReplicationResult]]:
    """All replications of every variant, reusing those already saved under ``out``.
    ``study`` is (kind, scenario, key) of the study the folder is claimed for (see
    ``RunStore.claim_study``); ``options`` what each replication records besides (default:
    ``STUDY_OPTIONS``), passed to every replication as it is (without a sensor folder for a
    variant without sensors). ``batch``
    replications go to a worker at a time (default: ``batch_size``); the results do not
    depend on it."""
    executor = executor or make_executor()
    options = options if options is not None else STUDY_OPTIONS
    store = RunStore(out) if out is not None else None
    if store is not None and study is not None:
        store.claim_study(*study, variants)
    by_id = {v.id: v for v in variants}
    results: dict[str, list[ReplicationResult]] = {v.id: [] for v in variants}
    todo: list[Task] = []
    for variant in variants:
        if store is not None:
            store.claim(variant)
        mine = options.for_scenario(variant.scenario)
        for r in range(variant.scenario.replications):
            saved = store.load(variant, r) if store is not None else None
            if saved is None:
                todo.append((variant.id, variant.scenario, r, mine))
            else:
                results[variant.id].append(saved)
    total = sum(v.scenario.replications for v in variants)
    done = total - len(todo)
    if progress is not None:
        progress(done, total)
    size = batch if batch is not None else batch_size(len(todo), getattr(executor, "workers",
                                                                          None))
    batches = [todo[i:i + size] for i in range(0, len(todo), size)]
    finished = executor.map_unordered(_batch, batches)
    try:
        for batch_results in finished:
            for variant_id, result, took in batch_results:
                if store is not None:
                    store.save(by_id[variant_id], result, took)
                results[variant_id].append(result)
                done += 1
                if progress is not None:
                    progress(done, total)
    finally:  # stopped early (an interrupt): the executor ends its workers now
        close = getattr(finished, "close", None)
        if close is not None:
            close()
    return {k: sorted(v, key=lambda r: r.replication) for k, v in results.items()}
