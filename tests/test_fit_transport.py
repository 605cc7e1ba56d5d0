"""twin fit on a log of parts carried by vehicles: the agv-cell run without vehicle failures and
batteries (travel is then deterministic: distance / speed) gives back its travel times, its load
and unload times exactly, the edges the vehicles served, a fleet of at least one vehicle, and a
scenario that loads and runs; a log with the three vehicle events is no longer refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from twin.cli import main
from twin.fitting import fit_log
from twin.language.loading import load_scenario
from twin.language.transport import transport_points

ROOT = Path(__file__).resolve().parents[1]
AGV = ROOT / "scenarios" / "agv-cell.yaml"
PLAIN = ["--set", "transport.fleets.agv.failures=null",
         "--set", "transport.fleets.agv.battery=null"]


@pytest.fixture(scope="module")
def carried(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("agv")
    assert main(["run", str(AGV), "--out", str(out), "--no-sensors", "--events",
                 "--replications", "2", "--horizon", "3000", "--workers", "1", *PLAIN]) == 0
    return out


def test_fit_gives_back_travel_load_and_unload_times_exactly(carried: Path,
                                                              tmp_path: Path) -> None:
    scenario = load_scenario(carried / "scenario.yaml")
    assert scenario.transport is not None
    fleet = scenario.transport.fleets["agv"]
    assert fleet.failures is None and fleet.battery is None
    distance, problems = scenario.transport.layout.distance_table(
        transport_points(scenario, "agv"))
    assert not problems

    out = tmp_path / "fitted.yaml"
    result = fit_log(carried / "events.parquet", out=out, report=tmp_path / "fit.html")
    tf = result.transport
    assert tf is not None
    served = {(e.source, e.target) for e in scenario.plant.edges if e.by == "agv"}
    assert set(tf.carried) == served
    for (a, b), took in tf.travel.items():
        assert took == pytest.approx(distance[a, b] / fleet.speed, rel=1e-9), (a, b)
    assert tf.load_time == pytest.approx(fleet.load_time, rel=1e-9)
    assert tf.unload_time == pytest.approx(fleet.unload_time, rel=1e-9)
    assert tf.size >= 1 and tf.home == fleet.home
    # every trip of the log took exactly its distance: not only the median
    events = pd.read_parquet(carried / "events.parquet")
    for _, rows in events.groupby(["replication", "part"]):
        seq = rows.sort_index()
        trips = seq[seq["event"] == "travel"]["node"].tolist()
        times = seq[seq["event"].isin(["travel", "unload"])]["time"].to_numpy()
        targets = seq[seq["event"] == "unload"]["node"].tolist()
        for k, (a, b) in enumerate(zip(trips, targets, strict=False)):
            assert times[2 * k + 1] - times[2 * k] == pytest.approx(distance[a, b] / 50,
                                                                    rel=1e-9)

    # the fitted scenario: the carried edges by the fitted fleet, distances in time units
    data = yaml.safe_load(out.read_text())
    assert "distances are travel times (speed 1)" in out.read_text()
    by = {(e["from"], e["to"]) for e in data["plant"]["edges"]
          if isinstance(e, dict) and e.get("by") == "vehicles"}
    assert by == served
    fitted = load_scenario(out)
    assert fitted.transport is not None
    vehicles = fitted.transport.fleets["vehicles"]
    assert vehicles.speed == 1 and vehicles.home == fleet.home
    table, problems = fitted.transport.layout.distance_table(
        transport_points(fitted, "vehicles"))
    assert not problems
    for a, b in served:
        assert table[a, b] == pytest.approx(distance[a, b] / fleet.speed, rel=1e-9)
    report = (tmp_path / "fit.html").read_text()
    assert "<h2>Vehicles</h2>" in report and "travel times" in report
    # and it runs
    run = tmp_path / "run"
    assert main(["run", str(out), "--out", str(run), "--no-sensors", "--replications", "1",
                 "--horizon", "1000", "--workers", "1"]) == 0
    summary = (run / "summary.json").read_text()
    assert '"vehicles"' in summary


def test_empty_drives_of_one_vehicle_give_the_other_distances(carried: Path) -> None:
    """With one vehicle, the time from a hand-over to the next load of a part already waiting
    is the empty drive between them: the layout's other distances come back too."""
    scenario = load_scenario(carried / "scenario.yaml")
    assert scenario.transport is not None
    distance, _ = scenario.transport.layout.distance_table(transport_points(scenario, "agv"))
    tf = fit_log(carried / "events.parquet").transport
    assert tf is not None and tf.empty
    for a, b in tf.empty:
        assert tf.distances[a, b] == pytest.approx(distance[a, b] / 50, rel=1e-9), (a, b)
