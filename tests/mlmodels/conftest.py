"""A registered morphology version without training, for tests of what happens around a model."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from mlmodels import registry
from mlmodels.runtime import build_network
from mlmodels.synthetic_galaxies import KINDS
from mlmodels.training import weights_of

SPEC = {"size": 64, "bands": ["g", "r", "z"], "normalisation": "asinh-noise"}


def register_untrained(tenant, user, name="galaxy-morphology", visibility="tenant"):
    """A version holding the network's initial weights: its answers are real forward passes,
    whatever they are worth."""
    model = registry.create_model(tenant, user, name=name, task="morphology", architecture="convnext_atto",
                                  class_names=KINDS, input_spec=SPEC, visibility=visibility)  # fmt: skip
    network = build_network("convnext_atto", num_classes=len(KINDS), in_chans=3)
    return registry.save_version(model, user, weights=weights_of(network))


@pytest.fixture
def untrained_version():
    return register_untrained


def tamper_with_weights(version):
    """Flip one byte of a stored version's weights, as a bad disk or a hand would."""
    path = f"{version.artifact_path}/{registry.WEIGHTS_NAME}"
    with default_storage.open(path, "rb") as stored:
        blob = bytearray(stored.read())
    blob[-1] ^= 0xFF
    default_storage.delete(path)
    default_storage.save(path, ContentFile(bytes(blob)))
    return path
