"""Schemas of the built-in maintenance and quality policies.

A policy's schema has ``kind: Literal[name]`` and may check the whole scenario it governs
(``problems``); what it does in the simulation is in ``twin.engine.policies``. Plug-ins register
theirs in the ``twin.policies`` entry-point group.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from twin.errors import Loc
from twin.language.base import FilePath, Fraction, Frozen, PositiveNumber
from twin.language.distributions import Distribution

if TYPE_CHECKING:
    from twin.language.schema import Scenario


class PolicySpec(Frozen):
    """Base of policy schemas: ``problems`` lists what is wrong with the scenario it governs."""

    def problems(self, scenario: Scenario, at: Loc) -> list[tuple[Loc, str]]:
        """What is wrong with ``scenario`` for this policy, as (field path under ``at``, message)
        pairs; none here."""
        return []


def _saved_model(model: str, at: Loc) -> list[tuple[Loc, str]]:
    import json

    from twin.errors import InputError
    from twin.records.inputfiles import MAX_SCENARIO_BYTES, read_input_text, read_npz

    if not Path(model).with_suffix(".json").exists():
        return [((*at, "model"), f"no saved model at {model!r} (make one with twin train)")]
    json_file, npz_file = Path(model).with_suffix(".json"), Path(model).with_suffix(".npz")
    try:
        doc = json.loads(read_input_text(json_file, "saved model", MAX_SCENARIO_BYTES))
        if not isinstance(doc, dict):
            raise ValueError("not a mapping")
        if npz_file.exists():
            read_npz(npz_file)
    except InputError as exc:
        return [((*at, "model"), f"{exc.source}: {exc.problems[0][1]}")]
    except ValueError as exc:  # JSON: the position only
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        return [((*at, "model"), f"{json_file}: not a saved model's JSON{where}")]
    return []


# --------------------------------------------------------------------------- maintenance

class Reactive(PolicySpec):
    """Repair machines when they fail, nothing else."""

    kind: Literal["reactive"]


class Preventive(PolicySpec):
    """Maintain each machine with failures when its operating age reaches ``every`` (``basis:
    age``, the default), or every ``every`` of calendar time (``basis: calendar``: at once if the
    machine is idle, else after the part in hand)."""

    kind: Literal["preventive"]
    every: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    duration: Distribution
    basis: Literal["age", "calendar"] = "age"


class ConditionBased(PolicySpec):
    """Inspect every ``inspect_every`` of operating time; maintain when the ``indicator``
    (``health``: the wear fraction, or the name of a sensor, read by the inspection with that
    sensor's noise) reaches ``threshold``."""

    kind: Literal["condition"]
    indicator: str = "health"
    threshold: Annotated[float, Field(allow_inf_nan=False)]
    inspect_every: PositiveNumber
    duration: Distribution

    def problems(self, scenario: Scenario, at: Loc) -> list[tuple[Loc, str]]:
        """Machines that wear but lack the ``indicator`` sensor."""
        if self.indicator == "health":
            return []
        missing = [n for n, s in scenario.plant.nodes.items()
                   if getattr(s, "degradation", None) is not None
                   and self.indicator not in s.sensors]  # type: ignore[union-attr]
        if missing:
            return [((*at, "indicator"), f"sensor {self.indicator!r} is missing on machine(s) "
                                         f"{', '.join(missing)}")]
        return []


class Opportunistic(PolicySpec):
    """Preventive at operating age ``every``; besides, when a machine fails, the machines next to
    it (within two edges) whose age is within ``window`` of ``every`` are maintained too, at
    their next part, while the line stands."""

    kind: Literal["opportunistic"]
    every: PositiveNumber
    window: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    duration: Distribution


class Learn(Frozen):
    """Online learning: the policy fits its model from the lives the twin has seen end. Until
    ``warm_up`` lives have ended (failed or maintained, on any watched machine) it acts by its
    fallback (preventive at ``fallback_age`` of operating time, or run to failure); then it fits
    ``predictor`` on the windows of the ended lives and refits (or, for predictors with
    ``partial_fit``, updates) each time ``every`` more lives end. Windows of a maintained life
    are labelled only where the outcome is known: remaining life at least ``horizon`` (the RUL
    cap; a risk model's horizon)."""

    every: Annotated[int, Field(ge=1)] = 1
    warm_up: Annotated[int, Field(ge=1)] = 5
    predictor: str = "linear"
    params: dict[str, Any] = Field(default_factory=dict)
    """Hyper-parameters of the predictor."""
    steps: Annotated[int, Field(ge=1)] = 30
    stride: Annotated[int, Field(ge=1)] = 5
    horizon: PositiveNumber | None = None
    fallback_age: PositiveNumber | None = None


class Predictive(PolicySpec):
    """Every ``every`` of calendar time, score every watched machine's latest sensor window with
    the saved ``model`` (made by ``twin train``) in one batch; maintain a machine whose predicted
    remaining life is at most ``threshold`` (an RUL model), or whose predicted risk is at least
    ``threshold`` (a failure model). With ``learn`` the model is learned in the loop (starting
    from ``model`` if one is given). ``on: lower`` compares the lower bound of the remaining
    life's conformal prediction interval instead of the point (a model trained with
    ``--coverage``), at ``coverage`` (default: the one it was trained for): the machine is
    maintained once its remaining life may, with probability ``1 - coverage``, be below the
    threshold."""

    kind: Literal["predictive"]
    model: FilePath | None = None
    threshold: Annotated[float, Field(allow_inf_nan=False)]
    every: PositiveNumber
    duration: Distribution
    learn: Learn | None = None
    on: Literal["point", "lower"] = "point"
    coverage: Annotated[float, Field(gt=0, lt=1)] | None = None

    @model_validator(mode="after")
    def _model_or_learn(self) -> Predictive:
        if self.model is None and self.learn is None:
            raise ValueError("give a saved model, or learn: {every: N, warm_up: K} to learn "
                             "one in the loop")
        if self.on == "lower" and (self.learn is not None or self.model is None):
            raise ValueError("on: lower needs a saved model calibrated with twin train "
                             "--coverage (a model learned in the loop has no calibration)")
        if self.coverage is not None and self.on != "lower":
            raise ValueError("coverage is that of the lower bound: give on: lower too")
        return self

    def problems(self, scenario: Scenario, at: Loc) -> list[tuple[Loc, str]]:
        """Problems of the learner settings, and of the saved model: missing, or trained on lives
        shared with this scenario."""
        found: list[tuple[Loc, str]] = []
        if self.learn is not None:
            found += _learner_problems(self.learn, (*at, "learn"))
        if self.model is None:
            return found
        found += _saved_model(self.model, at)
        if not found and self.on == "lower":
            found += _calibrated(self.model, self.coverage, at)
        return found or _shared_lives(self.model, scenario, at)


def _calibrated(model: str, coverage: float | None, at: Loc) -> list[tuple[Loc, str]]:
    """A policy on the lower bound needs a remaining-life model with a conformal calibration
    on enough lives for its coverage (``coverage * (lives + 1) / lives`` at most 1)."""
    import json

    doc = json.loads(Path(model).with_suffix(".json").read_text())
    calibration = doc.get("metadata", {}).get("conformal")
    if doc.get("task", "rul") != "rul" or calibration is None:
        return [((*at, "on"), f"on: lower needs prediction intervals: {model} has no conformal "
                              "calibration (train a remaining-life model with --coverage)")]
    lives = int(calibration["lives"])
    wanted = float(calibration["coverage"]) if coverage is None else coverage
    if wanted * (lives + 1) / lives > 1:
        return [((*at, "coverage"), f"{model} is calibrated on {lives} lives: too few to "
                                    f"promise a coverage of {wanted:g} (at most "
                                    f"{lives / (lives + 1):.3g})")]
    return []


def _learner_problems(learn: Learn, at: Loc) -> list[tuple[Loc, str]]:
    from twin.errors import InputError
    from twin.registry import PREDICTOR_REGISTRY

    try:
        model = PREDICTOR_REGISTRY.load(learn.predictor)(**learn.params)
    except InputError as exc:
        return [((*at, "predictor"), "; ".join(p[1] for p in exc.problems))]
    except TypeError as exc:
        return [((*at, "predictor"), f"{learn.predictor}: {exc}")]
    if model.task != "rul" and learn.horizon is None:
        return [((*at, "horizon"), f"{learn.predictor} predicts a risk: give the horizon it "
                                   "learns failures within")]
    return []


def _shared_lives(model: str, scenario: Scenario, at: Loc) -> list[tuple[Loc, str]]:
    """Machines that replay lives the model was trained on (refused unless ``shared``)."""
    import json

    meta = json.loads(Path(model).with_suffix(".json").read_text()).get("metadata", {})
    trained = meta.get("train_units")
    if not trained:
        return []
    from twin.records.lives import file_digest, replay_units

    out: list[tuple[Loc, str]] = []
    for name, node in scenario.plant.nodes.items():
        spec = getattr(node, "degradation", None)
        if getattr(spec, "model", None) != "replay" or spec.shared:  # type: ignore[union-attr]
            continue
        if file_digest(spec.lives) != meta.get("data_sha256"):  # type: ignore[union-attr]
            continue
        both = [u for u in replay_units(spec) if u in set(trained)]  # type: ignore[arg-type]
        if both:
            out.append((("plant", "nodes", name, "degradation"), (
                f"machine {name!r} would replay {len(both)} lives the model {model} was "
                f"trained on (units {', '.join(map(str, both[:8]))}"
                f"{', ...' if len(both) > 8 else ''}): give holdout_of: {model}, or units, "
                "or shared: true to allow it")))
    return out


class Agent(PolicySpec):
    """A learned agent (trained with ``python -m twin.gym train``) decides every ``every`` of
    calendar time, for each machine that wears, to continue or to maintain it. ``model: null``
    leaves the decisions to a program outside (the ``twin.gym`` environment steps it)."""

    kind: Literal["agent"]
    model: FilePath | None
    every: PositiveNumber | None = None
    """Decision epoch; null: the one the agent was trained with."""
    duration: Distribution

    def problems(self, scenario: Scenario, at: Loc) -> list[tuple[Loc, str]]:
        """A missing saved agent (``model`` is required to run a scenario)."""
        if self.model is None:
            return [((*at, "model"), "an agent policy needs a saved agent to play (make one "
                                     "with python -m twin.gym train SCENARIO); model: null is "
                                     "for the twin.gym environment only")]
        return _saved_model(self.model, at)


class PredictiveQuality(PolicySpec):
    """Every ``every`` of calendar time, score the sensor windows of the machines that have a
    ``when: suspect`` edge with the saved defect ``model``; while a machine's predicted defect
    risk is at least ``threshold``, the parts it finishes take that edge (to inspection)."""

    kind: Literal["predictive"]
    model: FilePath
    threshold: Fraction
    every: PositiveNumber

    def problems(self, scenario: Scenario, at: Loc) -> list[tuple[Loc, str]]:
        """A missing saved defect model."""
        return _saved_model(self.model, at)


MAINTENANCE_POLICIES: tuple[type[PolicySpec], ...] = (
    Reactive, Preventive, ConditionBased, Opportunistic, Predictive, Agent)
QUALITY_POLICIES: tuple[type[PolicySpec], ...] = (PredictiveQuality,)
