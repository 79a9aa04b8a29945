"""Plane geometry for the phantom: rigid 2-D transforms and outline builders (millimetres).

Frames follow the lateral radiograph: ``x`` points anterior (towards the face), ``y`` superior.
Angles are in degrees; a positive angle turns the top of a body anterior (flexion).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Points = np.ndarray  # (N, 2) float array of x, y in millimetres


@dataclass(frozen=True)
class Rigid:
    """A rigid motion ``p -> R(angle) p + (tx, ty)``, flexion-positive angle in degrees."""

    angle: float = 0.0
    tx: float = 0.0
    ty: float = 0.0

    def matrix(self) -> np.ndarray:
        a = np.deg2rad(-self.angle)  # flexion turns +y towards +x: clockwise in (x, y)
        return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])

    def apply(self, points: Points) -> Points:
        pts = np.asarray(points, dtype=float)
        return pts @ self.matrix().T + np.array([self.tx, self.ty])

    def compose(self, inner: Rigid) -> Rigid:
        """Return ``self ∘ inner``: apply ``inner`` first, then ``self``."""
        t = self.apply(np.array([[inner.tx, inner.ty]]))[0]
        return Rigid(self.angle + inner.angle, float(t[0]), float(t[1]))

    def inverse(self) -> Rigid:
        back = Rigid(-self.angle)
        t = back.apply(np.array([[-self.tx, -self.ty]]))[0]
        return Rigid(-self.angle, float(t[0]), float(t[1]))


def about(angle: float, pivot: tuple[float, float], shift: tuple[float, float] = (0, 0)) -> Rigid:
    """Rotation by ``angle`` about ``pivot`` followed by a translation ``shift``."""
    turn = Rigid(angle)
    p = np.array(pivot, dtype=float)
    t = p - turn.apply(p[None])[0] + np.array(shift, dtype=float)
    return Rigid(angle, float(t[0]), float(t[1]))


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 28, tilt: float = 0.0) -> Points:
    """Closed ellipse outline centred at (cx, cy), ``tilt`` degrees anticlockwise."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1)
    c, s = np.cos(np.deg2rad(tilt)), np.sin(np.deg2rad(tilt))
    return pts @ np.array([[c, s], [-s, c]]) + np.array([cx, cy])


def rounded_box(x0: float, y0: float, x1: float, y1: float, r: float, n: int = 5) -> Points:
    """Axis-aligned rectangle with rounded corners of radius ``r``."""
    r = min(r, (x1 - x0) / 2, (y1 - y0) / 2)
    corners = [(x1 - r, y1 - r, 0.0), (x0 + r, y1 - r, 90.0), (x0 + r, y0 + r, 180.0)]
    corners.append((x1 - r, y0 + r, 270.0))
    out = []
    for cx, cy, start in corners:
        a = np.deg2rad(np.linspace(start, start + 90, n))
        out.append(np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1))
    return np.concatenate(out)


def band(path: Points, widths: float | np.ndarray) -> Points:
    """Closed outline of a band of (per-vertex) ``widths`` around an open polyline ``path``."""
    p = np.asarray(path, dtype=float)
    w = np.broadcast_to(np.asarray(widths, dtype=float), (len(p),))
    d = np.gradient(p, axis=0)
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-9
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
    left = p + normal * (w[:, None] / 2)
    right = p - normal * (w[:, None] / 2)
    return np.concatenate([left, right[::-1]])


def smooth_path(points: Points, n: int = 24) -> Points:
    """Catmull-Rom spline through ``points`` (open), ``n`` samples per segment."""
    p = np.asarray(points, dtype=float)
    ext = np.concatenate([p[:1] * 2 - p[1:2], p, p[-1:] * 2 - p[-2:-1]])
    t = np.linspace(0, 1, n, endpoint=False)[:, None]
    segs = []
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        segs.append(
            0.5
            * (
                2 * p1
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
            )
        )
    segs.append(p[-1:])
    return np.concatenate(segs)


def point_line_distance(point: Points, a: Points, b: Points) -> float:
    """Signed distance of ``point`` from the line ``a -> b``; positive on the left of a->b."""
    a, b, p = (np.asarray(v, dtype=float) for v in (a, b, point))
    d = b - a
    return float((d[0] * (p[1] - a[1]) - d[1] * (p[0] - a[0])) / np.hypot(*d))
