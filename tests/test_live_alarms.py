"""Predictive alarms in the live twin: the scenario's model scores the same windows as the
engine's decision epochs, and on the wear scenario its alarms come before most failures (the
plant runs to failure, a real Mosquitto on a loopback port between them)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers import wait_for
from twin.engine.replication import build
from twin.engine.states import STATES
from twin.language.loading import load_scenario
from twin.live.alarms import PredictiveAlarms, window
from twin.live.broker import Broker, mosquitto
from twin.live.connector import Connector
from twin.live.emulator import emulate
from twin.live.schema import twin_topic
from twin.live.twin import LiveTwin
from twin.ml.training import train

if TYPE_CHECKING:
    from twin.engine.context import BuildContext
    from twin.language.schema import Scenario

ROOT = Path(__file__).resolve().parents[1]
WEAR = ROOT / "scenarios" / "wear.yaml"
REACTIVE = ("maintenance.policy", {"kind": "reactive"})
SPEED = 1_000_000
"""Plant minutes per second: a message of readings or events covers about half a day."""


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linear RUL model trained on two short run-to-failure histories of the press."""
    sc = load_scenario(WEAR, [("horizon", 40_000), ("replications", 2)])
    return train(sc, "linear").save(tmp_path_factory.mktemp("model") / "linear")


def predictive(model: Path, threshold: float = 250):  # type: ignore[no-untyped-def]
    return load_scenario(WEAR, [("maintenance.policy", {
        "kind": "predictive", "model": str(model), "threshold": threshold, "every": 30,
        "duration": 20})])


def test_live_windows_are_the_engines_windows() -> None:
    """At every decision epoch, the window built from the readings as published (times and
    values) and the life's start equals the engine's window of the current life."""
    sc = load_scenario(WEAR, [REACTIVE])
    ctx = build(sc, 0)
    press, stream = ctx.machines["press"], ctx.sensors["press"]
    stream.keep = 2000
    sensors = list(stream.sensors)
    compared = empty = 0
    for epoch in np.arange(30.0, 6000.0, 30.0):
        ctx.env.run(until=epoch)
        stream.advance(epoch)
        sent, _ = published(stream.table().to_pandas())
        start = press.lives[-1].start if len(press.lives) > 1 else -np.inf
        mine, theirs = window(sent, sensors, start, epoch, 30), stream.window(30)
        if theirs is None:
            assert mine is None
            empty += 1
        else:
            assert mine is not None and np.array_equal(mine, theirs), epoch
            compared += 1
    assert compared > 100 and empty > 5  # windows in several lives, and lives too young


def test_scoring_skips_a_stopped_machine_and_alarms_once_per_life(model: Path) -> None:
    alarms = PredictiveAlarms(predictive(model, threshold=1e9))  # every score alarms
    rng = np.random.default_rng(0)
    t = np.arange(0.0, 400.0, 1.0)
    alarms.take_events([(200.0, "press", "fail", None, None, None),
                        (300.0, "press", "repair_end", None, None, None)], 399.0)
    alarms.take_readings("press", 399.0, {"vibration": (t, rng.normal(2.0, 0.4, t.size)),
                                          "temperature": (t[::5], rng.normal(45.0, 1.5, 80))})
    predictions, raised = alarms.due()
    times = [p[0] for p in predictions]
    # windows of 30 temperature readings (5 min apart) from the start; none while it is down
    # (200 to 300), and the new life's first full window only at 300 + 145
    assert times == [150.0, 180.0]
    assert [a["time"] for a in raised] == [150.0]  # once in the first life
    assert alarms.due() == ([], [])  # nothing new: nothing scored twice
    assert alarms.warned() == {"failures": 1, "warned": 1, "share": 1.0, "median_lead": 50.0}


mqtt = pytest.mark.skipif(mosquitto() is None, reason="Eclipse Mosquitto is not installed")


def plant_record(plant: Scenario, until: float) -> tuple[BuildContext, list[tuple[Any, ...]]]:
    """Replication 0 of ``plant`` run to ``until``: the model, and its event log as a plant
    publishes it (rows of time, node, event and no part)."""
    ctx = build(plant, 0, events=True)
    ctx.env.run(until=until)
    log = ctx.events
    assert log is not None
    return ctx, [(t, n, e, None, None, None)
                 for t, n, e in zip(log.time, log.node, log.event, strict=True)]


def readings_table(ctx: BuildContext, machine: str, until: float) -> pd.DataFrame:
    stream = ctx.sensors[machine]
    stream.advance(until)
    return stream.table().to_pandas()


def published(table: pd.DataFrame) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                                             dict[str, np.ndarray]]:
    """A readings table as a plant publishes it: times and values per sensor, and ages."""
    groups = table.groupby("sensor", observed=True)
    return ({s: (g["time"].to_numpy(), g["value"].to_numpy()) for s, g in groups},
            {s: g["age"].to_numpy() for s, g in groups})


def in_hand(live: Scenario, until: float) -> tuple[PredictiveAlarms, pd.DataFrame, pd.DataFrame]:
    """The scoring of replication 0 of the plant with all its events and readings in hand; the
    readings and the event log."""
    ctx, events = plant_record(load_scenario(WEAR, [REACTIVE]), until)
    table = readings_table(ctx, "press", until)
    alarms = PredictiveAlarms(live)
    alarms.take_events(events, until)
    alarms.take_readings("press", until, *published(table))
    alarms.due()
    assert ctx.events is not None
    return alarms, table, ctx.events.table(0).to_pandas()


LEARN_FROM_ZERO = {"kind": "predictive", "threshold": 250, "every": 30, "duration": 20,
                   "learn": {"every": 1, "warm_up": 5, "predictor": "linear"}}


@mqtt
@pytest.mark.parametrize("policy", ["model", "learning"])
def test_predictive_alarms_come_before_most_failures(model: Path, tmp_path: Path,
                                                     policy: str) -> None:
    """The plant runs to failure (reactive), emulated so fast that a message covers hours of
    plant time; the live twin scores the press's windows with the model (a saved one, or one it
    learns from the plant's lives, from none, refitted at each failure after the fifth) and
    publishes its alarms: exactly those of the same scoring with every event and reading in
    hand, and most failures (after the model took over) were warned of in the same life."""
    until = 20_000.0  # about 40 shifts of the press, some 15 failures
    scenario = predictive(model) if policy == "model" else load_scenario(
        WEAR, [("maintenance.policy", LEARN_FROM_ZERO)])
    with Broker(tmp_path / "broker") as broker:
        live = LiveTwin(scenario, broker.url, out=tmp_path / "live", forecasts=False,
                        client_id="live-alarms", record=policy == "model", record_rows=20_000)
        listener = Connector(broker.url, "alarm-listener",
                             (twin_topic("press-wear", "alarms/#"),))
        stop = threading.Event()
        thread = threading.Thread(target=live.run, args=(stop,), daemon=True)
        try:
            assert live.connector.wait_connected(10) and listener.wait_connected(10)
            thread.start()
            emulation = emulate(load_scenario(WEAR, [REACTIVE]), broker.url, speed=SPEED,
                                until=until, client_id="emulate-alarms")
            scorer = live.predictive
            assert scorer is not None
            # what the twin must reach: the scoring with everything in hand
            whole, readings, events = in_hand(scenario, emulation.clock)

            def caught_up() -> bool:  # every event in, and every window scored (the
                # readings may trail the events, the more so on a loaded machine)
                return (live.mirror.counts["events"] >= emulation.events
                        and scorer.events_clock >= emulation.clock
                        and scorer.scored >= whole.scored)

            assert wait_for(caught_up, 60), (scorer.scored, whole.scored)
        finally:
            stop.set()
            thread.join(20)
        got: list[Any] = []
        deadline = time.monotonic() + 20
        while len(got) < len(scorer.alarms) and time.monotonic() < deadline:
            got += listener.drain(timeout=0.05)
        listener.close()
    assert scorer.scored == whole.scored and scorer.alarms == whole.alarms
    warned = scorer.warned()
    assert warned == whole.warned()
    print(f"\n{until:g} min run to failure: {warned['failures']} failures, "
          f"{warned['warned']} warned of by an alarm in the same life "
          f"(share {warned['share']:.2f}, median lead {warned['median_lead']:.0f} min); "
          f"{scorer.scored} windows scored, {len(scorer.alarms)} alarms")
    assert warned["failures"] >= 10
    if policy == "learning":
        learner, theirs = scorer.learner, whole.learner
        assert learner is not None and theirs is not None
        assert learner.updates == theirs.updates and learner.ends == theirs.ends
        switched = learner.switched_at
        assert switched == learner.ends[4][0]  # at the fifth failure
        after = [t for t, _ in learner.ends if t > switched]
        print(f"learning from zero: the model took over at {switched:.0f} min (5 failures), "
              f"{learner.updates[-1][1]:.0f} lives learned from; after it, {len(after)} "
              f"failures, {warned['warned']} warned of (share {warned['warned'] / len(after):.2f})")
        assert warned["warned"] / len(after) > 0.5
        status = json.loads((tmp_path / "live" / "status.json").read_text())
        assert status["predictive"]["learning"]["switched_at"] == switched
        # the model it learned, saved after each update as twin train saves one: a predictive
        # policy loads it, and it predicts what the live twin's model predicts
        from twin.ml.predictor import load_predictor

        saved = tmp_path / "live" / "learned" / "model.json"
        meta = json.loads(saved.read_text())["metadata"]
        assert meta["learned_live"]["updates"] == len(learner.updates)
        load_scenario(WEAR, [("maintenance.policy", {**LEARN_FROM_ZERO, "learn": None,
                                                     "model": str(saved)})])
        loaded, _ = load_predictor(saved.with_suffix(""))
        assert np.array_equal(loaded.predict(learner.X[-1]), learner.model.predict(learner.X[-1]))
        return
    assert warned["share"] > 0.5
    assert len(got) == len(scorer.alarms)
    # what the twin received, recorded: the plant's own event log and readings, in parts
    record = tmp_path / "live" / "record"
    assert len(list((record / "events").glob("part-*.parquet"))) > 1
    kept = pd.read_parquet(record / "events")
    key = ["time", "node", "event"]
    assert kept.sort_values(key, kind="stable").astype(str).reset_index(drop=True).equals(
        events.sort_values(key, kind="stable").astype(str).reset_index(drop=True))
    kept = pd.read_parquet(record / "sensors" / "machine=press").sort_values(
        ["sensor", "time"], kind="stable")
    truth = readings.sort_values(["sensor", "time"], kind="stable")
    assert len(kept) == len(truth) > 20_000
    for column in ("time", "value", "age"):
        assert np.array_equal(kept[column].to_numpy(), truth[column].to_numpy()), column
    assert kept["wear"].isna().all() and kept["state"].isna().all()
    states = pd.read_parquet(record / "machines")
    assert len(states) > 10 and set(states["state"]) <= set(STATES)
    assert set(states["machine"]) >= {"press"} and (states["age"] >= 0).all()
    assert not list(record.rglob(".*"))  # no temporary file left
    first = json.loads(got[0][1])
    assert first["v"] == 1 and first["kind"] == "rul" and first["value"] <= 250
    status = json.loads((tmp_path / "live" / "status.json").read_text())
    assert status["predictive"]["warned"] == warned["warned"]


LEARN = {"kind": "predictive", "threshold": 250, "every": 30, "duration": 20,
         "learn": {"every": 2, "warm_up": 4, "predictor": "linear", "horizon": 400}}
PREVENTIVE = ("maintenance.policy", {"kind": "preventive", "every": 600, "duration": 20})


def test_live_learning_learns_each_life_the_plant_ended_and_nothing_after() -> None:
    """The plant maintains its press at an age of 600 min (so lives end both ways); a live twin
    whose policy learns in the loop is fed its events and readings (with their ages) in chunks,
    the events running ahead of the readings and behind them in turn. It learns from exactly the
    lives the plant ended, each once both had reached its end: the windows and labels rebuilt
    from the plant's record after the run, to the micro-minute, updates at the ends of the
    warm-up's last life and every second one after, and it scores only once it has a model."""
    from tests.test_online import expected_windows

    until = 25_000.0
    ctx, events = plant_record(load_scenario(WEAR, [PREVENTIVE, ("horizon", until)]), until)
    table = readings_table(ctx, "press", until)
    live_sc = load_scenario(WEAR, [("maintenance.policy", LEARN), ("horizon", until)])
    alarms = PredictiveAlarms(live_sc)
    learner = alarms.learner
    assert learner is not None and alarms.predictor is None
    switched: list[float] = []
    done = -np.inf  # the readings sent so far: up to 700 min behind the events, or ahead
    for k, cut in enumerate(np.arange(1000.0, until + 1, 1000.0)):
        alarms.take_events([e for e in events if cut - 1000 < e[0] <= cut], cut)
        ahead = min(until, max(done, cut + (700.0 if k % 2 else -700.0)))
        chunk = table[(table["time"] > done) & (table["time"] <= ahead)]
        done = ahead
        alarms.take_readings("press", done, *published(chunk))
        predictions, _ = alarms.due()
        if predictions and not switched:
            switched.append(predictions[0][0])
    alarms.take_readings("press", until, {}, {})
    alarms.due()
    lives = expected_windows(live_sc, ctx)
    ends = [end for end, *_ in lives]
    assert learner.ends == [[t, float(e == "fail")] for t, n, e, *_ in events
                            if n == "press" and e in ("fail", "pm_end")]
    failed = [f for _, f in learner.ends]
    assert 0 < sum(failed) < len(failed)  # lives ended both ways
    warm_up, every = 4, 2
    updates = [u[0] for u in learner.updates]
    assert updates == [ends[i - 1] for i in range(warm_up, len(ends) + 1)
                       if (i - warm_up) % every == 0][:len(updates)]
    learned = int(learner.updates[-1][1])
    assert learned >= len(ends) - every
    X, y = np.concatenate(learner.X), np.concatenate(learner.y)
    assert np.array_equal(X, np.concatenate([w for _, w, _, _ in lives[:learned]]))
    np.testing.assert_allclose(y, np.concatenate([lab for _, _, lab, _ in lives[:learned]]),
                               rtol=0, atol=1e-6)
    assert learner.switched_at == updates[0] and switched and switched[0] > updates[0]
    status = alarms.status()["learning"]
    assert status["lives_ended"] == len(ends) and status["switched_at"] == updates[0]
    # a plant that does not say the operating age: the same windows, labelled with the time
    # from each reading to the life's end (the press works all but a few minutes of its lives)
    blind = PredictiveAlarms(live_sc)
    blind.take_events(events, until)
    blind.take_readings("press", until, published(table)[0])
    blind.due()
    assert blind.learner is not None
    assert [u[0] for u in blind.learner.updates] == updates
    assert np.array_equal(np.concatenate(blind.learner.X), X)
    calendar = np.concatenate(blind.learner.y)
    assert np.all(calendar >= y - 1e-6) and np.median(calendar - y) < 5.0


def test_a_readings_age_must_be_one_age_per_reading() -> None:
    from twin.live.schema import Malformed, decode, encode, plant_topic

    nodes = {"press": "machine"}
    topic = plant_topic("press-wear", "sensors/press")

    def readings(age: object) -> bytes:
        return encode({"seq": 0, "clock": 2.0, "readings": {
            "vibration": {"time": [1.0, 2.0], "value": [2.0, 2.1], "age": age}}})

    message = decode(topic, readings([0.5, 1.5]), "press-wear", nodes)
    assert message.ages["vibration"].tolist() == [0.5, 1.5]  # type: ignore[union-attr]
    assert decode(topic, readings(None), "press-wear", nodes).ages == {}  # type: ignore[union-attr]
    for bad in ([0.5], [0.5, -1.0], ["a", 1.0]):
        with pytest.raises(Malformed, match="readings.vibration.age"):
            decode(topic, readings(bad), "press-wear", nodes)


def test_a_machine_whose_readings_stop_does_not_hold_the_learning_back() -> None:
    """Two presses; the second one's sensors go quiet at 3,000 min while the events and the
    first one's readings go on to 20,000: the learning waits for it, then, a minute of wall
    time later, names it stalled and goes on learning from the lives ended and scoring the first
    press's windows to the end."""
    import yaml

    from twin import scenario_from_data

    data = yaml.safe_load(WEAR.read_text())
    nodes = data["plant"]["nodes"]
    nodes["press2"] = nodes["press"]
    data["plant"]["edges"] += [["B1", "press2"], ["press2", "B2"]]
    data["maintenance"]["policy"] = {"kind": "reactive"}
    until = 20_000.0
    ctx, events = plant_record(scenario_from_data(data), until)
    data["maintenance"]["policy"] = LEARN_FROM_ZERO
    alarms = PredictiveAlarms(scenario_from_data(data))
    wall = [0.0]
    alarms.clock = lambda: wall[0]
    alarms.take_events(events, until)
    for name, quiet in (("press", until), ("press2", 3000.0)):
        table = readings_table(ctx, name, until)
        alarms.take_readings(name, quiet, *published(table[table["time"] <= quiet]))
    predictions, _ = alarms.due()
    learner = alarms.learner
    assert learner is not None
    ends = [t for t, n, e, *_ in events if e == "fail" and n in ("press", "press2")]
    assert alarms.status()["stalled"] == []
    assert learner.ended == sum(t <= 3000 for t in ends)  # waiting for press2's readings
    wall[0] = 61.0  # a minute later, nothing more from press2
    predictions, _ = alarms.due()
    assert learner.ended == len(ends) > 10  # every life ended was learned from
    assert learner.updates[-1][0] > 15_000
    press = [p[0] for p in predictions if p[1] == "press"]
    assert press and max(press) > until - 100
    assert all(p[0] <= 3000 for p in predictions if p[1] == "press2")
    assert alarms.status()["stalled"] == ["press2"]
