"""A learned maintenance agent in the loop: what it observes, and the saved network it acts by.

At each decision epoch the agent sees, for every watched machine (one that wears), its operating
age since the last renewal (divided by a typical life), whether it is unavailable (down, in
repair, in maintenance, or a maintenance already called) and, for each of its sensors, the mean
of its latest readings in the current life, as a fraction of the sensor's gain above its base
(``(mean - base) / gain``: about ``wear ** power``). It answers with one bit per machine:
continue (0) or maintain (1). ``twin.gym`` trains such an agent; the maintenance policy
``{kind: agent, model: PATH}`` plays it back in any run or comparison.

A saved agent is a JSON file (what it observes, its layers) and an ``.npz`` of the weights of
its policy network, read with ``allow_pickle=False``; playing it back needs numpy only.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from twin.engine.states import DOWN, MAINTENANCE, REPAIR
from twin.errors import InputError

if TYPE_CHECKING:
    from twin.engine.sensors import SensorStream
    from twin.engine.stations import Machine

FORMAT = "twin-agent/1"
BOUND = 10.0
"""Observations are clipped to [-BOUND, BOUND]."""


def life_scale(spec: Any) -> float:
    """A typical operating life of a machine that wears, to scale its age: the threshold over
    the mean drift of a Wiener path, the mean of a gamma path's hitting time, else 1000."""
    deg = getattr(spec, "degradation", None)
    model = getattr(deg, "model", None)
    try:
        if model == "wiener":
            return float(deg.threshold / deg.drift.mean())  # type: ignore[union-attr]
        if model == "gamma":
            return float(deg.threshold / (deg.rate * deg.scale))  # type: ignore[union-attr]
    except (AttributeError, ZeroDivisionError, TypeError):
        pass
    return 1000.0


class Observer:
    """The observation of the watched machines at an epoch, as one float32 vector:
    ``[age / life, unavailable, sensor features...]`` per machine, machines in name order."""

    def __init__(self, machines: Mapping[str, Machine], streams: Mapping[str, SensorStream],
                 scales: Mapping[str, float], window: int = 10) -> None:
        self.names = sorted(machines)
        self.machines = dict(machines)
        self.streams = {n: streams[n] for n in self.names if n in streams}
        self.scales = dict(scales)
        self.window = window
        for stream in self.streams.values():
            stream.keep = max(stream.keep, window * 20)
        self.sensors = {n: list(self.streams[n].sensors) if n in self.streams else []
                        for n in self.names}
        self.size = sum(2 + len(s) for s in self.sensors.values())

    def layout(self) -> dict[str, list[str]]:
        """The machines and their sensors, in the order of the observation."""
        return {n: ["age", "unavailable", *self.sensors[n]] for n in self.names}

    def unavailable(self, name: str) -> bool:
        """Whether machine ``name`` is down, in repair, in maintenance, or has a maintenance
        called."""
        m = self.machines[name]
        return m.clock.state in (DOWN, REPAIR, MAINTENANCE) or m.opportunity

    def observe(self, now: float) -> np.ndarray:
        """The observation at time ``now``: per machine its scaled age, unavailability and the
        scaled mean of each sensor's latest readings in the current life (float32, clipped to
        ``BOUND``)."""
        out: list[float] = []
        for name in self.names:
            machine = self.machines[name]
            out += [machine.age / self.scales[name], float(self.unavailable(name))]
            stream = self.streams.get(name)
            if stream is None:
                continue
            stream.advance(now)
            life = len(machine.lives or []) - 1
            for sensor in self.sensors[name]:
                _, values, lives = stream.recent[sensor]
                mine = values[lives == life][-self.window:]
                spec = stream.sensors[sensor]
                base = getattr(spec, "base", 0.0)
                gain = getattr(spec, "gain", 1.0) or 1.0
                out.append(float((mine.mean() - base) / gain) if mine.size else 0.0)
        return np.clip(np.asarray(out, dtype=np.float32), -BOUND, BOUND)


class AgentModel:
    """A policy network: dense layers with ``activation`` between them; the last layer gives
    one logit per machine, and the agent maintains where the logit is above 0."""

    def __init__(self, weights: list[tuple[np.ndarray, np.ndarray]], activation: str,
                 meta: dict[str, Any]) -> None:
        self.weights = weights
        self.activation = activation
        self.meta = meta

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """The network's logits for ``obs``: one per machine."""
        x = np.asarray(obs, dtype=np.float64)
        for i, (w, b) in enumerate(self.weights):
            x = x @ w.T + b
            if i < len(self.weights) - 1:
                x = np.tanh(x) if self.activation == "tanh" else np.maximum(x, 0.0)
        return x

    def act(self, obs: np.ndarray) -> np.ndarray:
        """One bit per machine: maintain (1) where the logit is above 0, else continue (0)."""
        return (self.logits(obs) > 0).astype(np.int8)

    def save(self, path: str | Path) -> Path:
        """Save the agent as ``path`` with suffix .json (layers and meta) beside an .npz of its
        weights; returns the JSON path."""
        path = Path(path).with_suffix(".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"w{i}": w for i, (w, _) in enumerate(self.weights)}
        arrays.update({f"b{i}": b for i, (_, b) in enumerate(self.weights)})
        np.savez(path.with_suffix(".npz"), **arrays)  # type: ignore[arg-type]
        doc = {"format": FORMAT, "activation": self.activation, "layers": len(self.weights),
               **self.meta}
        path.write_text(json.dumps(doc, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> AgentModel:
        """The agent saved at ``path`` (.json and .npz, read without pickle).

        Raises InputError if the files are missing or not a saved agent.
        """
        path = Path(path).with_suffix(".json")
        try:
            doc = json.loads(path.read_text())
            if doc.get("format") != FORMAT:
                raise ValueError(f"not a saved agent (format {doc.get('format')!r})")
            with np.load(path.with_suffix(".npz"), allow_pickle=False) as data:
                weights = [(data[f"w{i}"], data[f"b{i}"]) for i in range(int(doc["layers"]))]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(str(path), [((), f"cannot read the agent: {exc}", None)]) from None
        meta = {k: v for k, v in doc.items() if k not in ("format", "activation", "layers")}
        return cls(weights, doc["activation"], meta)


_CACHE: dict[tuple[str, int], AgentModel] = {}


def cached_agent(path: str) -> AgentModel:
    """A saved agent, loaded once per process and version of its files."""
    file = Path(path).with_suffix(".npz")
    key = (str(file.resolve()), file.stat().st_mtime_ns)
    if key not in _CACHE:
        _CACHE[key] = AgentModel.load(path)
    return _CACHE[key]


class AgentLoop:
    """Plays a saved agent back: every ``every`` of calendar time, observe, act, and call the
    maintenance of each available machine the agent chose."""

    def __init__(self, env: simpy.Environment, observer: Observer, model: AgentModel,
                 every: float, source: str) -> None:
        layout = model.meta.get("observation")
        if layout is not None and layout != observer.layout():
            raise InputError(source, [((), (
                f"the agent observes {layout}, this plant gives {observer.layout()}: train it "
                "on this scenario"), None)])
        self.env = env
        self.observer = observer
        self.model = model
        self.every = every
        self.epochs = 0
        self.alarms = {n: 0 for n in observer.names}

    def run(self) -> Generator[simpy.Event, Any, None]:
        """The decision loop: every ``every`` time units observe, act, and call the maintenance the
        agent chose."""
        while True:
            yield self.env.timeout(self.every)
            self.epochs += 1
            act(self.observer, self.model.act(self.observer.observe(self.env.now)), self.alarms)


def act(observer: Observer, action: np.ndarray, alarms: dict[str, int] | None = None) -> None:
    """Call the maintenance of every available machine whose bit is 1."""
    for name, bit in zip(observer.names, np.asarray(action).reshape(-1), strict=True):
        if bit and not observer.unavailable(name):
            if alarms is not None:
                alarms[name] += 1
            observer.machines[name].call_maintenance()
