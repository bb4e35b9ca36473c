"""Training a morphology model: it learns, it is registered with its metrics, and it refuses
to train on too few labels."""

import numpy as np
import pytest
import timm
import torch

from mlmodels import services
from mlmodels.registry import create_model, load_version
from mlmodels.runtime import predict
from mlmodels.synthetic_galaxies import KINDS
from mlmodels.training import (
    TrainingRefused,
    TrainingSet,
    classification_metrics,
    galaxy_training_set,
    split_by_source,
    train_classifier,
)
from portal.tenancy import tenant_context


def test_the_split_keeps_every_source_on_one_side():
    groups = np.repeat(np.arange(40), 3)  # three cutouts of each of 40 galaxies
    train, val, test = split_by_source(groups, seed=1)
    sides = [set(groups[side]) for side in (train, val, test)]
    assert sum(len(side) for side in (train, val, test)) == len(groups)
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])


def test_metrics_name_each_class_and_measure_calibration():
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    metrics = classification_metrics(probabilities, np.array([0, 0, 1, 1]), ["smooth", "featured"])
    assert metrics["accuracy"] == 0.75 and metrics["confusion_matrix"] == [[2, 0], [1, 1]]
    assert metrics["per_class"]["smooth"] == {"precision": 2 / 3, "recall": 1.0, "support": 2}
    assert 0 < metrics["expected_calibration_error"] < 0.5


def test_too_few_labels_per_class_is_refused_before_training():
    data = galaxy_training_set(18, size=24)  # three of each class
    with pytest.raises(TrainingRefused, match="elliptical has 3.*at least 10 per class"):
        train_classifier(data, architecture="convnext_atto", epochs=1)


def test_a_small_model_learns_to_tell_galaxies_apart():
    data = galaxy_training_set(600, seed=5, size=32)
    _, metrics = train_classifier(data, architecture="convnext_atto", epochs=8, seed=0)
    assert metrics["split"] == {"train": 420, "validation": 90, "test": 90}
    assert len(metrics["history"]) >= 3 and metrics["history"][-1]["train_loss"] < metrics["history"][0]["train_loss"]
    assert metrics["accuracy"] > 0.5, "well above chance (1/6) on held-out galaxies"


def test_a_trained_version_is_registered_and_its_weights_predict_the_same_after_loading(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        model = create_model(tenant, users["admin"], name="galaxy-morphology", task="morphology",
                             architecture="convnext_atto", class_names=KINDS, input_spec={"size": 32})  # fmt: skip
        epochs = []
        version = services.train_version(model, users["admin"], examples=120, epochs=2, on_epoch=epochs.append)
        assert [row["epoch"] for row in epochs] == [1, 2] and version.metrics["history"] == epochs
        assert len(version.metrics["confusion_matrix"]) == 6 and version.training_data["count"] == 120
        config, weights = load_version(version)
    network = timm.create_model(config["architecture"], pretrained=False, num_classes=config["num_classes"], in_chans=3)
    network.load_state_dict({name: torch.from_numpy(array) for name, array in weights.items()})
    sample = galaxy_training_set(6, seed=999, size=32).images
    probabilities, _ = predict(network, sample)
    assert probabilities.shape == (6, 6) and np.allclose(probabilities.sum(1), 1, atol=1e-5)


def test_a_model_whose_classes_are_not_the_generators_is_refused(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        model = create_model(tenant, users["admin"], name="smooth-or-featured", task="morphology",
                             architecture="convnext_atto", class_names=["smooth", "featured"])  # fmt: skip
        with pytest.raises(TrainingRefused, match="predicts smooth, featured"):
            services.train_version(model, users["admin"], examples=60, epochs=1)


def test_cutouts_too_small_for_the_network_are_refused_with_the_reason():
    data = galaxy_training_set(60, size=16)
    with pytest.raises(TrainingRefused, match="convnext_atto cannot take inputs of 3×16×16"):
        train_classifier(data, architecture="convnext_atto", epochs=1)


def test_training_set_images_are_normalised_per_cutout():
    data = galaxy_training_set(12, size=32)
    assert isinstance(data, TrainingSet) and data.images.dtype == np.float32
    corners = data.images[:, :, :4, :4]
    assert abs(float(np.median(corners))) < 0.2 and 0.05 < float(corners.std()) < 1.0
