"""The Numba kernels: map matching, the along-route Kalman filter, and the ETA distribution.

One code path serves a single truck (`update_one`) and a depot's fleet (`update_fleet`, the
same function in a `prange` loop), so what the tests prove for one holds for the other.
Per-vehicle filter state is a float64 vector laid out by the `S_*` indices, which lets a
fleet keep all its states in one 2-D array. `_reference.py` re-implements the same maths
in NumPy; the tests hold the two equal to 1e-9.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from . import _stuck
from ._params import (CAL_KNOTS_S, N_CAL, P_CAL_DN0, P_CAL_UP0, P_DROPOUT_COAST,
                      P_BASE_SIGMA, P_CRUISE, P_DETOUR, P_GATE, P_LIVE_DECAY, P_LIVE_TAU, P_LIVE_TAU_FAR,
                      P_MAX_REJECTS, P_N_TOD, P_OFF_CV, P_OFF_M, P_OFF_S, P_Q, P_RATIO_MAX,
                      P_RATIO_FREEZE, P_RATIO_MIN, P_RATIO_WEIGHT, P_REACQ_PRIOR, P_RHO, P_SEARCH_K,
                      P_SLOW_CV_GAIN, P_STUCK_GRACE, P_TAIL_DOWN_NEAR, P_TAIL_NEAR_S, P_UNFORESEEN_DELAY,
                      P_UNFORESEEN_RATE, P_SPEED_SIGMA, P_MEDIAN_SHIFT, P_TAIL_DOWN, P_TAIL_UP, P_TOD_BUCKET, P_UTC_OFFSET, P_V_FLOOR)

# Filter state layout.
S_S, S_V, S_P00, S_P01, S_P11, S_T, S_INIT, S_OFF_SINCE, S_OFF, S_DIST, S_MX, S_MY, \
    S_RATIO, S_REJ, S_RATIO_FAR, S_STILL_SINCE, S_STUCK, S_GO_SINCE, N_STATE = range(19)
# Travel-time profile components: `prof[tod_bucket, stretch, PR_*]`. Bucket-major and packed, so
# the ETA loop, which walks the stretches ahead at one hour, reads one stream of adjacent
# 24-byte cells instead of three arrays a row of buckets apart (a cache line each per stretch).
PR_V, PR_CV, PR_W, N_PROF = range(4)   # expected speed (m/s), its cv, far weight of the live ratio
# Output rows.
O_P10, O_P50, O_P90, O_PLATE, O_REM, N_OUT = range(6)

Z90 = 1.2815515655446004  # standard normal quantile at 0.9
PDF_Z90 = 0.17549833193248685  # standard normal density at Z90
PDF_0 = 0.3989422804014327     # ... and at 0
INV_SQRT2 = 0.7071067811865476
STILL_V, STILL_S = 0.5, 90.0  # m/s, s: standing longer than a red light
FADE_CUTOFF = 20.0  # exp(-x) for x beyond this is taken as 0 (live ratio fade: 2e-9)
NEAR_CUTOFF = 12.0  # ... and for the early-tail widening (6e-6 of `tail_down_near`: under 0.01 s on a
                    # p10 two hours out, and the exp skipped for every stop farther than that)
CAL_K = np.array(CAL_KNOTS_S)                   # calibration knots (s to arrival) ...
CAL_INV_W = 1.0 / (CAL_K[1:] - CAL_K[:-1])      # ... and 1 / the width between them


def by_stretch(prof: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Speed, cv and far weight as (stretch, hour) views of `prof`: how people (and the NumPy
    reference) index a profile; writes go through to it."""
    return prof[:, :, PR_V].T, prof[:, :, PR_CV].T, prof[:, :, PR_W].T


def new_state() -> np.ndarray:
    st = np.zeros(N_STATE)
    st[S_RATIO] = 1.0
    st[S_RATIO_FAR] = 1.0
    st[S_STILL_SINCE] = -1.0
    st[S_OFF_SINCE] = -1.0
    st[S_GO_SINCE] = -1.0
    return st


@njit(cache=True)
def _before(v, x, right):
    return v <= x if right else v < x


@njit(cache=True)
def search_from(a, x, h, right):
    """`np.searchsorted(a, x, "right" if right else "left")` on sorted `a` (no NaN in it),
    started at index `h`: a gallop from there, then bisection. Why: a truck is matched near
    where it was, and a bisection from scratch over a route's chainage reads a dozen cache
    lines far apart, each a miss when a depot's routes do not fit in the cache."""
    n = a.shape[0]
    if x != x:
        return n                                # NaN sorts last
    if n == 0:
        return 0
    if h < 0:
        h = 0
    elif h > n - 1:
        h = n - 1
    if _before(a[h], x, right):                 # the answer is in (h, n]
        lo = h
        hi = h + 1
        step = 1
        while hi < n and _before(a[hi], x, right):
            lo = hi
            step *= 2
            hi = lo + step
        if hi > n:
            hi = n
    else:                                       # ... in [0, h]
        hi = h
        lo = h - 1
        step = 1
        while lo >= 0 and not _before(a[lo], x, right):
            hi = lo
            step *= 2
            lo = hi - step
        if lo < -1:
            lo = -1
    while hi - lo > 1:                          # a[lo] before x (or lo = -1), a[hi] not (or hi = n)
        mid = (lo + hi) // 2
        if _before(a[mid], x, right):
            lo = mid
        else:
            hi = mid
    return hi


@njit(cache=True)
def seg_range(cum, lo, hi):
    """Segments [i0, i1) whose chainage span meets [lo, hi]. The search starts where `lo` would
    be if the points were evenly spaced (densified geometry nearly is)."""
    n = cum.shape[0]
    total = cum[n - 1]
    g = 0
    if total > 0.0 and lo > 0.0:
        g = int(min(lo / total, 1.0) * (n - 1))
    i0 = search_from(cum, lo, g, True) - 1
    if i0 < 0:
        i0 = 0
    i1 = search_from(cum, hi, i0, False) + 1
    if i1 > n - 1:
        i1 = n - 1
    if i1 <= i0:
        i1 = min(i0 + 1, n - 1)
        if i1 <= i0:
            i0 = max(i1 - 1, 0)
    return i0, i1


@njit(cache=True)
def match(px, py, cum, x, y, i0, i1, s_ref, sig2, prior_var):
    """Best projection of (x, y) on segments [i0, i1): distance to the road (in units of the
    fix's error) plus distance from where the filter expects the truck (its prior variance).

    The prior term is what keeps a fix on the right carriageway of an out-and-back road or the
    right pass of a loop, where the nearest segment is the wrong one.
    """
    best = np.inf
    bc = 0.0
    bd2 = np.inf
    bqx = 0.0
    bqy = 0.0
    for i in range(i0, i1):
        ax = px[i]
        ay = py[i]
        dx = px[i + 1] - ax
        dy = py[i + 1] - ay
        l2 = dx * dx + dy * dy
        u = 0.0
        if l2 > 0.0:
            u = ((x - ax) * dx + (y - ay) * dy) / l2
            if u < 0.0:
                u = 0.0
            elif u > 1.0:
                u = 1.0
        qx = ax + u * dx
        qy = ay + u * dy
        d2 = (x - qx) * (x - qx) + (y - qy) * (y - qy)
        c = cum[i] + u * (cum[i + 1] - cum[i])
        e = c - s_ref
        cost = d2 / sig2 + e * e / prior_var
        if cost < best:
            best = cost
            bc = c
            bd2 = d2
            bqx = qx
            bqy = qy
    return bc, math.sqrt(bd2), bqx, bqy


@njit(cache=True)
def tod_bucket(t, prm):
    n = prm[P_N_TOD]
    b = math.floor((t + prm[P_UTC_OFFSET]) / prm[P_TOD_BUCKET]) % n
    return int(b)


@njit(cache=True)
def stretch_of(edges, s):
    k = edges.shape[0] - 1
    i = np.searchsorted(edges, s, side="right") - 1
    if i < 0:
        i = 0
    if i > k - 1:
        i = k - 1
    return i


@njit(cache=True)
def _follow(r, r_obs, dt, tau, prm):
    """A live ratio `dt` seconds on: an exponential moving average (time constant `tau`, so
    irregular fix intervals weigh by time, not by count) of what the truck shows, clamped."""
    r = r + (1.0 - math.exp(-dt / tau)) * (r_obs - r)
    if r < prm[P_RATIO_MIN]:
        r = prm[P_RATIO_MIN]
    if r > prm[P_RATIO_MAX]:
        r = prm[P_RATIO_MAX]
    return r


@njit(cache=True)
def step(px, py, cum, edges, prof, st, t, x, y, speed, sigma, lo_b, hi_b, dwelling, prm):
    """Advance one truck's filter with one fix (mutates `st`). Stale fixes are ignored."""
    sig2 = sigma * sigma
    total = cum[cum.shape[0] - 1]
    off_m = max(prm[P_OFF_M], 3.0 * sigma)
    if st[S_INIT] == 0.0:
        i0, i1 = seg_range(cum, lo_b, total)
        rp = prm[P_REACQ_PRIOR]
        c, d, qx, qy = match(px, py, cum, x, y, i0, i1, lo_b, sig2, rp * rp)
        st[S_S] = c
        st[S_V] = speed if speed == speed else 0.0
        st[S_P00] = sig2
        st[S_P01] = 0.0
        st[S_P11] = 4.0
        st[S_T] = t
        st[S_INIT] = 1.0
        st[S_REJ] = 0.0
        st[S_DIST] = d
        st[S_MX] = qx
        st[S_MY] = qy
        if d > off_m:
            st[S_OFF_SINCE] = t
        else:
            st[S_OFF_SINCE] = -1.0
        st[S_OFF] = 0.0
        return
    dt = t - st[S_T]
    if dt <= 0.0:
        return
    s_old = st[S_S]
    v = st[S_V]
    q = prm[P_Q]
    # predict (constant velocity, white-noise acceleration)
    s = s_old + v * dt
    p00 = st[S_P00] + dt * (2.0 * st[S_P01] + dt * st[S_P11]) + q * dt * dt * dt / 3.0
    p01 = st[S_P01] + dt * st[S_P11] + q * dt * dt / 2.0
    p11 = st[S_P11] + q * dt
    w = prm[P_SEARCH_K] * sigma + 3.0 * math.sqrt(p00)
    lo = min(s_old, s - w)
    if lo < lo_b:
        lo = lo_b
    hi = s + w
    if hi > hi_b:
        hi = hi_b
    if hi < lo:
        hi = lo
    i0, i1 = seg_range(cum, lo, hi)
    c, d, qx, qy = match(px, py, cum, x, y, i0, i1, s, sig2, p00 + sig2)
    on_route = d <= off_m
    reacquired = False
    rejected = False
    if not on_route:
        # the local window lost the truck: full scan to re-acquire (or confirm off route)
        j0, j1 = seg_range(cum, lo_b, hi_b)
        rp = prm[P_REACQ_PRIOR]
        c2, d2, qx2, qy2 = match(px, py, cum, x, y, j0, j1, s_old, sig2, rp * rp)
        if d2 <= off_m:
            if st[S_OFF_SINCE] >= 0.0 or st[S_REJ] >= prm[P_MAX_REJECTS]:
                # back from off route, or the far match persists: believe it
                c, d, qx, qy = c2, d2, qx2, qy2
                on_route = True
                reacquired = True
            else:
                # a single fix on the road far from where the truck can be: an outlier
                st[S_REJ] += 1.0
                rejected = True
    if rejected:
        qx = st[S_MX]
        qy = st[S_MY]
        d = st[S_DIST]
    elif on_route:
        if reacquired:
            s = c
            p00 = sig2
            p01 = 0.0
            st[S_REJ] = 0.0
        else:
            innov = c - s
            sv = p00 + sig2
            if innov * innov / sv > prm[P_GATE]:
                st[S_REJ] += 1.0
                if st[S_REJ] > prm[P_MAX_REJECTS]:
                    s = c
                    p00 = sig2
                    p01 = 0.0
                    st[S_REJ] = 0.0
            else:
                k0 = p00 / sv
                k1 = p01 / sv
                s = s + k0 * innov
                v = v + k1 * innov
                p11 = p11 - k1 * p01
                p01 = p01 - k0 * p01
                p00 = p00 - k0 * p00
                st[S_REJ] = 0.0
        st[S_OFF_SINCE] = -1.0
        st[S_OFF] = 0.0
    else:
        # off the road: progress along it is unknown, so hold the last matched chainage
        s = s_old
        if st[S_OFF_SINCE] < 0.0:
            st[S_OFF_SINCE] = t
        if t - st[S_OFF_SINCE] >= prm[P_OFF_S]:
            st[S_OFF] = 1.0
        qx = x
        qy = y
    if speed == speed:
        sr = prm[P_SPEED_SIGMA]
        sv = p11 + sr * sr
        innov = speed - v
        k0 = p01 / sv
        k1 = p11 / sv
        if on_route or rejected:
            s = s + k0 * innov
        v = v + k1 * innov
        p00 = p00 - k0 * p01
        p01 = p01 - k0 * p11
        p11 = p11 - k1 * p11
        # (p01 update above uses the pre-update p11 via k0 * p11 = p01 * p11 / sv: symmetric)
    if v < 0.0:
        v = 0.0
    if s < 0.0:
        s = 0.0
    if s > total:
        s = total
    st[S_S] = s
    st[S_V] = v
    st[S_P00] = p00
    st[S_P01] = p01
    st[S_P11] = p11
    st[S_T] = t
    st[S_DIST] = d
    st[S_MX] = qx
    st[S_MY] = qy
    # how this truck is doing against the profile right now: feeds the stuck clock (on every
    # fix: serving a stop fades it) and the live ratios (not while serving a stop: a parked
    # truck at a customer says nothing about traffic)
    i = stretch_of(edges, s)
    vp = prof[tod_bucket(t, prm), i, PR_V]
    r_obs = v / vp
    e, go = _stuck.advance(st[S_STUCK], st[S_GO_SINCE], t, dt, r_obs, dwelling, prm)
    st[S_STUCK] = e
    st[S_GO_SINCE] = go
    if dwelling == 0:
        if v < STILL_V:
            if st[S_STILL_SINCE] < 0.0:
                st[S_STILL_SINCE] = t
        else:
            st[S_STILL_SINCE] = -1.0
        # the near ratio stops learning from a long standstill: the stuck state times it
        if st[S_STILL_SINCE] < 0.0 or t - st[S_STILL_SINCE] < prm[P_RATIO_FREEZE]:
            st[S_RATIO] = _follow(st[S_RATIO], r_obs, dt, prm[P_LIVE_TAU], prm)
        # the long ratio ignores long standstills (a break, an unplanned stop, a bus holding
        # for its timetable): they say nothing about the speed of the roads ahead; nor does a
        # queue the stuck clock is timing (stop-and-go: short standstills between short moves),
        # whose cost is the stuck state's: counted here too, it slowed every stretch ahead for
        # the next half hour as well
        if (st[S_STILL_SINCE] < 0.0 or t - st[S_STILL_SINCE] < STILL_S) and e <= prm[P_STUCK_GRACE]:
            st[S_RATIO_FAR] = _follow(st[S_RATIO_FAR], r_obs, dt, prm[P_LIVE_TAU_FAR], prm)


@njit(cache=True)
def eta(edges, prof, stop_s, dwell_mu, dwell_var, win_end, rem_idx, n_rem,
        t0, s0, lead_m, lead_v, ratio, ratio_far, dw0_mu, dw0_var, prm, out):
    """Arrival distribution at each remaining stop, written into `out[:, :n_rem]`.

    Time to a stop = sum over the stretches ahead of length / expected speed, where expected
    speed = learned-or-prior profile (for the time of day the truck will get there) x a live
    factor that moves, with distance ahead, from the recent ratio (minutes: lights, queues)
    to the long ratio (half an hour: the day, the road type), each weighted by how much the
    profile there is a guess; plus the service times of the remaining stops in between.
    Spread: per-stretch sigma = cv x time, partly correlated (rho) because a slow day is slow
    everywhere, with cv widened where the live factor is below 1 (a truck far behind its
    profile is in traffic nobody can time well), plus dwell variances and the queue term
    (`dw0_*` carries the stop being served and the time still to lose in a queue). The
    arrival is log-normal with the point estimate as its median, split at the median (wider
    above: `tail_up`, narrower below: `tail_down`, because delays are one-sided; less narrow
    a few minutes out, where what is left is a light or a dwell that may end early).

    Unforeseen delays (crashes, closures, blocked streets) come as a Poisson process: n =
    `unforeseen_rate` x the driving still ahead (dwell excluded), each costing D =
    `unforeseen_delay`, so the arrival is a mixture: the travel model's (chance e^-n), or that
    times 1 + D/mean, a shift g in the log domain. To first order in n, a quantile of the mixture
    moves by n (P(delayed arrival beyond it) - its tail share) / the density there, in log-spreads
    of its side: p90 by n (Q(Z90 - g/s_up) - 0.1) / pdf(Z90); p10 by n 0.1 / pdf(Z90) (a delay
    never makes a truck early: only the chance of none moves it); p50 by the smaller of its
    small-delay limit, n g, and its large-delay one, n 0.5 / pdf(0) x s_up. So a long delay a
    few minutes out, being unlikely, barely moves p90, while an hour out it counts. Against a
    Monte Carlo of heavy-tailed delays, 5 to 240 minutes out: p90's and p50's shifts within
    ~20-25%. n is capped at 1 (four hours of driving), where first order ends.

    Self-calibration last: the log distances of p90 above and p10 below p50 (unforeseen shift
    included) are scaled by the learned `up` / `dn` at this p50 time to arrival, interpolated
    between the knots (`P_CAL_*`). Last, so that p50, the coordinate the multipliers are learned
    and read at, does not depend on them. P(late) reads the split log-normal through these final
    quantiles, so it agrees with what p10/p90 show.

    Why it is laid out as it is: the walk over the stretches only sums moments (parked in
    `out`); the ten-odd transcendental calls per stop come after it, in four loops over the
    stops. Apart, the walk keeps its accumulators in registers (a call clobbers every float
    register); and in a loop whose stops are independent the CPU overlaps one stop's calls
    with the next one's, where one stop's chain (log, sqrt, erfc, exp, exp, exp, log, erfc,
    each waiting on the last) runs at their latency. Interleaved A/B, the same results to
    the bit: the split walk 7-9% faster on the fleet bench than one fused loop, the staged
    calls another 7-12%.
    """
    k_n = edges.shape[0] - 1
    n_tod = prof.shape[0]
    rho = prm[P_RHO]
    base2 = prm[P_BASE_SIGMA] * prm[P_BASE_SIGMA]
    decay = prm[P_LIVE_DECAY]
    vfloor = prm[P_V_FLOOR]
    rw = prm[P_RATIO_WEIGHT]
    tup = prm[P_TAIL_UP]
    tdn0 = prm[P_TAIL_DOWN]
    tdn_near = prm[P_TAIL_DOWN_NEAR]
    inv_t_near = 1.0 / prm[P_TAIL_NEAR_S]
    near_cut = NEAR_CUTOFF * prm[P_TAIL_NEAR_S]
    mshift = prm[P_MEDIAN_SHIFT]
    slow_gain = prm[P_SLOW_CV_GAIN]
    u_rate = prm[P_UNFORESEEN_RATE]
    u_delay = prm[P_UNFORESEEN_DELAY]
    b0 = tod_bucket(t0, prm)
    tm = 0.0
    acc_a = 0.0
    acc_b = 0.0
    if lead_m > 0.0:
        tm = lead_m / lead_v
        sl = prm[P_OFF_CV] * tm
        acc_a = sl * sl
        acc_b = sl
    dsum = dw0_mu
    dvar = dw0_var
    t1 = 0.0
    i = stretch_of(edges, s0)
    a = s0
    j = 0
    # time-of-day bucket, recomputed only when the nominal clock crosses a bucket boundary
    tb = prm[P_TOD_BUCKET]
    kc = 0   # calibration knot interval [CAL_K[kc], CAL_K[kc + 1]] of the last median (they grow
             # along the route, so it is found by stepping, not by search)
    clock0 = t0 + prm[P_UTC_OFFSET]
    bstart = math.floor(clock0 / tb)
    bucket = int(bstart % n_tod)
    bnext = (bstart + 1.0) * tb
    xcut = FADE_CUTOFF * decay
    # live-ratio fade exp(-xm / decay) at each stretch's middle xm, carried from stretch to
    # stretch by the factor for the step between middles (one exp per distinct step length)
    fade = -1.0
    a_prev = a
    step = -1.0
    step_f = 0.0
    nsk = stop_s[rem_idx[0]] if n_rem > 0 else math.inf    # chainage of the next stop to place
    while j < n_rem:
        b = edges[i + 1]
        if i == k_n - 1:
            b = max(b, stop_s[rem_idx[n_rem - 1]])
        if clock0 + t1 >= bnext:
            bstart = math.floor((clock0 + t1) / tb)
            bucket = int(bstart % n_tod)
            bnext = (bstart + 1.0) * tb
        vp = prof[bucket, i, PR_V]
        cv = prof[bucket, i, PR_CV]
        rwf = prof[bucket, i, PR_W]
        xm = 0.5 * (a + b) - s0
        if xm >= xcut:
            fade = 0.0
        elif fade < 0.0:
            fade = math.exp(-xm / decay)
        else:
            dx = 0.5 * (b - a_prev)
            if dx != step:
                step = dx
                step_f = math.exp(-dx / decay)
            fade *= step_f
        a_prev = a
        f = (1.0 - fade) * (1.0 + rwf * (ratio_far - 1.0)) + fade * (1.0 + rw * (ratio - 1.0))
        cv = cv * (1.0 + slow_gain * max(1.0 - f, 0.0))
        v = vp * f
        if v < vfloor:
            v = vfloor
        pace = 1.0 / v
        while not nsk > b:          # (not <=: as before, a NaN chainage is placed, never looped on)
            k = rem_idx[j]
            sk = nsk
            ds = sk - a
            if ds < 0.0:
                ds = 0.0
            tau = ds * pace
            sp = cv * tau
            rem = sk - s0
            if rem < 0.0:
                rem = 0.0
            # first pass: the moments only, parked in the output rows (no calls in this loop, so
            # its accumulators stay in registers); the second pass turns them into quantiles
            out[O_P10, j] = tm + tau + dsum
            out[O_P50, j] = tm + tau
            out[O_P90, j] = (1.0 - rho) * (acc_a + sp * sp) + rho * (acc_b + sp) * (acc_b + sp) + dvar + base2
            out[O_REM, j] = lead_m + rem
            dsum += dwell_mu[k]
            dvar += dwell_var[k]
            j += 1
            nsk = stop_s[rem_idx[j]] if j < n_rem else math.inf
        tau = (b - a) * pace
        if tau < 0.0:
            tau = 0.0
        sg = cv * tau
        tm += tau
        acc_a += sg * sg
        acc_b += sg
        t1 += (b - a) / prof[b0, i, PR_V]
        a = b
        i += 1
        if i >= k_n:
            i = k_n - 1
    # the per-stop maths in stages (see above); the rows of `out` carry what one hands the next
    for j in range(n_rem):            # mu, drive, var -> mu, drive, s2 (P90), g (PLATE)
        mu = out[O_P10, j]
        if mu < 1e-6:
            continue
        inv_mu = 1.0 / mu
        out[O_P90, j] = math.log(1.0 + out[O_P90, j] * inv_mu * inv_mu)
        out[O_PLATE, j] = math.log(1.0 + u_delay * inv_mu)
    for j in range(n_rem):            # -> mid (P10), med (P50; -1: no time left), lo/tdn (P90), hi-mid (PLATE)
        mu = out[O_P10, j]
        if mu < 1e-6:
            out[O_P50, j] = -1.0
            continue
        s2 = out[O_P90, j]
        sd = math.sqrt(s2)
        s_up = sd * tup
        # log offsets of p50 / p90 / p10 from the travel model's median
        mid = 0.0
        hi = Z90 * s_up
        n_ev = u_rate * out[O_P50, j]
        if n_ev > 0.0:
            if n_ev > 1.0:
                n_ev = 1.0
            g = out[O_PLATE, j]
            mid = min(n_ev * g, n_ev * (0.5 / PDF_0) * s_up)
            c90 = 0.5 * math.erfc((Z90 - g / s_up) * INV_SQRT2)
            hi += n_ev * (c90 - 0.1) * (1.0 / PDF_Z90) * s_up
        out[O_P10, j] = mid
        out[O_P50, j] = mu * math.exp(mid - mshift * s2)
        out[O_P90, j] = (n_ev * (0.1 / PDF_Z90) - Z90) * sd
        out[O_PLATE, j] = hi - mid
    for j in range(n_rem):            # -> dn (P10), up (P90)
        med = out[O_P50, j]
        if med < 0.0:
            continue
        tdn = tdn0
        if med < near_cut:                  # beyond, the widening is nothing: skip the exp
            tdn += tdn_near * math.exp(-med * inv_t_near)
        mid = out[O_P10, j]
        lo = out[O_P90, j] * tdn
        while kc > 0 and med < CAL_K[kc]:
            kc -= 1
        while kc < N_CAL - 2 and med >= CAL_K[kc + 1]:
            kc += 1
        w = (med - CAL_K[kc]) * CAL_INV_W[kc]
        if w < 0.0:
            w = 0.0
        elif w > 1.0:
            w = 1.0
        cu = prm[P_CAL_UP0 + kc] + w * (prm[P_CAL_UP0 + kc + 1] - prm[P_CAL_UP0 + kc])
        cd = prm[P_CAL_DN0 + kc] + w * (prm[P_CAL_DN0 + kc + 1] - prm[P_CAL_DN0 + kc])
        out[O_P90, j] = out[O_PLATE, j] * cu    # log distance of p90 above p50 ...
        out[O_P10, j] = (mid - lo) * cd         # ... and of p10 below it
    for j in range(n_rem):            # -> the quantiles and P(late)
        med = out[O_P50, j]
        k = rem_idx[j]
        wl = win_end[k] - t0
        if med < 0.0:
            out[O_P10, j] = t0
            out[O_P50, j] = t0
            out[O_P90, j] = t0
            out[O_PLATE, j] = 0.0 if wl > 0.0 else 1.0
            continue
        dn = out[O_P10, j]
        up = out[O_P90, j]
        out[O_P10, j] = t0 + med * math.exp(-dn)
        out[O_P50, j] = t0 + med
        out[O_P90, j] = t0 + med * math.exp(up)
        if wl <= 0.0:
            out[O_PLATE, j] = 1.0
        else:
            # z of the window end on the side of the median it falls
            zz = math.log(wl / med)
            zz = zz * Z90 / (up if zz > 0.0 else dn)
            out[O_PLATE, j] = 0.5 * math.erfc(zz * INV_SQRT2)


@njit(cache=True)
def knot_crossings(out, t, lvl, n, crossed):
    """Self-calibration bookkeeping per fix: how many knots lie below each remaining stop's p50
    time to arrival (`np.searchsorted(CAL_K, p50 - t)`), kept in `lvl`; the stops whose count
    fell since the last fix (they crossed a knot) go to `crossed` as (index, new, old) columns,
    and their number is returned. One call instead of three NumPy ones: on a 150-stop route
    they were about half of `Estimator.update`'s time outside the filter-and-ETA kernel.
    """
    cnt = 0
    for j in range(n):
        v = out[O_P50, j] - t
        k = N_CAL                      # NaN sorts last, as in NumPy
        if v == v:
            k = 0
            while k < N_CAL and CAL_K[k] < v:
                k += 1
        old = lvl[j]
        if k < old:
            crossed[0, cnt] = j
            crossed[1, cnt] = k
            crossed[2, cnt] = old
            cnt += 1
        lvl[j] = k
    return cnt


@njit(cache=True)
def update_one(px, py, cum, edges, prof, stop_s, stop_x, stop_y, dwell_mu, dwell_var,
               win_end, rem_idx, n_rem, prev_s, st, t, x, y, speed, sigma, dwelling,
               dw0_mu, dw0_var, prm, out):
    """One fix for one truck: filter step, then the ETA of every remaining stop.

    `prev_s` is the chainage of the last stop already served (or 0): the truck cannot be
    behind it, which bounds re-acquisition on loops and out-and-backs. NaN `x` = no fix
    (dropout): the filter is only propagated to `t`.
    """
    total = cum[cum.shape[0] - 1]
    lo_b = prev_s - 150.0
    if lo_b < 0.0:
        lo_b = 0.0
    if x == x:
        step(px, py, cum, edges, prof, st, t, x, y, speed, sigma, lo_b, total, dwelling, prm)
    # a stale fix (older than the filter) was ignored: predict as of the filter's time
    t_now = t if t > st[S_T] else st[S_T]
    if n_rem == 0:
        return
    s0 = st[S_S]
    if x != x and st[S_OFF] == 0.0:
        # dropout: dead-reckon along the route with the filtered speed, for at most
        # `dropout_coast_s` (then the truck is taken as stopped: see EstimatorParams)
        s0 = s0 + st[S_V] * min(t_now - st[S_T], prm[P_DROPOUT_COAST])
        if s0 > total:
            s0 = total
    lead_m = 0.0
    lead_v = prm[P_CRUISE]
    if st[S_OFF] != 0.0:
        k = rem_idx[0]
        fx = x if x == x else st[S_MX]
        fy = y if y == y else st[S_MY]
        lead_m = math.sqrt((fx - stop_x[k]) ** 2 + (fy - stop_y[k]) ** 2) * prm[P_DETOUR]
        r = st[S_RATIO]
        if r < 0.3:
            r = 0.3
        if r > 1.2:
            r = 1.2
        lead_v = prm[P_CRUISE] * r
        s0 = stop_s[k]
    # time still to be lost in a queue (not while serving a stop: the dwell term covers that)
    if dwelling == 0:
        q_mu, q_var = _stuck.delay(st[S_STUCK], prm)
        dw0_mu = dw0_mu + q_mu
        dw0_var = dw0_var + q_var
    eta(edges, prof, stop_s, dwell_mu, dwell_var, win_end, rem_idx, n_rem,
        t_now, s0, lead_m, lead_v, st[S_RATIO], st[S_RATIO_FAR], dw0_mu, dw0_var, prm, out)


@njit(cache=True, parallel=True)
def update_fleet(veh_route, vm_off, p_off, e_off, k_off, m_off, px, py, cum, edges, prof, stop_s,
                 stop_x, stop_y, dwell_mu, dwell_var, win_end, done, rem_buf, states, t, x, y,
                 speed, sigma, dwelling, dw_mu, dw_var, prm, out):
    """Many trucks, one fix each, in parallel: the same `update_one` over CSR-packed routes.

    Route r's polyline is points p_off[r]:p_off[r+1], its stretch edges e_off[r]:e_off[r+1],
    profile stretches k_off[r]:k_off[r+1] (`prof[:, k_off[r]:k_off[r+1]]`), stops
    m_off[r]:m_off[r+1]. Vehicle v drives route
    veh_route[v]; its per-stop arrays (`done`, `rem_buf`, `out` columns) start at vm_off[v].
    Trucks may share a route without copying it. dwelling[v] = 1 while truck v serves a
    stop, with dw_mu/dw_var its remaining service time (mean, variance).
    """
    n = states.shape[0]
    for v in prange(n):
        r = veh_route[v]
        p0 = p_off[r]
        p1 = p_off[r + 1]
        m0 = m_off[r]
        m1 = m_off[r + 1]
        nm = m1 - m0
        q0 = vm_off[v]
        cnt = 0
        prev_s = 0.0
        for j in range(nm):
            if done[q0 + j] == 0:
                rem_buf[q0 + cnt] = j
                cnt += 1
            elif cnt == 0:
                prev_s = stop_s[m0 + j]
        update_one(px[p0:p1], py[p0:p1], cum[p0:p1], edges[e_off[r]:e_off[r + 1]],
                   prof[:, k_off[r]:k_off[r + 1]],
                   stop_s[m0:m1], stop_x[m0:m1], stop_y[m0:m1],
                   dwell_mu[m0:m1], dwell_var[m0:m1], win_end[m0:m1], rem_buf[q0:q0 + nm], cnt,
                   prev_s, states[v], t[v], x[v], y[v], speed[v], sigma[v], dwelling[v],
                   dw_mu[v], dw_var[v], prm, out[:, q0:q0 + nm])
