"""Probability distributions of the scenario language.

Each distribution is a small frozen pydantic model: its parameters are checked when it is built,
``sample(rng, size)`` draws from a numpy Generator and ``mean()`` gives the exact mean. In the
scenario a bare number stands for ``{dist: constant, value: number}``.

The simulation draws through ``stream(rng)``, which samples in blocks (one numpy call per block
rather than per value) and hands the values out one at a time; the values are the same whatever
the block size, so common random numbers hold.

numpy is imported where values are drawn: validating a scenario does without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from twin.registry import DISTRIBUTIONS, Registry

if TYPE_CHECKING:
    import numpy as np

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]

BLOCK = 512


class BaseDistribution(BaseModel):
    """A law of the scenario language. Subclasses declare ``dist: Literal["name"]`` and their
    parameters as fields, and implement ``sample`` and ``mean``; plug-ins register theirs in the
    ``twin.distributions`` entry-point group."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    if TYPE_CHECKING:
        dist: str

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` values drawn from ``rng``, as a numpy array."""
        raise NotImplementedError

    def mean(self) -> float:
        """The exact mean of the distribution."""
        raise NotImplementedError

    def stream(self, rng: np.random.Generator, block: int = BLOCK) -> Callable[[], float]:
        """A function returning the next value of this distribution drawn from ``rng``."""
        buf: list[float] = []

        def draw() -> float:
            nonlocal buf
            if not buf:
                buf = self.sample(rng, block)[::-1].tolist()
            return buf.pop()

        return draw


class Constant(BaseDistribution):
    """Always ``value`` (a bare number in the scenario)."""

    dist: Literal["constant"] = "constant"
    value: NonNegFloat

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` copies of ``value``."""
        import numpy as np

        return np.full(size, self.value)

    def mean(self) -> float:
        """``value``."""
        return self.value

    def stream(self, rng: np.random.Generator, block: int = BLOCK) -> Callable[[], float]:
        """A function returning ``value`` (draws nothing from ``rng``)."""
        value = self.value
        return lambda: value


class Exponential(BaseDistribution):
    """Exponential distribution with mean ``mean``."""

    dist: Literal["exponential"]
    mean_: PositiveFloat = Field(alias="mean")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` exponential draws of mean ``mean``."""
        return rng.exponential(self.mean_, size)

    def mean(self) -> float:
        """``mean``."""
        return self.mean_


class Uniform(BaseDistribution):
    """Uniform distribution on [``low``, ``high``]."""

    dist: Literal["uniform"]
    low: NonNegFloat
    high: NonNegFloat

    @model_validator(mode="after")
    def _order(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must be at least low")
        return self

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` uniform draws on [``low``, ``high``]."""
        return rng.uniform(self.low, self.high, size)

    def mean(self) -> float:
        """``(low + high) / 2``."""
        return (self.low + self.high) / 2


class Triangular(BaseDistribution):
    """Triangular distribution on [``low``, ``high``] with mode ``mode``."""

    dist: Literal["triangular"]
    low: NonNegFloat
    mode: NonNegFloat
    high: NonNegFloat

    @model_validator(mode="after")
    def _order(self) -> Triangular:
        if not self.low <= self.mode <= self.high or self.low == self.high:
            raise ValueError("need low <= mode <= high and low < high")
        return self

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` triangular draws."""
        return rng.triangular(self.low, self.mode, self.high, size)

    def mean(self) -> float:
        """``(low + mode + high) / 3``."""
        return (self.low + self.mode + self.high) / 3


class Normal(BaseDistribution):
    """Normal distribution truncated at 0 (negative draws are redrawn)."""

    dist: Literal["normal"]
    mean_: FiniteFloat = Field(alias="mean")
    std: PositiveFloat

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _mass(self) -> Normal:
        if 0.5 * math.erfc(-self.mean_ / (self.std * math.sqrt(2))) < 1e-3:  # P(X > 0)
            raise ValueError("mean is too far below 0 for the std: almost every draw is negative")
        return self

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` normal draws of ``mean`` and ``std``, negative ones redrawn."""
        out = rng.normal(self.mean_, self.std, size)
        bad = out < 0
        while bad.any():
            out[bad] = rng.normal(self.mean_, self.std, int(bad.sum()))
            bad = out < 0
        return out

    def mean(self) -> float:
        """The mean of the normal truncated at 0 (above ``mean`` when the truncation bites)."""
        a = -self.mean_ / self.std
        from scipy import stats  # here: validating a scenario needs no scipy

        return self.mean_ + self.std * stats.norm.pdf(a) / stats.norm.sf(a)


class Lognormal(BaseDistribution):
    """Lognormal given by the mean and std of the variable itself."""

    dist: Literal["lognormal"]
    mean_: PositiveFloat = Field(alias="mean")
    std: NonNegFloat

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def _params(self) -> tuple[float, float]:
        sigma2 = math.log1p((self.std / self.mean_) ** 2)
        return math.log(self.mean_) - sigma2 / 2, math.sqrt(sigma2)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` lognormal draws with the variable's ``mean`` and ``std``."""
        mu, sigma = self._params()
        return rng.lognormal(mu, sigma, size)

    def mean(self) -> float:
        """``mean``."""
        return self.mean_


class Weibull(BaseDistribution):
    """Weibull distribution of ``shape`` k and ``scale`` (the 63rd percentile)."""

    dist: Literal["weibull"]
    shape: PositiveFloat
    scale: PositiveFloat

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` Weibull draws."""
        return self.scale * rng.weibull(self.shape, size)

    def mean(self) -> float:
        """``scale * Gamma(1 + 1/shape)``."""
        return self.scale * math.gamma(1 + 1 / self.shape)


class Gamma(BaseDistribution):
    """Gamma distribution of ``shape`` and ``scale`` (mean ``shape * scale``)."""

    dist: Literal["gamma"]
    shape: PositiveFloat
    scale: PositiveFloat

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` gamma draws."""
        return rng.gamma(self.shape, self.scale, size)

    def mean(self) -> float:
        """``shape * scale``."""
        return self.shape * self.scale


class Empirical(BaseDistribution):
    """Draws uniformly from the listed observations."""

    dist: Literal["empirical"]
    values: Annotated[list[NonNegFloat], Field(min_length=1)]

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` values drawn uniformly, with replacement, from ``values``."""
        import numpy as np

        return rng.choice(np.asarray(self.values, dtype=float), size)

    def mean(self) -> float:
        """The mean of ``values``."""
        import numpy as np

        return float(np.mean(self.values))


BUILTINS: tuple[type[BaseDistribution], ...] = (
    Constant, Exponential, Uniform, Triangular, Normal, Lognormal, Weibull, Gamma, Empirical)


def registered() -> dict[str, type[BaseDistribution]]:
    """Every distribution by its ``dist`` name: the built-ins, then the plug-ins."""
    registry: Registry[type[BaseDistribution]] = Registry(
        DISTRIBUTIONS, "distribution", {_tag(cls): cls for cls in BUILTINS})
    return registry.items()


def _tag(cls: type[BaseModel]) -> str:
    return str(cls.model_fields["dist"].annotation.__args__[0])  # type: ignore[union-attr]


def _bare_number(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # rejected by validation: a boolean is no duration
    if isinstance(value, int | float):
        return {"dist": "constant", "value": value}
    return value


_LAWS = tuple(registered().values())

if TYPE_CHECKING:
    Distribution = BaseDistribution
else:  # the built-ins and the plug-ins, told apart by ``dist``
    Distribution = Annotated[
        Union[_LAWS],  # noqa: UP007 - built from the registry
        Field(discriminator="dist"),
        BeforeValidator(_bare_number),
    ]
"""A distribution field of the scenario: a mapping with ``dist`` or a bare number."""


def law(name: str) -> type[BaseDistribution] | None:
    """The distribution model called ``name``, if registered."""
    return registered().get(name)
