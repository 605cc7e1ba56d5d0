"""Invariants on randomly drawn plants (hypothesis): conservation, Little's law, time fractions,
capacity bounds and reproducibility."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import line
from twin import scenario_from_data, simulate

lines = st.builds(
    lambda means, caps, fail, seed: (means, caps[: len(means) - 1], fail, seed),
    st.lists(st.floats(0.2, 2.0), min_size=1, max_size=5),
    st.lists(st.one_of(st.integers(0, 4), st.none()), min_size=4, max_size=4),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines)
def test_random_lines_keep_their_invariants(case: tuple) -> None:
    means, caps, fail, seed = case
    caps = [c if c is not None else 3 for c in caps]  # an infinite supply needs finite buffers
    failures = [{"ttf": {"dist": "exponential", "mean": 50.0}, "ttr": 4.0} if fail else None
                for _ in means]
    plant = line([{"dist": "exponential", "mean": m} for m in means], caps, failures=failures)
    data = {"name": "prop", "horizon": 3000, "warmup": 200, "seed": seed, "plant": plant}
    scenario = scenario_from_data(data)
    result = simulate(scenario, 0)
    kpis = result.kpis
    # no machine works more than all the time, and the line cannot beat its slowest machine
    assert kpis["throughput"] <= min(1 / m for m in means) * 1.25 + 0.05
    for stats in result.machines.values():
        fractions = [stats[k] for k in ("utilization", "blocked", "starved", "down", "repair",
                                        "maintenance", "setup")]
        assert all(-1e-9 <= f <= 1 + 1e-9 for f in fractions)
        assert math.isclose(sum(fractions), 1.0, abs_tol=1e-9)
    # Little's law within the window (parts in process at the edges make it approximate)
    if kpis["throughput"] > 0:
        assert math.isclose(kpis["wip"], kpis["throughput"] * kpis["lead_time"], rel_tol=0.1,
                            abs_tol=0.5)
    # the same seed gives the same numbers
    assert simulate(scenario, 0).kpis == kpis
