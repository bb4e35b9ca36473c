"""From votes to consensus: plain vote fractions, and skill-weighted consensus by Dawid–Skene.

Dawid & Skene (1979) estimate, together, each galaxy's true answer and each volunteer's
confusion matrix (how often they give answer l when the truth is k) by expectation-
maximisation; a volunteer who answers at random, or against the truth, ends up with a matrix
that moves nothing, so one careless or adversarial volunteer cannot sway a galaxy. Gold-
standard galaxies have their truth fixed, which anchors the volunteers' matrices. Each
question of the tree is its own problem, over the volunteers who were asked it.

Arrays throughout (one row a vote), so a million votes take seconds, not minutes.
"""

from dataclasses import dataclass

import numpy as np

SMOOTHING = 0.5  # pseudo-counts on each confusion-matrix row: a volunteer with two votes is not judged by them alone
ITERATIONS = 50
TOLERANCE = 1e-6


@dataclass
class QuestionVotes:
    """One question's votes: parallel arrays of subject index, voter index and answer index."""

    subjects: np.ndarray
    voters: np.ndarray
    answers: np.ndarray
    answer_count: int
    subject_count: int
    voter_count: int


@dataclass
class Consensus:
    posteriors: np.ndarray  # (subjects, answers): probability of each true answer
    confusion: np.ndarray  # (voters, answers, answers): P(answer given | true answer)
    priors: np.ndarray  # (answers,)
    iterations: int

    def skill(self):
        """(voters,) each volunteer's chance of giving the true answer, under the estimated priors."""
        return np.einsum("k,vkk->v", self.priors, self.confusion)


def vote_fractions(votes):
    """(subjects, answers) the share of each answer among a subject's votes (0 where none)."""
    counts = vote_counts(votes)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def majority(votes):
    """(subjects,) the most voted answer of each subject (the lowest index on a tie), -1 without votes."""
    counts = vote_counts(votes)
    return np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1)


def dawid_skene(votes, gold=None):
    """Skill-weighted consensus of one question's votes. ``gold``: {subject index: true answer
    index} for gold-standard galaxies, whose truth is not estimated but given."""
    k = votes.answer_count
    posteriors = vote_fractions(votes)
    unvoted = posteriors.sum(axis=1) == 0
    posteriors[unvoted] = 1.0 / k
    fixed_index = np.fromiter(gold or {}, dtype=np.int64)
    fixed = np.zeros((len(fixed_index), k))
    if len(fixed_index):
        fixed[np.arange(len(fixed_index)), np.fromiter(gold.values(), dtype=np.int64)] = 1.0
        posteriors[fixed_index] = fixed
    previous = None
    for iteration in range(1, ITERATIONS + 1):
        priors, confusion = _maximise(votes, posteriors)
        log_posteriors = np.tile(np.log(priors), (votes.subject_count, 1))
        contributions = np.log(confusion[votes.voters, :, votes.answers])  # (votes, k): log P(given | truth k)
        for truth in range(k):
            log_posteriors[:, truth] += np.bincount(votes.subjects, weights=contributions[:, truth],
                                                    minlength=votes.subject_count)  # fmt: skip
        log_posteriors -= log_posteriors.max(axis=1, keepdims=True)
        posteriors = np.exp(log_posteriors)
        posteriors /= posteriors.sum(axis=1, keepdims=True)
        if len(fixed_index):
            posteriors[fixed_index] = fixed
        if previous is not None and np.abs(posteriors - previous).max() < TOLERANCE:
            break
        previous = posteriors
    return Consensus(posteriors, confusion, priors, iteration)


def _maximise(votes, posteriors):
    k = votes.answer_count
    priors = posteriors.mean(axis=0) + 1e-9
    priors /= priors.sum()
    confusion = np.full((votes.voter_count, k, k), SMOOTHING / k)
    cell = votes.voters * k + votes.answers
    for truth in range(k):
        weights = posteriors[votes.subjects, truth]
        confusion[:, truth, :] += np.bincount(cell, weights, votes.voter_count * k).reshape(votes.voter_count, k)
    confusion /= confusion.sum(axis=2, keepdims=True)
    return priors, confusion


def vote_counts(votes):
    """(subjects, answers) how many votes each answer got."""
    counts = np.zeros((votes.subject_count, votes.answer_count))
    np.add.at(counts, (votes.subjects, votes.answers), 1.0)
    return counts
