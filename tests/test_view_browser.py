"""The plant drawings in a real browser (headless Chromium), offline: one element per node and
edge, the replay's colours at sampled times equal to the timeline's states, and the live page
following an emulated plant (real Mosquitto) without reloading."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers import chromium, require_chromium
from tests.test_view import sample_times
from twin.cli import main
from twin.language.loading import load_scenario
from twin.view.replay import _part_moves
from twin.view.sketch import sketch_of
from twin.view.svg import STATE_COLORS

ROOT = Path(__file__).resolve().parents[1]
require_chromium("the view tests")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(1400, 1000) as driver:
        yield driver


def wait_for(driver: Any, script: str, timeout: float = 20.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script(script))


def errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def rgb(color: str) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_show_page_has_one_element_per_node_and_edge(browser: Any, tmp_path: Path) -> None:
    for name in ("default", "supply-chain", "assembly"):
        scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
        page = tmp_path / f"{name}.html"
        assert main(["show", str(ROOT / "scenarios" / f"{name}.yaml"), "--out", str(page)]) == 0
        browser.get(page.as_uri())
        nodes = browser.execute_script(
            "return [...document.querySelectorAll('#plant-diagram [data-node]')]"
            ".map(e => e.dataset.node)")
        edges = browser.execute_script(
            "return [...document.querySelectorAll('#plant-diagram [data-edge]')]"
            ".map(e => e.dataset.edge)")
        assert nodes == list(scenario.plant.nodes)
        assert edges == [f"{e.source}->{e.target}" for e in scenario.plant.edges]
        # every node drawn inside the picture, none on top of another
        boxes = browser.execute_script(
            "const s = document.getElementById('plant-diagram').getBoundingClientRect();"
            "return [...document.querySelectorAll('#plant-diagram [data-node] .body')].map(e =>"
            "{const b = e.getBoundingClientRect(); return [b.left - s.left, b.top - s.top,"
            " b.right - s.left, b.bottom - s.top, s.width, s.height];})")
        for i, (x0, y0, x1, y1, w, h) in enumerate(boxes):
            assert 0 <= x0 < x1 <= w + 0.5 and 0 <= y0 < y1 <= h + 0.5
            for a0, b0, a1, b1, _, _ in boxes[i + 1:]:
                assert x1 <= a0 or a1 <= x0 or y1 <= b0 or b1 <= y0
        assert errors(browser) == []


def test_replay_colours_at_sampled_times_equal_the_timeline(browser: Any,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", str(ROOT / "scenarios" / "default.yaml"), "--horizon", "4000",
                 "--replications", "2", "--workers", "1", "--replay", "--out", str(out)]) == 0
    report = out / "report.html"
    assert report.stat().st_size < 5_000_000
    browser.get(report.as_uri())
    assert wait_for(browser, "return document.getElementById('plant-replay').dataset.ready")
    assert wait_for(browser, "return document.body.dataset.plots") == "ready"
    for element in ("plant-diagram", "plant-replay", "replay-slider"):
        assert browser.execute_script(f"return !!document.getElementById('{element}')")
    timeline = pd.read_parquet(out / "timeline.parquet")
    first = timeline[timeline["replication"] == 0]
    events = pd.read_parquet(out / "events.parquet")
    sketch = sketch_of(load_scenario(out / "scenario.yaml"))
    buffers, _, _, _ = _part_moves(sketch, events[events["replication"] == 0], 4000.0)
    start, end = (float(browser.execute_script(
        f"return document.getElementById('replay-slider').{k}")) for k in ("min", "max"))
    assert start == 1440.0 and 1440.0 < end <= 4000.0
    for t in sample_times(first, start, end, 5):
        shown = browser.execute_script("""
            const s = document.getElementById('replay-slider');
            s.value = arguments[0]; s.dispatchEvent(new Event('input'));
            const out = {};
            document.querySelectorAll('#plant-replay [data-node]').forEach(g => {
              const body = g.querySelector('.body');
              out[g.dataset.node] = [g.dataset.state || null, g.dataset.contents || null,
                                     getComputedStyle(body).fill];
            });
            return [Number(s.value), out];""", t)
        assert shown[0] == pytest.approx(t, abs=1e-9)
        for name, (state, contents, fill) in shown[1].items():
            kind = sketch.nodes[name].shape
            if kind in ("machine", "assembly", "oven"):
                rows = first[(first["machine"] == name) & (first["time"] <= t)]
                expected = rows["state"].iloc[-1]
                assert state == expected, (name, t)
                assert fill == rgb(STATE_COLORS[expected]), (name, t)
            elif kind == "buffer":
                times, levels = buffers[name]
                i = int(np.searchsorted(np.array(times), t, side="right")) - 1
                assert int(contents) == levels[i], (name, t)
    # play moves the clock on, and parts move along the edges
    browser.execute_script("const s = document.getElementById('replay-slider');"
                           "s.value = s.min; s.dispatchEvent(new Event('input'));"
                           "document.querySelector('#plant-replay .replay-play').click();")
    time.sleep(1.0)
    moved = browser.execute_script(
        "return [Number(document.getElementById('replay-slider').value),"
        " document.querySelectorAll('#plant-replay .part:not([style*=\"none\"])').length]")
    assert moved[0] > start and moved[1] > 0
    assert errors(browser) == []
    browser.save_screenshot(str(tmp_path / "replay.png"))


def test_live_page_follows_an_emulated_plant_without_reloading(browser: Any,
                                                               tmp_path: Path) -> None:
    from twin.live.broker import Broker, mosquitto
    from twin.live.emulator import emulate
    from twin.live.twin import LiveTwin

    if mosquitto() is None:
        pytest.skip("Eclipse Mosquitto is not installed (apt-get install mosquitto)")
    scenario = load_scenario(ROOT / "scenarios" / "default.yaml")
    out = tmp_path / "live"
    with Broker(tmp_path / "broker") as broker:
        twin = LiveTwin(scenario, broker.url, out=out, forecasts=False, status_every=0.2,
                        client_id="live-view")
        assert twin.connector.wait_connected(10)
        stop = threading.Event()
        thread = threading.Thread(target=twin.run, args=(stop,), daemon=True)
        thread.start()
        try:
            page = out / "index.html"
            deadline = time.monotonic() + 10
            while not page.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            browser.get(page.as_uri())
            browser.execute_script("window.stayed = 42;")
            assert browser.execute_script(
                "return [...document.querySelectorAll('#plant-diagram [data-state]')].length") \
                == 0  # nothing mirrored yet
            clocks: list[float] = []
            done = threading.Event()

            def plant() -> None:
                try:
                    emulate(scenario, broker.url, speed=3000, until=240, client_id="emu-view")
                finally:
                    done.set()

            emulator = threading.Thread(target=plant, daemon=True)
            emulator.start()
            while not done.is_set():
                clocks.append(float(browser.execute_script(
                    "return Number(document.getElementById('plant-diagram').dataset.clock"
                    " || 0)")))
                time.sleep(0.5)
            emulator.join(30)
            deadline = time.monotonic() + 20
            while twin.mirror.clock < 240 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join(20)
    status = json.loads((out / "status.json").read_text())
    assert status["clock"] == pytest.approx(240)
    assert wait_for(browser, "return Number(document.getElementById('plant-diagram')"
                             ".dataset.clock) >= 240 && document.getElementById('live-tables')"
                             ".innerText.includes('; stopped')")
    assert browser.execute_script("return window.stayed") == 42  # never reloaded
    assert len({c for c in clocks if 0 < c < 240}) >= 2  # followed the plant as it ran
    assert clocks == sorted(clocks)
    shown = browser.execute_script("""
        const out = {};
        document.querySelectorAll('#plant-diagram [data-node]').forEach(g => {
          out[g.dataset.node] = [g.dataset.state || null, g.dataset.contents || null,
                                 getComputedStyle(g.querySelector('.body')).fill];
        });
        return out;""")
    mirrored = status["state"]
    for name, machine in mirrored["machines"].items():
        assert shown[name][0] == machine["state"], name
        assert shown[name][2] == rgb(STATE_COLORS[machine["state"]]), name
    for name, parts in mirrored["buffers"].items():
        count = len(parts) if isinstance(parts, list) else parts
        assert int(shown[name][1]) == count, name
    assert wait_for(browser, "return document.getElementById('live-tables').innerText"
                             ".includes('; stopped')")  # the tables follow too
    assert "Machines" in browser.execute_script(
        "return document.getElementById('live-tables').innerText")
    assert errors(browser) == []


def test_live_page_marks_alarms_and_changes_state_when_the_mirror_does(
        browser: Any, tmp_path: Path) -> None:
    from twin.live.status import write_status

    scenario = load_scenario(ROOT / "scenarios" / "default.yaml")

    def status(clock: float, saw: str, b_saw: int, alarms: list[dict[str, Any]]
               ) -> dict[str, Any]:
        return {"plant": scenario.name, "clock": clock, "time_unit": "min", "updated": str(clock),
                "state": {"machines": {"saw": {"state": saw, "age": clock},
                                       "mill": {"state": "working", "age": 1.5}},
                          "buffers": {"B_saw": b_saw}},
                "alarms": alarms, "counts": {"events": int(clock)}}

    write_status(tmp_path, status(10.0, "working", 2, []), scenario)
    browser.get((tmp_path / "index.html").as_uri())
    browser.execute_script("window.stayed = 7;")
    shown = "return [...document.querySelectorAll('#plant-diagram [data-node]')].map(g =>" \
            " [g.dataset.node, g.dataset.state || null, g.dataset.contents || null," \
            " g.dataset.alarm || null, g.querySelector('text.value') ?" \
            " g.querySelector('text.value').textContent : null])"
    first = {row[0]: row[1:] for row in browser.execute_script(shown)}
    assert first["saw"] == ["working", None, None, "working · age 10.0"]
    assert first["B_saw"][1] == "2" and first["mill"][0] == "working"
    alarm = {"time": 20.0, "machine": "mill", "kind": "wear", "value": 0.93}
    write_status(tmp_path, status(20.0, "down", 6, [alarm]), scenario)
    assert wait_for(browser, "return document.getElementById('plant-diagram').dataset.clock"
                             " == '20'")
    second = {row[0]: row[1:] for row in browser.execute_script(shown)}
    assert second["saw"] == ["down", None, None, "down · age 20.0"]
    assert second["B_saw"][1] == "6"
    assert second["mill"][2] == "wear"
    assert browser.execute_script(
        "return document.querySelector('#plant-diagram [data-node=\"mill\"] text.alarm')"
        ".textContent") == "alarm: wear"
    fill = browser.execute_script(
        "return getComputedStyle(document.querySelector("
        "'#plant-diagram [data-node=\"saw\"] .body')).fill")
    assert fill == rgb(STATE_COLORS["down"])
    assert browser.execute_script("return window.stayed") == 7  # the page was not reloaded
    assert "20" in browser.execute_script(
        "return document.getElementById('live-tables').innerText")
    assert errors(browser) == []
