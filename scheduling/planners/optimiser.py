"""The optimising planner: a time-indexed integer programme, solved with a proof of how good
its answer is.

One 0/1 variable per (request, resource, start slice) where the request may start; at most
one per request, within each resource's capacity in every slice, within each allocation's
hours; maximise priority × hours (LCO's adaptive scheduler formulates the same). Five
thousand requests over three sites make a million such variables, more than a solver takes
whole in a minute, so it is solved in three steps:

1. The linear relaxation by column generation (HiGHS): start from the greedy plan's
   variables, add those whose reduced cost is positive, until none is. At every round the
   relaxation plus each request's best reduced cost bounds every plan (Lagrangian bound), so
   the bound holds even when time runs out first.
2. Incumbents: the greedy plan, and greedy again in the order and at the places the
   relaxation prefers; the better one is the plan to beat.
3. CP-SAT (OR-Tools) over the variables the relaxation brought in (price and branch),
   starting from the incumbent, until it is within ``target_gap`` of the bound or time is up.
   It never returns less than the incumbent; its plan's objective over the relaxation's
   bound is the reported gap.
"""

import time

import highspy
import numpy as np
from ortools.sat.python import cp_model

from . import Placement, Plan, Planner, objective
from .greedy import by_priority, greedy_placements

TOLERANCE = 1e-6


class _StopWhenClose(cp_model.CpSolverSolutionCallback):
    """Stops the search once a solution is within the target gap of the relaxation's bound:
    CP-SAT's own bound moves slowly on these models, and proving the last fraction of a percent
    would spend the whole time limit on nothing a telescope notices."""

    def __init__(self, enough):
        super().__init__()
        self.enough = enough

    def on_solution_callback(self):
        if self.objective_value >= self.enough:
            self.stop_search()


class Columns:
    """Every (candidate, resource, start) the candidates may take, as arrays ordered by candidate."""

    def __init__(self, problem):
        self.problem = problem
        parts, self.first = [], {}
        total = 0
        for index, candidate in enumerate(problem.candidates):
            for resource, starts in candidate.starts.items():
                if len(starts):
                    self.first[(index, resource)] = (total, starts)
                    parts.append((index, resource, starts))
                    total += len(starts)
        self.candidate = np.concatenate([np.full(len(s), c) for c, _, s in parts]) if parts else np.empty(0, int)
        self.resource = np.concatenate([np.full(len(s), r) for _, r, s in parts]) if parts else np.empty(0, int)
        self.start = np.concatenate([s for _, _, s in parts]).astype(int) if parts else np.empty(0, int)
        candidates = problem.candidates
        self.length = np.array([c.length for c in candidates], int)[self.candidate]
        # Integer priority-seconds: CP-SAT's objective must be integral; the relaxation uses the same.
        self.weight_of = np.array([round(c.priority * c.seconds) for c in candidates], np.int64)
        self.weight = self.weight_of[self.candidate]
        accounts = sorted({c.account for c in candidates if c.account is not None}, key=str)
        self.account_index = {account: i for i, account in enumerate(accounts)}
        self.accounts = accounts
        self.account_of = np.array([self.account_index.get(c.account, -1) for c in candidates], int)
        self.seconds_of = np.array([round(c.seconds) for c in candidates], np.int64)

    def __len__(self):
        return len(self.candidate)

    def of(self, placement):
        first, starts = self.first[(placement.candidate, placement.resource)]
        return first + int(np.searchsorted(starts, placement.start))

    def placement(self, j):
        return Placement(int(self.candidate[j]), int(self.resource[j]), int(self.start[j]))

    def covered_rows(self, columns):
        """(row of each (column, slice) it holds, the column): slices as rows resource × slice."""
        lengths = self.length[columns]
        owner = np.repeat(columns, lengths)
        offsets = np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return self.resource[owner] * self.problem.slices + self.start[owner] + offsets, owner


class Relaxation:
    """The linear relaxation over a growing subset of columns, priced against all of them."""

    def __init__(self, problem, columns):
        self.problem, self.columns = problem, columns
        candidates, slices = len(problem.candidates), problem.slices
        self.cover_row0 = candidates
        self.account_row0 = candidates + len(problem.resources) * slices
        capacity = np.concatenate([r.capacity for r in problem.resources]).astype(float) if problem.resources else []
        budgets = [max(0.0, problem.budgets.get(account, 0.0)) for account in columns.accounts]
        upper = np.concatenate([np.ones(candidates), capacity, budgets])
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("threads", 1)
        self.highs.addRows(len(upper), np.full(len(upper), -highspy.kHighsInf), upper, 0, np.zeros(0, np.int32),
                           np.zeros(0, np.int32), np.zeros(0))  # fmt: skip
        self.inside = np.zeros(len(columns), bool)
        self.order = []  # column indices in the order they were added (the LP's column order)

    def add(self, new):
        new = np.unique(new[~self.inside[new]])
        if not len(new):
            return 0
        columns = self.columns
        rows, owner = columns.covered_rows(new)
        rows = rows + self.cover_row0
        # Each column: its candidate row, its slices, its account row; assembled column-wise.
        entries = [(columns.candidate[new], new, np.ones(len(new)))]
        entries.append((rows, owner, np.ones(len(rows))))
        charged = columns.account_of[columns.candidate[new]] >= 0
        accounts = columns.account_of[columns.candidate[new[charged]]]
        entries.append((self.account_row0 + accounts, new[charged],
                        columns.seconds_of[columns.candidate[new[charged]]].astype(float)))  # fmt: skip
        row = np.concatenate([e[0] for e in entries])
        col = np.concatenate([e[1] for e in entries])
        value = np.concatenate([e[2] for e in entries])
        position = np.searchsorted(new, col)
        order = np.lexsort((row, position))
        counts = np.bincount(position, minlength=len(new))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
        self.highs.addCols(len(new), -columns.weight[new].astype(float), np.zeros(len(new)),
                           np.full(len(new), highspy.kHighsInf), len(row), starts,
                           row[order].astype(np.int32), value[order])  # fmt: skip
        self.inside[new] = True
        self.order.extend(new.tolist())
        return len(new)

    def solve(self):
        """(relaxation objective, reduced cost of every column, each column's value in the relaxation)."""
        self.highs.run()
        solution = self.highs.getSolution()
        prices = -np.asarray(solution.row_dual)  # ≥ 0: what a unit of each row is worth
        columns, slices = self.columns, self.problem.slices
        cover = prices[self.cover_row0 : self.account_row0].reshape(len(self.problem.resources), slices)
        prefix = np.concatenate([np.zeros((cover.shape[0], 1)), np.cumsum(cover, axis=1)], axis=1)
        held = prefix[columns.resource, columns.start + columns.length] - prefix[columns.resource, columns.start]
        account_price = np.concatenate([prices[self.account_row0 :], [0.0]])[columns.account_of[columns.candidate]]
        charged = columns.seconds_of[columns.candidate] * account_price
        reduced = columns.weight - prices[columns.candidate] - held - charged
        values = np.zeros(len(columns))
        values[self.order] = solution.col_value
        return -self.highs.getInfo().objective_function_value, reduced, values


def best_per_candidate(columns, reduced):
    """Each candidate's highest reduced cost (0 when none is positive) and the column holding it."""
    count = len(columns.problem.candidates)
    best = np.zeros(count)
    where = np.full(count, -1)
    order = np.lexsort((reduced, columns.candidate))  # by candidate, the best last
    last = np.r_[columns.candidate[order][1:] != columns.candidate[order][:-1], True] if len(order) else order
    chosen = order[last]
    best[columns.candidate[chosen]] = np.maximum(reduced[chosen], 0.0)
    where[columns.candidate[chosen]] = chosen
    return best, where


class OptimisingPlanner(Planner):
    name = "optimiser"
    relaxation_share = 0.5  # of the time limit, at most, for the bound; the rest for CP-SAT
    target_gap = 0.005  # stop searching once this close to the bound (LCO's scheduler settles for 1 %)
    workers = 2

    def solve(self, problem, *, time_limit_s, hint=None):
        started = time.perf_counter()
        deadline = started + time_limit_s
        columns = Columns(problem)
        order = by_priority(problem)
        incumbent = greedy_placements(problem, order)
        if hint:
            hinted = greedy_placements(problem, [p.candidate for p in hint] + order,
                                       {p.candidate: (p.resource, p.start) for p in hint})  # fmt: skip
            incumbent = max(incumbent, hinted, key=lambda placements: objective(problem, placements))
        if not len(columns):
            return self._done(problem, incumbent, 0, "optimal", started, {})
        relaxation = Relaxation(problem, columns)
        relaxation.add(np.array([columns.of(p) for p in incumbent] + [columns.first[key][0] for key in columns.first]))
        bound, rounds = np.inf, 0
        while True:
            rounds += 1
            value, reduced, values = relaxation.solve()
            positive, best_column = best_per_candidate(columns, reduced)
            bound = min(bound, value + positive.sum())
            entering = best_column[positive > TOLERANCE * max(1.0, value)]
            if not len(entering) or time.perf_counter() > started + self.relaxation_share * time_limit_s:
                break
            relaxation.add(entering)
        guided = self._relaxation_guided(problem, columns, values)
        if self._score(columns, guided) > self._score(columns, incumbent):
            incumbent = guided
        notes = {"columns": len(columns), "relaxation_rounds": rounds, "relaxation_columns": len(relaxation.order),
                 "relaxation_seconds": round(time.perf_counter() - started, 2)}  # fmt: skip
        if bound <= self._score(columns, incumbent) + 0.5:
            return self._done(problem, incumbent, bound, "optimal", started, notes)
        # Price and branch: the integer programme over the columns the relaxation brought in.
        # Its optimum need not be the whole problem's, so the bound stays the relaxation's.
        alive = np.union1d(relaxation.order, [columns.of(p) for p in incumbent]).astype(int)
        found, status = self._cp_sat(problem, columns, alive, incumbent, deadline - time.perf_counter(), bound)
        if found is not None and self._score(columns, found) > self._score(columns, incumbent):
            incumbent = found
        notes["cp_sat_status"] = status
        final = "optimal" if bound <= self._score(columns, incumbent) + 0.5 else "feasible"
        return self._done(problem, incumbent, bound, final, started, notes)

    @staticmethod
    def _score(columns, placements):
        return int(sum(columns.weight_of[p.candidate] for p in placements))

    @staticmethod
    def _relaxation_guided(problem, columns, values):
        """Greedy in the relaxation's order: the candidates it takes most fully first, each where
        it takes it most."""
        share = np.bincount(columns.candidate, weights=values, minlength=len(problem.candidates))
        priority = np.array([c.priority for c in problem.candidates])
        order = list(np.lexsort((-priority, -share)))
        best = np.lexsort((values, columns.candidate))
        last = np.r_[columns.candidate[best][1:] != columns.candidate[best][:-1], True]
        preferred = {int(columns.candidate[j]): (int(columns.resource[j]), int(columns.start[j]))
                     for j in best[last] if values[j] > TOLERANCE}  # fmt: skip
        return greedy_placements(problem, order, preferred)

    def _cp_sat(self, problem, columns, alive, incumbent, seconds, bound):
        if seconds <= 0.2 or not len(alive):
            return None, "no time left"
        model = cp_model.CpModel()
        chosen = [model.new_bool_var(f"x{j}") for j in alive]
        position = {int(j): i for i, j in enumerate(alive)}
        by_candidate = {}
        for i, j in enumerate(alive):
            by_candidate.setdefault(int(columns.candidate[j]), []).append(chosen[i])
        for variables in by_candidate.values():
            if len(variables) > 1:
                model.add_at_most_one(variables)
        rows, owner = columns.covered_rows(alive)
        capacity = np.concatenate([r.capacity for r in problem.resources])
        order = np.argsort(rows, kind="stable")
        rows, owner = rows[order], owner[order]
        breaks = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1], True])
        for begin, end in zip(breaks[:-1], breaks[1:]):
            if end - begin > capacity[rows[begin]]:
                model.add(sum(chosen[position[int(j)]] for j in owner[begin:end]) <= int(capacity[rows[begin]]))
        for account, index in columns.account_index.items():
            members = [i for i, j in enumerate(alive) if columns.account_of[columns.candidate[j]] == index]
            if members:
                seconds_each = [int(columns.seconds_of[columns.candidate[alive[i]]]) for i in members]
                model.add(cp_model.LinearExpr.weighted_sum([chosen[i] for i in members], seconds_each)
                          <= int(problem.budgets.get(account, 0)))  # fmt: skip
        model.maximize(cp_model.LinearExpr.weighted_sum(chosen, [int(columns.weight[j]) for j in alive]))
        for placement in incumbent:
            model.add_hint(chosen[position[columns.of(placement)]], 1)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.1, seconds - 0.1)
        solver.parameters.num_workers = self.workers
        status = solver.solve(model, _StopWhenClose((1 - self.target_gap) * bound))
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None, solver.status_name(status)
        found = [columns.placement(int(j)) for i, j in enumerate(alive) if solver.value(chosen[i])]
        return found, solver.status_name(status)

    def _done(self, problem, placements, bound, status, started, notes):
        return Plan(self.name, placements, objective(problem, placements), bound=bound / 3600 + 1e-9,
                    status=status, seconds=time.perf_counter() - started, notes=notes)  # fmt: skip
