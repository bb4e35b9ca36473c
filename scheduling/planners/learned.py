"""The learned planner: a policy that chooses which request to place next, trained by
reinforcement learning on simulated nights.

``NightEnv`` (gymnasium) makes the greedy planner's world a game: at each step the agent
picks one of the candidates that still fit somewhere (the others are masked out), and it is
placed at the earliest slice it fits; the reward is its priority × hours. Only candidates
that fit can be picked and placing goes through the same ``Occupancy`` as every planner, so
no plan it makes can break a constraint. The policy scores each candidate from a few
features of it and of the night as it fills (a linear softmax), trained by REINFORCE with a
batch baseline on nights drawn by ``simulated_night``, starting from the greedy planner's
preferences. numpy only: only ``mlmodels`` loads torch, and a policy of six weights needs none.
"""

import json
import math
import time
from pathlib import Path

import gymnasium
import numpy as np
from django.conf import settings
from gymnasium import spaces

from . import Candidate, Occupancy, Plan, Planner, Problem, Resource, objective

FEATURES = ("priority", "length", "choices", "earliest", "flexibility", "budget")
# Greedy's preferences as weights: higher priority first, then the most constrained.
GREEDY_LIKE = np.array([4.0, 0.0, -0.5, 0.0, 0.0, 0.0])


class NightEnv(gymnasium.Env):
    """One night's problem as an episode: observation, the features of every candidate
    (N × len(FEATURES)); action, the candidate to place next; ``info["action_mask"]``, which
    candidates still fit."""

    def __init__(self, problem):
        self.problem = problem
        count = len(problem.candidates)
        self.action_space = spaces.Discrete(max(1, count))
        self.observation_space = spaces.Box(0.0, 3.0, (count, len(FEATURES)), np.float32)  # each feature in [0, 3]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.taken = Occupancy(self.problem)
        self.placements = []
        count = len(self.problem.candidates)
        self.fits = [{r: self.taken.fits(i, r) for r in c.starts} for i, c in enumerate(self.problem.candidates)]
        self.features = np.zeros((count, len(FEATURES)), np.float32)
        self.mask = np.zeros(count, bool)
        for index in range(count):
            self._describe(index)
        return self.features.copy(), {"action_mask": self.mask.copy()}

    def step(self, action):
        if not self.mask[action]:
            raise ValueError(f"candidate {action} does not fit anywhere now: the action is masked")
        resource, start = min(((r, fits[0]) for r, fits in self.fits[action].items() if len(fits)), key=lambda f: f[1])
        placement = self.taken.take(action, resource, start)
        self.placements.append(placement)
        self.mask[action] = False
        candidate = self.problem.candidates[action]
        end = start + candidate.length
        for index, other in enumerate(self.problem.candidates):
            if not self.mask[index]:
                continue
            held = self.fits[index].get(resource)
            overlaps = held is not None and len(held) and (held[0] < end and held[-1] + other.length > start)
            if overlaps or (candidate.account is not None and other.account == candidate.account):
                self.fits[index] = {r: self.taken.fits(index, r) for r in other.starts}
                self._describe(index)
        terminated = not self.mask.any()
        return self.features.copy(), candidate.weight, terminated, False, {"action_mask": self.mask.copy()}

    def action_masks(self):
        return self.mask.copy()

    def _describe(self, index):
        candidate, slices = self.problem.candidates[index], self.problem.slices
        starts = [fits for fits in self.fits[index].values() if len(fits)]
        self.mask[index] = bool(starts)
        if not starts:
            return
        earliest = min(fits[0] for fits in starts)
        latest = max(fits[-1] for fits in starts)
        left = self.taken.budgets.get(candidate.account, math.inf) if candidate.account is not None else math.inf
        choices = math.log1p(sum(map(len, starts))) / 5
        self.features[index] = np.minimum(3.0, (
            candidate.priority / 100, candidate.length / 12, choices, earliest / slices, (latest - earliest) / slices,
            min(1.0, left / max(candidate.seconds, 1.0) / 10),
        ))  # fmt: skip


def rollout(env, weights, rng=None):
    """One episode: (placements, total reward, [(features, mask, action)]); the best-scored
    candidate each step, or one drawn from the softmax when ``rng`` is given (training)."""
    observation, info = env.reset()
    steps, total = [], 0.0
    mask = info["action_mask"]
    while mask.any():
        logits = np.where(mask, observation @ weights, -np.inf)
        if rng is None:
            action = int(np.argmax(logits))
        else:
            chances = np.exp(logits - logits.max())
            action = int(rng.choice(len(chances), p=chances / chances.sum()))
        steps.append((observation[mask], np.flatnonzero(mask), action))
        observation, reward, terminated, _, info = env.step(action)
        total += reward
        mask = info["action_mask"]
        if terminated:
            break
    return env.placements, total, steps


def train(nights=30, episodes=8, learning_rate=30.0, seed=2026, progress=None):
    """Weights trained by REINFORCE on ``nights`` simulated nights, ``episodes`` each: every
    episode's steps are pushed towards the choices of the episodes that scored above the
    night's mean."""
    rng = np.random.default_rng(seed)
    weights = GREEDY_LIKE.copy()
    for night in range(nights):
        env = NightEnv(simulated_night(rng))
        played = [rollout(env, weights, rng) for _ in range(episodes)]
        returns = np.array([total for _, total, _ in played])
        advantage = (returns - returns.mean()) / (returns.std() + 1e-9)
        gradient = np.zeros_like(weights)
        for (_, _, steps), edge in zip(played, advantage):
            for features, fitting, action in steps:
                logits = features @ weights
                chances = np.exp(logits - logits.max())
                chances /= chances.sum()
                chosen = features[int(np.searchsorted(fitting, action))]
                gradient += edge * (chosen - chances @ features)
        weights += learning_rate * gradient / max(1, sum(len(steps) for _, _, steps in played))
        if progress:
            progress(night + 1, nights, float(returns.mean()))
    return weights


def simulated_night(rng, *, candidates=300, slices=120):
    """A night like the scheduler's: three sites of one or two telescopes, requests of 1 to 8
    slices with priorities 1 to 100, each up at some sites for a stretch of the night."""
    resources = [Resource(f"site {n}", list(range(10 * n, 10 * n + size)), np.full(slices, size))
                 for n, size in enumerate(rng.integers(1, 3, 3))]  # fmt: skip
    made = []
    for n in range(candidates):
        length = int(rng.integers(1, 9))
        starts = {}
        for resource in range(len(resources)):
            if rng.random() < 0.6:
                rise = int(rng.integers(0, slices - length))
                starts[resource] = np.arange(rise, min(slices - length, rise + int(rng.integers(4, 60))) + 1)
        if starts:
            made.append(Candidate(("simulated", n), float(rng.integers(1, 101)), length * 300.0 - 20, length, starts))
    return Problem(None, 300, slices, resources, made, {})


def policy_path():
    return Path(settings.VAR_DIR) / "scheduling" / "planner-policy.json"


def load_weights():
    """The trained policy's weights; trained now (seconds, seeded) and kept when there are none."""
    path = policy_path()
    if path.exists():
        return np.array(json.loads(path.read_text())["weights"])
    weights = train()
    save_weights(weights)
    return weights


def save_weights(weights):
    path = policy_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"features": FEATURES, "weights": [float(w) for w in weights]}))


class LearnedPlanner(Planner):
    name = "learned"

    def solve(self, problem, *, time_limit_s=None, hint=None):
        started = time.perf_counter()
        weights = load_weights()
        placements, _, _ = rollout(NightEnv(problem), weights)
        return Plan(self.name, placements, objective(problem, placements), seconds=time.perf_counter() - started,
                    notes={"weights": dict(zip(FEATURES, np.round(weights, 3).tolist()))})  # fmt: skip
