"""Write ``cmapss-sample.txt``: a small synthetic file in the layout of NASA's C-MAPSS training
files (space-separated: unit, cycle, three operating settings, sensors s1 .. s21; every unit run
to failure), to try ``twin train --format cmapss`` and ``scenarios/fd001.yaml`` without the
data set. The numbers are made up (sensor levels near FD001's, drifting as a unit wears); they
say nothing about real engines. Run: ``python scenarios/data/make_cmapss_sample.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LEVELS = [518.67, 642.5, 1590.5, 1408.9, 14.62, 21.61, 553.4, 2388.06, 9044.1, 1.3, 47.5,
          521.4, 2388.06, 8138.6, 8.44, 0.03, 392.0, 2388.0, 100.0, 38.8, 23.3]
"""Each sensor's level when new."""
DRIFT = [0, 1.2, 9.0, 12.0, 0, 0, -2.0, 0.15, 8.0, 0, 0.8, -1.8, 0.15, 6.0, 0.09, 0, 4.0, 0, 0,
         -0.5, -0.3]
"""Each sensor's change at failure (0: a sensor that does not move, as FD001 has)."""
NOISE = [0, 0.5, 6.0, 9.0, 0, 0.001, 0.9, 0.07, 5.0, 0, 0.27, 0.7, 0.07, 5.0, 0.04, 0, 1.5,
         0, 0, 0.18, 0.1]


def sample(units: int = 8, seed: int = 0) -> str:
    """The file's text: ``units`` lives of 80 to 150 cycles."""
    rng = np.random.default_rng(seed)
    lines = []
    for unit in range(1, units + 1):
        life = int(rng.integers(80, 151))
        for cycle in range(1, life + 1):
            wear = (cycle / life) ** 2
            settings = [rng.normal(0, 0.002), rng.normal(0, 0.0003), 100.0]
            sensors = [level + drift * wear + noise * rng.standard_normal()
                       for level, drift, noise in zip(LEVELS, DRIFT, NOISE, strict=True)]
            lines.append(" ".join([str(unit), str(cycle), f"{settings[0]:.4f}",
                                   f"{settings[1]:.4f}", f"{settings[2]:.1f}"]
                                  + [f"{s:.3f}".rstrip("0").rstrip(".") for s in sensors]))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    path = Path(__file__).with_name("cmapss-sample.txt")
    path.write_text(sample())
    print(f"wrote {path}")
