"""Predictive alarms in the live twin: the scenario's model scores the same windows as the
engine's decision epochs, and on the wear scenario its alarms come before most failures (the
plant runs to failure, a real Mosquitto on a loopback port between them)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from twin.engine.replication import build
from twin.language.loading import load_scenario
from twin.live.alarms import PredictiveAlarms, window
from twin.live.broker import Broker, mosquitto
from twin.live.connector import Connector
from twin.live.emulator import emulate
from twin.live.schema import twin_topic
from twin.live.twin import LiveTwin
from twin.ml.training import train

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
        table = stream.table().to_pandas()
        published = {s: (g["time"].to_numpy(), g["value"].to_numpy())
                     for s, g in table.groupby("sensor", observed=True)}
        start = press.lives[-1].start if len(press.lives) > 1 else -np.inf
        mine, theirs = window(published, sensors, start, epoch, 30), stream.window(30)
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


def in_hand(model: Path, until: float) -> PredictiveAlarms:
    """The scoring of replication 0 of the plant with all its events and readings in hand."""
    sc = load_scenario(WEAR, [REACTIVE])
    ctx = build(sc, 0, events=True)
    ctx.env.run(until=until)
    stream = ctx.sensors["press"]
    stream.advance(until)
    table = stream.table().to_pandas()
    log = ctx.events
    alarms = PredictiveAlarms(predictive(model))
    alarms.take_events([(t, n, e, None, None, None) for t, n, e
                        in zip(log.time, log.node, log.event, strict=True)], until)
    alarms.take_readings("press", until, {s: (g["time"].to_numpy(), g["value"].to_numpy())
                                          for s, g in table.groupby("sensor", observed=True)})
    alarms.due()
    return alarms


@mqtt
def test_predictive_alarms_come_before_most_failures(model: Path, tmp_path: Path) -> None:
    """The plant runs to failure (reactive), emulated so fast that a message covers hours of
    plant time; the live twin scores the press's windows with the model and publishes its
    alarms: exactly those of the same scoring with every event and reading in hand, and most
    failures were warned of in the same life."""
    until = 20_000.0  # about 40 shifts of the press, some 15 failures
    with Broker(tmp_path / "broker") as broker:
        live = LiveTwin(predictive(model), broker.url, out=tmp_path / "live", forecasts=False,
                        client_id="live-alarms")
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

            def caught_up() -> bool:
                return (live.mirror.counts["events"] >= emulation.events
                        and scorer.events_clock >= emulation.clock)

            end = threading.Event()
            for _ in range(400):
                if caught_up():
                    break
                end.wait(0.05)
            assert caught_up()
        finally:
            stop.set()
            thread.join(20)
        got = []
        for _ in range(40):
            got += listener.drain(timeout=0.05)
            if len(got) >= len(scorer.alarms):
                break
        listener.close()
    whole = in_hand(model, emulation.clock)
    assert scorer.scored == whole.scored and scorer.alarms == whole.alarms
    warned = scorer.warned()
    assert warned == whole.warned()
    print(f"\n{until:g} min run to failure: {warned['failures']} failures, "
          f"{warned['warned']} warned of by an alarm in the same life "
          f"(share {warned['share']:.2f}, median lead {warned['median_lead']:.0f} min); "
          f"{scorer.scored} windows scored, {len(scorer.alarms)} alarms")
    assert warned["failures"] >= 10
    assert warned["share"] > 0.5
    assert len(got) == len(scorer.alarms)
    first = json.loads(got[0][1])
    assert first["v"] == 1 and first["kind"] == "rul" and first["value"] <= 250
    status = json.loads((tmp_path / "live" / "status.json").read_text())
    assert status["predictive"]["warned"] == warned["warned"]
