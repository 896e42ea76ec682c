"""``$within`` circles: the great-circle test, written once for SQL and once for Python.

A point is inside when its haversine term ``h`` is at most ``sin²(θ/2)``, where ``θ`` is the
radius as an angle (``radius / EARTH_RADIUS_KM``). Comparing ``h`` avoids ``asin`` and
``sqrt``, and the per-circle constants are computed here, in Python, once. SQL and Python
then do the very same floating-point operations in the same order (IEEE doubles and the same
libm ``sin``/``cos``), so the database and the evaluator agree even at the edge of a circle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from opencortex.query.ast import Circle

EARTH_RADIUS_KM = 6378.1  # Cortex turns $radius into $centerSphere with this radius
DEGREES = math.pi / 180  # radians per degree
HALF = 0.5


@dataclass(frozen=True)
class CircleTerms:
    lng: float  # centre, radians
    lat: float  # centre, radians
    cos_lat: float
    threshold: float | None  # None: the circle covers the whole sphere


def circle_terms(circle: Circle) -> CircleTerms:
    angle = circle.radius_km / EARTH_RADIUS_KM
    lat = circle.lat * DEGREES
    threshold = None
    if angle < math.pi:
        half_sine = math.sin(angle * HALF)
        threshold = half_sine * half_sine
    return CircleTerms(lng=circle.lng * DEGREES, lat=lat, cos_lat=math.cos(lat), threshold=threshold)


def haversine_term(lng: float, lat: float, terms: CircleTerms) -> float:
    """The term compared with ``threshold``; ``compile._within`` builds the same expression in SQL."""
    a = math.sin((lat * DEGREES - terms.lat) * HALF)
    b = math.sin((lng * DEGREES - terms.lng) * HALF)
    return a * a + math.cos(lat * DEGREES) * terms.cos_lat * (b * b)


def point_within(lng: float, lat: float, circle: Circle) -> bool:
    terms = circle_terms(circle)
    return terms.threshold is None or haversine_term(lng, lat, terms) <= terms.threshold
