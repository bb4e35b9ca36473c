"""Vote-fraction models: learning the share of volunteers giving each answer, question by
question (Dirichlet-multinomial on vote counts), and how well they do on held-out galaxies."""

import numpy as np
import pytest
import torch

from mlmodels.galaxy_zoo import answer_columns, question_groups
from mlmodels.normalisation import asinh_normalise
from mlmodels.synthetic_galaxies import make_galaxies
from mlmodels.training import TrainingSet, split_by_source, train_classifier
from mlmodels.vote_fractions import dirichlet_multinomial_loss, fractions, mean_shares, vote_metrics

COLUMNS = answer_columns()
GROUPS = question_groups(COLUMNS)


def vote_set(count, *, seed, size):
    """Synthetic galaxies with their forty simulated volunteers' DECaLS votes as counts."""
    galaxies = make_galaxies(count, seed=seed, size=size)
    counts = [[galaxy.votes.get(column.partition("_")[0], {}).get(column.partition("_")[2], 0) for column in COLUMNS]
              for galaxy in galaxies]  # fmt: skip
    images = asinh_normalise(np.stack([galaxy.image for galaxy in galaxies]))
    return TrainingSet(images, None, np.arange(count), COLUMNS, "test", votes=np.array(counts, dtype=np.float32))


def test_questions_are_grouped_from_the_columns_and_fractions_sum_to_one_per_question():
    assert [question for question, _ in GROUPS][:3] == ["smooth-or-featured", "disk-edge-on", "has-spiral-arms"]
    assert GROUPS[0][1] == [0, 1, 2] and sum(len(indices) for _, indices in GROUPS) == 34
    predicted = fractions(torch.randn(5, 34), GROUPS)
    for _, indices in GROUPS:
        assert torch.allclose(predicted[:, indices].sum(1), torch.ones(5))


def test_the_loss_prefers_the_votes_shares_and_ignores_questions_nobody_reached():
    counts = torch.zeros(1, 34)
    counts[0, 0:3] = torch.tensor([30.0, 8.0, 2.0])  # smooth, featured, artifact
    agreeing, disagreeing = torch.full((1, 34), -3.0), torch.full((1, 34), -3.0)
    agreeing[0, 0:3] = torch.tensor([3.0, 0.0, -2.0])
    disagreeing[0, 0:3] = torch.tensor([-2.0, 3.0, 0.0])
    assert dirichlet_multinomial_loss(agreeing, counts, GROUPS) < dirichlet_multinomial_loss(
        disagreeing, counts, GROUPS
    )
    unreached = agreeing.clone()
    unreached[0, 3:] = torch.randn(31) * 5  # questions with no votes: any output costs nothing
    assert torch.isclose(dirichlet_multinomial_loss(unreached, counts, GROUPS),
                         dirichlet_multinomial_loss(agreeing, counts, GROUPS))  # fmt: skip


def test_metrics_say_how_far_fractions_are_per_question_and_the_first_answer_accuracy():
    counts = np.zeros((2, 34))
    counts[0, 0:3], counts[1, 0:3], counts[1, 3:5] = [8, 2, 0], [1, 9, 0], [5, 5]
    predicted = np.zeros((2, 34))
    predicted[0, 0:3], predicted[1, 0:3], predicted[:, 3:5] = [0.7, 0.3, 0], [0.6, 0.4, 0], [1.0, 0.0]
    metrics = vote_metrics(predicted, counts, COLUMNS)
    assert metrics["accuracy"] == 0.5 and metrics["first_question"] == "smooth-or-featured"
    assert metrics["confusion_matrix"] == [[1, 0, 0], [1, 0, 0], [0, 0, 0]]
    assert metrics["per_question"]["disk-edge-on"] == {"mean_absolute_error": 0.5, "galaxies": 1}
    assert set(metrics["per_question"]) == {"smooth-or-featured", "disk-edge-on"}, "unreached questions are not scored"


def test_a_small_model_learns_the_votes_better_than_the_average_galaxy():
    data = vote_set(1500, seed=5, size=32)
    _, metrics = train_classifier(data, architecture="convnext_atto", epochs=15, seed=0)
    assert metrics["split"] == {"train": 1050, "validation": 225, "test": 225}
    assert metrics["history"][-1]["train_loss"] < metrics["history"][0]["train_loss"]
    # What a model must beat: every held-out galaxy given the training galaxies' mean shares.
    train, _, test = split_by_source(data.groups, seed=0)
    average = vote_metrics(np.tile(mean_shares(data.votes[train], GROUPS), (len(test), 1)), data.votes[test], COLUMNS)
    assert metrics["average_galaxy_error"] == pytest.approx(average["mean_fraction_error"])
    assert metrics["mean_fraction_error"] < 0.85 * average["mean_fraction_error"], (metrics, average)
    for question in ("disk-edge-on", "has-spiral-arms"):  # what the image shows plainly, the model must see
        scores = metrics["per_question"][question]
        assert scores["mean_absolute_error"] < 0.7 * scores["average_galaxy_error"], (question, scores)
