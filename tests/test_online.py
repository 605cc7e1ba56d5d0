"""Learning in the loop: a predictive policy that starts with no model acts by its fallback
(preventive at an age) until enough lives have ended, then learns only from lives that had ended
before each update (no look-ahead), reproducibly on any number of workers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin import load_scenario
from twin.cli import main
from twin.engine.replication import build
from twin.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
WEAR = ROOT / "scenarios" / "wear.yaml"
LEARN = {"kind": "predictive", "threshold": 250, "every": 30, "duration": 20,
         "learn": {"every": 2, "warm_up": 4, "predictor": "linear", "horizon": 400,
                   "fallback_age": 600}}


def scenario(horizon: float = 40_000, learn: dict | None = None):  # type: ignore[no-untyped-def]
    policy = {**LEARN, "learn": {**LEARN["learn"], **(learn or {})}}  # type: ignore[dict-item]
    return load_scenario(WEAR, [("horizon", horizon), ("maintenance.policy", policy)])


def expected_windows(sc, ctx) -> list[tuple[float, np.ndarray, np.ndarray, float]]:  # type: ignore[no-untyped-def]
    """Each ended life of the press, rebuilt after the run from the event log and the full
    readings, independently of the learner: (when it ended, its windows, their labels, its last
    reading's time). A life ends at its failure, or when its maintenance is done; its windows
    hold the last 30 temperature readings (every fifth) with the vibration at or before each,
    labelled with the remaining life capped at the horizon, or, for a maintained life, only
    those whose remaining life reached the horizon."""
    learn = sc.maintenance.policy.learn
    steps, stride, cap = learn.steps, learn.stride, learn.horizon
    log = ctx.events
    ends = [(t, e == "fail") for t, n, e in zip(log.time, log.node, log.event, strict=True)
            if n == "press" and e in ("fail", "pm_end")]
    press, stream = ctx.machines["press"], ctx.sensors["press"]
    stream.advance(sc.horizon)
    readings = stream.table().to_pandas()
    out = []
    for life, (end, failed) in enumerate(ends):
        after = press.lives[life + 1].operating if life + 1 < len(press.lives) \
            else press.lives[life].operating + press.age
        end_age = after - press.lives[life].operating
        mine = readings[readings["life"] == life]
        base = mine[mine["sensor"] == "temperature"].sort_values("time")
        other = mine[mine["sensor"] == "vibration"].sort_values("time")
        last = float(mine["time"].max()) if len(mine) else -np.inf
        if len(base) < steps:
            out.append((end, np.zeros((0, steps, 2)), np.zeros(0), last))
            continue
        vibration = pd.merge_asof(base[["time"]], other[["time", "value"]], on="time",
                                  direction="backward")["value"].bfill().to_numpy()
        values = np.stack([base["value"].to_numpy(), vibration], axis=1)
        at = np.arange(steps - 1, len(base), stride)
        left = end_age - base["age"].to_numpy()[at]
        keep = np.ones(len(at), bool) if failed else left >= cap
        label = np.minimum(left, cap) if failed else np.full(len(at), float(cap))
        at, label = at[keep], label[keep]
        out.append((end, values[at[:, None] - np.arange(steps - 1, -1, -1)[None, :]], label,
                    last))
    return out


@pytest.mark.parametrize("predictor", ["linear", "sgd"])
def test_learns_only_from_lives_that_ended_before_each_update(
        predictor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fit (a refit on all it has seen, or a ``partial_fit`` on what is new) is given
    exactly the windows and labels of the lives that had ended by then, rebuilt after the run
    from the event log and the readings: none of a life still running, no reading taken after
    the update, no label that needs the future."""
    sc = scenario(25_000, learn={"predictor": predictor})
    ctx = build(sc, 0, events=True)
    learner = ctx.maintenance.decisions.learner  # type: ignore[union-attr]
    calls: list[tuple[float, str, np.ndarray, np.ndarray]] = []
    cls = type(learner.fresh)
    for method in ("fit", "partial_fit"):
        if hasattr(cls, method):
            original = getattr(cls, method)

            def spy(self, X, y, _original=original, _method=method):  # type: ignore[no-untyped-def]
                calls.append((ctx.env.now, _method, np.array(X), np.array(y)))
                return _original(self, X, y)

            monkeypatch.setattr(cls, method, spy)
    ctx.env.run(until=sc.horizon)
    lives = expected_windows(sc, ctx)
    ends = [end for end, *_ in lives]
    assert len(calls) >= 5 and len(calls) == len(learner.updates)
    warm_up, every = sc.maintenance.policy.learn.warm_up, sc.maintenance.policy.learn.every
    learned = 0
    for k, (time, method, X, y) in enumerate(calls):
        ended = sum(end <= time for end in ends)
        # an update comes only as a life ends: the warm-up's last, then every `every` more
        assert time == ends[ended - 1] and (ended - warm_up) % every == 0
        assert learner.updates[k][0] == time and learner.updates[k][1] == ended
        first = 0 if method == "fit" else learned
        assert method == ("partial_fit" if learner.partial and k else "fit")
        want_X = np.concatenate([w for _, w, _, _ in lives[first:ended]])
        want_y = np.concatenate([label for _, _, label, _ in lives[first:ended]])
        assert np.array_equal(X, want_X), (k, time)
        # the remaining lives to the micro-minute (the end age is summed in another order)
        np.testing.assert_allclose(y, want_y, rtol=0, atol=1e-6, err_msg=f"{k} at {time}")
        assert max(last for *_, last in lives[:ended]) <= time  # every reading came before
        learned = ended
    assert learner.switched_at == calls[0][0] >= ends[warm_up - 1]
    log = ctx.events
    assert learner.ends == [[t, float(e == "fail")] for t, n, e in zip(
        log.time, log.node, log.event, strict=True) if n == "press" and e in ("fail", "pm_end")]
    if learner.partial:
        assert learner.model.updates_ == len(calls) - 1


def test_fallback_is_preventive_at_an_age_until_the_model_takes_over() -> None:
    sc = scenario()
    ctx = build(sc, 0)
    ctx.env.run(until=sc.horizon)
    learner = ctx.maintenance.decisions.learner  # type: ignore[union-attr]
    press = ctx.machines["press"]
    before = [b.operating - a.operating for a, b in zip(press.lives[:-1], press.lives[1:], strict=True)
              if b.start < learner.switched_at]
    assert before and all(age <= 600 + 1e-6 for age in before)


def test_learning_is_reproducible_on_any_number_of_workers(tmp_path: Path) -> None:
    policy = json.dumps(LEARN)
    docs = []
    for workers in ("1", "2"):
        out = tmp_path / workers
        assert main(["run", str(WEAR), "--horizon", "15000", "--replications", "2",
                     "--workers", workers, "--no-sensors", "--set",
                     f"maintenance.policy={policy}", "--out", str(out)]) == 0
        docs.append(json.loads((out / "summary.json").read_text()))
    assert docs[0]["kpis"]["cost_rate"]["values"] == docs[1]["kpis"]["cost_rate"]["values"]
    assert docs[0]["learning"] == docs[1]["learning"]
    learning = docs[0]["learning"]
    assert learning["updates"][0] and learning["switched_at"]["mean"] > 0
    assert len(learning["cost_rate_by_period"]) == 10
    assert learning["error_by_update"][0]["error"] is None  # no model to score with yet
    assert np.isfinite(learning["error_by_update"][-1]["error"])
    report = (tmp_path / "1" / "report.html").read_text()
    assert "Cost rate over time" in report
    assert "the model's error on each new life, before it learns from it" in report


def test_a_risk_predictor_needs_its_horizon_and_an_unknown_one_is_named() -> None:
    with pytest.raises(InputError, match="learn.horizon: logistic predicts a risk"):
        scenario(learn={"predictor": "logistic", "horizon": None})
    with pytest.raises(InputError, match="unknown predictor 'linaer'.*linear"):
        scenario(learn={"predictor": "linaer"})
    with pytest.raises(InputError, match="give a saved model, or learn"):
        load_scenario(WEAR, [("maintenance.policy", {k: v for k, v in LEARN.items()
                                                     if k != "learn"})])


def test_a_policy_without_a_record_of_its_own_has_its_cost_per_period(tmp_path: Path) -> None:
    """Preventive at an age: the cost per period, read off the press's timeline, adds up to
    every failure and maintenance the run counted, at the scenario's prices."""
    out = tmp_path / "preventive"
    assert main(["run", str(WEAR), "--horizon", "20000", "--replications", "2", "--set",
                 "warmup=0", "--set", "maintenance.policy={kind: preventive, every: 350, "
                 "duration: 20}", "--out", str(out)]) == 0
    doc = json.loads((out / "summary.json").read_text())
    learning, press = doc["learning"], doc["machines"]["press"]
    assert learning["period"] == 2000.0 and len(learning["cost_rate_by_period"]) == 10
    for rep in range(2):
        spent = sum(p["values"][rep] * learning["period"] for p in learning["cost_rate_by_period"])
        paid = 2500 * press["failures"]["values"][rep] + 200 * press["preventive"]["values"][rep]
        assert spent == pytest.approx(paid, rel=1e-12)
    assert press["preventive"]["values"][0] > 0


def test_no_cost_per_period_where_nothing_can_fail(tmp_path: Path) -> None:
    out = tmp_path / "mm1"
    assert main(["run", str(WEAR.parent / "mm1.yaml"), "--horizon", "5000", "--replications",
                 "1", "--out", str(out)]) == 0
    assert "learning" not in json.loads((out / "summary.json").read_text())


def test_readings_a_learning_policy_reads_are_written_as_the_run_goes(tmp_path: Path) -> None:
    """The press's stream is advanced by the policy's epochs and read by its learner; its
    readings go to the file row group by row group, the same readings as written in one piece
    (or, written nowhere, are let go of), and the learning is the same."""
    import pandas as pd
    import pyarrow.parquet as pq

    from tests.test_scale import same
    from twin.engine.replication import simulate
    from twin.engine.sensors import CallbackSink, ParquetSink

    sc = scenario(15_000)
    whole_sink = ParquetSink(tmp_path / "whole", 0)
    whole = simulate(sc, 0, sensor_sink=CallbackSink(whole_sink.write))
    streamed = simulate(sc, 0, sensor_sink=ParquetSink(tmp_path / "streamed", 0, rows=500))
    bare = simulate(sc, 0)  # written nowhere: let go of as the run goes
    assert streamed.kpis == whole.kpis == bare.kpis
    assert streamed.learning == whole.learning == bare.learning
    assert whole.learning["updates"]
    file = tmp_path / "streamed" / "machine=press" / "replication-0000.parquet"
    assert pq.ParquetFile(file).num_row_groups > 10
    # written in one piece, the policy's blocks alternate between the sensors; streamed, each
    # sensor's readings come in turn, in time order
    whole_frame = pd.read_parquet(tmp_path / "whole").sort_values(
        ["sensor", "time"], kind="stable").reset_index(drop=True)
    assert same(whole_frame, pd.read_parquet(tmp_path / "streamed"))
