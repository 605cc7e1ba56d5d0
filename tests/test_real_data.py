"""Training from recorded lives (`twin train --data`), the saved preprocessing, bad input
(exit 2), and replaying held-out lives in the twin. The lives file is made here: a few units
whose sensors drift as they wear, one constant sensor, a jittering operating setting."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.cli import main
from twin.engine.replication import simulate
from twin.errors import InputError
from twin.ml.lives import Preprocess
from twin.records.lives import read_lives


def make_lives(units: int = 16, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(1, units + 1):
        n = int(rng.integers(60, 110))
        health = np.exp(rng.uniform(2.5, 3.5) * np.arange(1, n + 1) / n) - 1
        for k in range(n):
            rows.append({"unit": u, "cycle": k + 1, "setting1": rng.normal(0, 0.001),
                         "s1": 518.67, "s2": 640 + 0.5 * health[k] + rng.normal(0, 0.3),
                         "s11": 1590 + 2.0 * health[k] + rng.normal(0, 1.5),
                         "s3": 47 - 0.08 * health[k] + rng.normal(0, 0.05)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def lives(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lives") / "lives.csv"
    make_lives().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model(lives: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model")
    assert main(["train", "--data", str(lives), "--predictor", "linear", "--rul-cap", "60",
                 "--out", str(out)]) == 0
    return out / "model.json"


def test_train_from_a_lives_file_prints_and_saves_held_out_scores(
        model: Path, lives: Path) -> None:
    metrics = json.loads((model.parent / "metrics.json").read_text())
    assert metrics["test_lives"] == 3 and metrics["train_lives"] == 13  # 20% held out by unit
    assert metrics["rul_rmse"] < 0.6 * metrics["constant_rmse"]
    assert metrics["phm_score"] > 0
    meta = json.loads(model.read_text())["metadata"]
    assert not set(meta["train_units"]) & set(meta["test_units"])
    # sensor order as in the file (s11 after s2, not sorted as text), the constant one dropped
    assert meta["sensors"] == ["s2", "s11", "s3"]
    assert meta["preprocess"]["dropped"] == ["s1"]
    assert len(meta["preprocess"]["mean"]) == 1  # a jittering setting is one regime
    assert meta["rul_cap"] == 60
    assert meta["history"] == 30  # windows end from the 30th reading on, held-out cuts too


def test_scoring_with_missing_or_extra_sensors_names_them(model: Path) -> None:
    prep = Preprocess.from_json(json.loads(model.read_text())["metadata"]["preprocess"])
    with pytest.raises(InputError, match=r"missing: s11"):
        prep.check(["s2", "s3", "s1"], "data")
    with pytest.raises(InputError, match=r"does not know: s9"):
        prep.check(["s2", "s11", "s3", "s9"], "data")
    prep.check(["setting1", "s1", "s2", "s11", "s3"], "data")  # dropped and settings: fine


def test_regimes_where_the_settings_cluster(tmp_path: Path) -> None:
    frame = make_lives(units=6)
    regime = np.arange(len(frame)) % 3
    frame["setting1"] = regime * 20 + frame["setting1"]
    frame["s2"] += regime * 50  # each regime shifts the sensor's level
    path = tmp_path / "regimes.csv"
    frame.to_csv(path, index=False)
    prep = Preprocess.fit(read_lives(path))
    assert len(prep.centers) == 3
    normalized = prep.transform(read_lives(path).frame)
    assert abs(normalized[:, 0].mean()) < 1e-9 and normalized[:, 0].std() < 1.5


def test_cmapss_format(tmp_path: Path) -> None:
    frame = make_lives(units=6)
    rows = [" ".join([str(r.unit), str(r.cycle), f"{r.setting1:.4f}", "0.0", "100.0"]
                     + [f"{r.s2 + i:.2f}" for i in range(21)]) for r in frame.itertuples()]
    path = tmp_path / "train_FD.txt"
    path.write_text("\n".join(rows) + "\n")
    lives = read_lives(path, "cmapss")
    assert lives.sensors == [f"s{i}" for i in range(1, 22)] and len(lives.units) == 6
    assert lives.units == sorted(lives.units)  # units as numbers


@pytest.mark.parametrize(("change", "args", "message"), [
    (lambda f: f.drop(columns="unit"), [], "no 'unit' column"),
    (lambda f: f.astype({"s3": object}).assign(s3=lambda d: d["s3"].where(d.index != 7, "n/a")),
     [], r"bad.csv:9: s3: row 8: not a number"),
    (lambda f: f[(f["unit"] != 2) | (f["cycle"] <= 20)], [],
     "the life of unit 2 has 20 readings, fewer than the 30 a window needs"),
    (lambda f: f, ["--rul-cap", "0"], "--rul-cap: must be a positive number"),
])
def test_bad_input_exits_2(change, args, message, tmp_path: Path,  # type: ignore[no-untyped-def]
                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    change(make_lives(units=6)).to_csv(path, index=False)
    assert main(["train", "--data", str(path), "--predictor", "linear",
                 "--out", str(tmp_path / "m"), *args]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err


def test_windows_longer_than_a_life_so_far_are_padded_and_cuts_do_not_depend_on_them(
        lives: Path) -> None:
    from twin.ml.lives import life_windows, truncated

    data = read_lives(lives)
    prep = Preprocess.fit(data)
    X30, y30, _ = truncated(data, prep, 30, seed=5, per_unit=4)
    X60, y60, _ = truncated(data, prep, 60, seed=5, per_unit=4, history=30)
    assert np.array_equal(y30, y60) and np.array_equal(X60[:, 30:], X30)  # the same cuts
    first = prep.transform(data.subset([1]).frame)
    windows = life_windows(data.subset([1]), prep, 60, rul_cap=1000, history=30)
    n = len(first)
    assert len(windows.rul) == n - 29 and windows.rul[0] == n - 30  # ends at readings 30..n
    # the first window: 30 copies of the first reading, then readings 1..30
    assert np.array_equal(windows.X[0], first[[0] * 30 + list(range(30))])
    assert np.array_equal(windows.X[-1], first[n - 60:])


def test_a_published_test_set_of_truncated_lives(lives: Path, tmp_path: Path) -> None:
    """--test and --test-rul: the last window of every test life is scored against its true
    remaining life, a life shorter than the window padded (here 12 readings, windows of 60)."""
    frame = make_lives(units=5, seed=9)
    keep = {1: 12, 2: 40, 3: 55, 4: 30, 5: 70}
    test = frame[frame["cycle"] <= frame["unit"].map(keep)]
    truth = [int((frame["unit"] == u).sum()) - k for u, k in keep.items()]
    test.to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "rul.txt").write_text("\n".join(map(str, truth)) + "\n")
    out = tmp_path / "m"
    assert main(["train", "--data", str(lives), "--predictor", "linear", "--steps", "60",
                 "--test", str(tmp_path / "test.csv"), "--test-rul", str(tmp_path / "rul.txt"),
                 "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_windows"] == 5 and metrics["train_lives"] == 16
    meta = json.loads((out / "model.json").read_text())["metadata"]
    assert meta["steps"] == 60 and meta["test_units"] == []


def replay_scenario(lives: Path, model: Path, **extra: object) -> dict[str, object]:
    degradation = {"model": "replay", "lives": str(lives), "time_per_cycle": 5,
                   "holdout_of": str(model), **extra}
    return {
        "name": "replay", "time_unit": "min", "horizon": 20000, "warmup": 0,
        "replications": 2, "seed": 3,
        "plant": {"nodes": {
            "raw": {"kind": "source"},
            "engine": {"kind": "machine", "process_time": 1.0,
                       "failures": {"ttr": 50}, "degradation": degradation},
            "done": {"kind": "sink"}},
            "edges": [["raw", "engine"], ["engine", "done"]]},
        "maintenance": {"crew": 1, "policy": {"kind": "predictive", "model": str(model),
                                              "threshold": 20, "every": 10, "duration": 5}},
        "costs": {"preventive": 100, "corrective": 1000},
    }


def test_replay_draws_held_out_lives_and_reads_their_sensors(lives: Path, model: Path,
                                                             tmp_path: Path) -> None:
    from twin import scenario_from_data
    from twin.engine.replication import build
    from twin.engine.sensors import MemorySink

    data = replay_scenario(lives, model)
    data["maintenance"]["policy"] = {"kind": "reactive"}  # type: ignore[index]
    scenario = scenario_from_data(data)
    held = set(json.loads(model.read_text())["metadata"]["test_units"])
    ctx = build(scenario, 0)
    ctx.env.run(until=scenario.horizon)
    engine = ctx.machines["engine"]
    drawn = [life.path.record.unit for life in engine.lives[:-1]]  # type: ignore[union-attr]
    assert set(drawn) <= held and len(drawn) > 10
    # each life fails half a cycle after its record's last reading
    record = engine.lives[0].path.record  # type: ignore[union-attr]
    assert engine.lives[0].path.fail_age == pytest.approx(5 * len(record.ages) + 2.5)  # type: ignore[union-attr]
    sink = MemorySink()
    result = simulate(scenario, 0, sensor_sink=sink)
    readings = sink.frame()
    first = readings[(readings["life"] == 0) & (readings["sensor"] == "s2")]
    recorded = read_lives(lives).frame.query("unit == @record.unit")["s2"].to_numpy()
    assert np.allclose(first["value"].to_numpy(), recorded)  # the record, reading by reading
    assert np.allclose(first["age"].to_numpy(), 5 * np.arange(1, len(recorded) + 1))
    assert result.machines["engine"]["failures"] == len(drawn)


def test_a_replayed_record_is_written_as_the_run_goes(lives: Path, model: Path,
                                                     tmp_path: Path) -> None:
    """Under a policy that reads no readings, the replaying machine's readings go to the file
    row group by row group: the same numbers, bit for bit, as written in one piece."""
    import pandas as pd
    import pyarrow.parquet as pq

    from tests.test_scale import same
    from twin import scenario_from_data
    from twin.engine.sensors import CallbackSink, ParquetSink

    data = replay_scenario(lives, model)
    data["maintenance"]["policy"] = {"kind": "reactive"}  # type: ignore[index]
    scenario = scenario_from_data(data)
    whole_sink = ParquetSink(tmp_path / "whole", 0)
    whole = simulate(scenario, 0, sensor_sink=CallbackSink(whole_sink.write))
    streamed = simulate(scenario, 0, sensor_sink=ParquetSink(tmp_path / "streamed", 0,
                                                             rows=200))
    assert streamed.kpis == whole.kpis
    file = tmp_path / "streamed" / "machine=engine" / "replication-0000.parquet"
    assert pq.ParquetFile(file).num_row_groups > 10
    assert same(pd.read_parquet(tmp_path / "whole"), pd.read_parquet(tmp_path / "streamed"))


def test_replay_refuses_the_lives_the_model_trained_on(lives: Path, model: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    from twin import scenario_from_data

    data = replay_scenario(lives, model)
    del data["plant"]["nodes"]["engine"]["degradation"]["holdout_of"]  # type: ignore[index]
    with pytest.raises(InputError, match="would replay 13 lives the model"):
        scenario_from_data(data)
    data["plant"]["nodes"]["engine"]["degradation"]["shared"] = True  # type: ignore[index]
    scenario_from_data(data)


def test_predictive_policy_on_replayed_lives_prevents_failures(lives: Path,
                                                               model: Path) -> None:
    from twin import scenario_from_data

    data = replay_scenario(lives, model)
    predictive = simulate(scenario_from_data(data), 0)
    data["maintenance"]["policy"] = {"kind": "reactive"}  # type: ignore[index]
    reactive = simulate(scenario_from_data(data), 0)
    assert predictive.online["prevented_share"] > 0.5
    assert predictive.kpis["cost_rate"] < 0.8 * reactive.kpis["cost_rate"]


def test_the_operating_age_as_a_channel_for_recorded_lives_only(lives: Path,
                                                                tmp_path: Path) -> None:
    """--age: each window has one more channel, the operating age of its readings (time since
    the life's first reading, normalized on the training lives); a predictive policy refuses
    such a model, whose age the twin's sensor windows do not carry."""
    from twin import scenario_from_data
    from twin.ml.lives import life_windows

    out = tmp_path / "aged"
    assert main(["train", "--data", str(lives), "--predictor", "linear", "--rul-cap", "60",
                 "--age", "--out", str(out)]) == 0
    meta = json.loads((out / "model.json").read_text())["metadata"]
    assert meta["age"] is True
    prep = Preprocess.from_json(meta["preprocess"])
    assert prep.channels == ["s2", "s11", "s3", "age"]
    data = read_lives(lives).subset([1])
    windows = life_windows(data, prep, 60, rul_cap=1000, history=30)
    mean, scale = prep.age
    assert windows.X.shape[2] == 4
    assert np.allclose(windows.X[:, -1, 3] * scale + mean, windows.age)  # the age at the end
    assert np.allclose(windows.X[0, :31, 3] * scale + mean, 0)  # padding: the first reading's
    without = Preprocess.fit(read_lives(lives))
    assert without.age == [] and without.channels == without.sensors
    assert without.transform(data.frame).shape[1] == 3
    with pytest.raises(InputError, match="operating age"):
        simulate(scenario_from_data(replay_scenario(lives, out / "model.json")), 0)
    with pytest.raises(ValueError, match="operating age"):
        prep.transform_windows(np.zeros((1, 60, 3)), ["s2", "s11", "s3"])


def test_age_goes_with_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(tmp_path / "plant.yaml"), "--predictor", "linear", "--age",
                 "--out", str(tmp_path / "m")]) == 2
    assert "--age goes with --data" in capsys.readouterr().err
