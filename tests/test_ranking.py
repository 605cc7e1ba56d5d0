"""The ranking rule: ranks follow the means; entries that cannot be told apart share a rank, but
a better mean is never ranked below a worse one."""

from __future__ import annotations

import numpy as np

from twin.study.variants import RANK_RULE, rank


def inversion_values() -> dict[str, list[float]]:
    """Like condition-based, predictive-lstm and predictive-cnn on wear.yaml: ``lstm`` is
    significantly worse than ``best``; ``cnn`` has a worse mean than ``lstm`` but is too noisy
    to be told from either."""
    base = np.array([0.16, 0.15, 0.17, 0.158, 0.162, 0.149, 0.171, 0.155, 0.165, 0.160])
    noise = np.array([0.05, -0.05] * 5)
    return {"best": list(base), "lstm": list(base + 0.002),
            "cnn": list(base + 0.004 + noise), "linear": list(base + 0.014)}


def test_a_better_mean_never_ranks_below_a_worse_one() -> None:
    values = inversion_values()
    ranking = rank(["linear", "cnn", "lstm", "best"], values, "cost_rate")
    assert [e["name"] for e in ranking] == ["best", "lstm", "cnn", "linear"]  # by mean
    means = [e["mean"] for e in ranking]
    assert means == sorted(means)
    ranks = [e["rank"] for e in ranking]
    assert ranks == sorted(ranks)  # the old rule gave best 1, cnn 1, lstm 2: an inversion
    assert ranks == [1, 2, 2, 3]
    by_name = {e["name"]: e for e in ranking}
    assert by_name["cnn"]["not_distinguishable_from"] == ["best", "lstm", "linear"]
    assert by_name["lstm"]["not_distinguishable_from"] == ["cnn"]


def test_higher_is_better_ranks_the_same_way_reversed() -> None:
    values = {k: [-v for v in vs] for k, vs in inversion_values().items()}
    ranking = rank(["best", "lstm", "cnn", "linear"], values, "profit_rate")
    assert [(e["name"], e["rank"]) for e in ranking] == [
        ("best", 1), ("lstm", 2), ("cnn", 2), ("linear", 3)]


def test_ranks_hold_under_random_values() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(2, 7))
        common = rng.normal(0, 1, 6)
        values = {f"v{i}": list(common + rng.normal(rng.normal(0, 0.5), rng.uniform(0, 1), 6))
                  for i in range(n)}
        ranking = rank(list(values), values, "cost_rate")
        assert [e["mean"] for e in ranking] == sorted(e["mean"] for e in ranking)
        ranks = [e["rank"] for e in ranking]
        assert ranks[0] == 1 and ranks == sorted(ranks)
        for i, entry in enumerate(ranking):  # at least 1 + the entries significantly better
            better = [o for o in ranking[:i] if o["name"] not in entry["not_distinguishable_from"]]
            assert entry["rank"] >= 1 + len(better)


def test_the_rule_is_stated() -> None:
    assert "never ranks below a worse one" in RANK_RULE.replace("a better mean never ranks below",
                                                                  "never ranks below")
