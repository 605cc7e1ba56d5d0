"""Output folders: one study per folder (another scenario's is refused, the same study resumes),
--out naming a file, an unreachable Dask scheduler, and `twin run` resuming like compare."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from twin import load_scenario, run, save_run
from twin.cli import main
from twin.study.executors import SerialExecutor

ROOT = Path(__file__).resolve().parents[1]
TWO = str(ROOT / "scenarios" / "two-station.yaml")
WEAR = str(ROOT / "scenarios" / "wear.yaml")
TINY = ["--horizon", "3000", "--replications", "2", "--workers", "1"]


def test_compare_into_another_scenarios_compare_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c"
    assert main(["compare", TWO, "--out", str(out), *TINY]) == 0
    before = sorted(p.name for p in (out / "runs").iterdir())
    capsys.readouterr()
    # wear.yaml's policies have other names: today's folders would silently mix
    assert main(["compare", WEAR, "--out", str(out), *TINY]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "'two-station-line'" in err and "Traceback" not in err
    assert sorted(p.name for p in (out / "runs").iterdir()) == before
    # the same policy names, another scenario (the file renamed): refused too
    other = tmp_path / "other.yaml"
    other.write_text(Path(TWO).read_text().replace("name: two-station-line", "name: other"))
    assert main(["compare", str(other), "--out", str(out), *TINY]) == 2
    assert "'two-station-line'" in capsys.readouterr().err
    # a sweep into a compare's folder
    assert main(["sweep", TWO, "--out", str(out), "--param", "plant.nodes.B1.capacity",
                 "--values", "1,2", *TINY]) == 2
    assert "holds a compare" in capsys.readouterr().err
    # the same compare again resumes: nothing to run, the same document
    doc = json.loads((out / "compare.json").read_text())
    assert main(["compare", TWO, "--out", str(out), *TINY]) == 0
    assert json.loads((out / "compare.json").read_text())["policies"] == doc["policies"]


def test_folder_without_a_stamp_holding_other_runs_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s"
    assert main(["sweep", TWO, "--out", str(out), "--param", "plant.nodes.B1.capacity",
                 "--values", "1,2", *TINY]) == 0
    (out / "study.json").unlink()  # as written by an older version
    (out / "sweep.json").unlink()
    capsys.readouterr()
    assert main(["compare", TWO, "--out", str(out), *TINY]) == 2
    assert "runs of other variants (point-000, point-001)" in capsys.readouterr().err


def test_out_naming_a_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    for command in (["run", TWO], ["compare", TWO],
                    ["sweep", TWO, "--param", "horizon", "--values", "3000"],
                    ["train", WEAR, "--predictor", "linear"]):
        assert main([*command, "--out", str(path)]) == 2, command
        err = capsys.readouterr().err
        assert f"--out {path}: this is a file, not a folder" in err
        assert "Traceback" not in err
    assert path.read_text() == "keep me"


def test_unreachable_dask_scheduler_exits_2_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert main(["compare", TWO, "--out", str(tmp_path / "d"), "--executor", "dask",
                 "--scheduler", "tcp://127.0.0.1:1", "--horizon", "2000",
                 "--replications", "2"]) == 2
    assert time.monotonic() - started < 30
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in err
    assert "Traceback" not in err


def test_twin_run_resumes_and_matches_the_library(tmp_path: Path) -> None:
    out = tmp_path / "r"
    args = ["run", TWO, "--out", str(out), "--horizon", "3000", "--replications", "3",
            "--workers", "1"]
    assert main(args) == 0
    saved = sorted((out / "runs" / "run").glob("replication-*.json"))
    assert len(saved) == 3
    summary = (out / "summary.json").read_bytes()
    # lose the last replication and the outputs: the rerun runs only that one
    saved[-1].unlink()
    stamps = {p: p.stat().st_mtime_ns for p in saved[:-1]}
    (out / "summary.json").unlink()
    assert main(args) == 0
    assert all(p.stat().st_mtime_ns == m for p, m in stamps.items())
    assert (out / "summary.json").read_bytes() == summary
    scenario = load_scenario(TWO, [("horizon", 3000), ("replications", 3)])
    library = run(scenario, executor=SerialExecutor())
    assert json.loads(summary)["kpis"] == library.summary["kpis"]
    # RunResult.save writes what `twin run` writes
    saved_out = tmp_path / "saved"
    report = save_run(library, saved_out)
    assert report == saved_out / "report.html" and report.stat().st_size > 100_000
    cli_files = {p.name for p in out.iterdir()} - {"runs", "study.json"}
    assert {p.name for p in saved_out.iterdir()} == cli_files
    assert (saved_out / "summary.json").read_bytes() == summary
    # another horizon into the same folder: refused, not mixed
    assert main([*args[:-5], "--horizon", "4000", "--replications", "3", "--workers", "1"]) == 2
