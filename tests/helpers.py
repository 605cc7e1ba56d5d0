"""Building small plants in tests and checking estimates against exact values."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from twin import run, scenario_from_data
from twin.study.executors import LocalExecutor
from twin.study.stats import t_interval


def exp(mean: float) -> dict[str, Any]:
    return {"dist": "exponential", "mean": mean}


def line(
    means: list[Any],
    capacities: list[int | None],
    *,
    failures: list[dict[str, Any] | None] | None = None,
    interarrival: Any = None,
) -> dict[str, Any]:
    """A serial line raw -> M1 -> B1 -> M2 -> ... -> done (capacity 0: machines joined directly)."""
    nodes: dict[str, Any] = {"raw": {"kind": "source", "interarrival": interarrival}}
    edges: list[list[str]] = []
    prev = "raw"
    for i, mean in enumerate(means, start=1):
        machine: dict[str, Any] = {"kind": "machine",
                                   "process_time": mean if isinstance(mean, dict) else exp(mean)}
        if failures and failures[i - 1]:
            machine["failures"] = failures[i - 1]
        nodes[f"M{i}"] = machine
        edges.append([prev, f"M{i}"])
        prev = f"M{i}"
        if i <= len(capacities) and capacities[i - 1] != 0:
            nodes[f"B{i}"] = {"kind": "buffer", "capacity": capacities[i - 1]}
            edges.append([prev, f"B{i}"])
            prev = f"B{i}"
    nodes["done"] = {"kind": "sink"}
    edges.append([prev, "done"])
    return {"nodes": nodes, "edges": edges}


def simulate_plant(plant: dict[str, Any], *, horizon: float, warmup: float, replications: int,
                   seed: int = 1, **extra: Any) -> dict[str, Any]:
    data = {"name": "test", "horizon": horizon, "warmup": warmup, "replications": replications,
            "seed": seed, "plant": plant, **extra}
    scenario = scenario_from_data(data)
    return run(scenario, executor=LocalExecutor(2)).summary


def assert_matches(stat: dict[str, Any], exact: float, *, rel_precision: float,
                   level: float = 0.99) -> None:
    """``exact`` lies in the ``level`` t-interval of the replications, and that interval is
    narrow (half-width under ``rel_precision`` of the exact value), so the check has teeth."""
    mean, low, high = t_interval(stat["values"], level)
    half = (high - low) / 2
    assert low <= exact <= high, f"exact {exact:.6g} outside [{low:.6g}, {high:.6g}] (mean {mean:.6g})"
    assert half <= rel_precision * abs(exact), f"interval too wide: +-{half:.3g} around {mean:.6g}"


needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="torch (the ml extra) is not installed")
TORCH_MODELS = ("cnn", "lstm", "ensemble", "cnn2d")


def predictor_params(names: Any) -> list[Any]:
    """Predictor names as test parameters; the torch models skip without torch."""
    return [pytest.param(n, marks=needs_torch) if n in TORCH_MODELS else n for n in names]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def require_chromium(what: str) -> None:
    """Skip the calling test module without Debian's chromium and chromium-driver (in CI their
    absence is an error: the test command installs them)."""
    if CHROMIUM and CHROMEDRIVER:
        return
    if os.environ.get("CI"):
        raise RuntimeError(f"CI needs Debian's chromium and chromium-driver for {what}")
    missing = " and ".join(name for name, found in (("chromium", CHROMIUM), (
        "chromium-driver (chromedriver)", CHROMEDRIVER)) if not found)
    pytest.skip(f"headless Chromium: {missing} is not installed (apt-get install chromium "
                "chromium-driver)", allow_module_level=True)


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 2000) -> Iterator[Any]:
    """A headless Chromium driven by selenium, its console log kept, closed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether ``condition()`` comes true within ``timeout`` seconds (polled every 50 ms)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
