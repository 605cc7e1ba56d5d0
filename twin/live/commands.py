"""``twin emulate`` and ``twin live`` as library calls: load the scenario, announce, run until
the plant time ends or the user stops, and say what happened."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from twin.engine.state import dump_state
from twin.language.loading import load_scenario
from twin.language.overrides import parse_assignment
from twin.live.connector import broker_address
from twin.records.output import write_text

EXIT_OK = 0


def emulate_command(scenario_path: Path, broker: str, console: Any, *, sets: list[str],
                    seed: int | None, speed: float, until: float | None, replication: int,
                    client_id: str | None, save_state: Path | None) -> int:
    """Play the scenario as a plant publishing on ``broker`` at ``speed`` times real time, and
    print what it published (and write its true end state to ``save_state``)."""
    from twin.live.emulator import emulate

    broker_address(broker)
    scenario = load_scenario(scenario_path, [parse_assignment(t) for t in sets]
                             + ([("seed", seed)] if seed is not None else []))
    console.print(f"emulating {scenario.name!r} at {speed:g}x on {broker}", highlight=False)
    stop = threading.Event()
    try:
        result = emulate(scenario, broker, speed=speed, until=until, replication=replication,
                         client_id=client_id, stop=stop)
    finally:
        stop.set()
    console.print(f"published {result.events} events and {result.readings} readings in "
                  f"{sum(result.messages.values())} messages, to plant time {result.clock:g}",
                  highlight=False)
    if save_state is not None and result.end is not None:
        write_text(save_state, dump_state(result.end))
    return EXIT_OK


def live_command(scenario_path: Path, broker: str, console: Any, *, sets: list[str],
                 out: Path, **options: Any) -> int:
    """Run the live twin of the scenario on ``broker`` until interrupted, keeping its status
    and page in ``out`` (``options``: those of ``LiveTwin``)."""
    from twin.live.twin import LiveTwin

    broker_address(broker)
    scenario = load_scenario(scenario_path, [parse_assignment(t) for t in sets])
    twin = LiveTwin(scenario, broker, out=out, **options)
    console.print(f"live twin of {scenario.name!r} on {broker}: status in "
                  f"{out / 'status.json'}, page {out / 'index.html'} (Ctrl-C stops)",
                  highlight=False)
    try:
        twin.run()
    except KeyboardInterrupt:
        console.print(f"stopped: {out / 'status.json'}", highlight=False)
    return EXIT_OK
