"""`twin run`: the summary.json of the contract, reproducibility, and the files it writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from twin import load_scenario, run
from twin.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--horizon", "4000", "--replications", "4"]


def run_cli(tmp_path: Path, name: str, *args: str) -> dict:
    out = tmp_path / name
    assert main(["run", str(ROOT / "scenarios" / "two-station.yaml"), "--out", str(out),
                 *SMALL, *args]) == 0
    return json.loads((out / "summary.json").read_text())


def test_summary_has_the_contract_keys(tmp_path: Path) -> None:
    summary = run_cli(tmp_path, "a", "--workers", "1")
    assert {"scenario", "seed", "replications", "horizon", "warmup", "kpis", "machines"} <= set(
        summary)
    assert summary["scenario"] == "two-station-line"
    assert (summary["seed"], summary["replications"], summary["horizon"], summary["warmup"]) == (
        42, 4, 4000, 1000)
    assert {"throughput", "lead_time", "wip", "oee", "cost_rate"} <= set(summary["kpis"])
    assert set(summary["machines"]) == {"M1", "M2"}
    for stats in summary["machines"].values():
        assert {"utilization", "availability", "blocked", "starved", "failures",
                "preventive"} <= set(stats)
    for stat in [*summary["kpis"].values(), *summary["machines"]["M2"].values()]:
        assert set(stat) == {"mean", "ci95", "values"}
        assert len(stat["values"]) == 4
        low, high = stat["ci95"]
        assert low <= stat["mean"] <= high
    # the fractions of a machine's time add up to one
    m1 = summary["machines"]["M2"]
    total = sum(m1[k]["mean"] for k in ("utilization", "blocked", "starved", "down", "repair",
                                        "maintenance", "setup"))
    assert total == pytest.approx(1.0)


def test_same_seed_same_summary_whatever_the_workers(tmp_path: Path) -> None:
    one = (tmp_path / "one")
    run_cli(tmp_path, "one", "--workers", "1")
    run_cli(tmp_path, "two", "--workers", "2")
    run_cli(tmp_path, "three", "--workers", "3")
    text = (one / "summary.json").read_bytes()
    assert (tmp_path / "two" / "summary.json").read_bytes() == text
    assert (tmp_path / "three" / "summary.json").read_bytes() == text
    other = run_cli(tmp_path, "other", "--seed", "43")
    assert other["kpis"]["throughput"]["values"] != json.loads(text)["kpis"]["throughput"]["values"]


def test_replication_does_not_depend_on_how_many_run(tmp_path: Path) -> None:
    few = run_cli(tmp_path, "few", "--replications", "2")
    many = run_cli(tmp_path, "many", "--replications", "5")
    assert many["kpis"]["throughput"]["values"][:2] == few["kpis"]["throughput"]["values"]


def test_tables_and_resolved_scenario(tmp_path: Path) -> None:
    run_cli(tmp_path, "t", "--timeline")
    out = tmp_path / "t"
    reps = pd.read_parquet(out / "replications.parquet")
    assert list(reps["replication"]) == [0, 1, 2, 3]
    machines = pd.read_parquet(out / "machines.parquet")
    assert len(machines) == 8
    timeline = pd.read_parquet(out / "timeline.parquet")
    assert set(timeline["state"]) <= {"working", "starved", "blocked", "down", "repair",
                                      "maintenance"}
    assert load_scenario(out / "scenario.yaml").horizon == 4000
    assert not list(out.glob(".*.tmp"))


def test_set_changes_the_answer(tmp_path: Path) -> None:
    base = run_cli(tmp_path, "base")
    faster = run_cli(tmp_path, "fast", "--set", "plant.nodes.M2.process_time.mean=0.5")
    assert faster["kpis"]["throughput"]["mean"] > base["kpis"]["throughput"]["mean"] * 1.1


def test_preventive_policy_by_set_counts_maintenance(tmp_path: Path) -> None:
    summary = run_cli(tmp_path, "pm", "--set",
                      "maintenance.policy={kind: preventive, every: 40, duration: 2}")
    assert summary["machines"]["M2"]["preventive"]["mean"] > 0
    assert summary["machines"]["M1"]["preventive"]["mean"] == 0  # M1 never fails


def test_library_api_matches_cli(tmp_path: Path) -> None:
    cli = run_cli(tmp_path, "cli", "--workers", "1")
    scenario = load_scenario(ROOT / "scenarios" / "two-station.yaml",
                             [("horizon", 4000), ("replications", 4)])
    assert run(scenario, workers=1).summary["kpis"] == cli["kpis"]


def test_default_out_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(ROOT / "scenarios" / "mm1.yaml"), *SMALL]) == 0
    runs = [p for p in (tmp_path / "results" / "mm1").iterdir() if p.name != "latest"]
    assert len(runs) == 1 and (runs[0] / "summary.json").exists()
    assert runs[0].name.endswith("Z")
    latest = tmp_path / "results" / "mm1" / "latest"
    assert latest.is_symlink() and latest.resolve() == runs[0].resolve()
    assert main(["run", str(ROOT / "scenarios" / "mm1.yaml"), *SMALL]) == 0
    second = [p for p in (tmp_path / "results" / "mm1").iterdir() if p not in (*runs, latest)]
    assert len(second) == 1 and latest.resolve() == second[0].resolve()
    assert not list((tmp_path / "results" / "mm1").glob(".latest*"))


@pytest.mark.parametrize("scenario", sorted((ROOT / "scenarios").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_bundled_scenarios_validate(scenario: Path, tmp_path: Path) -> None:
    if scenario.stem == "fd001":
        scenario = _fd001_with_its_model(scenario, tmp_path)
    assert main(["validate", str(scenario)]) == 0


def _fd001_with_its_model(scenario: Path, tmp_path: Path) -> Path:
    """The FD001 scenario reads a model its comments say to train first: train it here."""
    data = ROOT.parent / "shared" / "data" / "cmapss" / "train_FD001.txt"
    if not data.exists():
        pytest.skip("the C-MAPSS data is not here")
    model = tmp_path / "fd001-gbt"
    assert main(["train", "--data", str(data), "--format", "cmapss", "--predictor", "gbt",
                 "--coverage", "0.9", "--out", str(model)]) == 0
    text = scenario.read_text()
    text = text.replace("../results/models/fd001-gbt/model.json", str(model / "model.json"))
    text = text.replace("../../shared/data/cmapss/train_FD001.txt", str(data))
    copy = tmp_path / scenario.name
    copy.write_text(text)
    return copy


def test_deadlocked_loop_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("""\
name: loop
horizon: 1000
plant:
  nodes:
    raw: {kind: source}
    B: {kind: buffer, capacity: 1}
    A: {kind: machine, process_time: 1}
    R: {kind: machine, process_time: 1}
    done: {kind: sink}
  edges:
    - [raw, B]
    - [B, A]
    - {from: A, to: R, p: 0.5}
    - {from: A, to: done, p: 0.5}
    - [R, B]
""")
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert len(summary["warnings"]) == 1
    assert "deadlock" in summary["warnings"][0] and "A, R" in summary["warnings"][0]
    assert "deadlock" in capsys.readouterr().err
    # rework waiting in an unbounded buffer never deadlocks the loop
    path.write_text(path.read_text().replace(
        "    done: {kind: sink}", "    done: {kind: sink}\n    RB: {kind: buffer}").replace(
        "{from: A, to: R, p: 0.5}", "{from: A, to: RB, p: 0.5}\n    - [RB, R]"))
    assert main(["run", str(path), "--out", str(tmp_path / "ok")]) == 0
    assert json.loads((tmp_path / "ok" / "summary.json").read_text())["warnings"] == []


def test_output_files_are_readable_by_others(tmp_path: Path) -> None:
    run_cli(tmp_path, "perm")
    mode = (tmp_path / "perm" / "summary.json").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_an_interval_without_spread_prints_without_rounding_noise() -> None:
    """Policies that never fail have the same cost in every replication: an interval of width
    1e-16 from the sums' rounding is no spread."""
    from twin.report.console import _pm

    mean = 1.0799308705984019
    assert _pm({"mean": mean, "ci95": [mean - 2.2e-16, mean + 2.2e-16]}, signed=False) \
        == "1.080 ± 0.000"
    assert _pm({"mean": -0.100000000000000006, "ci95": [-0.10000000000000002, -0.09999999999999999]}) \
        == "-0.100 ± 0.000*"
    assert _pm({"mean": 0.473, "ci95": [0.462, 0.484]}, signed=False) == "0.473 ± 0.011"
