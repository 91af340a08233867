"""`forewarn simulate`: a realistic NMEA drive of a route, with the truth beside it.

Public module (the CLI and the benches import it by this name); the work is in `_simulator`.
"""
from ._simulator import Simulation, simulate, write_simulation

__all__ = ["Simulation", "simulate", "write_simulation"]
