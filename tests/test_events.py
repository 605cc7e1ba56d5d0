"""The event log: every event in order for a traced machine, balances on a real plant, and the
file `twin run --events` writes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from twin.cli import main
from twin.engine.replication import simulate
from twin.language.loading import scenario_from_data
from twin.records.events import EVENTS

ROOT = Path(__file__).resolve().parents[1]


class Keep:
    def write(self, table):  # type: ignore[no-untyped-def]
        self.frame = table.to_pandas()


def test_one_machine_logs_every_event_in_order() -> None:
    # parts of 2, failures after 5 of operating time (never reached), preventive every 3 of
    # operating time lasting 1
    scenario = scenario_from_data({
        "name": "log", "horizon": 8,
        "plant": {"nodes": {
            "raw": {"kind": "source"},
            "M": {"kind": "machine", "process_time": 2, "failures": {"ttf": 5, "ttr": 2}},
            "out": {"kind": "sink"}},
            "edges": [["raw", "M"], ["M", "out"]]},
        "maintenance": {"crew": None,
                        "policy": {"kind": "preventive", "every": 3, "duration": 1}}})
    keep = Keep()
    simulate(scenario, 0, event_sink=keep)
    rows = [(t, n, e, None if pd.isna(p) else int(p))
            for t, n, e, p in keep.frame[["time", "node", "event", "part"]].itertuples(index=False)]
    assert rows == [
        (0, "raw", "release", 1), (0, "M", "start", 1),
        (2, "M", "finish", 1), (2, "out", "ship", 1),
        (2, "raw", "release", 2), (2, "M", "start", 2),
        (3, "M", "pm_start", None), (4, "M", "pm_end", None),   # at operating age 3, mid-part
        (5, "M", "finish", 2), (5, "out", "ship", 2),
        (5, "raw", "release", 3), (5, "M", "start", 3),
        (7, "M", "pm_start", None),  # age 3 again as part 3 would end: maintained first
    ]


def test_events_balance_on_a_plant_with_failures_and_buffers(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", str(ROOT / "scenarios" / "two-station.yaml"), "--events", "--out",
                 str(out), "--replications", "2", "--horizon", "20000", "--set", "warmup=0",
                 "--workers", "1"]) == 0
    log = pd.read_parquet(out / "events.parquet")
    summary = json.loads((out / "summary.json").read_text())
    assert set(log["event"]) <= set(EVENTS)
    assert list(log["replication"].unique()) == [0, 1]
    for r, events in log.groupby("replication"):
        assert events["time"].is_monotonic_increasing
        counts = events.groupby(["node", "event"]).size()
        for machine, stats in summary["machines"].items():
            assert counts.get((machine, "fail"), 0) == stats["failures"]["values"][r]
            assert counts.get((machine, "repair_end"), 0) in (stats["failures"]["values"][r],
                                                              stats["failures"]["values"][r] - 1)
            started, finished = counts.get((machine, "start"), 0), counts.get((machine, "finish"), 0)
            assert finished == stats["processed"]["values"][r]
            assert started - finished in (0, 1)
            assert counts.get((machine, "blocked"), 0) - counts.get((machine, "unblocked"), 0) \
                in (0, 1)
        shipped = events[events["event"] == "ship"]
        throughput = summary["kpis"]["throughput"]["values"][r]
        assert len(shipped) == round(throughput * 20000)
        # every shipped part was released, started and finished before it shipped, in order
        first = events.drop_duplicates(["part", "event"]).set_index(["part", "event"])["time"]
        for part in shipped["part"].head(50):
            assert first[(part, "release")] <= first[(part, "start")] \
                <= first[(part, "finish")] <= first[(part, "ship")]
