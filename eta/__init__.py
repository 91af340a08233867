"""ETA estimation: route model, map matching, progress filter, travel-time model, uncertainty.

The simulator is the public module `forewarn.eta.simulate` (not re-exported here, so the
module name stays importable).
"""
from ._estimator import Estimator
from ._fleet import FleetEstimator, FleetFixes
from ._history import TravelHistory
from ._params import EstimatorParams
from ._polyline import decode_polyline, encode_polyline
from ._route import Customer, Route, Stop, Window
from ._types import Estimate, StopEta, StopEtas
from ._warm import warm_kernels

__all__ = ["Customer", "Estimate", "Estimator", "EstimatorParams", "FleetEstimator", "FleetFixes",
           "Route", "Stop", "StopEta", "StopEtas", "TravelHistory", "Window", "decode_polyline",
           "encode_polyline", "warm_kernels"]
