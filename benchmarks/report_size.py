"""Size of the HTML reports: plotly.js inlined plain (as before) against gzip-compressed once
per page (as now). Run from the repository root: ``python benchmarks/report_size.py``."""

from __future__ import annotations

import tempfile
from pathlib import Path

from plotly.offline import get_plotlyjs

from twin.cli import main

ROOT = Path(__file__).resolve().parents[1]


def main_() -> None:
    plain = len(get_plotlyjs().encode())
    args = ["--horizon", "5000", "--replications", "3", "--workers", "2"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for kind, command in (("run", ["run", str(ROOT / "scenarios" / "default.yaml")]),
                              ("compare", ["compare", str(ROOT / "scenarios" / "wear.yaml")])):
            assert main([*command, "--out", str(out / kind), *args]) == 0
        print()
        print(f"plotly.js inlined plain (before):  {plain:>10,} bytes of every report")
        for kind in ("run", "compare"):
            size = (out / kind / "report.html").stat().st_size
            print(f"{kind + ' report.html (now):':<35}{size:>11,} bytes")


if __name__ == "__main__":
    main_()
