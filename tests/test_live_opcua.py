"""The live twin over OPC UA against real asyncua servers on free loopback ports: the emulator
serves the plant in twin's address space, the live twin mirrors it (or a plant whose server
names things its own way, read through a mapping file), securely where asked, across a server
restart."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua

from twin.cli import main
from twin.engine.state import PlantState
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


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class Running:
    """A live twin stepping in a thread until the test is done."""

    def __init__(self, twin: LiveTwin) -> None:
        self.twin = twin
        self.stop = threading.Event()
        assert twin.connector.wait_connected(20)
        self.thread = threading.Thread(target=twin.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def caught_up(self, emulation: Emulation, timeout: float = 20.0) -> bool:
        mirror = self.twin.mirror
        return wait_for(lambda: mirror.counts["events"] >= emulation.events
                        and mirror.clock >= emulation.clock, timeout)

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
