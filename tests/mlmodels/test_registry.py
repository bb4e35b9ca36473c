"""The model registry: versions saved in the hub's layout, checked on load, one in production."""

import json

import numpy as np
import pytest
import safetensors.numpy
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction

from mlmodels.models import MLModel, ModelVersion
from mlmodels.registry import (
    ArtifactCorrupt,
    RegistryError,
    create_model,
    load_version,
    promote,
    save_version,
    usable_version,
)
from portal.tenancy import tenant_context

from .conftest import tamper_with_weights


def weights(seed):
    rng = np.random.default_rng(seed)
    return {"stem.weight": rng.standard_normal((8, 3, 3, 3), dtype=np.float32), "head.bias": np.zeros(6, np.float32)}


@pytest.fixture
def morphology(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        model = create_model(tenant, users["admin"], name="galaxy-morphology", task="morphology",
                             architecture="convnext_nano", class_names=["elliptical", "spiral", "edge_on"],
                             input_spec={"size": 64, "bands": ["g", "r", "z"]})  # fmt: skip
        yield model, users["admin"]


def test_a_version_is_stored_as_config_json_and_safetensors_and_loads_back(morphology):
    model, user = morphology
    first = save_version(model, user, weights=weights(1), metrics={"accuracy": 0.91})
    second = save_version(model, user, weights=weights(2))
    assert (first.number, second.number) == (1, 2) and first.stage == "staging"
    folder = f"models/{model.tenant_id}/galaxy-morphology/v1"
    assert first.artifact_path == folder
    with default_storage.open(f"{folder}/config.json") as stored:
        config = json.load(stored)
    assert config["architecture"] == "convnext_nano" and config["num_classes"] == 3
    assert config["label_names"] == ["elliptical", "spiral", "edge_on"]
    with default_storage.open(f"{folder}/model.safetensors", "rb") as stored:
        assert set(safetensors.numpy.load(stored.read())) == {"stem.weight", "head.bias"}
    loaded_config, loaded = load_version(first)
    assert loaded_config == config and np.array_equal(loaded["stem.weight"], weights(1)["stem.weight"])


def test_weights_changed_after_registration_are_refused(morphology):
    model, user = morphology
    version = save_version(model, user, weights=weights(1))
    path = tamper_with_weights(version)
    with pytest.raises(ArtifactCorrupt, match="refusing to load weights that changed"):
        load_version(version)
    default_storage.delete(path)
    with pytest.raises(ArtifactCorrupt, match="cannot be read"):
        load_version(version)


def test_promoting_a_version_archives_the_one_before_and_only_one_serves(morphology):
    model, user = morphology
    first, second = save_version(model, user, weights=weights(1)), save_version(model, user, weights=weights(2))
    with pytest.raises(RegistryError, match="has no production version yet"):
        usable_version(model.tenant, "galaxy-morphology")
    promote(first)
    assert usable_version(model.tenant, "galaxy-morphology") == first
    promote(second)
    first.refresh_from_db()
    assert first.stage == "archived" and usable_version(model.tenant, "galaxy-morphology") == second
    with pytest.raises(RegistryError, match="v1 .* is archived"):
        usable_version(model.tenant, "galaxy-morphology", 1)
    with pytest.raises(RegistryError, match="has no version 7 \\(it has: v2, v1\\)"):
        usable_version(model.tenant, "galaxy-morphology", 7)
    with pytest.raises(
        RegistryError, match="no model named 'frame-quality'; this observatory can use: galaxy-morphology"
    ):
        usable_version(model.tenant, "frame-quality")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=first.pk).update(stage="production")


@pytest.fixture
def shared_and_in_house(tenant_factory):
    """An observatory with a public model and an in-house one, each with a production v1 and a staging v2."""
    owner, users = tenant_factory(sites=[])
    with tenant_context(owner):
        for name, visibility in (("shared-morphology", "public"), ("in-house", "tenant")):
            model = create_model(owner, users["admin"], name=name, task="morphology", architecture="resnet18",
                                 class_names=["a", "b"], visibility=visibility)  # fmt: skip
            promote(save_version(model, users["admin"], weights=weights(4), metrics={"accuracy": 0.8}))
            save_version(model, users["admin"], weights=weights(5))
    return owner, users


def test_public_models_and_their_versions_are_readable_by_other_tenants_private_ones_are_not(
    shared_and_in_house, tenant_factory
):
    owner, _ = shared_and_in_house
    other, _ = tenant_factory(sites=[])
    with tenant_context(other), connection.cursor() as cursor:
        cursor.execute("SELECT m.name FROM mlmodels_modelversion v JOIN mlmodels_mlmodel m ON m.id = v.model_id")
        assert [row[0] for row in cursor.fetchall()] == ["shared-morphology", "shared-morphology"]
        assert usable_version(other, "shared-morphology").model.tenant_id == owner.pk
        with pytest.raises(RegistryError, match="no model named 'in-house'"):
            usable_version(other, "in-house")
        assert not MLModel.objects.filter(name="in-house").exists()


def test_partners_list_usable_models_with_their_versions_through_the_api(shared_and_in_house, tenant_factory):
    from tests.conftest import api_client

    owner, users = shared_and_in_house
    partner_tenant, partner_users = tenant_factory(sites=[])
    body = api_client(partner_tenant, partner_users["admin"]).get("/api/v1/models/", {"task": "morphology"}).json()
    assert [m["name"] for m in body["results"]] == ["shared-morphology"]
    shared = body["results"][0]
    assert shared["owner"] == owner.slug and shared["production_version"] == 1
    assert [(v["number"], v["stage"]) for v in shared["versions"]] == [(2, "staging"), (1, "production")]
    assert shared["versions"][1]["metrics"]["accuracy"] == 0.8 and len(shared["versions"][1]["sha256"]) == 64
    mine = api_client(owner, users["admin"]).get("/api/v1/models/").json()
    assert {m["name"] for m in mine["results"]} == {"shared-morphology", "in-house"}
