"""Registry pages as an ML lead and an admin use them: compare versions, promote one."""

import numpy as np
import pytest

from mlmodels.models import ModelVersion
from mlmodels.registry import create_model, promote, save_version
from portal.progress import finish_job, report_progress, start_job
from portal.tenancy import tenant_context

CLASSES = ["elliptical", "spiral", "edge_on"]


@pytest.fixture
def registry(tenant_factory):
    tenant, users = tenant_factory(sites=[], members=[("admin", "admin"), ("astronomer", "astronomer")])
    with tenant_context(tenant):
        model = create_model(tenant, users["admin"], name="galaxy-morphology", task="morphology",
                             architecture="convnext_nano", class_names=CLASSES, visibility="public")  # fmt: skip
        for number, accuracy in ((1, 0.82), (2, 0.9)):
            metrics = {"accuracy": accuracy, "confusion_matrix": [[30, 2, 1], [3, 27, 0], [0, 1, 29]],
                       "per_class": {name: {"precision": 0.9, "recall": 0.5 + i / 9} for i, name in enumerate(CLASSES)},
                       "history": [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "val_accuracy": 0.5 + e / 20}
                                   for e in range(1, 6)]}  # fmt: skip
            save_version(model, users["admin"], weights={"w": np.zeros(3, np.float32)}, metrics=metrics)
        promote(model.versions.get(number=1))
    return tenant, users, model


def test_models_page_lists_the_model_with_its_production_version(client, registry):
    tenant, users, _ = registry
    client.force_login(users["astronomer"])
    page = client.get(f"/t/{tenant.slug}/models/")
    assert page.status_code == 200 and "galaxy-morphology" in page.text and "v1 · accuracy 0.820" in page.text


def test_version_page_shows_metrics_confusion_matrix_and_training_curves(client, registry):
    tenant, users, model = registry
    client.force_login(users["astronomer"])
    page = client.get(f"/t/{tenant.slug}/models/{model.pk}/v2/")
    assert page.status_code == 200
    assert 'id="confusion-matrix"' in page.text and 'id="training-curves"' in page.text
    assert "0.900" in page.text and "Promote" not in page.text, "only admins change stages"
    assert [name for name, _ in page.context["per_class"]] == CLASSES, "classes in the model's order"
    assert client.get(f"/t/{tenant.slug}/models/{model.pk}/v9/").status_code == 404


def test_admin_promotes_a_version_and_the_previous_one_is_archived(client, registry):
    tenant, users, model = registry
    client.force_login(users["admin"])
    response = client.post(f"/t/{tenant.slug}/models/{model.pk}/v2/stage/", {"action": "promote"})
    assert response.status_code == 302
    with tenant_context(tenant):
        stages = dict(ModelVersion.objects.filter(model=model).values_list("number", "stage"))
    assert stages == {1: "archived", 2: "production"}
    client.force_login(users["astronomer"])
    assert client.post(f"/t/{tenant.slug}/models/{model.pk}/v1/stage/", {"action": "promote"}).status_code == 403


def test_another_observatory_sees_a_public_model_but_cannot_change_it(client, registry, tenant_factory):
    _, _, model = registry
    other, other_users = tenant_factory(sites=[])
    client.force_login(other_users["admin"])
    assert "galaxy-morphology" in client.get(f"/t/{other.slug}/models/").text
    assert client.get(f"/t/{other.slug}/models/{model.pk}/").status_code == 200
    assert client.post(f"/t/{other.slug}/models/{model.pk}/v2/stage/", {"action": "promote"}).status_code == 404


def test_model_page_links_the_jobs_running_on_the_model(client, registry):
    tenant, users, model = registry
    with tenant_context(tenant):
        running = start_job(tenant=tenant, user=users["admin"], kind="training", total=5, subject=model,
                            title="Training galaxy-morphology on 3,000 synthetic galaxies")  # fmt: skip
        report_progress(running, 2, "epoch 2: training loss 0.812, validation accuracy 0.640")
        done = start_job(tenant=tenant, user=users["admin"], kind="backfill", total=1, subject=model,
                         title="Classifying images with galaxy-morphology v1")  # fmt: skip
        finish_job(done, {"classified": 0, "refused": 0})
    client.force_login(users["astronomer"])
    page = client.get(f"/t/{tenant.slug}/models/{model.pk}/")
    assert f'href="/t/{tenant.slug}/jobs/{running.pk}/"' in page.text and "epoch 2: training loss 0.812" in page.text
    assert f"/jobs/{done.pk}/" not in page.text, "finished jobs are not listed"
