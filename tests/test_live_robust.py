"""The live twin under hostile messages and faults, against a real Eclipse Mosquitto on a free
loopback port: messages that would kill it or make it grow without bound are counted and the
mirror stays exact; a restarted publisher is recognised; user, password and TLS; an unreachable
broker is said within seconds; the twin stops at once, forecast running or not; killed outright
and started again, it loses no event it acknowledged; the payload parser is fuzzed."""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.cli import main
from twin.engine.replication import build
from twin.engine.state import PlantState
from twin.language.loading import load_scenario
from twin.live.broker import Broker, free_port, mosquitto
from twin.live.connector import TLS, Connector, redact
from twin.live.emulator import Emulation, NotDelivered, emulate
from twin.live.forecast import Forecaster, ForecastFailed
from twin.live.mirror import WINDOW, Mirror
from twin.live.schema import (
    MAX_TIME,
    Events,
    Machines,
    Malformed,
    Unknown,
    decode,
    encode,
    plant_topic,
    twin_topic,
)
from twin.live.twin import LiveTwin

from .test_live import DEFAULT, ROOT, Running, assert_mirrors, mirror_matches, wait_for

if mosquitto() is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's mosquitto for the live tests")
    pytest.skip("Eclipse Mosquitto is not installed (apt-get install mosquitto)",
                allow_module_level=True)

PLANT = "bracket-line"


@pytest.fixture
def broker(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Broker(tmp_path / "broker") as b:
        yield b


@pytest.fixture(scope="module")
def scenario():  # type: ignore[no-untyped-def]
    return load_scenario(DEFAULT)


def send(broker: Broker, messages: list[tuple[str, bytes]], retain: bool = False) -> None:
    vandal = Connector(broker.url, f"vandal-{time.monotonic_ns()}")
    try:
        assert vandal.wait_connected(10)
        for topic, payload in messages:
            vandal.publish(topic, payload, retain=retain)
        assert vandal.flush(30)
    finally:
        vandal.close()


def machines(seq: int, clock: float, **entry: Any) -> bytes:
    return encode({"seq": seq, "clock": clock, "machines": {"mill": entry}})


HOSTILE = [
    # 1. nested far deeper than Python's recursion limit
    (plant_topic(PLANT, "events"), b"[" * 100_000),
    (plant_topic(PLANT, "machines"), b'{"v": 1, "seq": 0, "clock": ' + b"[" * 100_000),
    # 2. schema-valid once: a state from the future, times and ages that overflow
    (plant_topic(PLANT, "machines"), machines(10**9, 5.0, state="working", since=50.0, age=1.0)),
    (plant_topic(PLANT, "machines"), machines(10**9 + 1, 1e300, state="working", since=0.0,
                                              age=1.0)),
    (plant_topic(PLANT, "machines"), machines(10**9 + 2, 5.0, state="down", since=1.0,
                                              age=1e308)),
    (plant_topic(PLANT, "events"), b'{"v": 1, "seq": 7, "clock": 1' + b"0" * 400 + b"}"),
    # 10. negative and backwards times
    (plant_topic(PLANT, "events"), encode({"seq": 10**9 + 3, "clock": 1.0, "events": [
        [-50.0, "B_saw", "arrive", 10**6, None, None]]})),
    (plant_topic(PLANT, "events"), encode({"seq": 10**9 + 4, "clock": -1.0, "events": []})),
    # 8. a sensor the machine does not have
    (plant_topic(PLANT, "sensors/mill"), encode({"seq": 10**9 + 5, "clock": 1.0, "readings": {
        "sensor-0": {"time": [1.0], "value": [2.0]}}})),
    # payload bigger than the limit
    (plant_topic(PLANT, "events"), b" " * (17 << 20)),
]


def test_hostile_messages_retained_or_not_are_counted_and_the_mirror_stays_exact(
        broker: Broker, scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Items 1, 2, 8 and 10: the deep message retained (a twin started after it gets it on
    subscribing, as every restart would), and the others among the plant's messages: each is
    rejected with its reason, the twin stays up, and the mirror equals the plant."""
    send(broker, HOSTILE[:1], retain=True)
    first = Running(LiveTwin(scenario, broker.url, out=tmp_path / "first", forecasts=False,
                             client_id="robust-first"))
    try:
        assert wait_for(lambda: first.twin.rejected["malformed"] >= 1, 10)
        assert first.thread.is_alive()
    finally:
        first.close()
    live = Running(LiveTwin(scenario, broker.url, out=tmp_path / "live", forecast_every=0.5,
                            horizon=60, replications=2, client_id="robust-hostile"))
    result: list[Emulation] = []
    emulator = threading.Thread(target=lambda: result.append(emulate(
        scenario, broker.url, speed=8000, until=480, client_id="emulate-hostile")))
    try:
        emulator.start()
        time.sleep(0.5)
        send(broker, HOSTILE[1:])
        emulator.join(60)
        emulation = result[0]
        twin = live.twin
        assert live.caught_up(emulation)
        n = len(HOSTILE)  # the retained one, again on subscribing
        assert wait_for(lambda: sum(twin.rejected.values()) >= n, 10)
        assert live.thread.is_alive()
        whys = [p["why"] for p in twin.problems]
        print("\n" + "\n".join(whys))
        assert twin.rejected == {"malformed": n - 1, "unknown": 1, "failed": 0}
        assert any("nested too deep" in w for w in whys)
        assert any("machines.mill.since: 50.0 is after the message's clock 5.0" in w
                   for w in whys)
        assert any("clock: 1e+300 is not a time from 0 to 1e+12" in w for w in whys)
        assert any("machines.mill.age: 1e+308 is not a time" in w for w in whys)
        assert any("events[0].time: -50.0 is not a time" in w for w in whys)
        assert any("no sensor 'sensor-0' on machine 'mill'" in w for w in whys)
        assert any("payload of 17,825,792 bytes" in w for w in whys)
        assert twin.mirror.counts["events"] == emulation.events
        assert twin.mirror.sensors == {}
        assert emulation.end is not None
        assert_mirrors(twin.mirror.state(), emulation.end)
        assert wait_for(lambda: twin.forecasts >= 1, 30)
        assert twin.forecast_errors == 0
    finally:
        live.close()
    status = json.loads((tmp_path / "live" / "status.json").read_text())
    assert status["counts"]["malformed"] == n - 1


def _outcome(forecaster: Forecaster, timeout: float = 60.0) -> Any:
    """The forecast's result, or its ``ForecastFailed``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            done = forecaster.poll()
        except ForecastFailed as exc:
            return exc
        if done is not None:
            return done
        time.sleep(0.02)
    raise AssertionError(f"no forecast within {timeout} s")


def test_a_failing_forecast_is_a_forecast_failed_and_the_next_one_runs(
        scenario) -> None:  # type: ignore[no-untyped-def]
    """Item 2: a look-ahead that raises (buckets of a negative width), a worker killed under
    it, and one that overruns its limit: each is a ``ForecastFailed``, and the forecaster
    forecasts again afterwards."""
    good = PlantState.model_validate({"time": 10.0, "machines": {"saw": {"state": "working",
                                                                       "part": {}}}})
    broken = Forecaster(scenario, 60.0, 2, -5.0)
    try:
        for _ in range(2):
            broken.submit(good)
            failed = _outcome(broken)
            assert isinstance(failed, ForecastFailed) and str(failed).startswith("IndexError")
    finally:
        broken.close()
    forecaster = Forecaster(scenario, 60.0, 2, 30.0)
    try:
        forecaster.submit(good)
        assert _outcome(forecaster)["kpis"]["throughput"]["mean"] >= 0
        forecaster.submit(good)
        assert forecaster.process is not None
        os.kill(forecaster.process.pid, signal.SIGKILL)
        died = _outcome(forecaster)
        assert isinstance(died, ForecastFailed) and "the forecast worker died" in str(died)
        forecaster.submit(good)  # a fresh worker
        assert _outcome(forecaster)["kpis"]["throughput"]["mean"] >= 0
    finally:
        forecaster.close()


def test_a_forecast_past_its_limit_is_counted_and_shown_and_the_twin_goes_on(
        broker: Broker, scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Item 2 in the twin: forecasts of 100 replications of 800 hours, stopped after 1 s:
    counted, in the status and on the page, and the next is submitted when due."""
    out = tmp_path / "live"
    twin = LiveTwin(scenario, broker.url, out=out, forecast_every=0.1, horizon=48_000,
                    replications=100, forecast_limit=1.0, client_id="robust-overrun")
    try:
        assert twin.connector.wait_connected(10)
        emulate(scenario, broker.url, speed=20000, until=60, client_id="emu-overrun")
        end = time.monotonic() + 60
        while time.monotonic() < end and twin.forecast_errors < 2:
            twin.step()
        assert twin.forecast_errors == 2 and twin.forecasts == 0
        assert twin.mirror.clock == pytest.approx(60)
        twin.write_status()
    finally:
        twin.close()
    status = json.loads((out / "status.json").read_text())
    assert status["counts"]["forecast_errors"] == 2
    assert status["forecast_error"] == "the look-ahead ran past 1 s: stopped"
    assert "the last forecast failed: the look-ahead ran past 1 s" in (
        out / "index.html").read_text()


def test_a_restarted_publisher_is_a_new_session_and_the_mirror_follows_it(
        broker: Broker, scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Item 3: the plant's emulator run to 240, then started again from 0 (its numbering from
    0 too) and run to 120: the twin says so, empties the mirror, and mirrors the new run."""
    live = Running(LiveTwin(scenario, broker.url, out=tmp_path / "live", forecasts=False,
                            client_id="robust-session"))
    try:
        first = emulate(scenario, broker.url, speed=20000, until=240, client_id="emu-a")
        assert live.caught_up(first)
        second = emulate(scenario, broker.url, speed=20000, until=120, client_id="emu-a")
        twin = live.twin
        assert wait_for(lambda: twin.mirror.counts["events"] >= first.events + second.events
                        and twin.mirror.counts["restarts"] == 1, 20)
        assert second.end is not None
        end = second.end
        wait_for(lambda: mirror_matches(twin.mirror.state(), end), 10)  # the machines settle
        assert_mirrors(twin.mirror.state(), end)
        assert twin.mirror.counts["duplicates"] == 0
        notices = [n["what"] for n in twin.notices]
        print("\n" + "\n".join(notices))
        assert twin.mirror.counts["sessions"] >= 1
        assert any("the plant started again" in n for n in notices)
    finally:
        live.close()


def test_without_a_session_a_seq_reset_is_told_from_a_redelivery(
        scenario) -> None:  # type: ignore[no-untyped-def]
    """Item 3, a publisher that says no session: the same ``seq`` with the same content is a
    duplicate, with other content a new session; so is a ``seq`` far behind the latest."""
    mirror = Mirror(scenario)
    topic = plant_topic(scenario.name, "machines")

    def take(seq: int, clock: float) -> bool:
        payload = machines(seq, clock, state="working", since=clock, age=0.0)
        message = decode(topic, payload, scenario.name, mirror.nodes)
        return mirror.take("machines", message)

    assert [take(k, 10.0 + k) for k in range(3)] == [True] * 3
    assert not take(1, 11.0)  # redelivered
    assert mirror.counts == {**mirror.counts, "duplicates": 1, "sessions": 0}
    assert take(0, 20.0)  # the publisher started again, its clock going on
    assert mirror.counts["sessions"] == 1 and mirror.counts["restarts"] == 0
    assert take(1, 21.0) and not take(1, 21.0)
    for k in range(2, 2 * WINDOW + 10):
        take(k, 20.0 + k)
    assert take(5, 1e6)  # far behind the latest: a new session
    assert mirror.counts["sessions"] == 2
    # item 8: the duplicates window stays bounded
    assert max(len(s.window) for s in mirror.streams.values()) <= 2 * WINDOW


def test_after_a_plant_restart_the_old_runs_late_messages_are_not_applied(
        scenario) -> None:  # type: ignore[no-untyped-def]
    """Item 3: session "a" runs to 100; session "b" starts again at 1 on the events topic
    (the mirror is emptied); a message of "a" that comes after is not applied, and "b"'s own
    first machine states are."""
    mirror = Mirror(scenario)
    idle = ("starved", 0.0, 0.0)
    assert mirror.take("events", Events(0, 100.0, [(50.0, "bar_stock", "release", 1, None,
                                                     None)], "a", 1))
    assert mirror.take("machines", Machines(0, 100.0, {"saw": ("working", 90.0, 5.0)}, "a", 2))
    assert mirror.take("events", Events(0, 1.0, [], "b", 3))
    assert mirror.counts["restarts"] == 1 and mirror.clock == 1.0
    assert mirror.machines == {} and mirror.current().parts == {}
    assert not mirror.take("machines", Machines(1, 100.0, {"saw": ("down", 99.0, 9.0)},
                                                "a", 4))
    assert mirror.counts["old_session"] == 1 and mirror.clock == 1.0
    assert mirror.take("machines", Machines(0, 1.0, {"saw": idle}, "b", 5))
    assert mirror.machines == {"saw": idle} and mirror.counts["restarts"] == 1


def test_memory_stays_bounded_under_half_a_million_distinct_seq(
        scenario) -> None:  # type: ignore[no-untyped-def]
    """Item 8: the seq numbers kept per topic are at most ``2 * WINDOW``, however many."""
    mirror = Mirror(scenario)
    for seq in range(500_000):
        mirror.take("events", Events(seq, 1.0, [], "s", seq))
    assert mirror.counts["duplicates"] == 0
    assert len(mirror.streams["events"].window) <= 2 * WINDOW


def test_events_older_than_their_part_or_negative_are_not_applied(
        scenario) -> None:  # type: ignore[no-untyped-def]
    """Item 10: a late event that would move a part back to where it was is not applied;
    negative times never reach the mirror."""
    mirror = Mirror(scenario, tolerance=5.0)
    mirror.take("events", Events(0, 1.0, [(1.0, "bar_stock", "release", 1, None, None)]))
    mirror.take("events", Events(1, 40.0, [(29.0, "mill", "start", 1, None, None)]))
    mirror.take("events", Events(2, 40.0, [(3.0, "B_saw", "arrive", 1, None, None)]))
    assert mirror.counts["late"] == 1 and mirror.counts["stale_events"] == 1
    assert mirror.current().parts[1].where == "mill"
    assert [p.age for p in mirror.state().parts("B_saw")] == []
    with pytest.raises(Malformed, match=r"events\[0\].time: -50.0 is not a time from 0"):
        decode(plant_topic(scenario.name, "events"), encode({"seq": 3, "clock": 1.0, "events": [
            [-50.0, "B_saw", "arrive", 2, None, None]]}), scenario.name, mirror.nodes)


# -- 4. user, password and TLS

@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test authority, the broker's certificate for 127.0.0.1 and a client's, signed by it."""
    folder = tmp_path_factory.mktemp("tls")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=twin-test-ca")
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1\n"), ("client", "")):
        (folder / f"{name}.cnf").write_text("basicConstraints=CA:FALSE\n" + extra)
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", f"/CN=twin-{name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.cnf")
    return {name: folder / name for name in ("ca.crt", "server.crt", "server.key",
                                              "client.crt", "client.key")}


def test_user_password_and_tls_with_a_client_certificate(
        scenario, tmp_path: Path, certificates: dict[str, Path],  # type: ignore[no-untyped-def]
        capfd: pytest.CaptureFixture[str]) -> None:
    """Item 4: a broker that wants a user, a password and a client certificate over TLS: the
    twin and the emulator connect with them, the mirror is exact, and the password is printed
    and stored nowhere; a wrong password is refused, and said so."""
    secret = "s3cret-Pa55"
    tls = TLS(certificates["ca.crt"], certificates["client.crt"], certificates["client.key"])
    with Broker(tmp_path / "broker", users={"plant": secret},
                tls=(certificates["ca.crt"], certificates["server.crt"],
                     certificates["server.key"]), require_certificate=True) as secure:
        url = f"mqtts://plant:{secret}@127.0.0.1:{secure.port}"
        out = tmp_path / "live"
        live = Running(LiveTwin(scenario, url, out=out, forecasts=False, tls=tls,
                                client_id="robust-tls"))
        try:
            emulation = emulate(scenario, url, speed=20000, until=240, tls=tls,
                                client_id="emulate-tls")
            assert live.caught_up(emulation)
            assert emulation.end is not None
            assert_mirrors(live.twin.mirror.state(), emulation.end)
        finally:
            live.close()
        status = (out / "status.json").read_text()
        assert secret not in status and "plant:***@127.0.0.1" in status
        assert redact(url) == f"mqtts://plant:***@127.0.0.1:{secure.port}"
        # the command line, the password in the URL: the startup line does not show it
        capfd.readouterr()
        code = main(["emulate", str(DEFAULT), "--broker", url, "--until", "30", "--speed",
                     "20000", "--ca", str(certificates["ca.crt"]), "--cert",
                     str(certificates["client.crt"]), "--key", str(certificates["client.key"])])
        printed = capfd.readouterr()
        assert code == 0, printed
        assert secret not in printed.out + printed.err
        assert f"on mqtts://plant:***@127.0.0.1:{secure.port}" in printed.out
        # or from the environment, out of the process list
        os.environ["TWIN_MQTT_PASSWORD"] = secret
        try:
            emulate(scenario, f"mqtts://plant@127.0.0.1:{secure.port}", speed=20000,
                    until=30, tls=tls, client_id="emulate-env")
        finally:
            del os.environ["TWIN_MQTT_PASSWORD"]
        started = time.monotonic()
        with pytest.raises(NotDelivered, match="refused the connection: Not authorized"):
            emulate(scenario, f"mqtts://plant:wrong@127.0.0.1:{secure.port}", until=30,
                    tls=tls, client_id="emulate-wrong")
        assert time.monotonic() - started < 10
        # TLS files with a plain URL: a mistake, exit 2
        code = main(["emulate", str(DEFAULT), "--broker", f"mqtt://127.0.0.1:{secure.port}",
                     "--ca", str(certificates["ca.crt"])])
        assert code == 2
        assert "TLS files given for 'mqtt://127.0.0.1" in capfd.readouterr().err
        with pytest.raises(NotDelivered, match="TLS with 127.0.0.1") as unknown_ca:
            emulate(scenario, url, until=30, tls=TLS(), client_id="emulate-no-ca")
        print(f"\n{unknown_ca.value}")
        assert "CERTIFICATE_VERIFY_FAILED" in str(unknown_ca.value)


# -- 5. an unreachable broker

def test_an_unreachable_broker_is_said_within_seconds(
        scenario, tmp_path: Path,  # type: ignore[no-untyped-def]
        caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    """Item 5: ``twin emulate`` exits 1 saying why, having published nothing; ``twin live``
    logs within 3 s that it has no connection and why, and its status says so."""
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    capfd.readouterr()
    code = main(["emulate", str(DEFAULT), "--broker", url, "--until", "30"])
    printed = capfd.readouterr()
    assert code == 1
    assert (f"error: no connection to the broker {url} within 5 s (cannot reach "
            f"127.0.0.1:{port}: Connection refused): nothing was published") in printed.err
    assert "published 0 events" not in printed.out
    caplog.set_level(logging.WARNING, logger="twin.live")
    out = tmp_path / "live"
    twin = LiveTwin(scenario, url, out=out, forecasts=False, client_id="robust-away")
    try:
        end = time.monotonic() + 4.0
        while time.monotonic() < end:
            twin.step()
        said = [r.getMessage() for r in caplog.records if "no connection" in r.getMessage()]
        assert said == [f"no connection to the broker {url} for 3 s: cannot reach "
                        f"127.0.0.1:{port}: Connection refused; retrying"]
        twin.write_status()
        status = json.loads((out / "status.json").read_text())
        assert status["connected"] is False
        assert status["connection"] == f"cannot reach 127.0.0.1:{port}: Connection refused"
        assert status["counts"]["connect_failures"] >= 1
    finally:
        twin.close()


# -- 6. stopping

def test_the_twin_stops_within_2_s_while_a_long_forecast_runs(
        broker: Broker, tmp_path: Path) -> None:
    """Item 6: ``twin live`` with a forecast of 100 replications of 800 hours running:
    SIGTERM ends it, and its forecast worker, within 2 s; the status is left whole."""
    out = tmp_path / "live"
    process = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "live", str(DEFAULT), "--broker", broker.url,
         "--out", str(out), "--forecast-every", "0.1", "--horizon", "48000",
         "--replications", "100", "--client-id", "live-stop"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: (out / "status.json").exists(), 60)
        emulate(load_scenario(DEFAULT), broker.url, speed=20000, until=60,
                client_id="emulate-stop")
        workers = psutil.Process(process.pid).children(recursive=True)
        assert workers
        time.sleep(2.0)  # the forecast is submitted 0.1 s after the machines' states come
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        stopped = time.monotonic() - started
        print(f"\nstopped in {stopped:.2f} s with a forecast running")
        assert stopped < 2.0
        # the worker is ended by the twin, the resource tracker ends as the twin goes
        assert wait_for(lambda: not [w for w in workers
                                     if w.is_running() and w.status() != "zombie"], 1.0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    status = json.loads((out / "status.json").read_text())
    assert status["stopped"] is True and status["connected"] is False


# -- 7. kill -9

def test_kill_9_then_restart_loses_no_acknowledged_event(
        broker: Broker, scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Item 7 (and 9's dead twin): ``twin live --record`` killed outright mid-stream leaves no
    process behind, the broker marks its status not connected, and a twin started again on the
    same folder keeps the killed one's staged part: the record holds every event the plant
    published (a message the killed twin recorded but had not acknowledged comes again), and
    the second twin, its mirror started from the record, mirrors the plant exactly."""
    out = tmp_path / "live"
    command = [sys.executable, "-m", "twin.cli", "live", str(DEFAULT), "--broker", broker.url,
               "--out", str(out), "--record", "--forecast-every", "0.5", "--horizon", "60",
               "--replications", "2", "--client-id", "live-kill"]
    watcher = Connector(broker.url, "status-watch", (twin_topic(PLANT, "status"),))
    statuses: list[dict[str, Any]] = []

    def watch() -> None:
        statuses.extend(json.loads(payload) for _, payload in watcher.drain(timeout=0))

    result: list[Emulation] = []
    emulator = threading.Thread(target=lambda: result.append(emulate(
        scenario, broker.url, speed=1500, until=480, client_id="emulate-kill")))
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    second: subprocess.Popen[bytes] | None = None
    try:
        assert wait_for(lambda: (out / "status.json").exists(), 60)
        emulator.start()  # 480 min at 1500x: about 19 s
        staged = out / "record" / "events" / ".part-00000.arrows"
        assert wait_for(lambda: staged.exists() and staged.stat().st_size > 50_000, 30)
        children = psutil.Process(first.pid).children(recursive=True)
        assert children  # the forecast worker
        first.kill()
        first.wait()
        assert wait_for(lambda: not [c for c in children
                                     if c.is_running() and c.status() != "zombie"], 3)
        assert wait_for(lambda: (watch(), bool(statuses) and statuses[-1].get("why"))[1], 10)
        assert statuses[-1]["connected"] is False
        kept = staged.stat().st_size
        time.sleep(1.0)  # the plant goes on publishing; the broker keeps it for the twin
        second = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        emulator.join(90)
        emulation = result[0]

        def caught_up() -> bool:
            try:
                status = json.loads((out / "status.json").read_text())
            except (OSError, ValueError):
                return False
            return status["clock"] >= emulation.clock and status["backlog"] == 0 \
                and status["counts"]["connects"] >= 1
        assert wait_for(caught_up, 60)
        time.sleep(1.0)
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    finally:
        watcher.close()
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    status = json.loads((out / "status.json").read_text())
    notices = [n["what"] for n in status["notices"]]
    print("\n" + "\n".join(notices))
    assert any("the record kept" in n for n in notices), notices
    assert any("the mirror starts from the record" in n for n in notices), notices
    # started from the record, the second twin's mirror equals the plant at the end
    assert emulation.end is not None
    assert_mirrors(PlantState.model_validate(status["state"]), emulation.end)
    recorded = pd.read_parquet(out / "record" / "events")
    ctx = build(scenario, 0, events=True)
    ctx.env.run(until=480)
    assert ctx.events is not None
    truth = ctx.events.table(0).to_pandas()
    key = ["time", "node", "event", "part"]

    def counted(frame: pd.DataFrame) -> pd.Series:
        rows = frame[key].astype({"node": str, "event": str}).fillna({"part": -1})
        return rows.value_counts()

    have, want = counted(recorded), counted(truth)
    missing = (want - have.reindex(want.index, fill_value=0)).clip(lower=0)
    extra = len(recorded) - len(truth)
    print(f"\nkilled after {kept:,} bytes staged; published {len(truth)} events, recorded "
          f"{len(recorded)} ({extra} recorded twice: received, not yet acknowledged)")
    assert missing.sum() == 0
    assert 0 <= extra < 2000 * 20  # at most the messages in flight (20, of 2000 events)
    assert not list((out / "record").rglob(".*"))  # every staged part made a part


# -- 9. lag and a flood

def test_a_flood_of_bad_messages_shows_as_lag_and_the_log_stays_short(
        broker: Broker, scenario, tmp_path: Path,  # type: ignore[no-untyped-def]
        caplog: pytest.LogCaptureFixture) -> None:
    """Item 9: 20,000 bad messages ahead of the plant's: the log says ten of each kind and
    how many more, the status shows the newest message's plant time and wall time, the lag and
    the backlog, and the page says so."""
    caplog.set_level(logging.WARNING, logger="twin.live")
    out = tmp_path / "live"
    bad = [(plant_topic(PLANT, "events"), b"{not json %d" % k) for k in range(20_000)]
    twin = LiveTwin(scenario, broker.url, out=out, forecasts=False, client_id="robust-flood")
    try:
        assert twin.connector.wait_connected(10)
        send(broker, bad)
        emulation = emulate(scenario, broker.url, speed=20000, until=60, client_id="emu-flood")
        lags = []
        end = time.monotonic() + 60
        while time.monotonic() < end and twin.mirror.clock < emulation.clock:
            twin.step()
            lags.append(twin.lag)
        assert twin.mirror.clock == pytest.approx(emulation.clock)
        assert twin.rejected["malformed"] == 20_000
        twin.write_status()
    finally:
        twin.close()
    status = json.loads((out / "status.json").read_text())
    print(f"\nlag at most {max(lags):.2f} s; newest {status['newest']}")
    assert max(lags) > 0
    assert status["newest"]["clock"] == pytest.approx(emulation.clock)
    assert set(status) >= {"lag_s", "backlog", "expires"}
    logged = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    print(f"{len(logged)} lines logged for 20,000 malformed messages")
    assert len(logged) <= 10 * 3 + 3
    assert sum(int(m.split()[2]) for m in logged if m.startswith("...")) + \
        sum(1 for m in logged if not m.startswith("...")) == 20_000
    page = (out / "index.html").read_text()
    assert "newest message: plant time" in page and "lag" in page
    assert "not running" in page and "Date.parse" in page


# -- the payload parser, fuzzed

def _json() -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
                       st.sampled_from(["mill", "saw", "B_saw", "start", "arrive", "release",
                                        "ship", "working", "down", "vibration"]))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.sampled_from(["v", "seq", "time", "x", ""]), inner,
                                          max_size=3), max_leaves=6)


def _number() -> st.SearchStrategy[Any]:
    return st.one_of(st.floats(-1e3, 1e4), st.floats(allow_nan=True, allow_infinity=True),
                     st.integers(-5, 10**6), st.sampled_from([1e300, -0.0, 1e12, 1e12 + 1]))


_NODES = ["bar_stock", "saw", "B_saw", "mill", "B_mill", "shipped", "no-such"]
_EVENT = st.lists(st.one_of(
    st.tuples(_number(), st.sampled_from(_NODES), st.sampled_from(
        ["release", "arrive", "start", "finish", "ship", "scrap", "fail", "nope"]),
        st.one_of(st.none(), st.integers(-2, 30)), st.sampled_from([None, "p", 3]),
        st.sampled_from([None, "o", 3])).map(list),
    _json()), max_size=5)
_PAYLOAD = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 1, 1, 2, "1"]), "seq": st.one_of(st.integers(-1, 40), _json()),
     "clock": _number()},
    optional={"session": st.one_of(st.sampled_from(["a", "b"]), _json()),
              "events": _EVENT,
              "machines": st.dictionaries(st.sampled_from(_NODES), st.one_of(
                  st.fixed_dictionaries({"state": st.sampled_from(["working", "down", "x"]),
                                         "since": _number(), "age": _number()}), _json()),
                  max_size=3),
              "readings": st.dictionaries(st.sampled_from(["vibration", "temp", "x"]), st.one_of(
                  st.fixed_dictionaries({"time": st.lists(_number(), max_size=4),
                                         "value": st.lists(_number(), max_size=4)},
                                        optional={"age": st.lists(_number(), max_size=4)}),
                  _json()), max_size=3)})


def _bytes(payload: Any) -> bytes:
    return json.dumps(payload, allow_nan=True).encode()


@pytest.fixture(scope="module")
def mirrors(scenario) -> list[Mirror]:  # type: ignore[no-untyped-def]
    """Two plants' empty mirrors, copied for each example."""
    return [Mirror(scenario), Mirror(load_scenario(ROOT / "scenarios" / "wear.yaml"))]


@settings(max_examples=10_000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(kind=st.sampled_from(["events", "machines", "sensors/mill", "sensors/press", "gossip"]),
       body=st.one_of(_PAYLOAD.map(_bytes), _json().map(_bytes), st.binary(max_size=32)))
def test_fuzzed_payloads_are_taken_or_rejected_never_a_crash(
        kind: str, body: bytes, mirrors: list[Mirror]) -> None:
    """10,000 payloads, near the schema and far from it, on the plant's topics of two plants:
    the parser takes each or rejects it with ``Malformed``/``Unknown``, and what it takes the
    mirror applies and turns into a valid state."""
    for empty, name in zip(mirrors, ("bracket-line", "press-wear"), strict=True):
        mirror = copy.deepcopy(empty)
        try:
            message = decode(plant_topic(name, kind), body, name, mirror.nodes,
                             mirror.sensor_names)
        except (Malformed, Unknown):
            continue
        assert 0 <= message.clock <= MAX_TIME
        assert mirror.take(kind, message)
        assert not mirror.take(kind, message)  # delivered twice
        state = mirror.state()
        assert state.time == message.clock
        if isinstance(message, Machines):
            assert all(since <= message.clock for _, since, _ in message.machines.values())
        if isinstance(message, Events):
            assert all(0 <= row[0] <= MAX_TIME for row in message.rows)
        assert np.isfinite(state.time)


def test_the_page_of_a_twin_that_died_says_it_is_not_running(
        scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Item 9 on the page, in headless Chromium: a status past its ``expires`` (its twin no
    longer renews it) shows "not running" and not connected, with the plant drawn or not; one
    still valid does not."""
    from datetime import UTC, datetime, timedelta

    from tests.helpers import CHROMEDRIVER, CHROMIUM, chromium
    from twin.live.status import write_status

    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            raise RuntimeError("CI needs Debian's chromium and chromium-driver")
        pytest.skip("headless Chromium is not installed (apt-get install chromium "
                    "chromium-driver)")
    now = datetime.now(UTC)
    status: dict[str, Any] = {
        "v": 1, "plant": scenario.name, "time_unit": "min", "clock": 5.0, "connected": True,
        "stopped": False, "counts": {}, "state": {"time": 5.0, "buffers": {}, "machines": {}}}
    seen = {}
    with chromium(1000, 800) as driver:
        for drawn in (None, scenario):
            for age, expected in ((60, True), (0, False)):
                updated = now - timedelta(seconds=age)
                folder = tmp_path / f"{drawn is not None}-{age}"
                write_status(folder, {**status, "updated": updated.isoformat(),
                                      "expires": (updated + timedelta(seconds=10)).isoformat()},
                             drawn)
                driver.get((folder / "index.html").as_uri())
                time.sleep(0.3)
                dead = driver.execute_script(
                    "return getComputedStyle(document.getElementById('dead')).display")
                connection = driver.execute_script(
                    "return document.getElementById('connection').textContent")
                seen[(drawn is not None, age)] = (dead, connection)
                assert (dead == "block") is expected, (drawn is not None, age, dead)
                assert connection == ("not connected (the twin is not running)" if expected
                                      else "connected")
    print(f"\n{seen}")
