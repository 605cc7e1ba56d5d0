"""The live mirror and the vehicles' events: ``load`` leaves the part in its sender (still
loading it), ``travel`` takes it out (the sender is free, the part on its way), ``unload``
changes nothing until the next node's ``arrive``. Fed a whole run of the agv-cell, the mirror's
machines hold a part exactly where the engine's saved state says they do."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from twin.cli import main
from twin.language.loading import load_scenario
from twin.live.mirror import Mirror
from twin.live.schema import Events, Machines

ROOT = Path(__file__).resolve().parents[1]
AGV = ROOT / "scenarios" / "agv-cell.yaml"


def test_a_vehicle_loading_a_machines_part_leaves_the_machine_holding_it_until_it_leaves(
        ) -> None:
    mirror = Mirror(load_scenario(AGV), tolerance=0.0)
    rows = [(26.0, "dock", "release", 3, None, None), (27.2, "dock", "load", 3, None, None),
            (27.5, "dock", "travel", 3, None, None), (28.1, "B_mill", "unload", 3, None, None),
            (28.4, "B_mill", "arrive", 3, None, None), (28.4, "mill", "start", 3, None, None),
            (30.0, "mill", "finish", 3, None, None), (30.0, "mill", "blocked", 3, None, None),
            (31.8, "mill", "load", 3, None, None)]
    mirror.take("events", Events(0, 31.9, rows))
    mirror.take("machines", Machines(0, 31.9, {"mill": ("blocked", 30.0, 1.6)}))
    assert mirror.state().machines["mill"].part is not None  # loading: still in the mill
    mirror.take("events", Events(1, 32.5, [(32.1, "mill", "travel", 3, None, None),
                                           (32.1, "mill", "unblocked", 3, None, None)]))
    mirror.take("machines", Machines(1, 32.5, {"mill": ("starved", 32.1, 1.6)}))
    state = mirror.state()
    assert state.machines["mill"].state == "starved" and state.machines["mill"].part is None
    assert state.buffers["B_wash"] == []  # on the vehicle, not yet in the buffer
    mirror.take("events", Events(2, 33.2, [(32.8, "B_wash", "unload", 3, None, None)]))
    assert mirror.state().buffers["B_wash"] == []
    mirror.take("events", Events(3, 33.5, [(33.1, "B_wash", "arrive", 3, None, None)]))
    assert len(mirror.state().buffers["B_wash"]) == 1


def test_the_mirror_of_a_whole_run_holds_parts_where_the_engine_does(tmp_path: Path) -> None:
    out = tmp_path / "run"
    saved = tmp_path / "state.yaml"
    horizon = 1500.0
    assert main(["run", str(AGV), "--out", str(out), "--no-sensors", "--events", "--timeline",
                 "--replications", "1", "--horizon", str(horizon), "--workers", "1",
                 "--save-state", str(saved)]) == 0
    engine = yaml.safe_load(saved.read_text())
    events = pd.read_parquet(out / "events.parquet")
    timeline = pd.read_parquet(out / "timeline.parquet")
    mirror = Mirror(load_scenario(AGV), tolerance=0.0)
    rows = [(float(r.time), str(r.node), str(r.event),
             None if pd.isna(r.part) else int(r.part), None, None)
            for r in events.itertuples()]
    mirror.take("events", Events(0, horizon, rows))
    last = timeline.sort_values("time").groupby("machine").last()
    mirror.take("machines", Machines(0, horizon, {
        str(m): (str(r.state), float(r.time), 0.0) for m, r in last.iterrows()}))
    state = mirror.state()
    assert {"load", "travel", "unload"} <= set(events["event"])
    for name, entry in engine["machines"].items():
        assert state.machines[name].state == entry["state"], name
        assert (state.machines[name].part is not None) == ("part" in entry), name
    for name, parts in engine["buffers"].items():
        assert len(state.buffers[name]) == len(parts), name
