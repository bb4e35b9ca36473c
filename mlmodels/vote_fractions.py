"""Models that predict volunteers' vote fractions, question by question, as Zoobot does.

Such a network has one output per answer of the tree (``question_answer``, in tree order).
Each output becomes a Dirichlet concentration, ``1 + 99·sigmoid``; a question's predicted
vote fractions are its answers' concentrations over their sum. It learns from vote counts
through the Dirichlet-multinomial likelihood of each question's votes: a galaxy seen by 40
volunteers pulls harder than one seen by 3, a question nobody reached (no votes) does not
pull at all, and a split vote is a fact to learn rather than noise around a single label
(Walmsley et al. 2022). Only worker code imports this module (torch).
"""

import numpy as np
import torch

from .galaxy_zoo import question_groups, split_column

LOWEST, HIGHEST = 1.0, 100.0


def concentrations(logits):
    return LOWEST + (HIGHEST - LOWEST) * torch.sigmoid(logits)


def fractions(logits, groups):
    """Per-answer predicted vote fractions (each question's sum to one), as logits' shape."""
    alpha = concentrations(logits)
    out = torch.empty_like(alpha)
    for _, columns in groups:
        out[:, columns] = alpha[:, columns] / alpha[:, columns].sum(1, keepdim=True)
    return out


def dirichlet_multinomial_loss(logits, counts, groups):
    """Mean over galaxies of the negative log-likelihood of every question's votes."""
    alpha = concentrations(logits.float())
    total = torch.zeros(len(logits), device=logits.device)
    for _, columns in groups:
        a, k = alpha[:, columns], counts[:, columns]
        n, a_sum = k.sum(1), a.sum(1)
        log_likelihood = (
            torch.lgamma(n + 1) - torch.lgamma(k + 1).sum(1) + torch.lgamma(a_sum) - torch.lgamma(n + a_sum)
            + (torch.lgamma(k + a) - torch.lgamma(a)).sum(1)
        )  # fmt: skip
        total = total - log_likelihood
    return total.mean()


def mean_shares(counts, groups):
    """Each question's mean vote shares over the galaxies that were asked it: the "average
    galaxy" a model must beat to have learnt anything from the images."""
    shares = np.zeros(counts.shape[1])
    for _, indices in groups:
        votes = counts[:, indices]
        asked = votes[votes.sum(1) > 0]
        if len(asked):
            shares[indices] = (asked / asked.sum(1, keepdims=True)).mean(0)
    return shares


def against_the_average_galaxy(metrics, counts, columns, shares):
    """``metrics`` (vote_metrics of a model on ``counts``) with, beside each error, the error
    of predicting ``shares`` (mean_shares of the training galaxies) for every galaxy."""
    average = vote_metrics(np.tile(shares, (len(counts), 1)), counts, columns)
    metrics["average_galaxy_error"] = average["mean_fraction_error"]
    for question, scores in metrics["per_question"].items():
        scores["average_galaxy_error"] = average["per_question"][question]["mean_absolute_error"]
    return metrics


def vote_metrics(predicted, counts, columns):
    """How close predicted fractions are to the volunteers', on held-out galaxies: per question
    the mean absolute error of the fractions (over galaxies whose question got votes), and for
    the first question (asked of every galaxy) how often the most-voted answer is predicted."""
    groups = question_groups(columns)
    per_question = {}
    for question, indices in groups:
        votes = counts[:, indices]
        asked = votes.sum(1) > 0
        if not asked.any():
            continue
        truth = votes[asked] / votes[asked].sum(1, keepdims=True)
        per_question[question] = {"mean_absolute_error": float(np.abs(predicted[asked][:, indices] - truth).mean()),
                                  "galaxies": int(asked.sum())}  # fmt: skip
    first, indices = groups[0]
    asked = counts[:, indices].sum(1) > 0
    truth, said = counts[asked][:, indices].argmax(1), predicted[asked][:, indices].argmax(1)
    answers = [split_column(columns[index])[1] for index in indices]
    matrix = np.zeros((len(indices), len(indices)), dtype=int)
    np.add.at(matrix, (truth, said), 1)
    errors = [scores["mean_absolute_error"] for scores in per_question.values()]
    return {"accuracy": float((truth == said).mean()) if asked.any() else 0.0, "first_question": first,
            "first_question_answers": answers, "confusion_matrix": matrix.tolist(),
            "mean_fraction_error": float(np.mean(errors)) if errors else None, "per_question": per_question,
            "test_examples": int(len(counts))}  # fmt: skip
