"""A simulated multi-site manufacturer of hearing devices, as v1 events (``millstream simulate``).

``Simulation(SimSpec(...)).lines()`` yields the events as JSON Lines in event-time order; ``publish``
sends them to the input topics at a given rate.  See ``docs/simulate.md``.
"""

from .run import START, SimSpec, Simulation

__all__ = ["START", "SimSpec", "Simulation"]
