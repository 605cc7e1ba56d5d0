"""The live twin's speed: sustained ingest of sensor readings through a local Mosquitto, and the
latency of one forecast from a mirrored state.

Ingest: a publisher process sends ``--messages`` batches of ``--batch`` readings (the two
sensors of the wear scenario's press) to the plant's sensor topic at QoS 1 as fast as the
broker takes them; the live twin drains, checks and stores them (its forecasts off),
acknowledging each message once processed. The rate is readings per second from the first
batch received to the last, with the publisher running alongside on the same two
cores. Target: 20,000 readings/s.

Forecast: 10 replications of an 8-hour (480 min) look-ahead of the default plant from the state
of its emulated first shift, in the twin's forecast worker (the time from submitting it to the
result, process hand-over included) and in-process. Target: under 2 s.

Predictive alarms: the wear scenario's press runs to failure (reactive) for ``--alarm-minutes``
of plant time, emulated as fast as it goes; the live twin scores its windows with the linear RUL
model of ``twin train scenarios/wear.yaml --predictor linear`` (trained first if
``results/models/linear`` is missing) at threshold 250 every 30 min, and the share of failures
an alarm came before (in the same life) is printed with the median lead.

OPC UA ingest: a server process (``twin.live.opcua_server.PlantServer``, the wear scenario's
address space) writes ``--opcua-values`` readings of the press's two sensor variables, each
value with its source timestamp, ``--opcua-batch`` at a time, as fast as asyncua writes them;
the live twin's OPC UA client (one subscription, monitored items queueing every value) turns
them into readings and mirrors them. The rate is readings per second from the first received to
the last, server and client on the same two cores. Target: 20,000 values/s. OPC UA forecast:
the latency of the twin's forecast from the default plant's first shift mirrored over OPC UA.

Usage: python benchmarks/live_speed.py [--messages N] [--batch B] [--alarm-minutes T]
       [--opcua-values N] [--opcua-batch B] [--only mqtt|opcua]
Needs Eclipse Mosquitto (apt-get install mosquitto) for the MQTT figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin.language.loading import load_scenario  # noqa: E402
from twin.live.broker import Broker  # noqa: E402
from twin.live.connector import Connector  # noqa: E402
from twin.live.emulator import emulate  # noqa: E402
from twin.live.forecast import Forecaster, look_ahead  # noqa: E402
from twin.live.schema import encode, plant_topic  # noqa: E402
from twin.live.twin import LiveTwin  # noqa: E402


def publisher(url: str, topic: str, messages: int, batch: int) -> None:
    connector = Connector(url, "bench-publisher")
    connector.wait_connected(10)
    rng = np.random.default_rng(1)
    payloads = []
    for k in range(messages):
        t = (k * batch + np.arange(batch, dtype=float)).tolist()
        payloads.append(encode({"seq": k, "clock": t[-1], "readings": {
            "vibration": {"time": t[: batch // 2], "value": rng.normal(2, 0.4, batch // 2)
                          .round(4).tolist()},
            "temperature": {"time": t[batch // 2:], "value": rng.normal(45, 1.5, batch
                                                                          - batch // 2)
                            .round(3).tolist()}}}))
    for payload in payloads:
        connector.publish(topic, payload)
        while connector.unacknowledged() > 100:  # keep the window the broker allows
            time.sleep(0.001)
    connector.flush(60)
    connector.close()


def ingest(url: str, messages: int, batch: int, out: Path) -> float:
    scenario = load_scenario(ROOT / "scenarios" / "wear.yaml",
                             [("maintenance.policy", {"kind": "reactive"})])
    twin = LiveTwin(scenario, url, out=out, forecasts=False, client_id="bench-live")
    twin.connector.wait_connected(10)
    topic = plant_topic(scenario.name, "sensors/press")  # its sensors: vibration, temperature
    process = multiprocessing.get_context("spawn").Process(
        target=publisher, args=(url, topic, messages, batch))
    process.start()
    total = messages * batch
    first = last = 0.0
    try:
        while twin.mirror.counts["readings"] < total:
            if twin.step(timeout=0.5) and not first:
                first = time.perf_counter()
            if not process.is_alive() and not twin.connector.inbox.qsize() \
                    and twin.mirror.counts["readings"] < total:
                time.sleep(1.0)
                if not twin.connector.inbox.qsize():
                    break
        last = time.perf_counter()
    finally:
        process.join(30)
        twin.close()
    got = twin.mirror.counts["readings"]
    rate = (got - batch) / (last - first) if last > first else float("nan")
    print(f"ingest: {got:,} of {total:,} readings in {messages:,} messages of {batch}, "
          f"{last - first:.2f} s: {rate:,.0f} readings/s (target 20,000)")
    return rate


def forecast(url: str) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "default.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        twin = LiveTwin(scenario, url, out=Path(tmp), forecasts=False, client_id="bench-fc")
        twin.connector.wait_connected(10)
        emulation = emulate(scenario, url, speed=20000, until=480, client_id="bench-emu")
        while twin.mirror.counts["events"] < emulation.events:
            twin.step()
        state = twin.mirror.state()
        twin.close()
    forecaster = Forecaster(scenario, 480.0, 10, 60.0)
    try:
        times = []
        for _ in range(4):  # the first starts the worker and imports the engine there
            forecaster.submit(state)
            while (result := forecaster.poll()) is None:
                time.sleep(0.005)
            times.append(result["latency_s"])
    finally:
        forecaster.close()
    throughput = result["kpis"]["throughput"]
    print(f"forecast: 10 replications of 480 min from the mirrored state at {state.time:g}: "
          f"{min(times[1:]):.2f} s (worst {max(times[1:]):.2f} s; the first, starting the "
          f"worker, {times[0]:.2f} s; target under 2 s); throughput {throughput['mean']:.3f} "
          f"[{throughput['ci95'][0]:.3f}, {throughput['ci95'][1]:.3f}]/min")
    look_ahead(scenario, state, 480.0, 10, 60.0)
    started = time.perf_counter()
    look_ahead(scenario, state, 480.0, 10, 60.0)
    print(f"forecast in-process: {time.perf_counter() - started:.2f} s")


def alarms(url: str, minutes: float) -> None:
    from twin.ml.training import train

    model = ROOT / "results" / "models" / "linear" / "model.json"
    if not model.exists():
        train(load_scenario(ROOT / "scenarios" / "wear.yaml"), "linear").save(model.parent)
    wear = ROOT / "scenarios" / "wear.yaml"
    watched = load_scenario(wear, [("maintenance.policy", {
        "kind": "predictive", "model": str(model), "threshold": 250, "every": 30,
        "duration": 20})])
    plant = load_scenario(wear, [("maintenance.policy", {"kind": "reactive"})])
    with tempfile.TemporaryDirectory() as tmp:
        twin = LiveTwin(watched, url, out=Path(tmp), forecasts=False, client_id="bench-alarms")
        twin.connector.wait_connected(10)
        started = time.perf_counter()
        emulation = emulate(plant, url, speed=1e7, until=minutes, client_id="bench-alarm-emu")
        scorer = twin.predictive
        assert scorer is not None
        while twin.mirror.counts["events"] < emulation.events \
                or scorer.events_clock < emulation.clock:
            twin.step()
        elapsed = time.perf_counter() - started
        twin.close()
    warned = scorer.warned()
    print(f"alarms: {minutes:,.0f} min of the press run to failure, emulated and mirrored in "
          f"{elapsed:.1f} s; {scorer.scored:,} windows scored, {len(scorer.alarms)} alarms; "
          f"{warned['warned']} of {warned['failures']} failures warned of in the same life "
          f"(share {warned['share']:.2f}), median lead {warned['median_lead']:.0f} min")


def opcua_plant(url: str, values: int, batch: int, ready: Any, go: Any, done: Any,
                took: Any) -> None:
    """The server process: the wear plant's address space; on ``go``, ``values`` readings."""
    from twin.live.opcua_map import path
    from twin.live.opcua_server import PlantServer

    scenario = load_scenario(ROOT / "scenarios" / "wear.yaml")
    server = PlantServer(scenario, url)
    ready.set()
    go.wait(120)
    started = time.perf_counter()
    cpu = time.process_time()
    rng = np.random.default_rng(1)
    keys = [path(scenario.name, "Machines", "press", "Sensors", s)
            for s in ("vibration", "temperature")]
    for start in range(0, values, batch):
        times = start + np.arange(min(batch, values - start), dtype=float)
        server.submit([(keys[k % 2], float(v), server.stamp(float(t)))
                       for k, (t, v) in enumerate(zip(times, rng.normal(2, 0.4, times.size),
                                                      strict=True))])
        while server.written < start - 20 * batch:  # keep a few batches in hand
            time.sleep(0.001)
    server.flush(300)
    took[0] = time.perf_counter() - started
    took[1] = time.process_time() - cpu
    done.wait(300)
    server.close()


def opcua_ingest(values: int, batch: int, out: Path) -> float:
    from twin.live.broker import free_port
    from twin.live.opcua_client import opcua_twin

    scenario = load_scenario(ROOT / "scenarios" / "wear.yaml")
    url = f"opc.tcp://127.0.0.1:{free_port()}"
    context = multiprocessing.get_context("spawn")
    ready, go, done = context.Event(), context.Event(), context.Event()
    took = context.Array("d", 2)
    process = context.Process(target=opcua_plant, args=(url, values, batch, ready, go, done,
                                                        took))
    process.start()
    ready.wait(120)
    twin = opcua_twin(scenario, url, out=out, forecasts=False)
    first = last = 0.0
    try:
        twin.connector.wait_connected(60)
        time.sleep(0.5)  # the subscription's first values in
        base = twin.mirror.counts["readings"]
        go.set()
        idle = time.perf_counter()
        while twin.mirror.counts["readings"] - base < values:
            if twin.step(timeout=0.2):
                last = idle = time.perf_counter()
                cpu_last = time.process_time()
                if not first:
                    first = last
                    cpu_first = cpu_last
                    base_first = twin.mirror.counts["readings"] - base
            elif time.perf_counter() - idle > 10:
                break
    finally:
        done.set()
        twin.close()
        process.join(60)
    got = twin.mirror.counts["readings"] - base
    rate = (got - base_first) / (last - first) if last > first else float("nan")
    client_us = (cpu_last - cpu_first) / max(got - base_first, 1) * 1e6
    server_us = took[1] / values * 1e6
    print(f"opcua ingest: {got:,} of {values:,} sensor values (batches of {batch} written by "
          f"the server in {took[0]:.2f} s), {last - first:.2f} s: {rate:,.0f} values/s "
          f"(target 20,000); malformed {twin.connector.counts['opcua_malformed']}; load "
          f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"opcua ingest, CPU time per value: the twin's process (client, mirror) "
          f"{client_us:.1f} us ({1e6 / client_us:,.0f} values/s on a core of its own), the "
          f"server's {server_us:.1f} us ({1e6 / server_us:,.0f} values/s)")
    return rate


def opcua_forecast() -> None:
    from twin.live.broker import free_port
    from twin.live.opcua_client import opcua_twin
    from twin.live.opcua_server import PlantServer, emulate_opcua

    scenario = load_scenario(ROOT / "scenarios" / "default.yaml")
    url = f"opc.tcp://127.0.0.1:{free_port()}"
    server = PlantServer(scenario, url)
    with tempfile.TemporaryDirectory() as tmp:
        twin = opcua_twin(scenario, url, out=Path(tmp), forecast_every=0.0, horizon=480.0,
                          replications=10, buckets=60.0)
        try:
            twin.connector.wait_connected(60)
            emulation = emulate_opcua(scenario, url, speed=20000, until=480, server=server)
            connector: Any = twin.connector
            while connector.clock_read < emulation.clock \
                    or twin.mirror.counts["events"] < emulation.events:
                twin.step()
            times = []
            while len(times) < 4:  # the first starts the worker and imports the engine there
                before = twin.forecasts
                twin.step()
                if twin.forecasts > before and twin.forecast is not None:
                    times.append(twin.forecast["latency_s"])
        finally:
            twin.close()
            server.close()
    print(f"opcua forecast: 10 replications of 480 min from the state mirrored over OPC UA at "
          f"{twin.mirror.clock:g}: {min(times[1:]):.2f} s (worst {max(times[1:]):.2f} s; the "
          f"first, starting the worker, {times[0]:.2f} s; target under 2 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--alarm-minutes", type=float, default=100_000)
    parser.add_argument("--opcua-values", type=int, default=200_000)
    parser.add_argument("--opcua-batch", type=int, default=1000)
    parser.add_argument("--only", choices=["mqtt", "opcua"])
    args = parser.parse_args()
    if args.only != "opcua":
        with tempfile.TemporaryDirectory() as tmp, Broker(Path(tmp) / "broker") as broker:
            ingest(broker.url, args.messages, args.batch, Path(tmp) / "live")
            forecast(broker.url)
            alarms(broker.url, args.alarm_minutes)
    if args.only != "mqtt":
        with tempfile.TemporaryDirectory() as tmp:
            opcua_ingest(args.opcua_values, args.opcua_batch, Path(tmp) / "live")
        opcua_forecast()


if __name__ == "__main__":
    main()
