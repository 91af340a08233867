"""ETA estimation: route model, map matching, progress filter, travel-time model, uncertainty."""
from ._route import Customer, Route, Stop, Window
from ._types import Estimate, StopEta

__all__ = ["Customer", "Estimate", "Route", "Stop", "StopEta", "Window"]
