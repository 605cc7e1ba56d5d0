"""Predictors: conformance of the built-ins, the registry and plugins, safe saving, and a
learned model that beats a constant on held-out lives of the twin's own data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import predictor_params
from twin import load_scenario
from twin.cli import main
from twin.errors import InputError
from twin.ml.predictor import check_predictor, load_predictor, save_predictor
from twin.ml.registry import available, builtin_names, create, resolve
from twin.ml.training import histories, phm_score, rmse, split_by_life, windows

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    scenario = load_scenario(ROOT / "scenarios" / "wear.yaml", [("horizon", 30_000)])
    readings = histories(scenario, replications=3)
    return windows(readings, steps=30, stride=10)


@pytest.mark.parametrize("name", predictor_params(sorted(builtin_names())))
def test_builtins_pass_the_conformance_check(name: str, data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    quick = {"cnn": {"epochs": 3}, "lstm": {"epochs": 3}, "gbt": {"max_iter": 30},
             "cnn2d": {"epochs": 2},
             "gbt-quantile": {"max_iter": 20},
             "svm": {"max_samples": 800}, "svm-risk": {"max_samples": 800},
             "ensemble": {"members": ["linear", "gbt"],
                          "member_params": {"gbt": {"max_iter": 20}}},
             }.get(name, {})
    predictor = create(name, **quick)
    y = data.rul if predictor.task == "rul" else (data.rul < 100).astype(int)
    check_predictor(predictor, data.X[:2000], y[:2000])
    fitted = create(name, **quick).fit(data.X, y)
    save_predictor(fitted, name, tmp_path / "model", {"steps": 30})
    loaded, meta = load_predictor(tmp_path / "model")
    assert meta["predictor"] == name and meta["metadata"] == {"steps": 30}
    assert np.allclose(loaded.predict(data.X[:500]), fitted.predict(data.X[:500]))
    with np.load(tmp_path / "model.npz", allow_pickle=False) as arrays:
        assert all(arrays[k].dtype != object for k in arrays.files)


def test_linear_rul_beats_a_constant_on_held_out_lives(data) -> None:  # type: ignore[no-untyped-def]
    train, test = split_by_life(data)
    assert not set(data.life[train]) & set(data.life[test])
    model = create("linear").fit(data.X[train], data.rul[train])
    predicted = model.predict(data.X[test])
    actual = data.rul[test]
    constant = np.full(test.sum(), data.rul[train].mean())
    # early in a life the wear barely shows; in the last 400 minutes it does
    late = actual < 400
    assert rmse(predicted[late], actual[late]) < 0.5 * rmse(constant[late], actual[late])
    assert phm_score(predicted[late], actual[late]) < phm_score(constant[late], actual[late])


@pytest.mark.parametrize("name", predictor_params(["cnn", "lstm"]))
def test_neural_rul_beats_a_constant_on_held_out_lives(name: str, data) -> None:  # type: ignore[no-untyped-def]
    train, test = split_by_life(data)
    model = create(name, epochs=15, validation=0.0).fit(data.X[train], data.rul[train])
    predicted = model.predict(data.X[test])
    actual = data.rul[test]
    constant = np.full(test.sum(), data.rul[train].mean())
    late = actual < 400
    assert rmse(predicted[late], actual[late]) < 0.6 * rmse(constant[late], actual[late])
    assert rmse(predicted, actual) < rmse(constant, actual)


def test_logistic_ranks_failures_within_the_horizon(data) -> None:  # type: ignore[no-untyped-def]
    from sklearn.metrics import roc_auc_score

    train, test = split_by_life(data)
    y = (data.rul < 150).astype(int)
    model = create("logistic").fit(data.X[train], y[train])
    assert roc_auc_score(y[test], model.predict(data.X[test])) > 0.85


def test_unknown_names_get_a_suggestion() -> None:
    with pytest.raises(InputError, match="did you mean 'linear'"):
        resolve("lineer")


def test_module_references_need_explicit_permission() -> None:
    with pytest.raises(InputError, match="would import code"):
        resolve("predictors.linear:LinearRUL")
    assert resolve("predictors.linear:LinearRUL", allow_imports=True).__name__ == "LinearRUL"


def test_third_party_predictor_through_the_entry_point(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A real installed distribution (dist-info with entry_points.txt) on the path."""
    (tmp_path / "acme_models.py").write_text(
        "import numpy as np\n"
        "from twin.ml.predictor import Predictor, check_windows\n"
        "class MeanRUL(Predictor):\n"
        "    task = 'rul'\n"
        "    def __init__(self, scale=1.0):\n"
        "        self.scale = scale\n"
        "    def fit(self, X, y):\n"
        "        check_windows(X)\n"
        "        self.mean_ = float(np.mean(y)) * self.scale\n"
        "        return self\n"
        "    def predict(self, X):\n"
        "        return np.full(len(check_windows(X)), self.mean_)\n"
        "    def get_state(self):\n"
        "        return {'mean_': np.array(self.mean_)}\n"
        "    def set_state(self, state):\n"
        "        self.mean_ = float(state['mean_'])\n"
        "        return self\n")
    info = tmp_path / "acme_models-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-models\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[twin.predictors]\nacme-mean = acme_models:MeanRUL\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert available()["acme-mean"] == "acme_models:MeanRUL"
    predictor = create("acme-mean", scale=2.0)
    X = np.zeros((4, 3, 1))
    y = np.array([1.0, 2.0, 3.0, 4.0])
    check_predictor(predictor, X, y)
    assert predictor.fit(X, y).predict(X)[0] == 5.0

    # trained by name, then used by a scenario's predictive policy
    out = tmp_path / "model"
    assert main(["train", str(ROOT / "scenarios" / "wear.yaml"), "--predictor", "acme-mean",
                 "--out", str(out), "--horizon", "20000", "--replications", "2"]) == 0
    assert json.loads((out / "model.json").read_text())["predictor"] == "acme-mean"
    policy = (f"{{kind: predictive, model: {out / 'model.json'}, threshold: 1e9, every: 50, "
              "duration: 5}")
    run_out = tmp_path / "run"
    assert main(["run", str(ROOT / "scenarios" / "wear.yaml"), "--out", str(run_out),
                 "--horizon", "5000", "--replications", "1", "--workers", "1", "--no-sensors",
                 "--set", f"maintenance.policy={policy}"]) == 0
    summary = json.loads((run_out / "summary.json").read_text())
    assert summary["machines"]["press"]["alarms"]["mean"] > 0  # a mean RUL is always below 1e9
    sys.modules.pop("acme_models", None)


def test_ensemble_weights_default_to_the_chosen_ones_for_gbt_and_cnn_only() -> None:
    from predictors.ensemble import EnsembleRUL

    assert np.allclose(EnsembleRUL()._weights(), [0.7, 0.3])
    assert np.allclose(EnsembleRUL(weights=None)._weights(), [0.5, 0.5])  # saved before them
    assert np.allclose(EnsembleRUL(members=["linear", "gbt", "svm"])._weights(), [1 / 3] * 3)
    assert np.allclose(EnsembleRUL(members=["linear", "gbt"], weights=[3, 1])._weights(),
                       [0.75, 0.25])
    with pytest.raises(ValueError, match="one weight per member"):
        EnsembleRUL(members=["linear", "gbt", "svm"], weights=[1, 1])._weights()
