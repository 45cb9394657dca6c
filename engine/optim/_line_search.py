"""Strong-Wolfe line search with cubic interpolation (Nocedal and Wright, algorithms 3.5-3.6),
on flat raw arrays, following PyTorch's LBFGS line search step for step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine import backend

# obj(t) -> (loss, flat gradient) at x + t * d, leaving the parameters at x
Objective = Callable[[Any], tuple[float, Any]]


def cubic_interpolate(x1: Any, f1: Any, g1: Any, x2: Any, f2: Any, g2: Any,
                      bounds: tuple[Any, Any] | None = None) -> Any:
    """Minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clipped to bounds."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = backend.get_array_module(d2_square).sqrt(d2_square)
    if x1 <= x2:
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(min_pos, lo), hi)


class _Point:
    """One evaluated step length: t, loss, flat gradient, directional derivative."""

    __slots__ = ("t", "f", "g", "gtd")

    def __init__(self, t: Any, f: Any, g: Any, gtd: Any) -> None:
        self.t, self.f, self.g, self.gtd = t, f, g, gtd


def strong_wolfe(obj: Objective, t: Any, d: Any, f: float, g: Any, gtd: Any, c1: float = 1e-4,
                 c2: float = 0.9, tolerance_change: float = 1e-9,
                 max_ls: int = 25) -> tuple[float, Any, Any, int]:
    """Find t meeting the strong Wolfe conditions; returns (loss, grad, t, evaluations)."""
    xp = backend.get_array_module(d)
    d_norm = xp.abs(d).max()
    g = g.copy()
    f_new, g_new = obj(t)
    evals, ls_iter = 1, 0
    gtd_new = xp.dot(g_new, d)
    prev = _Point(0, f, g, gtd)
    done = False
    bracket: list[_Point] = []
    # Phase 1: grow t until an interval is known to contain an acceptable step.
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= prev.f):
            bracket = [prev, _Point(t, f_new, g_new.copy(), gtd_new)]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, done = [_Point(t, f_new, g_new, gtd_new)], True
            break
        if gtd_new >= 0:
            bracket = [prev, _Point(t, f_new, g_new.copy(), gtd_new)]
            break
        t_next = cubic_interpolate(prev.t, prev.f, prev.gtd, t, f_new, gtd_new,
                                   bounds=(t + 0.01 * (t - prev.t), t * 10))
        prev = _Point(t, f_new, g_new.copy(), gtd_new)
        t = t_next
        f_new, g_new = obj(t)
        evals += 1
        gtd_new = xp.dot(g_new, d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket = [_Point(0, f, g, None), _Point(t, f_new, g_new, None)]
    # Phase 2 (zoom): shrink the interval until a point meets both conditions.
    insuf_progress = False
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    while not done and ls_iter < max_ls:
        lo_t, hi_t = bracket[0].t, bracket[1].t
        if abs(hi_t - lo_t) * d_norm < tolerance_change:
            break
        t = cubic_interpolate(lo_t, bracket[0].f, bracket[0].gtd, hi_t, bracket[1].f,
                              bracket[1].gtd)
        top, bottom = max(lo_t, hi_t), min(lo_t, hi_t)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:
            # too close to an end: move away from it unless the last step made progress
            if insuf_progress or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj(t)
        evals += 1
        gtd_new = xp.dot(g_new, d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket[low].f:
            bracket[high] = _Point(t, f_new, g_new.copy(), gtd_new)
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = _Point(t, f_new, g_new.copy(), gtd_new)
    best = bracket[low]
    return best.f, best.g, best.t, evals
