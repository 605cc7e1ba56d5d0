"""The live twin against a real Eclipse Mosquitto on a loopback port: the emulator publishes a
plant's messages, the live twin mirrors its state, forecasts from it and keeps its status."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_for
from twin.engine.state import PlantState
from twin.language.loading import load_scenario
from twin.live.broker import Broker, mosquitto
from twin.live.connector import Connector
from twin.live.emulator import Emulation, emulate
from twin.live.schema import encode, plant_topic
from twin.live.twin import LiveTwin

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "default.yaml"

if mosquitto() is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's mosquitto for the live tests")
    pytest.skip("Eclipse Mosquitto is not installed (apt-get install mosquitto)",
                allow_module_level=True)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with Broker(tmp_path / "broker") as b:
        yield b


@pytest.fixture(scope="module")
def scenario():  # type: ignore[no-untyped-def]
    return load_scenario(DEFAULT)


class Running:
    """A live twin stepping in a thread until the test is done."""

    def __init__(self, twin: LiveTwin) -> None:
        self.twin = twin
        self.stop = threading.Event()
        assert twin.connector.wait_connected(10)
        self.thread = threading.Thread(target=twin.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def caught_up(self, emulation: Emulation, timeout: float = 60.0) -> bool:
        """Whether the mirror has every event of ``emulation`` within ``timeout``; then, the
        machines' topic trailing the events' by a moment (after a reconnection, say), a few
        seconds more for its state to settle to the plant's end state."""
        mirror = self.twin.mirror
        done = wait_for(lambda: mirror.counts["events"] >= emulation.events
                        and mirror.clock >= emulation.clock, timeout)
        end = emulation.end
        if done and end is not None:
            wait_for(lambda: mirror_matches(mirror.state(), end), 30)
        return done

    def close(self) -> None:
        self.stop.set()
        self.thread.join(20)


def assert_mirrors(mine: PlantState, true: PlantState, age_tolerance: float = 1e-6) -> None:
    """Parts per buffer (with their ages), every machine's state, part in hand and age."""
    assert mine.time == pytest.approx(true.time)
    for name in true.buffers:
        assert [p.age for p in mine.parts(name)] == pytest.approx(
            [p.age for p in true.parts(name)], abs=age_tolerance), name
    for name, machine in true.machines.items():
        got = mine.machines[name]
        assert got.state == machine.state, name
        assert got.age == pytest.approx(machine.age, abs=age_tolerance), name
        assert (got.part is None) == (machine.part is None), name


def test_end_to_end_mirror_equals_the_emulated_plant_after_a_shift(
        broker: Broker, scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "live"
    live = Running(LiveTwin(scenario, broker.url, out=out, forecast_every=0.5, horizon=120,
                            replications=3, client_id="live-e2e"))
    try:
        emulation = emulate(scenario, broker.url, speed=20000, until=480,
                            client_id="emulate-e2e")
        assert live.caught_up(emulation)
        twin = live.twin
        assert twin.mirror.counts["events"] == emulation.events > 5000
        assert emulation.end is not None
        assert_mirrors(twin.mirror.state(), emulation.end)
        print(f"\nshift of 480 min at speed 20000: {emulation.events} events, "
              f"{sum(emulation.messages.values())} messages; mirror equals the true state")
        # a forecast from the mirrored state comes back with intervals, and reaches the status
        assert wait_for(lambda: twin.forecast is not None, 30)
        forecast = twin.forecast
        assert forecast is not None
        low, high = forecast["kpis"]["throughput"]["ci95"]
        assert low <= forecast["kpis"]["throughput"]["mean"] <= high
        assert len(forecast["buckets"]["throughput"]) == 8
    finally:
        live.close()
    status = json.loads((out / "status.json").read_text())
    assert status["stopped"] and status["clock"] == pytest.approx(480)
    assert status["counts"]["events"] == emulation.events
    assert status["forecast"]["kpis"]["throughput"]["ci95"]
    assert "http-equiv='refresh'" in (out / "index.html").read_text()


def test_broker_stopped_and_restarted_mid_stream_loses_no_event(
        broker: Broker, scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    live = Running(LiveTwin(scenario, broker.url, out=tmp_path / "live", forecasts=False,
                            client_id="live-restart"))
    result: list[Emulation] = []
    emulator = threading.Thread(target=lambda: result.append(emulate(
        scenario, broker.url, speed=4000, until=480, client_id="emulate-restart")))
    try:
        emulator.start()  # 480 min at speed 4000: about 7 s
        time.sleep(2.0)
        received_before = live.twin.mirror.counts["events"]
        broker.stop()
        time.sleep(1.5)  # the plant goes on publishing into its client's queue
        broker.start()
        emulator.join(60)
        assert result, "the emulator did not finish"
        emulation = result[0]
        twin = live.twin
        assert live.caught_up(emulation, 30), (
            twin.mirror.counts, twin.connector.connects, emulation,
            sorted(p.name for p in broker.folder.iterdir()))
        print(f"\nbroker stopped after {received_before} events and restarted: published "
              f"{emulation.events}, received {twin.mirror.counts['events']} "
              f"({twin.mirror.counts['duplicates']} duplicates dropped); connections: emulator "
              f"{emulation.connects}, twin {twin.connector.connects}")
        assert 0 < received_before < emulation.events
        assert twin.mirror.counts["events"] == emulation.events
        assert emulation.connects >= 2 and twin.connector.connects >= 2
        assert emulation.end is not None
        assert_mirrors(twin.mirror.state(), emulation.end)
    finally:
        live.close()


def mirror_matches(mine: PlantState, true: PlantState) -> bool:
    """Whether ``assert_mirrors`` holds."""
    try:
        assert_mirrors(mine, true)
    except AssertionError:
        return False
    return True


def junk(plant: str, k: int) -> tuple[str, bytes]:
    """The k-th of a round of malformed or unknown messages."""
    events, machines = plant_topic(plant, "events"), plant_topic(plant, "machines")
    kinds = [
        (events, b"{not json"),
        (events, b"[1, 2, 3]"),
        (events, json.dumps({"v": 99, "seq": k, "clock": 1.0, "events": []}).encode()),
        (events, encode({"seq": -1, "clock": 1.0, "events": []})),
        (events, encode({"seq": 10**9 + k, "clock": 1.0,
                         "events": [[1.0, "no-such-node", "start", 1, None, None]]})),
        (events, encode({"seq": 10**9 + k, "clock": 1.0,
                         "events": [[1.0, "mill", "explode", 1, None, None]]})),
        (events, b'{"v": 1, "seq": 1, "clock": NaN, "events": []}'),
        (machines, encode({"seq": 10**9 + k, "clock": 1.0,
                           "machines": {"mill": {"state": "dancing", "since": 0, "age": 0}}})),
        (plant_topic(plant, "sensors/no-such-machine"),
         encode({"seq": k, "clock": 1.0, "readings": {}})),
        (plant_topic(plant, "sensors/mill"),
         encode({"seq": 10**9 + k, "clock": 1.0,
                 "readings": {"vibration": {"time": [1, 2], "value": [1]}}})),
        (plant_topic(plant, "gossip"), encode({"seq": k, "clock": 1.0})),
        (events, b"\xff\xfe"),
    ]
    return kinds[k % len(kinds)]


def test_a_thousand_malformed_messages_are_counted_and_logged_and_the_mirror_holds(
        broker: Broker, scenario, tmp_path: Path,  # type: ignore[no-untyped-def]
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="twin.live")
    live = Running(LiveTwin(scenario, broker.url, out=tmp_path / "live", forecasts=False,
                            client_id="live-junk"))
    result: list[Emulation] = []
    emulator = threading.Thread(target=lambda: result.append(emulate(
        scenario, broker.url, speed=8000, until=480, client_id="emulate-junk")))
    vandal = Connector(broker.url, "vandal")
    try:
        assert vandal.wait_connected(10)
        emulator.start()
        for k in range(1000):  # among the good messages, while the plant runs
            vandal.publish(*junk(scenario.name, k))
            if k % 100 == 99:
                time.sleep(0.25)
        assert vandal.flush(20)
        emulator.join(60)
        emulation = result[0]
        twin = live.twin
        assert live.caught_up(emulation)
        assert wait_for(lambda: sum(twin.rejected.values()) >= 1000, 20)
        print(f"\n1000 bad messages among {sum(emulation.messages.values())} good ones: "
              f"{twin.rejected}; mirror equals the true state")
        assert sum(twin.rejected.values()) == 1000
        assert twin.rejected["unknown"] > 0 and twin.rejected["malformed"] > 0
        assert twin.mirror.counts["events"] == emulation.events
        assert emulation.end is not None
        assert_mirrors(twin.mirror.state(), emulation.end)
    finally:
        vandal.close()
        live.close()
    # the log says the first 10 of each kind per 10 s, then how many more: 1000 lines no more
    logged = [r.getMessage() for r in caplog.records if r.name == "twin.live"
              and "message" in r.getMessage()]
    said = [m for m in logged if not m.startswith("...")]
    more = [int(m.split()[2]) for m in logged if m.startswith("...")]
    assert len(said) + sum(more) == 1000
    assert len(logged) < 100
    assert any("no-such-node" in m for m in logged)
    assert any("twin/v1/bracket-line/plant/gossip" in p["topic"] for p in twin.problems)


def test_out_of_order_events_within_the_tolerance_are_reordered_beyond_it_counted(
        scenario) -> None:  # type: ignore[no-untyped-def]
    from twin.live.mirror import Mirror
    from twin.live.schema import Events

    mirror = Mirror(scenario, tolerance=5.0)
    release = [(1.0, "bar_stock", "release", 1, None, None), (1.0, "saw", "start", 1, None, None)]
    mirror.take("events", Events(0, 1.0, release))
    arrive_late = (3.0, "B_saw", "arrive", 1, None, None)
    mirror.take("events", Events(1, 4.0, [(4.0, "mill", "start", 1, None, None)]))
    mirror.take("events", Events(2, 4.0, [arrive_late]))  # 1 behind: put back in order
    assert mirror.counts["reordered"] == 1 and mirror.counts["late"] == 0
    mirror.take("events", Events(2, 4.0, [arrive_late]))  # delivered twice: counted once
    assert mirror.counts["duplicates"] == 1
    assert mirror.current().parts[1].where == "mill"
    mirror.take("events", Events(3, 30.0, [(29.0, "B_mill", "arrive", 1, None, None)]))
    mirror.take("events", Events(4, 30.0, [(10.0, "drill", "start", 1, None, None)]))
    assert mirror.counts["late"] == 1  # 20 behind the applied events: beyond the tolerance


def test_sigterm_leaves_the_status_file_consistent(broker: Broker, tmp_path: Path) -> None:
    out = tmp_path / "live"
    process = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "live", str(DEFAULT), "--broker", broker.url,
         "--out", str(out), "--forecast-every", "3600", "--client-id", "live-sigterm"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: (out / "status.json").exists(), 60)
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    status = json.loads((out / "status.json").read_text())
    assert status["stopped"] is True
    assert not list(out.glob(".*.tmp"))
