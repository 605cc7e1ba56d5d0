"""``twin emulate`` and ``twin live`` as library calls: load the scenario, announce, run until
the plant time ends or the user stops, and say what happened."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from twin.engine.state import dump_state
from twin.errors import InputError
from twin.language.loading import load_scenario
from twin.language.overrides import parse_assignment
from twin.live.connector import TLS, broker_address, redact
from twin.records.output import write_text

EXIT_OK = 0


def mqtt_tls(options: dict[str, Any], opcua: str | None) -> TLS:
    """The TLS files of ``mqtts://`` among the command's ``options`` (``ca`` taken out of
    them; ``cert`` and ``key`` too, over MQTT, where OPC UA would take them)."""
    ca = options.pop("ca", None)
    if opcua is not None:
        if ca is not None:
            raise InputError("--ca", [((), "goes with mqtts:// (--broker), not --opcua", None)])
        return TLS()
    return TLS(ca, options.pop("cert", None), options.pop("key", None))


def emulate_command(scenario_path: Path, broker: str | None, console: Any, *,
                    sets: tuple[str, ...] | list[str] = (), seed: int | None = None,
                    speed: float = 1.0, until: float | None = None, replication: int = 0,
                    client_id: str | None = None, save_state: Path | None = None,
                    opcua: str | None = None, **security: Any) -> int:
    """Play the scenario as a plant publishing on ``broker`` at ``speed`` times real time, and
    print what it published (and write its true end state to ``save_state``); with ``opcua``,
    serve it as an OPC UA server there (``twin.live.opcua_commands``). ``security``: over MQTT
    the TLS files (``ca``, ``cert``, ``key``) for ``mqtts://``, whose password is never
    printed; ``NotDelivered`` (exit 1) where nothing could be delivered."""
    import math

    from twin.live.emulator import emulate
    from twin.live.opcua_map import mqtt_options
    from twin.report.console import progress

    tls = mqtt_tls(security, opcua)
    if opcua is not None or broker is None:
        from twin.live.opcua_commands import emulate_opcua_command

        return emulate_opcua_command(scenario_path, str(opcua), console, sets=list(sets), seed=seed,
                                     speed=speed, until=until, replication=replication,
                                     save_state=save_state, **security)
    mqtt_options(security)
    broker_address(broker)
    scenario = load_scenario(scenario_path, [parse_assignment(t) for t in sets]
                             + ([("seed", seed)] if seed is not None else []))
    console.print(f"emulating {scenario.name!r} at {speed:g}x on {redact(broker)}",
                  highlight=False)
    stop = threading.Event()
    end = scenario.horizon if until is None else until
    try:
        with progress(f"{scenario.name}: plant time", math.ceil(end)) as update:
            result = emulate(scenario, broker, speed=speed, until=end, replication=replication,
                             client_id=client_id, stop=stop, tls=tls,
                             progress=lambda now: update(math.floor(now), math.ceil(end)))
    finally:
        stop.set()
    console.print(f"published {result.events} events and {result.readings} readings in "
                  f"{sum(result.messages.values())} messages, to plant time {result.clock:g}",
                  highlight=False)
    if save_state is not None and result.end is not None:
        write_text(save_state, dump_state(result.end))
    return EXIT_OK


def live_command(scenario_path: Path, broker: str | None, console: Any, *,
                 sets: tuple[str, ...] | list[str] = (), out: Path = Path("live"),
                 opcua: str | None = None, **options: Any) -> int:
    """Run the live twin of the scenario on ``broker`` until interrupted, keeping its status
    and page in ``out`` (``options``: those of ``LiveTwin``, and over MQTT the TLS files
    ``ca``, ``cert`` and ``key`` for ``mqtts://``); with ``opcua``, on that OPC UA server
    (``twin.live.opcua_commands``). The broker's password is never printed."""
    from twin.live.opcua_map import mqtt_options
    from twin.live.twin import LiveTwin

    tls = mqtt_tls(options, opcua)
    if opcua is not None or broker is None:
        from twin.live.opcua_commands import live_opcua_command

        return live_opcua_command(scenario_path, str(opcua), console, sets=list(sets), out=out,
                                  **options)
    options = mqtt_options(options)
    broker_address(broker)
    scenario = load_scenario(scenario_path, [parse_assignment(t) for t in sets])
    twin = LiveTwin(scenario, broker, out=out, tls=tls, **options)
    return run_twin(twin, redact(broker), out, console)


def run_twin(twin: Any, where: str, out: Path, console: Any) -> int:
    """Say where the live twin ``twin`` listens and where its status is, and run it until
    interrupted."""
    console.print(f"live twin of {twin.plant!r} on {where}: status in "
                  f"{out / 'status.json'}, page {out / 'index.html'} (Ctrl-C stops)",
                  highlight=False)
    try:
        twin.run()
    except KeyboardInterrupt:
        console.print(f"stopped: {out / 'status.json'}", highlight=False)
    return EXIT_OK
