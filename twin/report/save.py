"""Saving a study with its report: the study layer writes the data, this writes the page beside
it. What ``twin run``, ``compare``, ``sweep`` and ``optimize`` leave in their folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.records.output import write_text
from twin.report.optimize import optimize_report
from twin.report.pages import write_report
from twin.study.optimize import save_optimize as save_optimize_data

if TYPE_CHECKING:
    from twin.study.runner import RunResult


def save_run(result: RunResult, out: str | Path,
             replay_window: tuple[float, float] | None = None) -> Path:
    """Write what ``twin run`` writes into ``out`` (``RunResult.save``'s data, then
    report.html, with a replay of replication 0 over ``replay_window`` where there is a
    timeline); the report's path."""
    out = Path(out)
    result.save(out)
    return write_report(out, "run", result.summary, replay_window=replay_window,
                        **result.report_inputs())


def save_compare(doc: dict[str, Any], out: Path) -> Path:
    """``out/report.html`` of a comparison (``compare`` with ``out`` wrote compare.json)."""
    return write_report(out, "compare", doc)


def save_sweep(doc: dict[str, Any], out: Path) -> Path:
    """``out/report.html`` of a sweep (``sweep`` with ``out`` wrote its tables)."""
    return write_report(out, "sweep", doc)


def save_optimize(doc: dict[str, Any], out: Path) -> Path:
    """``out/optimize.json`` and ``out/report.html`` of an optimisation; the report's path."""
    save_optimize_data(doc, out)
    path = out / "report.html"
    write_text(path, optimize_report(doc))
    return path
