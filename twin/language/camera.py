"""Schemas of camera inspection: the images an inspection station takes and the model that
judges them.

A machine's ``inspection`` may carry a ``camera``: each part it inspects is photographed (a
small grey image synthesised from the part's defect state, ``Images``) and classified by a saved
image model (``twin train SCENARIO --predictor cnn2d --task inspect``); the part is rejected
when the predicted defect probability reaches ``threshold``. Detection and false-alarm rates
then come from the model, not from the scenario.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from twin.language.base import FilePath, Fraction, Frozen


class Images(Frozen):
    """How the camera's images of parts are synthesised (64x64 grey, values in [0, 1]).

    Every image has a background grey level (``background``), a lighting gradient of random
    direction and strength up to ``lighting``, and pixel noise of standard deviation ``noise``.
    A defective part shows one defect (a scratch, a dent or a spot, at random) at a random
    position, its severity drawn uniformly from ``severity`` (low, high): the defect's size and
    contrast grow with it (contrast ``contrast`` times the severity). A good part may show a
    faint benign mark (probability ``marks``, contrast at most ``mark_contrast``)."""

    size: Annotated[int, Field(ge=16, le=256)] = 64
    background: Fraction = 0.5
    lighting: Annotated[float, Field(ge=0, le=0.5)] = 0.15
    noise: Annotated[float, Field(ge=0, le=0.5)] = 0.05
    contrast: Annotated[float, Field(gt=0, le=1)] = 0.4
    severity: tuple[Fraction, Fraction] = (0.5, 1.0)
    marks: Fraction = 0.0
    mark_contrast: Annotated[float, Field(ge=0, le=1)] = 0.05

    @model_validator(mode="after")
    def _ordered(self) -> Images:
        low, high = self.severity
        if not 0 < low <= high:
            raise ValueError(f"severity is (low, high) with 0 < low <= high, got {low}, {high}")
        return self


class Camera(Frozen):
    """An inspection by camera: parts are photographed (``images``) and rejected when the saved
    image ``model`` gives a defect probability of at least ``threshold``. The model is read
    when a replication is built (a scenario names it before ``twin train --task inspect`` has
    made it: training reads the images' description from the scenario)."""

    model: FilePath
    threshold: Fraction = 0.5
    images: Images = Field(default_factory=Images)
