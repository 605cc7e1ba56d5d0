"""The live twin over OPC UA against real asyncua servers on free loopback ports: the emulator
serves the plant in twin's address space, the live twin mirrors it (or a plant whose server
names things its own way, read through a mapping file), securely where asked, across a server
restart."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from asyncua import Client, ua

from tests.helpers import wait_for
from twin.cli import main
from twin.engine.state import PlantState
from twin.errors import InputError
from twin.language.loading import load_scenario
from twin.live.broker import free_port
from twin.live.emulator import Emulation
from twin.live.opcua_client import Security, opcua_twin
from twin.live.opcua_map import NAMESPACE, load_mapping
from twin.live.opcua_server import PlantServer, emulate_opcua
from twin.live.twin import LiveTwin

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "default.yaml"


@pytest.fixture(scope="module")
def scenario():  # type: ignore[no-untyped-def]
    return load_scenario(DEFAULT)


def url() -> str:
    return f"opc.tcp://127.0.0.1:{free_port()}"


class Running:
    """A live twin stepping in a thread until the test is done."""

    def __init__(self, twin: LiveTwin) -> None:
        self.twin = twin
        self.stop = threading.Event()
        assert twin.connector.wait_connected(20)
        self.steps = 0
        step = twin.step

        def counted(timeout: float = 0.05) -> int:
            self.steps += 1
            return step(timeout)

        twin.step = counted  # type: ignore[method-assign]
        self.thread = threading.Thread(target=twin.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def caught_up(self, emulation: Emulation, timeout: float = 60.0,
                  events: int | None = None, clock: float | None = None) -> bool:
        """Once the server's clock variable says the end is in (it is written last) and the
        events have come, and the twin has taken everything received."""
        mirror = self.twin.mirror
        connector: Any = self.twin.connector
        done = wait_for(lambda: connector.clock_read >= (emulation.clock if clock is None
                                                         else clock)
                        and mirror.counts["events"] >= (emulation.events if events is None
                                                        else events), timeout)
        return done and self.settled()

    def settled(self, timeout: float = 10.0) -> bool:
        """Whether the twin has taken every message received (two steps after the queue was
        seen empty)."""
        connector: Any = self.twin.connector
        if not wait_for(lambda: connector.inbox.empty(), timeout):
            return False
        seen = self.steps
        return wait_for(lambda: self.steps >= seen + 2, timeout)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(20)


def assert_mirrors(mine: PlantState, true: PlantState, age_tolerance: float = 1e-6,
                   buffers: bool = True) -> None:
    """Parts per buffer (with their ages), every machine's state, part in hand and age."""
    assert mine.time == pytest.approx(true.time)
    for name in true.buffers if buffers else ():
        assert [p.age for p in mine.parts(name)] == pytest.approx(
            [p.age for p in true.parts(name)], abs=age_tolerance), name
    for name, machine in true.machines.items():
        got = mine.machines[name]
        assert got.state == machine.state, name
        assert got.age == pytest.approx(machine.age, abs=age_tolerance), name
        if buffers:
            assert (got.part is None) == (machine.part is None), name


@pytest.fixture
def served(scenario) -> Iterator[PlantServer]:  # type: ignore[no-untyped-def]
    server = PlantServer(scenario, url())
    try:
        yield server
    finally:
        server.close()


def test_the_address_space_is_twin_s_documented_layout(served: PlantServer) -> None:
    plant = served.plant

    async def browse() -> dict[str, Any]:
        async with Client(served.url) as client:
            ns = await client.get_namespace_index(NAMESPACE)
            base = await client.nodes.objects.get_child([f"{ns}:Plant", f"{ns}:{plant}"])
            mill = await base.get_child([f"{ns}:Machines", f"{ns}:mill"])
            names = sorted([(await c.read_browse_name()).Name
                            for c in await mill.get_children()])
            contents = await base.get_child([f"{ns}:Buffers", f"{ns}:B_mill", f"{ns}:Contents"])
            state = await mill.get_child(f"{ns}:State")
            return {"mill": names, "contents": str(contents.nodeid.Identifier),
                    "state": (await state.read_data_value()).Value.Value,
                    "origin": await (await base.get_child(f"{ns}:Origin")).read_value()}

    found = asyncio.run(browse())
    assert found["mill"] == ["Identification", "OperatingAge", "PartsMade", "State"]  # no sensors
    assert found["contents"] == f"Plant/{plant}/Buffers/B_mill/Contents"  # the id is the path
    assert found["state"] == "starved"
    assert found["origin"].replace(tzinfo=None) == served.origin.replace(tzinfo=None)


def test_a_shift_is_mirrored_exactly_over_opcua(served: PlantServer, scenario,  # type: ignore[no-untyped-def]
                                                 tmp_path: Path) -> None:
    out = tmp_path / "live"
    live = Running(opcua_twin(scenario, served.url, out=out, forecast_every=0.5, horizon=120,
                              replications=3))
    try:
        emulation = emulate_opcua(scenario, served.url, speed=20000, until=480, server=served)
        assert live.caught_up(emulation)
        twin = live.twin
        assert twin.mirror.counts["events"] == emulation.events > 5000
        assert emulation.end is not None
        assert_mirrors(twin.mirror.state(), emulation.end)
        counts = twin.connector.counts  # type: ignore[attr-defined]
        print(f"\nshift of 480 min at speed 20000 over OPC UA: {emulation.events} events, "
              f"{counts['opcua_values']} values; mirror equals the true state")
        # every buffer's Contents variable says what the mirror says
        assert wait_for(lambda: twin.connector.buffers == {  # type: ignore[attr-defined]
            b: len(emulation.end.parts(b)) for b in emulation.end.buffers}, 10)
        assert wait_for(lambda: twin.forecast is not None, 30)
        forecast = twin.forecast
        assert forecast is not None
        low, high = forecast["kpis"]["throughput"]["ci95"]
        assert low <= forecast["kpis"]["throughput"]["mean"] <= high
    finally:
        live.close()
    status = json.loads((out / "status.json").read_text())
    assert status["stopped"] and status["clock"] == pytest.approx(480)
    assert status["counts"]["events"] == emulation.events
    assert status["counts"]["opcua_malformed"] == status["counts"]["opcua_unmapped"] == 0


def test_server_restarted_mid_stream_loses_no_state(served: PlantServer, scenario,  # type: ignore[no-untyped-def]
                                                    tmp_path: Path) -> None:
    live = Running(opcua_twin(scenario, served.url, out=tmp_path / "live", forecasts=False))
    result: list[Emulation] = []
    emulator = threading.Thread(target=lambda: result.append(emulate_opcua(
        scenario, served.url, speed=4000, until=480, server=served)))
    try:
        emulator.start()  # 480 min at speed 4000: about 7 s
        time.sleep(2.0)
        served.stop()
        assert wait_for(lambda: not live.twin.connector.connected.is_set(), 5)
        received_before = live.twin.mirror.counts["events"]
        time.sleep(1.5)  # the plant runs on; its server is down
        served.start()
        emulator.join(60)
        assert result, "the emulator did not finish"
        emulation = result[0]
        twin = live.twin
        assert live.caught_up(emulation, 30), (twin.mirror.counts, twin.connector.counts)  # type: ignore[attr-defined]
        assert wait_for(lambda: twin.connector.connects >= 2, 10)  # subscribed again
        counts = twin.connector.counts  # type: ignore[attr-defined]
        print(f"\nserver stopped after {received_before} events and restarted: published "
              f"{emulation.events}, received {twin.mirror.counts['events']}; "
              f"{counts['opcua_log_read_back']} event messages read back; twin connected "
              f"{twin.connector.connects} times")
        assert 0 < received_before < emulation.events
        assert twin.mirror.counts["events"] == emulation.events
        assert twin.connector.connects >= 2 and twin.connector.disconnects >= 1
        assert counts["opcua_log_read_back"] > 0 and counts["opcua_resubscribed"] >= 1
        assert emulation.end is not None
        assert_mirrors(twin.mirror.state(), emulation.end)
        status = twin.status()
        assert status["counts"]["connects"] >= 2
    finally:
        live.close()


CODES = {"starved": 0, "working": 1, "blocked": 2, "down": 3, "repair": 4, "maintenance": 5,
         "setup": 6}
ALARMS = {"fail": "Fault", "repair_end": "Repaired", "pm_start": "Service",
          "pm_end": "Serviced"}


class ForeignServer(PlantServer):
    """The emulated plant as a server that names things its own way: ``Line1/<Machine>.Station/
    {Mode (an Int32 code), RunHours, GoodCount}`` and ``Line1/PlantMinutes``, failures and
    repairs as OPC UA events from the Server object (SourceName the station, Message
    ``Fault``/``Repaired``); no event log, no buffers."""

    fired: dict[str, int]

    def translate(self, key: str, value: Any) -> tuple[str, ua.VariantType, Any] | None:
        parts = key.split("/")
        if parts[2:3] == ["Clock"]:
            return "Line1/PlantMinutes", ua.VariantType.Double, value
        if parts[2:3] != ["Machines"] or len(parts) not in (5, 6):
            return None
        station = f"Line1/{parts[3].capitalize()}.Station"
        if parts[4] == "Sensors":  # vibration -> Vib
            return f"{station}/{parts[5][:3].capitalize()}", ua.VariantType.Double, value
        if parts[4] == "State":
            return f"{station}/Mode", ua.VariantType.Int32, CODES[value]
        if parts[4] == "OperatingAge":
            return f"{station}/RunHours", ua.VariantType.Double, value / 60
        if parts[4] == "PartsMade":
            return f"{station}/GoodCount", ua.VariantType.UInt64, value
        return None

    def _set(self, key: str, value: Any, kind: ua.VariantType, stamp: datetime | None) -> None:
        foreign = self.translate(key, value)
        if foreign is not None:
            super()._set(foreign[0], foreign[2], foreign[1], stamp)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        super().publish(topic, payload, retain)
        if topic.endswith("/events"):
            self.submit([("!event", (node, event), self.stamp(time))
                         for time, node, event, *_ in json.loads(payload)["events"]
                         if event in ALARMS])

    async def _start(self) -> None:
        await super()._start()
        assert self.server is not None
        self.events = await self.server.get_event_generator()

    def raw(self, key: str, value: ua.Variant, time: float) -> None:
        """Write ``value`` as it is (whatever its type) at plant time ``time``."""
        async def write() -> None:
            assert self.server is not None
            await self.server.write_attribute_value(
                ua.NodeId(ua.String(key), ua.Int16(self.ns)),
                ua.DataValue(value, SourceTimestamp=self.stamp(time)))  # type: ignore[arg-type]
        asyncio.run_coroutine_threadsafe(write(), self.loop).result(10)

    async def _write(self, writes: list[tuple[str, Any, datetime]]) -> None:
        plain = []
        for key, value, stamp in writes:
            if key == "!event":
                async with self.lock:
                    if self.server is not None:
                        node, event = value
                        self.events.event.SourceName = f"{node.capitalize()}.Station"
                        await self.events.trigger(stamp, ALARMS[event])
                        self.fired[event] = self.fired.get(event, 0) + 1
                continue
            foreign = self.translate(key, value)
            if foreign is not None:
                plain.append((foreign[0], foreign[2], stamp))
        await super()._write(plain)


MAPPING = """\
namespace: {ns}
origin: {origin}
clock: Objects/Line1/PlantMinutes
machines:
{machines}
events:
  source_field: SourceName
  kind_field: Message
  sources: {{{sources}}}
  kinds: {{Fault: fail, Repaired: repair_end, Service: pm_start, Serviced: pm_end}}
"""


def write_mapping(folder: Path, scenario, origin: datetime) -> Path:  # type: ignore[no-untyped-def]
    codes = ", ".join(f"{code}: {state}" for state, code in CODES.items())
    machines = []
    for k, name in enumerate(n for n, s in scenario.plant.nodes.items() if s.kind == "machine"):
        station = f"{name.capitalize()}.Station"
        # browse paths for some machines, node ids in the namespace for the others
        node = (f"Objects/Line1/{station}" if k % 2 else
                f"nsu={NAMESPACE};s=Line1/{station}")
        sensors = ", ".join(f"{s}: \"{node}/{s[:3].capitalize()}\""
                            for s in getattr(scenario.plant.nodes[name], "sensors", None) or {})
        machines.append(f"  {name}:\n"
                        f"    state: {{node: \"{node}/Mode\", values: {{{codes}}}}}\n"
                        f"    age: {{node: \"{node}/RunHours\", scale: 60}}\n"
                        f"    finished: \"{node}/GoodCount\"\n"
                        f"    sensors: {{{sensors}}}")
    sources = ", ".join(f"{n.capitalize()}.Station: {n}" for n, s in scenario.plant.nodes.items()
                        if s.kind == "machine")
    path = folder / "mapping.yaml"
    path.write_text(MAPPING.format(ns=NAMESPACE, origin=origin.isoformat(),
                                   machines="\n".join(machines), sources=sources))
    return path


def test_a_plant_with_other_names_and_state_codes_is_mirrored_through_a_mapping(
        tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "wear.yaml")  # a press with two sensors
    server = ForeignServer(scenario, url())
    server.fired = {}
    mapping = write_mapping(tmp_path, scenario, server.origin)
    live = Running(opcua_twin(scenario, server.url, mapping=mapping, out=tmp_path / "live",
                              forecasts=False))
    try:
        emulation = emulate_opcua(scenario, server.url, speed=100_000, until=3000,
                                  server=server)
        twin = live.twin
        made = sum(server.finished.values())
        fired = sum(server.fired.values())
        assert live.caught_up(emulation, events=made + fired)
        print(f"\nmapped plant: {made} parts finished (counters), {server.fired} (OPC UA "
              f"events); mirrored {twin.mirror.counts['events']} events")
        assert made > 1000 and fired > 0
        assert twin.mirror.counts["events"] == made + fired
        # every reading, at its time (the source timestamp), with its value
        assert twin.mirror.counts["readings"] == emulation.readings > 500
        for sensor in ("vibration", "temperature"):
            times, values = twin.mirror.sensors[("press", sensor)]
            last = server.values[f"Line1/Press.Station/{sensor[:3].capitalize()}"]
            assert values[-1] == last.Value.Value
            assert times[-1] == pytest.approx(
                (last.SourceTimestamp - server.origin).total_seconds() / 60, abs=1e-9)
            assert (np.diff(times) > 0).all()
        assert emulation.end is not None
        assert_mirrors(twin.mirror.state(), emulation.end, buffers=False)
        counts = twin.connector.counts  # type: ignore[attr-defined]
        assert counts["opcua_unmapped"] == counts["opcua_malformed"] == 0
        # a code the mapping does not name, and an age that is not a number: counted, dropped
        server.submit([(f"Plant/{server.plant}/Machines/blank/State", "setup",
                        server.stamp(3001.0))])
        server.raw("Line1/Blank.Station/Mode", ua.Variant(9, ua.VariantType.Int32), 3002.0)
        server.raw("Line1/Pack.Station/RunHours", ua.Variant(math.nan, ua.VariantType.Double),
                   3002.0)
        assert wait_for(lambda: counts["opcua_unmapped"] == 1 and counts["opcua_malformed"] == 1,
                        10), counts
        # the state change came first, but the twin may take it a moment after the counts
        assert wait_for(lambda: twin.mirror.state().machines["blank"].state == "setup", 10), \
            twin.mirror.state().machines["blank"].state
    finally:
        live.close()
        server.close()


def test_a_bad_mapping_file_exits_2_naming_the_field_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("machines:\n  saw:\n    state: {node: 'ns=2;s=x', values: {0: idle}}\n"
                   "  lathe:\n    finished: 'ns=2;s=y'\n")
    code = main(["live", str(DEFAULT), "--opcua", url(), "--map", str(bad),
                 "--out", str(tmp_path / "live")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{bad}:3: machines.saw.state.values" in err and "'idle'" in err
    assert "Traceback" not in err
    bad.write_text("machines:\n  saw:\n    finished: 'ns=2;s=x'\n\n  lathe:\n"
                   "    finished: 'ns=2;s=y'\n")
    with pytest.raises(InputError, match=r"bad.yaml:5: machines.lathe: no machine 'lathe'"):
        load_mapping(bad, {"saw": "machine"})


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], folder: Path) -> str:
    """Run ``twin live`` in-process, expecting exit 2 promptly; its stderr."""
    started = time.monotonic()
    code = main(["live", str(DEFAULT), *argv, "--out", str(folder)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert time.monotonic() - started < 15  # a clear error, never a hang
    assert "refused" in err and "Traceback" not in err
    return err


def mirror_a_while(scenario, server: PlantServer, twin: LiveTwin) -> None:  # type: ignore[no-untyped-def]
    live = Running(twin)
    try:
        emulation = emulate_opcua(scenario, server.url, speed=20000, until=120, server=server)
        assert live.caught_up(emulation)
        assert emulation.end is not None
        assert_mirrors(twin.mirror.state(), emulation.end)
    finally:
        live.close()


def test_user_and_password_connect_wrong_credentials_exit_2(
        scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "pa55-w0rd-7731"
    server = PlantServer(scenario, url(), user="operator", password=secret)
    try:
        twin = opcua_twin(scenario, server.url, out=tmp_path / "live", forecasts=False,
                          security=Security(user="operator", password=secret))
        mirror_a_while(scenario, server, twin)
        status = (tmp_path / "live" / "status.json").read_text()
        assert secret not in status and secret not in repr(twin.connector.security)  # type: ignore[attr-defined]
        monkeypatch.setenv("TWIN_OPCUA_PASSWORD", "not-" + secret)
        err = refused(["--opcua", server.url, "--user", "operator"], capsys, tmp_path / "w")
        assert "BadUserAccessDenied" in err and secret not in err
        monkeypatch.delenv("TWIN_OPCUA_PASSWORD")
        err = refused(["--opcua", server.url], capsys, tmp_path / "anonymous")
        print(f"\nanonymous: {err.strip()}")
    finally:
        server.close()


def test_basic256sha256_sign_and_encrypt_connect_a_client_without_exit_2(
        scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from twin.live.opcua_server import make_certificate

    pki = tmp_path / "pki"
    pki.mkdir()
    make_certificate(pki / "server.der", pki / "server.pem", "urn:twin:test:server",
                     server=True)
    make_certificate(pki / "client.der", pki / "client.pem", "urn:twin:test:client",
                     server=False)
    server = PlantServer(scenario, url(), cert=pki / "server.der", key=pki / "server.pem")
    try:
        secure = Security(cert=pki / "client.der", key=pki / "client.pem",
                          server_cert=pki / "server.der", mode="SignAndEncrypt")
        twin = opcua_twin(scenario, server.url, out=tmp_path / "live", forecasts=False,
                          security=secure)
        mirror_a_while(scenario, server, twin)
        signed = opcua_twin(scenario, server.url, out=tmp_path / "signed", forecasts=False,
                            security=Security(cert=pki / "client.der", key=pki / "client.pem",
                                              mode="Sign"))
        try:
            assert signed.connector.wait_connected(20)
        finally:
            signed.close()
        err = refused(["--opcua", server.url], capsys, tmp_path / "plain")
        print(f"\nno security: {err.strip()}")
    finally:
        server.close()


def test_the_commands_emulate_and_live_over_opcua(served: PlantServer, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import signal
    import subprocess
    import sys

    out = tmp_path / "live"
    process = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "live", str(DEFAULT), "--opcua", served.url,
         "--out", str(out), "--forecast-every", "3600"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: (out / "status.json").exists()
                        and json.loads((out / "status.json").read_text())["connected"], 60)
        emulate_opcua(served.scenario, served.url, speed=20000, until=60, server=served)
        assert wait_for(lambda: json.loads((out / "status.json").read_text())["clock"] == 60,
                        30)
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    status = json.loads((out / "status.json").read_text())
    assert status["stopped"] is True and status["counts"]["opcua_values"] > 0
    code = main(["emulate", str(DEFAULT), "--opcua", url(), "--speed", "20000",
                 "--until", "30"])
    assert code == 0
    assert "served 608 events" in capsys.readouterr().out
    assert main(["emulate", str(DEFAULT), "--opcua", "mqtt://x:1"]) == 2


def test_event_messages_the_subscription_skipped_are_read_back(served: PlantServer, scenario,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path) -> None:
    from twin.live.opcua_map import path
    from twin.live.schema import encode

    live = Running(opcua_twin(scenario, served.url, out=tmp_path / "live", forecasts=False))
    try:
        messages = [encode({"seq": k, "clock": 10.0 * (k + 1), "events": [
            [10.0 * k + 1, "saw", "fail", None, None, None],
            [10.0 * k + 5, "saw", "repair_end", None, None, None]]}).decode() for k in range(3)]
        served.log.extend(messages)  # the log holds all three; the variable shows only the last
        served.submit([(path(served.plant, "EventLog"), messages[-1], served.stamp(30.0)),
                       (path(served.plant, "Clock"), 30.0, served.stamp(30.0))])
        connector: Any = live.twin.connector
        assert wait_for(lambda: connector.clock_read >= 30.0, 10) and live.settled()
        assert live.twin.mirror.counts["events"] == 6
        assert connector.counts["opcua_log_gaps"] == 1
        assert connector.counts["opcua_log_read_back"] == 3  # the one shown too, taken once
    finally:
        live.close()
