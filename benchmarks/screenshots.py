"""Screenshots of the plant drawings, for a person to look at: for the default, supply-chain,
assembly, agv-cell and conveyor-line scenarios, ``twin show``'s drawing, the run report's
coloured plant and its replay (part way through), as PNG files, with each page's size.

    python benchmarks/screenshots.py [--out screenshots] [--horizon 5000]

Needs Debian's chromium and chromium-driver, and selenium.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("default", "supply-chain", "assembly", "agv-cell", "conveyor-line")


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        sys.exit("headless Chromium is not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000", "--force-device-scale-factor=1.5"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def shoot(driver: Any, page: Path, element: str, png: Path, at: float | None = None) -> None:
    """A screenshot of the element with id ``element`` of ``page``; for the replay, with the
    slider at share ``at`` of its window."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.as_uri())
    if element == "plant-replay":
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script("return document.getElementById('plant-replay')"
                                       ".dataset.ready"))
        driver.execute_script(
            "const s = document.getElementById('replay-slider');"
            "s.value = Number(s.min) + arguments[0] * (Number(s.max) - Number(s.min));"
            "s.dispatchEvent(new Event('input'));", at or 0.0)
    target = driver.find_element("id", element)
    driver.execute_script("arguments[0].scrollIntoView()", target)
    target.screenshot(str(png))
    print(f"{png} ({png.stat().st_size:,} bytes)")


def main(argv: list[str] | None = None) -> int:
    from twin.cli import main as twin

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--horizon", default="5000")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    driver = browser()
    try:
        with tempfile.TemporaryDirectory() as work:
            for name in SCENARIOS:
                scenario = str(ROOT / "scenarios" / f"{name}.yaml")
                shown = Path(work) / f"{name}-show.html"
                assert twin(["show", scenario, "--out", str(shown)]) == 0
                shoot(driver, shown, "plant-diagram", args.out / f"{name}-show.png")
                run = Path(work) / name
                assert twin(["run", scenario, "--horizon", args.horizon, "--replications", "2",
                             "--workers", "1", "--replay", "--out", str(run)]) == 0
                report = run / "report.html"
                print(f"{name}: report with the replay {report.stat().st_size:,} bytes")
                shoot(driver, report, "plant-diagram", args.out / f"{name}-results.png")
                shoot(driver, report, "plant-replay", args.out / f"{name}-replay.png", 0.37)
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
