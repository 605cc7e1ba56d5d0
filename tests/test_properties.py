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


policies = st.one_of(
    st.builds(lambda s: {"kind": "base-stock", "level": s}, st.integers(0, 12)),
    st.builds(lambda s, d: {"kind": "sS", "s": s, "S": s + d}, st.integers(0, 8),
              st.integers(1, 10)),
    st.builds(lambda r, q: {"kind": "rQ", "r": r, "Q": q}, st.integers(0, 8), st.integers(1, 10)),
)
chains = st.fixed_dictionaries({
    "policy": policies,
    "lead": st.one_of(st.floats(0.0, 6.0), st.builds(
        lambda m: {"dist": "exponential", "mean": m}, st.floats(0.5, 6.0))),
    "capacity": st.one_of(st.none(), st.integers(1, 3)),
    "review": st.one_of(st.none(), st.floats(0.5, 4.0)),
    "unmet": st.sampled_from(["backorder", "lost"]),
    "quantity": st.sampled_from([1, {"dist": "empirical", "values": [1, 2, 5]}]),
    "upstream": st.sampled_from(["supplier", "line", "central warehouse"]),
    "seed": st.integers(0, 2**32 - 1),
})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains)
def test_random_supply_chains_balance_their_units(case: dict) -> None:
    from twin.engine.replication import build

    nodes: dict = {
        "store": {"kind": "warehouse", "policy": case["policy"], "review": case["review"]},
        "market": {"kind": "customer", "unmet": case["unmet"],
                   "demand": {"interarrival": {"dist": "exponential", "mean": 1.0},
                              "quantity": case["quantity"]}},
    }
    if case["upstream"] == "line":  # a machine making to stock for the warehouse
        nodes["raw"] = {"kind": "source"}
        nodes["M"] = {"kind": "machine", "process_time": {"dist": "exponential", "mean": 0.5}}
        edges = [["raw", "M"], ["M", "store"], ["store", "market"]]
    elif case["upstream"] == "central warehouse":
        nodes["vendor"] = {"kind": "supplier", "lead_time": case["lead"]}
        nodes["central"] = {"kind": "warehouse", "policy": {"kind": "rQ", "r": 2, "Q": 6}}
        edges = [["vendor", "central"], {"from": "central", "to": "store", "transit": 1.0},
                 ["store", "market"]]
    else:
        nodes["vendor"] = {"kind": "supplier", "lead_time": case["lead"],
                           "capacity": case["capacity"]}
        edges = [["vendor", "store"], ["store", "market"]]
    scenario = scenario_from_data({"name": "prop", "horizon": 500, "seed": case["seed"],
                                   "plant": {"nodes": nodes, "edges": edges}})
    model = build(scenario, 0)
    model.env.run(until=scenario.horizon)
    assert "supply" in model.extensions
    store = model.extensions["supply"].warehouses["store"]
    market = model.extensions["supply"].customers["market"]
    initial = scenario.plant.nodes["store"].start_stock()  # type: ignore[union-attr]
    on_hand = len(store.items)
    # units: what came in is on hand or went out
    assert initial + store.received + store.arrivals == on_hand + store.shipped + store.released
    if "central" in model.extensions["supply"].warehouses:  # and what left the central one is in transit
        central = model.extensions["supply"].warehouses["central"]
        in_transit = central.shipped - store.received
        assert in_transit >= 0
        assert store.on_order == in_transit + sum(o.remaining for o in central.backlog)
    # demand: shipped, lost or still waiting
    waiting = sum(o.remaining for o in store.backlog)
    assert market.demanded == store.shipped + market.lost + waiting
    assert store.backordered == waiting == market.backordered.value
    if case["unmet"] == "lost":
        assert waiting == 0
    assert market.from_stock <= market.demanded
    # the pipeline never goes negative; a continuous-review policy keeps its position in range
    assert store.on_order >= 0
    policy = case["policy"]
    position = store.position()
    if case["review"] is None:
        if policy["kind"] == "base-stock":
            assert position == max(policy["level"], initial)
        elif policy["kind"] == "sS":
            assert policy["s"] < position <= max(policy["S"], initial)
        else:
            assert policy["r"] < position <= max(policy["r"] + policy["Q"], initial)
    kpis = simulate(scenario, 0).kpis
    assert 0 <= kpis["fill_rate"] <= 1 or math.isnan(kpis["fill_rate"])
