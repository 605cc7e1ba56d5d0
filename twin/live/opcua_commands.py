"""``twin emulate --opcua`` and ``twin live --opcua`` as library calls, beside the MQTT ones
(``twin.live.commands``): load the scenario, announce, run until the plant time ends or the user
stops, and say what happened. Secrets are never printed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from twin.engine.state import dump_state
from twin.language.loading import load_scenario
from twin.language.overrides import parse_assignment
from twin.live.commands import run_twin
from twin.live.opcua_client import Security, opcua_twin, public_url
from twin.live.opcua_server import emulate_opcua, opcua_address, serve_options
from twin.records.output import write_text

EXIT_OK = 0


def emulate_opcua_command(scenario_path: Path, url: str, console: Any, *, sets: list[str],
                          seed: int | None, speed: float, until: float | None,
                          replication: int, save_state: Path | None, user: str | None = None,
                          cert: Path | None = None, key: Path | None = None) -> int:
    """Serve the scenario as a plant's OPC UA server on ``url`` at ``speed`` times real time,
    and print what it served (and write its true end state to ``save_state``)."""
    opcua_address(url)
    security = serve_options(user, cert, key)
    scenario = load_scenario(scenario_path, [parse_assignment(t) for t in sets]
                             + ([("seed", seed)] if seed is not None else []))
    console.print(f"emulating {scenario.name!r} at {speed:g}x as the OPC UA server "
                  f"{public_url(url)}", highlight=False)
    stop = threading.Event()
    try:
        result = emulate_opcua(scenario, url, speed=speed, until=until, replication=replication,
                               stop=stop, **security)
    finally:
        stop.set()
    console.print(f"served {result.events} events and {result.readings} readings, to plant "
                  f"time {result.clock:g}", highlight=False)
    if save_state is not None and result.end is not None:
        write_text(save_state, dump_state(result.end))
    return EXIT_OK


def live_opcua_command(scenario_path: Path, url: str, console: Any, *, sets: list[str],
                       out: Path, map: Path | None = None, user: str | None = None,
                       cert: Path | None = None, key: Path | None = None,
                       server_cert: Path | None = None, security_mode: str | None = None,
                       client_id: str | None = None, **options: Any) -> int:
    """Run the live twin of the scenario on the OPC UA server at ``url`` (read through the
    mapping file ``map``, or twin's own layout) until interrupted, keeping its status and page
    in ``out`` (``options``: those of ``LiveTwin``; ``client_id`` is MQTT's, unused). A server
    that refuses the connection raises ``InputError`` (exit status 2)."""
    opcua_address(url)
    security = Security.from_options(user, cert, key, server_cert,
                                     security_mode or "SignAndEncrypt")
    mapping = map
    scenario = load_scenario(scenario_path, [parse_assignment(t) for t in sets])
    twin = opcua_twin(scenario, url, mapping=mapping, security=security, out=out, **options)
    try:
        twin.connector.wait_connected(10.0)  # a refusal: InputError now
    except BaseException:
        twin.close()
        raise
    return run_twin(twin, public_url(url), out, console)
