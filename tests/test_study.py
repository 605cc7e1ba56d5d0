"""compare and sweep: common random numbers, rankings, resuming, and the same numbers on Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from twin import load_scenario
from twin.cli import main
from twin.study.executors import DaskExecutor, SerialExecutor
from twin.study.variants import compare, rank, sweep

ROOT = Path(__file__).resolve().parents[1]
TWO = ROOT / "scenarios" / "two-station.yaml"


def small(path: Path = TWO, **fields: object) -> object:
    overrides = [("horizon", 5000), ("replications", 4), *fields.items()]
    return load_scenario(path, overrides)


def test_compare_pairs_policies_on_common_random_numbers(tmp_path: Path) -> None:
    doc = compare(small(), executor=SerialExecutor())
    assert list(doc["policies"]) == ["run-to-failure", "preventive-40"]
    assert doc["baseline"] == "run-to-failure"
    base = doc["policies"]["run-to-failure"]
    pm = doc["policies"]["preventive-40"]
    # the baseline's difference with itself is exactly zero
    assert base["differences"]["throughput"]["values"] == [0.0] * 4
    diff = pm["differences"]["cost_rate"]
    assert diff["values"] == pytest.approx(
        [a - b for a, b in zip(pm["kpis"]["cost_rate"]["values"],
                               base["kpis"]["cost_rate"]["values"], strict=True)])
    assert pm["machines"]["M2"]["preventive"]["mean"] > 0
    assert base["machines"]["M2"]["preventive"]["mean"] == 0
    # common random numbers make the paired interval narrower than the unpaired ones
    width = lambda s: s["ci95"][1] - s["ci95"][0]  # noqa: E731
    assert width(pm["differences"]["throughput"]) < width(pm["kpis"]["throughput"])


def test_rank_shares_ranks_when_intervals_contain_zero() -> None:
    values = {"a": [1.0, 2.0, 3.0, 4.0], "b": [1.01, 2.02, 2.98, 4.03], "c": [2.0, 3.0, 4.0, 5.0]}
    ranking = rank(["c", "b", "a"], values, "cost_rate")
    assert [(e["name"], e["rank"]) for e in ranking] == [("a", 1), ("b", 1), ("c", 3)]
    assert ranking[0]["not_distinguishable_from"] == ["b"]
    assert ranking[1]["distinguishable_from_next"] is True
    ranking = rank(["a", "c"], values, "throughput")
    assert ranking[0]["name"] == "c"


def test_sweep_rows_and_best(tmp_path: Path) -> None:
    scenario = small(**{"maintenance.policy": {"kind": "preventive", "every": 40,
                                               "duration": 2}})
    doc, rows = sweep(scenario, [("maintenance.policy.every", [20, 80]),
                                 ("costs.preventive", [50, 400])], executor=SerialExecutor())
    assert len(doc["points"]) == 4
    assert len(rows) == 4 * 4
    assert set(rows.columns) >= {"run", "replication", "maintenance.policy.every",
                                 "costs.preventive", "throughput", "cost_rate"}
    best = min(doc["points"], key=lambda p: p["kpis"]["cost_rate"]["mean"])
    assert doc["best"]["run"] == best["run"]
    assert doc["best"]["params"] == {"maintenance.policy.every": 80, "costs.preventive": 50}


def test_cli_compare_and_sweep_write_their_files(tmp_path: Path) -> None:
    args = ["--horizon", "4000", "--replications", "3", "--workers", "2"]
    assert main(["compare", str(TWO), "--out", str(tmp_path / "c"), *args]) == 0
    assert json.loads((tmp_path / "c" / "compare.json").read_text())["ranking"]
    assert (tmp_path / "c" / "report.html").stat().st_size > 100_000
    assert main(["sweep", str(ROOT / "scenarios" / "default.yaml"), "--out", str(tmp_path / "s"),
                 "--param", "plant.nodes.B_saw.capacity", "--values", "1,6,12", *args]) == 0
    csv = pd.read_csv(tmp_path / "s" / "sweep.csv")
    assert sorted(set(csv["plant.nodes.B_saw.capacity"])) == [1, 6, 12]
    assert len(pd.read_parquet(tmp_path / "s" / "sweep.parquet")) == 9
    doc = json.loads((tmp_path / "s" / "sweep.json").read_text())
    throughput = [p["kpis"]["throughput"]["mean"] for p in doc["points"]]
    assert throughput[0] < throughput[2]  # more buffer space, more output
    assert (tmp_path / "s" / "report.html").exists()


@pytest.mark.parametrize(("args", "words"), [
    (["--param", "horizon"], "one --values for each --param"),
    (["--param", "plant.nodes.M1.process_time.mean", "--values", "1,-1"], "greater than 0"),
    (["--param", "plant.nodes.M9.kind", "--values", "machine"], "M9"),
    (["--values", "1,2"], "one --values for each --param"),
    (["--param", "horizon", "--values", "1,,2"], "empty value"),
])
def test_bad_sweep_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    args: list[str], words: str) -> None:
    assert main(["sweep", str(TWO), "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_compare_without_policies_exits_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(ROOT / "scenarios" / "mm1.yaml"), "--out", str(tmp_path)]) == 2
    assert "no policies" in capsys.readouterr().err


def test_dask_gives_the_same_numbers_as_local_processes() -> None:
    from dask.distributed import Client, LocalCluster

    scenario = small()
    local = compare(scenario, executor=SerialExecutor())
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        remote = compare(scenario, executor=DaskExecutor(client))
        remote_sweep, _ = sweep(scenario, [("plant.nodes.B1.capacity", [1, 3])],
                                executor=DaskExecutor(cluster.scheduler_address))
    assert json.dumps(remote, sort_keys=True) == json.dumps(local, sort_keys=True)
    local_sweep, _ = sweep(scenario, [("plant.nodes.B1.capacity", [1, 3])],
                           executor=SerialExecutor())
    assert json.dumps(remote_sweep, sort_keys=True) == json.dumps(local_sweep, sort_keys=True)


def test_killed_sweep_resumes_without_repeating_finished_runs(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "twin.cli", "sweep", str(TWO), "--out", str(out),
           "--param", "plant.nodes.B1.capacity", "--values", "1,2,3,4,5,6",
           "--horizon", "60000", "--replications", "4", "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    runs = out / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(runs.glob("*/replication-*.json"))) < 5:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in runs.glob("*/replication-*.json")}
    assert 5 <= len(first) < 24, "the sweep was not stopped midway"
    assert not (out / "sweep.json").exists()

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    after = list(runs.glob("*/replication-*.json"))
    assert len(after) == 24
    for path, stamp in first.items():  # finished replications were kept, not run again
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == stamp
    assert not list(runs.glob("*/.*.tmp"))
    doc = json.loads((out / "sweep.json").read_text())

    # the resumed sweep gives the numbers of an uninterrupted one
    whole, _ = sweep(load_scenario(TWO, [("horizon", 60000), ("replications", 4)]),
                     [("plant.nodes.B1.capacity", [1, 2, 3, 4, 5, 6])], executor=SerialExecutor())
    assert doc["points"] == json.loads(json.dumps(whole["points"]))


def test_reusing_an_out_folder_for_another_scenario_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sweep", str(TWO), "--out", str(tmp_path), "--param", "plant.nodes.B1.capacity",
            "--values", "1", "--horizon", "2000", "--replications", "2"]
    assert main(args) == 0
    assert main([*args, "--seed", "5"]) == 2
    assert "another version" in capsys.readouterr().err
