"""The HTML reports render in a real browser (headless Chromium), offline, with no console errors."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import chromium, require_chromium
from twin.cli import main

ROOT = Path(__file__).resolve().parents[1]
require_chromium("the report tests")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(1280, 2000) as driver:
        yield driver


def check_renders(browser: object, report: Path, shot: Path, min_plots: int) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    driver.get(report.as_uri())  # type: ignore[attr-defined]
    # plotly.js is inlined gzip-compressed: the page inflates it, then draws the figures
    state = WebDriverWait(driver, 30).until(  # type: ignore[arg-type]
        lambda d: d.execute_script("return document.body.dataset.plots"))
    assert state == "ready"
    plots = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")  # type: ignore[attr-defined]
    assert len(plots) >= min_plots
    bars = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .bars path, "  # type: ignore[attr-defined]
                                                 ".js-plotly-plot .scatterlayer path")
    assert bars, "plots have no drawn data"
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]  # type: ignore[attr-defined]
    assert errors == []
    assert driver.find_elements(By.TAG_NAME, "table")  # type: ignore[attr-defined]
    intervals = driver.find_elements(By.CSS_SELECTOR, "td.ci")  # type: ignore[attr-defined]
    assert intervals, "confidence intervals are marked"
    assert all(c.value_of_css_property("white-space") == "nowrap" for c in intervals[:20])
    assert driver.save_screenshot(str(shot))  # type: ignore[attr-defined]
    assert shot.stat().st_size > 20_000
    text = report.read_text()
    assert "http://" not in text.split("<body>")[1].replace("http://www.w3.org", "")
    assert "<script src=" not in text  # everything inline: opens offline
    assert report.stat().st_size < 2_600_000  # plotly.js compressed, once (4.8 MB inlined plain)


def test_run_compare_and_sweep_reports_render(browser: object, tmp_path: Path) -> None:
    scenario = str(ROOT / "scenarios" / "default.yaml")
    args = ["--horizon", "5000", "--replications", "3", "--workers", "2"]
    assert main(["run", scenario, "--out", str(tmp_path / "run"), *args]) == 0
    assert main(["compare", scenario, "--out", str(tmp_path / "compare"), *args]) == 0
    assert main(["sweep", scenario, "--out", str(tmp_path / "sweep"), "--param",
                 "plant.nodes.B_mill.capacity", "--values", "1,4,8", *args]) == 0
    check_renders(browser, tmp_path / "run" / "report.html", tmp_path / "run.png", 3)
    check_renders(browser, tmp_path / "compare" / "report.html", tmp_path / "compare.png", 8)
    check_renders(browser, tmp_path / "sweep" / "report.html", tmp_path / "sweep.png", 6)
    wear = str(ROOT / "scenarios" / "wear.yaml")
    assert main(["run", wear, "--out", str(tmp_path / "wear"), *args]) == 0
    check_renders(browser, tmp_path / "wear" / "report.html", tmp_path / "wear.png", 5)
    assert "Sensors and health" in (tmp_path / "wear" / "report.html").read_text()
    network = str(ROOT / "scenarios" / "supply-chain.yaml")
    assert main(["run", network, "--out", str(tmp_path / "network"), *args]) == 0
    check_renders(browser, tmp_path / "network" / "report.html", tmp_path / "network.png", 4)
    assert "Inventory on hand over time" in (tmp_path / "network" / "report.html").read_text()
    assert main(["sweep", network, "--out", str(tmp_path / "network-sweep"), "--param",
                 "plant.nodes.raw-store.policy.r", "--values", "40,120", *args]) == 0
    check_renders(browser, tmp_path / "network-sweep" / "report.html",
                  tmp_path / "network-sweep.png", 6)
    assert main(["compare", network, "--out", str(tmp_path / "network-compare"),
                 "--rank-by", "fill_rate", *args]) == 0
    check_renders(browser, tmp_path / "network-compare" / "report.html",
                  tmp_path / "network-compare.png", 8)
    assert "Fill rate by policy" in (tmp_path / "network-compare" / "report.html").read_text()
    cell = str(ROOT / "scenarios" / "cell-orders.yaml")
    assert main(["run", cell, "--out", str(tmp_path / "cell"), "--events", *args]) == 0
    check_renders(browser, tmp_path / "cell" / "report.html", tmp_path / "cell.png", 6)
    page = (tmp_path / "cell" / "report.html").read_text()
    assert "Products" in page and "Operations of those orders per machine" in page
    shots = Path(os.environ.get("TWIN_SCREENSHOTS", tmp_path))
    if shots != tmp_path:
        shots.mkdir(parents=True, exist_ok=True)
        for name in ("run", "compare", "sweep", "wear", "network", "network-sweep",
                     "network-compare"):
            shutil.copy(tmp_path / f"{name}.png", shots / f"{name}.png")
