"""The greedy planner: the highest priority first, each at the earliest slice it fits.

What a queue scheduler does without an optimiser, and the optimiser's fallback and starting
point. Fast (a fraction of a second for thousands of requests) and never wrong, but blind:
an early placement of a flexible request can take the only slices a later one had.
"""

import time

import numpy as np

from . import Occupancy, Plan, Planner, earliest_placements, objective


def greedy_placements(problem, order, preferred=None):
    """Placements of the candidates in ``order``, each at its ``preferred`` (resource, start)
    when it still fits there, else at the earliest start it fits on any of its resources."""
    return earliest_placements(Occupancy(problem), order, preferred)


def by_priority(problem):
    """Candidates by priority, then the most constrained (fewest starts) first."""
    candidates = problem.candidates
    priority = np.array([c.priority for c in candidates])
    choices = np.array([sum(len(starts) for starts in c.starts.values()) for c in candidates])
    return list(np.lexsort((choices, -priority)))


class GreedyPlanner(Planner):
    name = "greedy"

    def solve(self, problem, *, time_limit_s=None, hint=None):
        started = time.perf_counter()
        placements = greedy_placements(problem, by_priority(problem))
        return Plan(self.name, placements, objective(problem, placements), seconds=time.perf_counter() - started)
