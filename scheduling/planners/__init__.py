"""Planners: from what may be observed where and when tonight (a ``Problem``) to which
telescope observes what from which slice (a ``Plan``).

A problem is plain numbers, made by ``scheduling.nightly`` from the database and the sky: the
night in equal slices, the telescopes grouped into resources (telescopes at one site with the
same class, instruments and filters are interchangeable, so a request is placed on the group
and handed to one of its telescopes afterwards), and for each request the start slices from
which every slice it holds is usable on each resource. Planners never touch the database or
the sky; each is a class behind ``Planner`` named in ``settings.SCHEDULING_PLANNERS``.
"""

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np


@dataclass
class Resource:
    """Interchangeable telescopes, and how many of them may take an observation in each slice
    (fewer while one finishes an observation under way; none while the site is closed)."""

    name: str
    telescopes: list  # ids
    capacity: np.ndarray  # int per slice
    busy_until: dict = field(default_factory=dict)  # telescope id → first slice it is free again


@dataclass
class Candidate:
    """Something that may be observed tonight: a proposal's request or a follow-up."""

    key: tuple  # ("request", id) or ("follow_up", id)
    priority: float  # per hour; follow-ups above every proposal's
    seconds: float  # exposures and overheads
    length: int  # slices it holds
    starts: dict  # resource index → array of start slices from which every slice it holds is usable
    account: object = None  # the time allocation it is charged to (None: not charged)
    urgent: bool = False  # a target of opportunity: placed first, as early as it fits

    @property
    def weight(self):
        """What observing it adds to the objective: priority × hours."""
        return self.priority * self.seconds / 3600


@dataclass
class Problem:
    start: datetime
    slice_seconds: int
    slices: int
    resources: list
    candidates: list
    budgets: dict  # account → seconds it has left

    def slice_start(self, index):
        return self.start + timedelta(seconds=self.slice_seconds * int(index))


@dataclass(frozen=True)
class Placement:
    candidate: int
    resource: int
    start: int  # slice
    telescope: int | None = None


@dataclass
class Plan:
    """Placements, their objective, and what the planner proved about the best possible one."""

    planner: str
    placements: list
    objective: float  # priority-hours
    bound: float | None = None  # no plan can score more (None: the planner proves nothing)
    status: str = "feasible"  # "optimal", "feasible", or "fallback" (the optimiser found nothing in time)
    seconds: float = 0.0
    notes: dict = field(default_factory=dict)

    @property
    def gap(self):
        """How far the plan may be from the best one, as a fraction of the bound."""
        if self.bound is None:
            return None
        return max(0.0, (self.bound - self.objective) / self.bound) if self.bound > 0 else 0.0


class Planner(ABC):
    """Plans a night: urgent candidates (targets of opportunity) first, each at the earliest
    slice it fits, as an observatory interrupts its queue for one; then the rest around them
    by the planner's own method (``solve``). A plan's bound is the best the rest could score
    around the urgent ones, plus theirs."""

    name = ""

    def plan(self, problem, *, time_limit_s=None, hint=None):
        """A Plan for ``problem`` within ``time_limit_s``; ``hint`` (placements, e.g. the previous
        plan's still feasible ones) may be a starting point."""
        started = time.perf_counter()
        urgent, rest, kept = around_urgent(problem)
        renumbered = {old: new for new, old in enumerate(kept)}
        hint = [replace(p, candidate=renumbered[p.candidate]) for p in hint or () if p.candidate in renumbered]
        solved = self.solve(rest, time_limit_s=time_limit_s, hint=hint)
        placements = urgent + [replace(p, candidate=kept[p.candidate]) for p in solved.placements]
        placements = assign_telescopes(problem, placements)
        first = objective(problem, urgent)
        return Plan(self.name, placements, objective(problem, placements),
                    bound=None if solved.bound is None else solved.bound + first, status=solved.status,
                    seconds=time.perf_counter() - started, notes=solved.notes)  # fmt: skip

    @abstractmethod
    def solve(self, problem, *, time_limit_s, hint):
        """A Plan of ``problem`` (no urgent candidates in it) whose placements need no telescope yet."""


def around_urgent(problem):
    """(the urgent candidates' placements, the problem of the others with the capacity those
    took away, the others' indices in ``problem``)."""
    urgent = sorted((i for i, c in enumerate(problem.candidates) if c.urgent),
                    key=lambda i: -problem.candidates[i].priority)  # fmt: skip
    kept = [i for i, c in enumerate(problem.candidates) if not c.urgent]
    if not urgent:
        return [], problem, kept
    taken = Occupancy(problem)
    placements = earliest_placements(taken, urgent)
    resources = [replace(resource, capacity=free) for resource, free in zip(problem.resources, taken.free)]
    rest = replace(problem, resources=resources, candidates=[problem.candidates[i] for i in kept],
                   budgets=taken.budgets)  # fmt: skip
    return placements, rest, kept


def earliest_placements(taken, order, preferred=None):
    """Placements of the candidates in ``order`` on ``taken`` (an Occupancy), each at its
    ``preferred`` (resource, start) when it still fits there, else at the earliest start it
    fits on any of its resources."""
    placements, placed = [], set()
    for index in order:
        if index in placed:  # asked for twice (a hint's candidates, then everyone): placed once
            continue
        wish = (preferred or {}).get(index)
        if wish is not None and wish[1] in taken.fits(index, wish[0]):
            placements.append(taken.take(index, *wish))
            placed.add(index)
            continue
        best = None
        for resource in taken.problem.candidates[index].starts:
            fits = taken.fits(index, resource)
            if len(fits) and (best is None or fits[0] < best[1]):
                best = (resource, fits[0])
        if best is not None:
            placements.append(taken.take(index, *best))
            placed.add(index)
    return placements


def objective(problem, placements):
    return sum(problem.candidates[p.candidate].weight for p in placements)


class Occupancy:
    """The free capacity of every resource, slice by slice, as placements take it, and the
    seconds each account has left."""

    def __init__(self, problem):
        self.problem = problem
        self.free = [resource.capacity.astype(np.int32) for resource in problem.resources]
        self.budgets = dict(problem.budgets)

    def fits(self, index, resource):
        """The start slices on ``resource`` where candidate ``index`` fits now (in order)."""
        candidate = self.problem.candidates[index]
        starts = candidate.starts.get(resource)
        if starts is None or not len(starts):
            return np.empty(0, int)
        if candidate.account is not None and self.budgets.get(candidate.account, 0) < candidate.seconds - 1e-6:
            return np.empty(0, int)
        full = np.concatenate([[0], np.cumsum(self.free[resource] <= 0)])
        return starts[full[starts + candidate.length] == full[starts]]

    def take(self, index, resource, start):
        candidate = self.problem.candidates[index]
        self.free[resource][start : start + candidate.length] -= 1
        if candidate.account is not None:
            self.budgets[candidate.account] -= candidate.seconds
        return Placement(index, resource, int(start))


def assign_telescopes(problem, placements):
    """Hand each placement to one telescope of its resource. Telescopes of a resource are
    interchangeable and the planner kept every slice within capacity, so taking placements in
    order of start and giving each a telescope free by then always succeeds (interval graphs
    are perfect); a telescope finishing an observation under way is free from its end."""
    assigned = []
    by_resource = {}
    for placement in placements:
        by_resource.setdefault(placement.resource, []).append(placement)
    for index, taken in by_resource.items():
        resource = problem.resources[index]
        free_from = {telescope: resource.busy_until.get(telescope, 0) for telescope in resource.telescopes}
        for placement in sorted(taken, key=lambda p: p.start):
            ready = [t for t, slice_ in free_from.items() if slice_ <= placement.start]
            if not ready:
                raise ValueError(f"{resource.name} has no telescope free at slice {placement.start}: over capacity")
            telescope = max(ready, key=lambda t: free_from[t])  # the one free latest: keeps others' gaps whole
            free_from[telescope] = placement.start + problem.candidates[placement.candidate].length
            assigned.append(Placement(placement.candidate, placement.resource, placement.start, telescope))
    return assigned
