"""Tuning knobs of the estimator, with defaults that work without any configuration.

Kernels cannot take a dataclass, so `as_array` packs the numbers into a float64 vector whose
layout is the `P_*` indices below; both the Numba kernels and the NumPy reference read it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Layout of the packed parameter vector (shared by _kernels and _reference).
P_Q, P_SPEED_SIGMA, P_GATE, P_MAX_REJECTS, P_SEARCH_K, P_OFF_M, P_OFF_S, P_LIVE_TAU, \
    P_LIVE_DECAY, P_RATIO_MIN, P_RATIO_MAX, P_RHO, P_BASE_SIGMA, P_TOD_BUCKET, P_N_TOD, \
    P_UTC_OFFSET, P_DETOUR, P_V_FLOOR, P_CRUISE, P_REACQ_PRIOR, P_OFF_CV, P_RATIO_WEIGHT, \
    P_RATIO_WEIGHT_FAR, P_TAIL_UP, P_TAIL_DOWN, P_LIVE_TAU_FAR, P_MEDIAN_SHIFT, \
    P_STUCK_RATIO, P_MOVING_RATIO, P_STUCK_GRACE, P_STUCK_SCALE, P_STUCK_SIGMA, P_STUCK_CLEAR, \
    P_STUCK_FADE, P_STUCK_HOLD_TAU, P_SLOW_CV_GAIN, P_RATIO_FREEZE, P_TAIL_DOWN_NEAR, P_TAIL_NEAR_S, \
    P_UNFORESEEN_RATE, P_UNFORESEEN_DELAY, P_DROPOUT_COAST = range(42)
# Self-calibration (see `Estimator.observe_arrival`): multipliers of the log-spread above (UP)
# and below (DN) the median at each knot of predicted time to arrival (p50 - now, seconds),
# piecewise linear between knots and constant beyond the ends. 1.0 = as the model says.
CAL_KNOTS_S = (300.0, 900.0, 1800.0, 3600.0, 7200.0)
N_CAL = len(CAL_KNOTS_S)
P_CAL_UP0 = P_DROPOUT_COAST + 1          # P_CAL_UP0 + k: `up` at knot k
P_CAL_DN0 = P_CAL_UP0 + N_CAL               # P_CAL_DN0 + k: `dn` at knot k
N_PARAMS = P_CAL_DN0 + N_CAL
CAL_MIN, CAL_MAX = 0.5, 3.0                 # learned multipliers stay within these


@dataclass(frozen=True, slots=True)
class EstimatorParams:
    """Every default is a defensible starting point; the accuracy bench is how they were tuned."""

    sigma_gps: float = 4.07          # m, Newson & Krumm's GPS sigma, when a fix gives no HDOP/GST
    search_k: float = 8.0            # match window half-width, in multiples of the fix's error
    off_route_m: float = 60.0        # farther than this from the route = candidate off-route ...
    off_route_s: float = 30.0        # ... and declared off-route after this long
    detour_factor: float = 1.3       # straight line x this = road distance, when off route
    cruise_speed: float = 8.0        # m/s (~29 km/h) prior average speed of a delivery truck in town, lights included
    highway_speed: float = 20.0      # m/s, prior on long hops between stops (see leg_fast_*)
    leg_fast_from_m: float = 5000.0  # legs longer than this are partly on faster roads ...
    leg_fast_full_m: float = 20000.0  # ... and from this length on, highway_speed applies
    leg_approach_m: float = 1500.0   # ... except the first and last this many metres of the leg
                                     # (a customer is not on the motorway): town speed there
    stretch_m: float = 250.0         # length of a stretch of the travel-time profile
    accel_noise: float = 0.5         # m^2/s^3, Kalman process noise (how fast speed changes)
    speed_sigma: float = 0.7         # m/s, error of the receiver's Doppler speed
    gate_chi2: float = 16.0          # reject a match whose innovation exceeds 4 sigma ...
    max_rejects: int = 3             # ... unless this many in a row: then trust the GPS again
    live_tau_s: float = 240.0        # s, memory of the near-term live speed ratio (lights, queues)
    live_tau_far_s: float = 1800.0   # s, memory of the far-ahead ratio (the day, the road type):
                                     # a 10-minute stop must not rewrite the whole afternoon
    live_resume_tau_s: float = 7200.0  # s, after a restart (or the day's next route) the live ratios
                                     # go on from where they were, fading to 1 over this time off
                                     # the road: lunch keeps the morning's pace, the night does not
    live_decay_m: float = 3000.0     # m, how far ahead the live ratio still counts
    live_weight: float = 0.8         # how much of the live ratio applies right ahead of the truck ...
    live_weight_far: float = 0.3     # ... and far ahead on learned stretches (a slow day is slow everywhere)
    live_weight_far_prior: float = 0.6  # ... and far ahead where only the prior speaks (it is a guess)
    ratio_min: float = 0.15          # clamp of the live ratio (a parked truck is not 0 km/h forever)
    ratio_max: float = 3.0           # a bus on a freeway can be 3x the town prior
    cv_stretch: float = 0.30         # coefficient of variation of one stretch's travel time (prior)
    rho: float = 0.50                # correlation of travel-time errors between stretches
    base_sigma_s: float = 20.0       # s, floor of every prediction's spread
    tail_up: float = 1.3             # log-spread multiplier above the median: traffic only makes
                                     # you late (jams, lights, queues), so the late tail is longer.
                                     # Fitted on incident-free days; it was 1.5 while it also had to
                                     # cover incidents, which now have their own term (`unforeseen_*`)
    median_shift: float = 0.5        # p50 = mean x exp(-shift x s^2): 0.5 = the log-normal median
                                     # (skewed service times put the median below the mean)
    tail_down: float = 0.7           # log-spread multiplier below the median
    tail_down_near: float = 0.5      # ... but a few minutes out, what remains is a light, a dwell
    tail_near_s: float = 600.0       # ending early: the early tail widens by this much, fading
                                     # with the median time to arrival over this scale
    dwell_cv: float = 0.5            # coefficient of variation of a stop's service time
    pace_clamp: float = 3.0          # one stop tells today's pace (and the fleet-wide one) at most
                                     # this x or 1/x the plan: an hour "at" a stop is a jam inside
                                     # its radius, a lunch or a problem, not a 20x slower driver
    pace_prior_stops: float = 2.0    # today's pace counts n / (n + this) of the way from the
                                     # fleet's to this driver's: one odd stop must not rewrite
                                     # the afternoon (per-stop log spread ~0.47 vs drivers ~0.35)
    dwell_fleet_sd: float = 0.3      # how far a fleet's long-run service pace may sit from the plan's
                                     # service_s (log): how much earlier days' agreement can move it
    dwell_address_sd: float = 0.4    # log-spread of addresses' own service habits (a loading dock vs
                                     # a letterbox): how soon an address's visits outweigh the fleet's
    learn_clamp: float = 3.0         # a traversal teaches the profile at most this many of its
                                     # spreads (cv) from what it expected: one crash queue or jam
                                     # in a street is not what the street is like tomorrow (a 2 m/s
                                     # queue on a 10 m/s street, log-averaged with the prior, left it
                                     # expected at under half its speed); a lasting change is still
                                     # learned, a step per traversal. 0 = off
    tod_bucket_s: float = 3600.0     # time-of-day bucket of the learned profile
    prior_weight: float = 1.0        # pseudo-observations of the prior against learned history
    history_cell_deg: float = 0.00225  # ~250 m spatial cell of the learned profile
    v_floor: float = 0.8             # m/s, slowest speed assumed for any stretch
    reacquire_prior_m: float = 2000.0  # full-scan tie-break: prefer candidates near the last match
    off_route_cv: float = 0.35       # spread of the straight-line leg when off route
    dropout_coast_s: float = 120.0   # s, a GPS dropout is dead-reckoned at the filtered speed this long, then
                                     # the truck is taken as stopped: silent longer is more often a truck that
                                     # parked (an underground dock, a garage) than one still driving. Coasting
                                     # on, 30 minutes underground put it kilometres ahead and told the next
                                     # customer "about 2 min away"; a 3 km tunnel at 90 km/h is under 2 min
    # Stuck state (see _stuck.py): a truck standing or crawling in a queue, not at a stop.
    stuck_ratio: float = 0.3         # slower than this x the profile = stuck or crawling: the clock runs
    moving_ratio: float = 0.5        # faster than this x the profile = moving normally
    stuck_grace_s: float = 90.0      # stuck this long is still a red light: no extra delay yet
    stuck_scale: float = 0.4         # median remaining stuck time per second stuck beyond the grace
                                     # (scale-free, so a decreasing hazard: a queue that held
                                     # 30 min is as likely as not to hold 12 more; 1.0 warns
                                     # earlier but cries wolf downstream, see bench/alerts.py)
    stuck_sigma: float = 1.0         # log-spread of the remaining stuck time (wide, right-skewed)
    stuck_clear_s: float = 60.0      # moving normally this long without a stop = the queue is behind
    stuck_fade_s: float = 20.0       # ... then the stuck clock fades with this time constant
    stuck_hold_tau_s: float = 300.0  # short moves of stop-and-go only wear it down this slowly
    ratio_freeze_s: float = 90.0     # standing this long, the near live ratio stops learning: the
                                     # stuck state times the queue, the ratio says how fast the
                                     # truck drives when it drives (no double count of a standstill)
    slow_cv_gain: float = 1.0        # travel-time spread x (1 + gain x (1 - live factor)) where the
                                     # truck runs below the profile: a slow day is an uncertain day
    # Unforeseen delays (see `_kernels.eta`): crashes, closures, a street blocked by a bin lorry,
    # a detour around unmapped roadworks. Neither history nor the live ratio sees them coming, and
    # the chance of meeting one grows with the driving still ahead. Field basis: peak urban trips
    # take 20-30% longer than free flow (TTI Urban Mobility Report, Travel Time Index 1.2-1.3),
    # about half of it non-recurring (FHWA: incidents ~25% of congestion, work zones ~10%, weather
    # ~15%); most of that is already in the travel-time spread, the part no profile can see we
    # take as ~5% of driving time: rate x mean delay = 0.25/h x 11 min = 4.6%.
    unforeseen_rate_h: float = 0.25  # per hour of driving still ahead (dwell excluded): about one per
                                     # working day of an urban delivery driver. 0 = off
    unforeseen_delay_s: float = 660.0  # s, mean cost of one: a blocked street or short detour is
                                     # 3-10 min, a lane-blocking crash queue 15-30 min (most minor
                                     # incidents clear within 30 min: FHWA Traffic Incident Management)
    calib_rate: float = 0.05         # step of the self-calibration (log multiplier per arrival; 0 = off).
                                     # Stationary jitter of a multiplier ~ sqrt(rate/5) ~ 10%, memory
                                     # ~1/(0.22 rate) ~ 90 arrivals per knot (a week of one truck's stops)
    calib_warmup: float = 30.0       # while few arrivals are scored at a knot, its step is
                                     # 1/(0.225 (n + this)) (larger than calib_rate up to n ~ 60):
                                     # a new truck calibrates in days, not weeks. 0 = constant step

    @property
    def n_tod(self) -> int:
        return max(1, int(round(86400.0 / self.tod_bucket_s)))

    def as_array(self, utc_offset_s: float = 0.0) -> np.ndarray:
        """Pack for the kernels; `utc_offset_s` turns POSIX time into the route's local clock."""
        p = np.zeros(N_PARAMS)
        p[P_Q] = self.accel_noise
        p[P_SPEED_SIGMA] = self.speed_sigma
        p[P_GATE] = self.gate_chi2
        p[P_MAX_REJECTS] = self.max_rejects
        p[P_SEARCH_K] = self.search_k
        p[P_OFF_M] = self.off_route_m
        p[P_OFF_S] = self.off_route_s
        p[P_LIVE_TAU] = self.live_tau_s
        p[P_LIVE_DECAY] = self.live_decay_m
        p[P_RATIO_MIN] = self.ratio_min
        p[P_RATIO_MAX] = self.ratio_max
        p[P_RHO] = self.rho
        p[P_BASE_SIGMA] = self.base_sigma_s
        p[P_TOD_BUCKET] = self.tod_bucket_s
        p[P_N_TOD] = self.n_tod
        p[P_UTC_OFFSET] = utc_offset_s
        p[P_DETOUR] = self.detour_factor
        p[P_V_FLOOR] = self.v_floor
        p[P_CRUISE] = self.cruise_speed
        p[P_REACQ_PRIOR] = self.reacquire_prior_m
        p[P_OFF_CV] = self.off_route_cv
        p[P_RATIO_WEIGHT] = self.live_weight
        p[P_RATIO_WEIGHT_FAR] = self.live_weight_far
        p[P_TAIL_UP] = self.tail_up
        p[P_TAIL_DOWN] = self.tail_down
        p[P_LIVE_TAU_FAR] = self.live_tau_far_s
        p[P_MEDIAN_SHIFT] = self.median_shift
        p[P_STUCK_RATIO] = self.stuck_ratio
        p[P_MOVING_RATIO] = self.moving_ratio
        p[P_STUCK_GRACE] = self.stuck_grace_s
        p[P_STUCK_SCALE] = self.stuck_scale
        p[P_STUCK_SIGMA] = self.stuck_sigma
        p[P_STUCK_CLEAR] = self.stuck_clear_s
        p[P_STUCK_FADE] = self.stuck_fade_s
        p[P_STUCK_HOLD_TAU] = self.stuck_hold_tau_s
        p[P_SLOW_CV_GAIN] = self.slow_cv_gain
        p[P_RATIO_FREEZE] = self.ratio_freeze_s
        p[P_TAIL_DOWN_NEAR] = self.tail_down_near
        p[P_TAIL_NEAR_S] = self.tail_near_s
        p[P_UNFORESEEN_RATE] = self.unforeseen_rate_h / 3600.0     # per second of driving
        p[P_UNFORESEEN_DELAY] = self.unforeseen_delay_s
        p[P_DROPOUT_COAST] = self.dropout_coast_s
        p[P_CAL_UP0:N_PARAMS] = 1.0        # uncalibrated; `Estimator` loads what its history learned
        return p
