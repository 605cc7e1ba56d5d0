"""The quality of what a machine makes: defects (by wear, by product), rework, inspection with
its detection and false alarms, and parts diverted while a predictive policy suspects it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from twin.engine.camera import CameraCheck
    from twin.engine.flow import Part
    from twin.engine.health import WearPath
    from twin.engine.stations import Destination

    Draw = Callable[[], float]

@dataclass(frozen=True)
class Quality:
    """A machine's quality features: it may make a part defective (``probability`` plus
    ``per_wear`` times its wear), fix a defective part (rework, with probability ``fixes``), and
    inspect it (``inspection``: sampling, detection, false alarm), sending rejected parts to
    ``reject``; while a predictive quality policy marks it suspect, parts go to ``suspect``.
    Draws come from the machine's own quality stream ``uniform``."""

    uniform: Draw
    probability: float = 0.0
    per_wear: float = 0.0
    fixes: float | None = None
    inspection: tuple[float, float, float] | None = None
    reject: Destination | None = None
    suspect: Destination | None = None
    products: dict[str, tuple[float, float]] | None = None
    """Per product: its own (probability, per_wear) of being made defective here."""
    camera: CameraCheck | None = None
    """A camera inspection: it judges the inspected parts instead of the detection and
    false-alarm rates (the rates' draw is still made: common random numbers with them)."""


class Inspecting:
    """The quality steps of a finished part, for ``Machine``."""

    age: float
    path: WearPath | None
    quality: Quality | None
    planned: bool
    route: Callable[[], Destination]
    suspect: bool
    defects_made: int
    rejected: int
    diverted: int

    def _next(self, part: Part) -> Destination:
        """Where the part goes by its product's plan (``Machine``'s)."""
        raise NotImplementedError


    def _finish(self, part: Part) -> Destination:
        """The quality steps of a finished part; they choose where it goes."""
        q = self.quality
        assert q is not None
        uniform = q.uniform
        if q.fixes is not None and part.defective and uniform() < q.fixes:
            part.defective = False
        probability, per_wear = q.probability, q.per_wear
        if q.products is not None and part.product in q.products:
            probability, per_wear = q.products[part.product]
        if probability > 0 or per_wear > 0:
            p = probability
            if per_wear > 0 and self.path is not None:
                p += per_wear * float(self.path.at(self.age))
            if uniform() < p:
                if not part.defective:
                    self.defects_made += 1
                part.defective = True
        if q.suspect is not None and self.suspect:
            self.diverted += 1
            part.plan = None  # off its route: the edges take it on
            return q.suspect
        if q.inspection is not None:
            sampling, detection, false_alarm = q.inspection
            if uniform() < sampling and (
                    uniform() < (detection if part.defective else false_alarm)
                    if q.camera is None else _photographed(uniform(), q.camera, part)):
                self.rejected += 1
                assert q.reject is not None
                part.plan = None  # off its route: the edges take it on
                return q.reject
        return self._next(part) if self.planned else self.route()


def _photographed(_draw: float, camera: CameraCheck, part: Part) -> bool:
    """The camera's judgement of ``part`` (the rate-based check's draw made and set aside)."""
    return camera.rejects(part.defective)
