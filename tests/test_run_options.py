"""The run options as one object: built from keywords in one place, passed from ``run`` down to
``simulate`` as they are, the same numbers whichever way they are given, and the same resume
fingerprint as the keywords gave before (folders saved then are resumed, not run again)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml

from twin import load_scenario, run
from twin.engine.options import FIELDS, RunOptions
from twin.engine.replication import simulate
from twin.engine.state import PlantState
from twin.language.schema import Scenario
from twin.study.runner import run_replications
from twin.study.store import Options, fingerprint, result_to_json

ROOT = Path(__file__).resolve().parents[1]


def small(name: str = "two-station.yaml", replications: int = 3) -> Scenario:
    return load_scenario(ROOT / "scenarios" / name).model_copy(
        update={"horizon": 3000.0, "warmup": 300.0, "replications": replications})


def state_of(scenario: Scenario) -> PlantState:
    text = simulate(scenario, 0, save_state=True).end_state
    assert text is not None
    return PlantState.model_validate(yaml.safe_load(text))


def previous_key(timeline: bool = False, sensor_dir: Path | None = None,
                 event_dir: Path | None = None, state: Any = None, save_state: bool = False,
                 buckets: float = 0.0) -> dict[str, Any]:
    """The settings ``run_replications`` hashed into a run's fingerprint when it took them as
    keywords, spelled as it spelled them."""
    return {"timeline": timeline, "sensors": sensor_dir is not None,
            **({"events": True} if event_dir is not None else {}),
            **({"state": state.digest()} if state is not None else {}),
            **({"save_state": True} if save_state else {}),
            **({"buckets": buckets} if buckets else {})}


def test_the_keywords_build_the_object_in_one_place() -> None:
    assert FIELDS == ("timeline", "sensor_dir", "event_dir", "state", "save_state", "buckets",
                      "inventory")
    assert RunOptions.of() == RunOptions()
    assert RunOptions.of(timeline=True, buckets=50.0) == RunOptions(timeline=True, buckets=50.0)
    base = RunOptions(timeline=True, event_dir=Path("ev"))
    assert RunOptions.of(base) is base
    assert RunOptions.of(base, buckets=5.0) == RunOptions(timeline=True, event_dir=Path("ev"),
                                                         buckets=5.0)
    assert RunOptions(sensor_dir="s").sensor_dir == Path("s")  # type: ignore[arg-type]
    assert Options is RunOptions  # the study's name for it
    with pytest.raises(TypeError, match="unknown run option 'timelines'; did you mean "
                                        "'timeline'"):
        RunOptions.of(timelines=True)
    with pytest.raises(TypeError, match="unknown run option 'bucket'"):
        simulate(small(), 0, bucket=10.0)
    with pytest.raises(TypeError, match="unknown run option 'sensors'"):
        run(small(), sensors=True)


def test_keywords_and_the_object_give_the_same_numbers(tmp_path: Path) -> None:
    scenario = small()
    by_name = simulate(scenario, 1, timeline=True, buckets=500.0, inventory=False)
    by_object = simulate(scenario, 1, RunOptions(timeline=True, buckets=500.0, inventory=False))
    assert result_to_json(by_name) == result_to_json(by_object)
    assert by_object.timelines is not None and len(by_object.buckets["throughput"]) == 6
    plain = run(scenario, workers=1)
    assert run(scenario, options=RunOptions(), workers=1).summary == plain.summary
    # the same replications, whatever records them besides
    timed = run(scenario, workers=1, options=RunOptions(timeline=True), buckets=900.0)
    assert timed.summary["kpis"] == plain.summary["kpis"]
    assert timed.summary["buckets"]["width"] == 900.0 and timed.timeline_table() is not None
    assert [r.kpis for r in run_replications(scenario, workers=1, timeline=True)] == [
        r.kpis for r in plain.replications]


def test_simulate_opens_the_sinks_of_the_folders_it_is_given(tmp_path: Path) -> None:
    scenario = small("wear.yaml")
    options = RunOptions(sensor_dir=tmp_path / "sensors", event_dir=tmp_path / "events")
    simulate(scenario, 2, options)
    assert (tmp_path / "events" / "replication-0002.parquet").is_file()
    assert sorted(p.relative_to(tmp_path).as_posix()
                  for p in (tmp_path / "sensors").rglob("*.parquet")) == [
        "sensors/machine=press/replication-0002.parquet"]
    # a plant without sensors is given no sensor folder
    assert options.for_scenario(small()).sensor_dir is None
    assert options.for_scenario(scenario) is options


def test_only_replication_0_keeps_its_end_state() -> None:
    scenario = small()
    assert simulate(scenario, 0, save_state=True).end_state is not None
    assert simulate(scenario, 1, save_state=True).end_state is None
    result = run(scenario, workers=1, save_state=True)
    assert [r.end_state is not None for r in result.replications] == [True, False, False]
    assert result.end_state == simulate(scenario, 0, save_state=True).end_state


def test_the_options_travel_to_worker_processes(tmp_path: Path) -> None:
    scenario = small()
    options = RunOptions(timeline=True, event_dir=tmp_path / "events", state=state_of(scenario),
                         save_state=True, buckets=300.0)
    assert pickle.loads(pickle.dumps(options)).key() == options.key()
    one = run(scenario, workers=1, options=options)
    two = run(scenario, workers=2, options=options)
    assert two.summary == one.summary
    assert two.end_state == one.end_state


@pytest.mark.parametrize("settings", [
    {},
    {"timeline": True},
    {"event_dir": "events", "buckets": 250.0},
    {"save_state": True, "timeline": True},
    {"state": True},
    {"sensor_dir": "sensors"},
])
def test_the_fingerprint_is_the_one_the_keywords_gave(tmp_path: Path,
                                                      settings: dict[str, Any]) -> None:
    scenario = small("wear.yaml" if "sensor_dir" in settings else "two-station.yaml")
    settings = dict(settings)
    for name in ("event_dir", "sensor_dir"):
        if name in settings:
            settings[name] = tmp_path / settings[name]
    if settings.get("state"):
        settings["state"] = state_of(scenario)
    key = fingerprint(scenario, previous_key(**settings))
    assert fingerprint(scenario, RunOptions.of(**settings).for_scenario(scenario).key()) == key
    out = tmp_path / "run"
    first = run(scenario, out=out, workers=1, **settings)
    assert json.loads((out / "study.json").read_text())["fingerprint"] == key
    # a folder of finished replications, as a version taking keywords left it: study.json
    # with its fingerprint, replication 1 marked so that a re-run would show
    saved = out / "runs" / "run" / "replication-0001.json"
    data = json.loads(saved.read_text())
    data["kpis"]["throughput"] = 123.0
    saved.write_text(json.dumps(data))
    (out / "study.json").write_text(json.dumps(
        {"kind": "run", "scenario": scenario.name, "fingerprint": key, "variants": ["run"]}))
    seen: list[tuple[int, int]] = []
    again = run(scenario, out=out, workers=1, options=RunOptions.of(**settings),
                progress=lambda done, total: seen.append((done, total)))
    assert seen == [(3, 3)]  # found, none run again
    assert again.replications[1].kpis["throughput"] == 123.0
    assert again.replications[0].kpis == first.replications[0].kpis


def test_other_options_are_another_study(tmp_path: Path) -> None:
    scenario = small()
    keys = {fingerprint(scenario, RunOptions.of(**s).key()) for s in [
        {}, {"timeline": True}, {"buckets": 10.0}, {"save_state": True},
        {"event_dir": tmp_path}, {"inventory": False}]}
    assert len(keys) == 6
    # where files go is not part of it, whether they are written is
    assert (RunOptions(event_dir=tmp_path / "a").key()
            == RunOptions(event_dir=tmp_path / "b").key())
