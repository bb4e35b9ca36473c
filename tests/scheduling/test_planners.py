"""The planners on small nights whose best plan is known."""

from datetime import datetime, timezone

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from scheduling.planners import Candidate, Placement, Problem, Resource, assign_telescopes, objective
from scheduling.planners.greedy import GreedyPlanner
from scheduling.planners.learned import FEATURES, GREEDY_LIKE, NightEnv, rollout, simulated_night, train
from scheduling.planners.optimiser import OptimisingPlanner

START = datetime(2027, 1, 1, 20, tzinfo=timezone.utc)


def _problem(candidates, *, slices=4, capacity=1, budgets=None, busy_until=None):
    telescopes = list(range(1, capacity + 1))
    resource = Resource("tfn 1m0", telescopes, np.full(slices, capacity) - _busy(slices, busy_until), busy_until or {})
    made = [Candidate(("request", n), priority, length * 300.0, length, {0: np.array(starts)}, account)
            for n, (priority, length, starts, account) in enumerate(candidates)]  # fmt: skip
    return Problem(START, 300, slices, [resource], made, budgets or {})


def _busy(slices, busy_until):
    taken = np.zeros(slices, int)
    for until in (busy_until or {}).values():
        taken[:until] += 1
    return taken


def _placed(plan):
    return sorted((p.candidate, p.start) for p in plan.placements)


def test_the_optimiser_finds_the_plan_greedy_misses_and_proves_it_best():
    # The long high-priority request fits only from slice 0 or 1; two shorter ones of nearly its
    # priority fill the night together. Greedy takes the first; the best plan takes the pair.
    problem = _problem([(10, 3, [0, 1], None), (9, 2, [0], None), (9, 2, [2], None)])
    greedy = GreedyPlanner().plan(problem, time_limit_s=5)
    best = OptimisingPlanner().plan(problem, time_limit_s=5)
    assert _placed(greedy) == [(0, 0)] and greedy.objective == pytest.approx(10 * 0.25)
    assert _placed(best) == [(1, 0), (2, 2)] and best.objective == pytest.approx(9 * 2 * 2 * 300 / 3600)
    assert best.status == "optimal" and best.gap == pytest.approx(0, abs=1e-6)


def test_no_plan_spends_more_than_the_allocation_has_left():
    # Both requests fit the night, but their proposal has 15 minutes left: only one may go.
    problem = _problem([(5, 2, [0], "a"), (6, 2, [2], "a")], budgets={"a": 900.0})
    for planner in (GreedyPlanner(), OptimisingPlanner()):
        assert _placed(planner.plan(problem, time_limit_s=5)) == [(1, 2)], planner.name


def test_two_telescopes_of_a_site_share_the_night_without_overlapping():
    problem = _problem([(5, 2, [0, 1, 2], None)] * 4, capacity=2)
    plan = OptimisingPlanner().plan(problem, time_limit_s=5)
    assert len(plan.placements) == 4, "four two-slice requests fill two telescopes' four slices"
    for telescope in (1, 2):
        held = sorted((p.start, p.start + 2) for p in plan.placements if p.telescope == telescope)
        assert held == [(0, 2), (2, 4)]


def test_a_telescope_finishing_an_observation_gets_work_only_after_it():
    problem = _problem([(5, 2, [0, 1, 2], None)] * 3, capacity=2, busy_until={1: 2})
    plan = OptimisingPlanner().plan(problem, time_limit_s=5)
    on_one = [p.start for p in plan.placements if p.telescope == 1]
    assert len(plan.placements) == 3 and on_one == [2]


def test_placements_over_a_resources_capacity_are_refused_by_the_hand_out():
    problem = _problem([(5, 2, [0], None)] * 2, capacity=1)
    with pytest.raises(ValueError, match="tfn 1m0 has no telescope free at slice 0: over capacity"):
        assign_telescopes(problem, [Placement(0, 0, 0), Placement(1, 0, 0)])


def test_the_optimiser_bound_holds_on_a_crowded_random_night():
    """Three resources, 300 requests each with its own visibility: the optimiser scores at
    least greedy, within its bound, and every plan keeps each slice within capacity."""
    rng = np.random.default_rng(7)
    slices = 96
    resources = [Resource(f"r{i}", [10 * i + k for k in range(capacity)], np.full(slices, capacity))
                 for i, capacity in enumerate((2, 1, 1))]  # fmt: skip
    candidates = []
    for n in range(300):
        length = int(rng.integers(1, 7))
        starts = {}
        for resource in rng.choice(3, size=int(rng.integers(1, 4)), replace=False):
            rise = int(rng.integers(0, slices - 12))
            starts[int(resource)] = np.arange(rise, min(slices - length, rise + int(rng.integers(8, 40))) + 1)
        candidates.append(Candidate(("request", n), float(rng.integers(1, 101)), length * 300.0 - 20, length, starts))
    problem = Problem(START, 300, slices, resources, candidates, {})
    greedy = GreedyPlanner().plan(problem)
    best = OptimisingPlanner().plan(problem, time_limit_s=20)
    assert greedy.objective <= best.objective <= best.bound
    assert best.gap < 0.02
    for plan in (greedy, best):
        for index, resource in enumerate(resources):
            held = np.zeros(slices, int)
            for p in plan.placements:
                if p.resource == index:
                    assert p.start in candidates[p.candidate].starts[index]
                    held[p.start : p.start + candidates[p.candidate].length] += 1
            assert (held <= resource.capacity).all()
        assert len({p.candidate for p in plan.placements}) == len(plan.placements), "each request at most once"


def test_the_last_plan_is_a_starting_point_and_nothing_is_placed_twice():
    problem = _problem([(5, 2, [0, 1, 2], None), (5, 2, [0, 1, 2], None)])
    last = [Placement(0, 0, 2), Placement(1, 0, 0)]
    for planner in (GreedyPlanner(), OptimisingPlanner()):
        plan = planner.plan(problem, time_limit_s=5, hint=last)
        assert sorted(p.candidate for p in plan.placements) == [0, 1], planner.name


def test_a_target_of_opportunity_interrupts_the_queue_at_the_earliest_slice_it_fits():
    # A one-slice follow-up that fits from slice 1 on; a three-slice request from 0 or 1 is worth
    # more, but the follow-up goes first, at 1, and the request waits (there is no room after it).
    problem = _problem([(10, 3, [0, 1], None), (300, 1, [1, 2, 3], None)])
    problem.candidates[1].urgent = True
    for planner in (GreedyPlanner(), OptimisingPlanner()):
        plan = planner.plan(problem, time_limit_s=5)
        assert _placed(plan) == [(1, 1)], planner.name


def test_the_learned_planners_environment_masks_what_does_not_fit():
    problem = _problem([(5, 2, [0], None), (9, 2, [0, 1], None), (7, 1, [3], None)])
    env = NightEnv(problem)
    check_env(env, skip_render_check=True)
    observation, info = env.reset()
    assert observation.shape == (3, len(FEATURES)) and info["action_mask"].tolist() == [True, True, True]
    _, reward, done, _, info = env.step(1)  # the 9 takes slices 0-1: the 5 no longer fits
    assert reward == pytest.approx(9 * 600 / 3600) and info["action_mask"].tolist() == [False, False, True]
    with pytest.raises(ValueError, match="candidate 0 does not fit anywhere now: the action is masked"):
        env.step(0)
    assert env.step(2)[2] is True, "nothing fits any more: the episode ends"


def test_the_learned_planner_trains_on_simulated_nights_and_keeps_every_rule():
    rng = np.random.default_rng(3)
    weights = train(nights=3, episodes=4, seed=1)
    assert weights.shape == (len(FEATURES),) and not np.allclose(weights, GREEDY_LIKE), "training moved the policy"
    night = simulated_night(rng, candidates=120, slices=60)
    placements, total, _ = rollout(NightEnv(night), weights)
    assert total == pytest.approx(objective(night, placements)) and placements
    for index, resource in enumerate(night.resources):
        held = np.zeros(night.slices, int)
        for p in placements:
            if p.resource == index:
                assert p.start in night.candidates[p.candidate].starts[index]
                held[p.start : p.start + night.candidates[p.candidate].length] += 1
        assert (held <= resource.capacity).all()
    assert len({p.candidate for p in placements}) == len(placements)
