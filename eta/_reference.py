"""Plain NumPy re-implementation of the kernels' maths, written differently on purpose.

The Kalman filter is in matrix form (F, Q, H, K as arrays) where the kernel spells out the
2x2 algebra by hand; map matching projects all window segments at once; the ETA is built from
cumulative sums over stretches and `searchsorted` for the stops, where the kernel sweeps
once. Tests hold kernel == reference to 1e-9 (relative) on random routes and fixes, which
checks the hand algebra and the sweep's bookkeeping. The speed bench also times it.
"""
from __future__ import annotations

import math

import numpy as np

from ._kernels import (FADE_CUTOFF, N_OUT, NEAR_CUTOFF, O_P10, O_P50, O_P90, O_PLATE, O_REM, PR_V, S_DIST,
                       S_GO_SINCE, S_INIT, S_MX, S_MY, S_OFF, S_OFF_SINCE, S_P00, S_P01, S_P11, S_RATIO,
                       S_RATIO_FAR, S_REJ, S_S, S_STILL_SINCE, S_STUCK, S_T, S_V, STILL_S, STILL_V, Z90, by_stretch)
from ._params import (CAL_KNOTS_S, N_CAL, P_CAL_DN0, P_CAL_UP0, P_DROPOUT_COAST, P_BASE_SIGMA, P_CRUISE, P_DETOUR, P_GATE, P_LIVE_DECAY, P_LIVE_TAU, P_LIVE_TAU_FAR,
                      P_MAX_REJECTS, P_N_TOD, P_OFF_CV, P_OFF_M, P_OFF_S, P_Q, P_RATIO_MAX,
                      P_RATIO_FREEZE, P_TAIL_DOWN_NEAR, P_TAIL_NEAR_S, P_RATIO_MIN, P_RATIO_WEIGHT, P_REACQ_PRIOR, P_RHO, P_SLOW_CV_GAIN,
                      P_MOVING_RATIO, P_STUCK_CLEAR, P_STUCK_FADE, P_STUCK_GRACE, P_STUCK_HOLD_TAU,
                      P_STUCK_RATIO, P_STUCK_SCALE, P_STUCK_SIGMA, P_MEDIAN_SHIFT, P_SEARCH_K, P_SPEED_SIGMA, P_TAIL_DOWN, P_TAIL_UP, P_TOD_BUCKET,
                      P_UNFORESEEN_DELAY, P_UNFORESEEN_RATE, P_UTC_OFFSET, P_V_FLOOR)


def seg_range(cum: np.ndarray, lo: float, hi: float) -> tuple[int, int]:
    n = len(cum)
    i0 = max(int(np.searchsorted(cum, lo, side="right")) - 1, 0)
    i1 = min(int(np.searchsorted(cum, hi, side="left")) + 1, n - 1)
    if i1 <= i0:
        i1 = min(i0 + 1, n - 1)
        if i1 <= i0:
            i0 = max(i1 - 1, 0)
    return i0, i1


def match(px, py, cum, x, y, i0, i1, s_ref, sig2, prior_var):
    """All candidate projections at once; the first minimum of the same cost wins."""
    ax, ay = px[i0:i1], py[i0:i1]
    dx, dy = px[i0 + 1:i1 + 1] - ax, py[i0 + 1:i1 + 1] - ay
    l2 = dx * dx + dy * dy
    safe = np.where(l2 > 0.0, l2, 1.0)
    u = np.where(l2 > 0.0, np.clip(((x - ax) * dx + (y - ay) * dy) / safe, 0.0, 1.0), 0.0)
    qx, qy = ax + u * dx, ay + u * dy
    d2 = (x - qx) * (x - qx) + (y - qy) * (y - qy)
    c = cum[i0:i1] + u * (cum[i0 + 1:i1 + 1] - cum[i0:i1])
    cost = d2 / sig2 + (c - s_ref) ** 2 / prior_var
    j = int(np.argmin(cost))
    return float(c[j]), math.sqrt(d2[j]), float(qx[j]), float(qy[j])


def tod_bucket(t: float, prm: np.ndarray) -> int:
    return int(math.floor((t + prm[P_UTC_OFFSET]) / prm[P_TOD_BUCKET]) % prm[P_N_TOD])


def stretch_of(edges: np.ndarray, s: float) -> int:
    return int(np.clip(np.searchsorted(edges, s, side="right") - 1, 0, len(edges) - 2))


def step(px, py, cum, edges, prof, st, t, x, y, speed, sigma, lo_b, hi_b, dwelling, prm) -> None:
    """Same contract as `_kernels.step` (mutates st), matrix-form Kalman filter."""
    sig2 = sigma * sigma
    total = cum[-1]
    off_m = max(prm[P_OFF_M], 3.0 * sigma)
    rp2 = prm[P_REACQ_PRIOR] ** 2
    if st[S_INIT] == 0.0:
        c, d, qx, qy = match(px, py, cum, x, y, *seg_range(cum, lo_b, total), lo_b, sig2, rp2)
        st[[S_S, S_V, S_P00, S_P01, S_P11, S_T, S_INIT, S_REJ, S_DIST, S_MX, S_MY, S_OFF]] = \
            [c, speed if speed == speed else 0.0, sig2, 0.0, 4.0, t, 1.0, 0.0, d, qx, qy, 0.0]
        st[S_OFF_SINCE] = t if d > off_m else -1.0
        return
    dt = t - st[S_T]
    if dt <= 0.0:
        return
    q = prm[P_Q]
    F = np.array([[1.0, dt], [0.0, 1.0]])
    Q = q * np.array([[dt ** 3 / 3.0, dt ** 2 / 2.0], [dt ** 2 / 2.0, dt]])
    xs = np.array([st[S_S], st[S_V]])
    P0 = np.array([[st[S_P00], st[S_P01]], [st[S_P01], st[S_P11]]])
    xs = F @ xs
    P = F @ P0 @ F.T + Q
    s_old = st[S_S]
    w = prm[P_SEARCH_K] * sigma + 3.0 * math.sqrt(P[0, 0])
    lo = max(min(s_old, xs[0] - w), lo_b)
    hi = max(min(xs[0] + w, hi_b), lo)
    c, d, qx, qy = match(px, py, cum, x, y, *seg_range(cum, lo, hi), xs[0], sig2, P[0, 0] + sig2)
    on_route, reacq, rejected = d <= off_m, False, False
    if not on_route:
        c2, d2, qx2, qy2 = match(px, py, cum, x, y, *seg_range(cum, lo_b, hi_b), s_old, sig2, rp2)
        if d2 <= off_m:
            if st[S_OFF_SINCE] >= 0.0 or st[S_REJ] >= prm[P_MAX_REJECTS]:
                c, d, qx, qy, on_route, reacq = c2, d2, qx2, qy2, True, True
            else:
                st[S_REJ] += 1.0
                rejected = True
    if rejected:
        qx, qy, d = st[S_MX], st[S_MY], st[S_DIST]
    elif on_route:
        if reacq:
            xs[0] = c
            P[0, 0], P[0, 1], P[1, 0] = sig2, 0.0, 0.0
            st[S_REJ] = 0.0
        else:
            H = np.array([1.0, 0.0])
            innov = c - xs[0]
            S = H @ P @ H + sig2
            if innov * innov / S > prm[P_GATE]:
                st[S_REJ] += 1.0
                if st[S_REJ] > prm[P_MAX_REJECTS]:
                    xs[0] = c
                    P[0, 0], P[0, 1], P[1, 0] = sig2, 0.0, 0.0
                    st[S_REJ] = 0.0
            else:
                Kg = P @ H / S
                xs = xs + Kg * innov
                P = P - np.outer(Kg, H @ P)
                st[S_REJ] = 0.0
        st[S_OFF_SINCE] = -1.0
        st[S_OFF] = 0.0
    else:
        xs[0] = s_old
        if st[S_OFF_SINCE] < 0.0:
            st[S_OFF_SINCE] = t
        if t - st[S_OFF_SINCE] >= prm[P_OFF_S]:
            st[S_OFF] = 1.0
        qx, qy = x, y
    if speed == speed:
        H = np.array([0.0, 1.0])
        S = H @ P @ H + prm[P_SPEED_SIGMA] ** 2
        Kg = P @ H / S
        innov = speed - xs[1]
        s_keep = xs[0]
        xs = xs + Kg * innov
        if not (on_route or rejected):
            xs[0] = s_keep
        P = P - np.outer(Kg, H @ P)
    xs[1] = max(xs[1], 0.0)
    xs[0] = min(max(xs[0], 0.0), total)
    st[[S_S, S_V, S_P00, S_P01, S_P11, S_T, S_DIST, S_MX, S_MY]] = \
        [xs[0], xs[1], P[0, 0], P[0, 1], P[1, 1], t, d, qx, qy]
    vp = prof[tod_bucket(t, prm), stretch_of(edges, xs[0]), PR_V]
    stuck_clock(st, t, dt, xs[1] / vp, dwelling, prm)
    if dwelling == 0:
        st[S_STILL_SINCE] = (t if st[S_STILL_SINCE] < 0.0 else st[S_STILL_SINCE]) if xs[1] < STILL_V else -1.0
        standing = st[S_STILL_SINCE] >= 0.0 and t - st[S_STILL_SINCE] >= prm[P_RATIO_FREEZE]
        if not standing:
            a = 1.0 - math.exp(-dt / prm[P_LIVE_TAU])
            r = st[S_RATIO] + a * (xs[1] / vp - st[S_RATIO])
            st[S_RATIO] = min(max(r, prm[P_RATIO_MIN]), prm[P_RATIO_MAX])
        if (st[S_STILL_SINCE] < 0.0 or t - st[S_STILL_SINCE] < STILL_S) and st[S_STUCK] <= prm[P_STUCK_GRACE]:
            af = 1.0 - math.exp(-dt / prm[P_LIVE_TAU_FAR])
            rf = st[S_RATIO_FAR] + af * (xs[1] / vp - st[S_RATIO_FAR])
            st[S_RATIO_FAR] = min(max(rf, prm[P_RATIO_MIN]), prm[P_RATIO_MAX])


def stuck_clock(st: np.ndarray, t: float, dt: float, ratio_now: float, dwelling: int, prm) -> None:
    """Same contract as `_stuck.advance`, on the state vector: which regime the truck is in
    picks the clock's time constant (0 = it only grows), then one step."""
    moving = dwelling == 0 and ratio_now >= prm[P_MOVING_RATIO]
    if moving and st[S_GO_SINCE] < 0.0:
        st[S_GO_SINCE] = t
    if not moving:
        st[S_GO_SINCE] = -1.0
    if dwelling != 0:
        tau = prm[P_STUCK_FADE]
    elif ratio_now < prm[P_STUCK_RATIO]:
        st[S_STUCK] += dt
        return
    elif moving:
        cleared = t - st[S_GO_SINCE] >= prm[P_STUCK_CLEAR]
        tau = prm[P_STUCK_FADE] if cleared else prm[P_STUCK_HOLD_TAU]
    else:
        return
    st[S_STUCK] *= math.exp(-dt / tau)


def stuck_delay(e: float, prm) -> tuple[float, float]:
    """Same contract as `_stuck.delay`: log-normal remaining queue time, its mean and variance."""
    median = prm[P_STUCK_SCALE] * max(e - prm[P_STUCK_GRACE], 0.0)
    s2 = prm[P_STUCK_SIGMA] ** 2
    mean = median * math.exp(s2 / 2.0)
    return mean, mean ** 2 * math.expm1(s2)


def _pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def unforeseen_offsets(drive_s, mean_s, s_up, prm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, p50 offset, p90 offset): Poisson unforeseen delays, as log offsets from the travel
    model's median.

    The arrival is a mixture: no event (e^-n), or the travel model's arrival x (1 + D/mean). A
    quantile with tail share a moves by n (P(delayed arrival beyond it) - a) / density, to first
    order in n (capped at 1); the median takes the smaller of its small- and large-delay limits.
    """
    n = np.minimum(prm[P_UNFORESEEN_RATE] * drive_s, 1.0)
    g = np.log1p(prm[P_UNFORESEEN_DELAY] / mean_s)
    beyond_p90 = 0.5 * np.vectorize(math.erfc)((Z90 - g / s_up) / math.sqrt(2.0))
    mid = np.minimum(n * g, n * 0.5 / _pdf(0.0) * s_up)
    hi = (Z90 + n * (beyond_p90 - 0.1) / _pdf(Z90)) * s_up
    return n, mid, hi


def eta(edges, prof, stop_s, dwell_mu, dwell_var, win_end, rem_idx, t0, s0, lead_m,
        lead_v, ratio, ratio_far, dw0_mu, dw0_var, prm) -> np.ndarray:
    """(N_OUT, len(rem_idx)) arrival distribution, from cumulative sums over the stretches."""
    vprof, cvprof, wprof = by_stretch(prof)
    n_k = len(edges) - 1
    i0 = stretch_of(edges, s0)
    idx = np.arange(i0, n_k)
    a = edges[idx].copy()
    a[0] = s0
    b = edges[idx + 1].copy()
    b[-1] = max(b[-1], stop_s[rem_idx[-1]])
    length = b - a
    b0 = tod_bucket(t0, prm)
    t1 = np.cumsum(np.concatenate(([0.0], length / vprof[idx, b0])))[:-1]
    bucket = (np.floor((t0 + prm[P_UTC_OFFSET] + t1) / prm[P_TOD_BUCKET]) % vprof.shape[1]).astype(np.int64)
    vp, cv = vprof[idx, bucket], cvprof[idx, bucket]
    xm = 0.5 * (a + b) - s0
    fade = np.where(xm < FADE_CUTOFF * prm[P_LIVE_DECAY], np.exp(-xm / prm[P_LIVE_DECAY]), 0.0)
    wf = wprof[idx, bucket]
    f = (1.0 - fade) * (1.0 + wf * (ratio_far - 1.0)) + fade * (1.0 + prm[P_RATIO_WEIGHT] * (ratio - 1.0))
    cv = cv * (1.0 + prm[P_SLOW_CV_GAIN] * np.maximum(1.0 - f, 0.0))
    pace = 1.0 / np.maximum(vp * f, prm[P_V_FLOOR])
    tau = np.maximum(length * pace, 0.0)
    sg = cv * tau
    lead_t, lead_s = 0.0, 0.0
    if lead_m > 0.0:
        lead_t = lead_m / lead_v
        lead_s = prm[P_OFF_CV] * lead_t
    tm = np.cumsum(np.concatenate(([lead_t], tau)))
    acc_a = np.cumsum(np.concatenate(([lead_s * lead_s], sg * sg)))
    acc_b = np.cumsum(np.concatenate(([lead_s], sg)))
    sk = stop_s[rem_idx]
    p = np.minimum(np.searchsorted(b, sk, side="left"), len(b) - 1)
    tau_p = np.maximum(sk - a[p], 0.0) * pace[p]
    sp = cv[p] * tau_p
    dsum = np.cumsum(np.concatenate(([dw0_mu], dwell_mu[rem_idx])))[:-1]
    dvar = np.cumsum(np.concatenate(([dw0_var], dwell_var[rem_idx])))[:-1]
    drive = tm[p] + tau_p
    rho = prm[P_RHO]
    var = (1.0 - rho) * (acc_a[p] + sp * sp) + rho * (acc_b[p] + sp) * (acc_b[p] + sp) + dvar + prm[P_BASE_SIGMA] ** 2
    mu = drive + dsum
    out = np.zeros((N_OUT, len(rem_idx)))
    out[O_REM] = lead_m + np.maximum(sk - s0, 0.0)
    tiny = mu < 1e-6
    mus = np.where(tiny, 1.0, mu)
    s2 = np.log(1.0 + var / (mus * mus))
    sd = np.sqrt(s2)
    s_up = prm[P_TAIL_UP] * sd
    n, mid, hi = unforeseen_offsets(drive, mus, s_up, prm)
    base = mus * np.exp(-prm[P_MEDIAN_SHIFT] * s2)
    med = base * np.exp(mid)
    near = med < NEAR_CUTOFF * prm[P_TAIL_NEAR_S]
    dn = prm[P_TAIL_DOWN] + np.where(near, prm[P_TAIL_DOWN_NEAR] * np.exp(-med / prm[P_TAIL_NEAR_S]), 0.0)
    lo = (-Z90 + n * 0.1 / _pdf(Z90)) * sd * dn     # a delay never makes a truck early: only the
                                                    # chance of none moves p10
    # self-calibration: the fleet's multipliers at this p50 time to arrival scale p90's and
    # p10's log distances from p50
    up = (hi - mid) * np.interp(med, CAL_KNOTS_S, prm[P_CAL_UP0:P_CAL_UP0 + N_CAL])
    dn = (mid - lo) * np.interp(med, CAL_KNOTS_S, prm[P_CAL_DN0:P_CAL_DN0 + N_CAL])
    out[O_P10] = np.where(tiny, t0, t0 + med * np.exp(-dn))
    out[O_P50] = np.where(tiny, t0, t0 + med)
    out[O_P90] = np.where(tiny, t0, t0 + med * np.exp(up))
    sd_up = up / Z90
    sd_dn = dn / Z90
    wl = win_end[rem_idx] - t0
    z = np.log(np.where(wl > 0, wl, 1.0)) - np.log(med)
    z = np.where(z > 0, z / sd_up, z / sd_dn)
    erfc = np.vectorize(math.erfc)
    late = 0.5 * erfc(z / math.sqrt(2.0))
    out[O_PLATE] = np.where(wl <= 0, 1.0, np.where(tiny, 0.0, late))
    return out


def update_one(px, py, cum, edges, prof, stop_s, stop_x, stop_y, dwell_mu, dwell_var,
               win_end, rem_idx, n_rem, prev_s, st, t, x, y, speed, sigma, dwelling, dw0_mu,
               dw0_var, prm, out) -> None:
    """Same contract as `_kernels.update_one`."""
    total = cum[-1]
    lo_b = max(prev_s - 150.0, 0.0)
    if x == x:
        step(px, py, cum, edges, prof, st, t, x, y, speed, sigma, lo_b, total, dwelling, prm)
    t_now = max(t, st[S_T])
    if n_rem == 0:
        return
    rem = rem_idx[:n_rem]
    s0 = st[S_S]
    if x != x and st[S_OFF] == 0.0:
        s0 = min(s0 + st[S_V] * min(t_now - st[S_T], prm[P_DROPOUT_COAST]), total)
    lead_m, lead_v = 0.0, prm[P_CRUISE]
    if st[S_OFF] != 0.0:
        k = rem[0]
        fx = x if x == x else st[S_MX]
        fy = y if y == y else st[S_MY]
        lead_m = math.sqrt((fx - stop_x[k]) ** 2 + (fy - stop_y[k]) ** 2) * prm[P_DETOUR]
        lead_v = prm[P_CRUISE] * min(max(st[S_RATIO], 0.3), 1.2)
        s0 = stop_s[k]
    if dwelling == 0:
        q_mu, q_var = stuck_delay(st[S_STUCK], prm)
        dw0_mu, dw0_var = dw0_mu + q_mu, dw0_var + q_var
    out[:, :n_rem] = eta(edges, prof, stop_s, dwell_mu, dwell_var, win_end, rem, t_now,
                         s0, lead_m, lead_v, st[S_RATIO], st[S_RATIO_FAR], dw0_mu, dw0_var, prm)
