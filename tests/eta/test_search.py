"""`_kernels.search_from`: the started-anywhere search the map matcher uses on a route's
chainage must be `np.searchsorted`, exactly, whatever the start (the NumPy reference uses
searchsorted, and the two are held equal)."""
import numpy as np
import pytest

from forewarn.eta import _kernels as K
from forewarn.eta import _reference as R


@pytest.mark.parametrize("right", [True, False])
def test_equals_searchsorted_from_any_start(right):
    rng = np.random.default_rng(7)
    side = "right" if right else "left"
    checked = 0
    for n in (1, 2, 3, 17, 400):
        # chainage: sorted, with repeats (zero-length segments of real geometry)
        a = np.cumsum(np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.0, 30.0, n)))
        xs = np.concatenate((a, a + 1e-9, a - 1e-9, rng.uniform(-50.0, a[-1] + 50.0, 40), [-np.inf, np.inf]))
        for x in xs:
            want = int(np.searchsorted(a, x, side=side))
            for h in (-5, 0, n // 2, n - 1, n + 3, int(rng.integers(0, n))):
                assert K.search_from(a, float(x), h, right) == want, (n, x, h)
                checked += 1
    assert checked > 5000


def test_nan_sorts_last_and_an_empty_array_answers_zero():
    a = np.array([0.0, 1.0, 2.0])
    assert K.search_from(a, float("nan"), 1, True) == np.searchsorted(a, np.nan, side="right") == 3
    assert K.search_from(a, float("nan"), 0, False) == np.searchsorted(a, np.nan, side="left") == 3
    assert K.search_from(np.empty(0), 1.0, 0, True) == 0


def test_seg_range_on_uneven_spacing_matches_the_reference_bisection():
    rng = np.random.default_rng(3)
    cum = np.cumsum(np.concatenate(([0.0], rng.exponential(20.0, 300))))   # far from evenly spaced
    for _ in range(2000):
        lo = float(rng.uniform(-20.0, cum[-1] + 20.0))
        hi = lo + float(rng.uniform(0.0, 400.0))
        assert K.seg_range(cum, lo, hi) == R.seg_range(cum, lo, hi)
