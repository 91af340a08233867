"""The unforeseen-delay term of the arrival distribution (`_kernels.eta`), on a plain route
where every number can be worked out by hand: one road at 10 m/s, no dwell, no live ratio."""
import math

import numpy as np
import pytest

from forewarn.eta import EstimatorParams
from forewarn.eta import _kernels as K
from forewarn.eta import _reference as R

SPEED = 10.0
CV = 0.3


def _eta(stop_s, win_end, impl=K, **params):
    """(N_OUT, n) outputs at time 0 (so times are exact durations), for stops at `stop_s` metres
    on a road of 250 m stretches, window ends `win_end` seconds from now."""
    stop_s = np.asarray(stop_s, dtype=float)
    edges = np.arange(0.0, stop_s[-1] + 250.0, 250.0)
    k = len(edges) - 1
    prof = np.empty((24, k, K.N_PROF))
    prof[..., K.PR_V], prof[..., K.PR_CV], prof[..., K.PR_W] = SPEED, CV, 0.5
    n = len(stop_s)
    zeros = np.zeros(n)
    rem = np.arange(n, dtype=np.int64)
    wend = np.asarray(win_end, dtype=float)
    prm = EstimatorParams(**params).as_array()
    if impl is K:
        out = np.zeros((K.N_OUT, n))
        K.eta(edges, prof, stop_s, zeros, zeros, wend, rem, n, 0.0, 0.0, 0.0, 8.0, 1.0, 1.0, 0.0, 0.0, prm, out)
    else:
        out = R.eta(edges, prof, stop_s, zeros, zeros, wend, rem, 0.0, 0.0, 0.0, 8.0, 1.0, 1.0, 0.0, 0.0, prm)
    return out


def test_zero_rate_is_the_split_lognormal_without_the_term():
    p = EstimatorParams(unforeseen_rate_h=0.0)
    d = 9000.0
    out = _eta([d], [1100.0], unforeseen_rate_h=0.0)
    mu = d / SPEED
    # one stop, all stretches fully correlated at rho, independent at 1 - rho: sum over 36 stretches
    tau = 250.0 / SPEED
    var = (1 - p.rho) * 36 * (CV * tau) ** 2 + p.rho * (36 * CV * tau) ** 2 + p.base_sigma_s ** 2
    s2 = math.log(1 + var / mu ** 2)
    med = mu * math.exp(-p.median_shift * s2)
    dn = p.tail_down + p.tail_down_near * math.exp(-med / p.tail_near_s)
    assert out[K.O_P50, 0] == pytest.approx(med, rel=1e-12)
    assert out[K.O_P10, 0] == pytest.approx(med * math.exp(-K.Z90 * math.sqrt(s2) * dn), rel=1e-12)
    assert out[K.O_P90, 0] == pytest.approx(med * math.exp(K.Z90 * math.sqrt(s2) * p.tail_up), rel=1e-12)
    z = math.log(1100.0 / med) / (math.sqrt(s2) * p.tail_up)
    assert out[K.O_PLATE, 0] == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=1e-12)


@pytest.mark.parametrize("minutes", [15, 30, 60, 120])
def test_quantiles_match_a_monte_carlo_of_compound_poisson_delays(minutes):
    """The first-order mixture against the process it stands for: travel time drawn from
    the model without the term, plus a Poisson number of heavy-tailed (log-normal, sigma 0.8)
    delays of the same mean: the shift of p90 right within 25%, of p50 within 35% (first order in
    the chance of a delay: least exact two hours out), p10 within 2%."""
    rate_h, mean_s = 0.25, 660.0
    d = minutes * 60.0 * SPEED
    base = _eta([d], [1e6], unforeseen_rate_h=0.0)
    new = _eta([d], [1e6], unforeseen_rate_h=rate_h, unforeseen_delay_s=mean_s)
    rng = np.random.default_rng(minutes)
    n = 400_000
    med, lo, hi = base[K.O_P50, 0], base[K.O_P10, 0], base[K.O_P90, 0]
    z = rng.standard_normal(n)                        # the split log-normal without the term, sampled
    travel = med * np.exp(np.where(z > 0, z * math.log(hi / med), z * math.log(med / lo)) / K.Z90)
    count = rng.poisson(rate_h * minutes / 60.0, size=n)
    sigma = 0.8
    delay = np.zeros(n)
    for j in range(1, count.max() + 1):
        sel = count >= j
        delay[sel] += mean_s * np.exp(sigma * rng.standard_normal(sel.sum()) - 0.5 * sigma ** 2)
    mc = np.quantile(travel + delay, [0.1, 0.5, 0.9])
    assert new[K.O_P10, 0] == pytest.approx(mc[0], rel=0.02)
    for row, q, tol in ((K.O_P50, mc[1], 0.35), (K.O_P90, mc[2], 0.25)):
        shift = q - base[row, 0]
        assert shift > 0.0
        assert abs(new[row, 0] - q) < tol * shift


def test_spread_above_the_median_grows_with_the_horizon():
    stops = np.arange(1, 13) * 6000.0                # every 10 minutes, for two hours
    base = _eta(stops, np.full(12, 1e6), unforeseen_rate_h=0.0)
    new = _eta(stops, np.full(12, 1e6))
    added = (new[K.O_P90] - new[K.O_P50]) - (base[K.O_P90] - base[K.O_P50])
    assert np.all(added > 0.0)
    assert np.all(np.diff(added) > 0.0)
    # delays never make a truck early: p10 does not move earlier, and far less than p90
    assert np.all(new[K.O_P10] >= base[K.O_P10])
    assert np.all(new[K.O_P10] - base[K.O_P10] < 0.5 * (new[K.O_P90] - base[K.O_P90]))


def test_p_late_is_monotone_in_the_window_and_the_rate():
    d = 36000.0                                       # an hour away
    ends = np.linspace(2400.0, 7200.0, 25)
    by_end = np.array([_eta([d], [w])[K.O_PLATE, 0] for w in ends])
    assert np.all(np.diff(by_end) < 0.0)
    rates = [0.0, 0.1, 0.25, 0.5, 1.0]
    for w in (3000.0, 3600.0, 4200.0, 5400.0):
        by_rate = [_eta([d], [w], unforeseen_rate_h=r)[K.O_PLATE, 0] for r in rates]
        assert np.all(np.diff(by_rate) > 0.0)


def test_kernel_equals_reference_on_the_plain_route():
    stops = np.arange(1, 13) * 6000.0
    ends = np.linspace(300.0, 9000.0, 12)
    for rate in (0.0, 0.25, 3.0):
        k = _eta(stops, ends, K, unforeseen_rate_h=rate)
        r = _eta(stops, ends, R, unforeseen_rate_h=rate)
        np.testing.assert_allclose(k, r, rtol=1e-9, atol=1e-12)


def test_a_stop_the_truck_is_at_with_no_service_left_is_now_and_its_neighbours_are_unaffected():
    """No time left (the truck stands at the stop, nothing to serve): p10 = p50 = p90 = now and
    P(late) is 0 or 1 by whether the window is still open. The kernel hands such a stop between
    its per-stop stages as a marker; the stops after it must come out as if it were not there."""
    for end in (600.0, -5.0):
        k = _eta([0.0, 3000.0, 9000.0], [end, 1000.0, 2000.0], K)
        r = _eta([0.0, 3000.0, 9000.0], [end, 1000.0, 2000.0], R)
        assert k[[K.O_P10, K.O_P50, K.O_P90], 0].tolist() == [0.0, 0.0, 0.0]
        assert k[K.O_PLATE, 0] == (0.0 if end > 0 else 1.0)
        np.testing.assert_allclose(k, r, rtol=1e-9, atol=1e-12)
        alone = _eta([3000.0, 9000.0], [1000.0, 2000.0], K)
        np.testing.assert_allclose(k[:, 1:], alone, rtol=1e-12)
        assert 250.0 < k[K.O_P50, 1] < k[K.O_P90, 1] and 0.0 < k[K.O_PLATE, 1] < 1.0   # 3 km at 10 m/s
