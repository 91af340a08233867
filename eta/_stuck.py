"""The "stuck" state: a truck standing or crawling in a queue that is not a customer stop.

Why a state of its own: the live speed ratio describes how fast the truck drives *when it
drives*, over the distance ahead. A truck stuck 300 m before a stop has almost no distance
ahead, so the ratio (even at its clamp) adds a minute or two and the estimator keeps saying
"two minutes away" for an hour. What a queue really costs is *time*, and the best evidence of
how much more it will cost is how long it has already held.

Model: the stuck clock `e` runs while the truck is slower than `stuck_ratio` x its profile
(standing, or stop-and-go whose short moves do not count as recovery), is worn down only
slowly by short moves at normal speed, and fades fast once the truck has driven normally for
`stuck_clear_s` (the queue is behind it) or while it serves a stop. Beyond a grace period (a
red light), the remaining stuck time is log-normal with median `stuck_scale` x (e - grace):
scale-free, so the hazard of the queue ending decreases with the time it has held (with
the default 0.4, a queue that held 30 minutes is as likely as not to hold 12 more), with a
wide, right-skewed spread. Its mean and variance are added to every remaining stop, like the remaining service
time of a stop being served.

Pure scalar functions, so the kernels, the fleet path and the tests share them; the NumPy
reference re-implements them on its own.
"""
from __future__ import annotations

import math

from numba import njit

from ._params import (P_MOVING_RATIO, P_STUCK_CLEAR, P_STUCK_FADE, P_STUCK_GRACE, P_STUCK_HOLD_TAU,
                      P_STUCK_RATIO, P_STUCK_SCALE, P_STUCK_SIGMA)


@njit(cache=True)
def advance(e, go_since, t, dt, ratio_now, dwelling, prm):
    """New (stuck clock, start of the current normal-speed run) after `dt` seconds.

    `ratio_now` is the filtered speed over the profile speed at the truck's place; `go_since`
    is -1 when the truck is not moving normally.
    """
    if dwelling != 0:
        return e * math.exp(-dt / prm[P_STUCK_FADE]), -1.0
    if ratio_now < prm[P_STUCK_RATIO]:
        return e + dt, -1.0
    if ratio_now >= prm[P_MOVING_RATIO]:
        if go_since < 0.0:
            go_since = t
        tau = prm[P_STUCK_FADE] if t - go_since >= prm[P_STUCK_CLEAR] else prm[P_STUCK_HOLD_TAU]
        return e * math.exp(-dt / tau), go_since
    return e, -1.0


@njit(cache=True)
def delay(e, prm):
    """(mean, variance) in seconds of the time still to be lost in the queue, given the clock."""
    x = e - prm[P_STUCK_GRACE]
    if x <= 0.0:
        return 0.0, 0.0
    s2 = prm[P_STUCK_SIGMA] * prm[P_STUCK_SIGMA]
    mean = prm[P_STUCK_SCALE] * x * math.exp(0.5 * s2)
    return mean, mean * mean * (math.exp(s2) - 1.0)
