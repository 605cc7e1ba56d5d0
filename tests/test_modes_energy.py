"""Several failure modes per machine, and energy: against exact availability, the split of
failures between modes, and power times time by state."""

from __future__ import annotations

import pytest

from tests.helpers import assert_matches, exp, simulate_plant
from twin.engine.replication import simulate
from twin.language.loading import scenario_from_data


def test_two_failure_modes_availability_and_split() -> None:
    l1, r1, l2, r2 = 1 / 50, 2.0, 1 / 200, 20.0
    plant = {"nodes": {"src": {"kind": "source"},
                       "M": {"kind": "machine", "process_time": exp(1.0), "failures": [
                           {"name": "jam", "ttf": exp(1 / l1), "ttr": exp(r1), "cost": 10},
                           {"name": "motor", "ttf": exp(1 / l2), "ttr": exp(r2)}]},
                       "out": {"kind": "sink"}},
             "edges": [["src", "M"], ["M", "out"]]}
    summary = simulate_plant(plant, horizon=100_000, warmup=0, replications=6,
                             maintenance={"crew": None}, costs={"corrective": 100})
    # saturated, operation-dependent lives: up a mean 1 / (l1 + l2) between failures
    assert_matches(summary["machines"]["M"]["availability"], 1 / (1 + l1 * r1 + l2 * r2),
                   rel_precision=0.01)
    modes = summary["failure_modes"]["M"]
    jam, motor = modes["jam"]["mean"], modes["motor"]["mean"]
    assert jam / motor == pytest.approx(l1 / l2, rel=0.08)
    assert summary["machines"]["M"]["failures"]["mean"] == pytest.approx(jam + motor)
    # each mode's own cost: 10 per jam, the default 100 per motor failure
    assert summary["costs"]["corrective"]["mean"] == pytest.approx(
        (10 * jam + 100 * motor) / 100_000, rel=1e-9)


def test_energy_is_power_times_time_by_state() -> None:
    # saturated, constant: works 9, then down (repaired at once) for 1, every 10
    scenario = scenario_from_data({
        "name": "energy", "horizon": 10_000, "time_unit": "min",
        "costs": {"energy": 0.2}, "energy": {"co2_per_kwh": 0.4},
        "maintenance": {"crew": None},
        "plant": {"nodes": {"src": {"kind": "source"},
                            "M": {"kind": "machine", "process_time": 1,
                                  "power": {"working": 12, "idle": 3, "down": 0.5},
                                  "failures": {"ttf": 9, "ttr": 1}},
                            "out": {"kind": "sink"}},
                  "edges": [["src", "M"], ["M", "out"]]}})
    result = simulate(scenario, 0)
    kwh = (9_000 * 12 + 1_000 * 0.5) / 60  # kW x minutes / 60
    assert result.energy["M"]["energy"] == pytest.approx(kwh)
    assert result.energy["M"]["co2"] == pytest.approx(0.4 * kwh)
    assert result.kpis["energy_per_part"] == pytest.approx(kwh / 8_999, rel=1e-3)
    assert result.costs["energy"] == pytest.approx(0.2 * kwh / 10_000)
    assert result.kpis["cost_rate"] == pytest.approx(result.costs["energy"])


def test_bad_modes_and_power_are_refused() -> None:
    from twin.errors import InputError

    base = {"name": "x", "horizon": 10, "time_unit": "shift",
            "plant": {"nodes": {"src": {"kind": "source"},
                                "M": {"kind": "machine", "process_time": 1,
                                      "power": {"working": 1}},
                                "out": {"kind": "sink"}},
                      "edges": [["src", "M"], ["M", "out"]]}}
    with pytest.raises(InputError, match="energy.hours_per_time_unit"):
        scenario_from_data(base)
    base["time_unit"] = "min"
    base["plant"]["nodes"]["M"]["failures"] = [{"name": "a", "ttf": 1, "ttr": 1},
                                               {"name": "a", "ttf": 2, "ttr": 1}]
    with pytest.raises(InputError, match="distinct names"):
        scenario_from_data(base)
