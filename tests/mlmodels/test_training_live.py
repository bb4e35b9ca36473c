"""Training on a real gpu worker, followed live over the job's websocket."""

from asgiref.sync import async_to_sync

from mlmodels import services
from mlmodels.models import ModelVersion
from mlmodels.registry import create_model
from mlmodels.synthetic_galaxies import KINDS
from mlmodels.tasks import train_model
from portal.tenancy import tenant_context
from tests.portal.test_live import _communicator, _new_job, _session_cookie
from tests.waiting import finished


def test_training_runs_on_a_gpu_worker_and_each_epoch_reaches_the_job_page(workers, committed_tenant_factory):
    tenant, users = committed_tenant_factory()
    with tenant_context(tenant):
        model = create_model(tenant, users["admin"], name="galaxy-morphology", task="morphology",
                             architecture="convnext_atto", class_names=KINDS, input_spec={"size": 32})  # fmt: skip
    job = _new_job(tenant, users["admin"], total=3)

    async def watch():
        communicator = _communicator(f"/ws/t/{tenant.slug}/jobs/{job.pk}/", _session_cookie(users["admin"]))
        assert (await communicator.connect())[0]
        states = [await communicator.receive_json_from(timeout=5)]
        train_model.delay(tenant.pk, job.pk, model.pk, examples=120, epochs=3)
        while states[-1]["status"] not in ("succeeded", "failed"):
            states.append(await communicator.receive_json_from(timeout=120))
        await communicator.disconnect()
        return states

    states = async_to_sync(watch)()
    assert states[-1]["status"] == "succeeded", states[-1]
    assert [s["message"].split(":")[0] for s in states if s["message"].startswith("epoch")][:2] == [
        "epoch 1",
        "epoch 2",
    ]
    assert states[-1]["result"]["version"] == 1 and len(states[-1]["result"]["history"]) >= 2
    with tenant_context(tenant):
        assert ModelVersion.objects.get(model=model).stage == "staging"


def test_an_admin_starts_training_from_the_model_page_and_the_job_keeps_the_curve(
    client, workers, committed_tenant_factory
):
    tenant, users = committed_tenant_factory()
    with tenant_context(tenant):
        model = create_model(tenant, users["admin"], name="galaxy-morphology", task="morphology",
                             architecture="convnext_atto", class_names=KINDS, input_spec={"size": 32})  # fmt: skip
    client.force_login(users["admin"])
    page = client.get(f"/t/{tenant.slug}/models/{model.pk}/")
    assert "Train a new version" in page.text
    response = client.post(f"/t/{tenant.slug}/models/{model.pk}/train/", {"examples": 120, "epochs": 2})
    assert response.status_code == 302 and "/jobs/" in response["Location"]
    job_page = client.get(response["Location"])
    assert 'id="job-curve"' in job_page.text and "plotly" in job_page.text
    job = job_page.context["job"]
    job = finished(tenant, job)
    assert job.status == "succeeded", job.message
    assert [row["epoch"] for row in job.result["history"]] == [1, 2] and job.result["version"] == 1
    refused = client.post(f"/t/{tenant.slug}/models/{model.pk}/train/", {"examples": 5, "epochs": 2})
    assert refused.status_code == 302 and "/jobs/" not in refused["Location"]


def test_an_admin_trains_a_generator_for_mergers_from_its_page_and_its_version_says_so(
    client, workers, committed_tenant_factory
):
    tenant, users = committed_tenant_factory()
    with tenant_context(tenant):
        generator = services.create_task_model(tenant, users["admin"], name="galaxy-diffusion", task="generative")
        classifier = services.create_task_model(tenant, users["admin"], name="galaxy-morphology", task="morphology")
    client.force_login(users["admin"])
    assert 'name="focus"' in client.get(f"/t/{tenant.slug}/models/{generator.pk}/").text
    assert 'name="focus"' not in client.get(f"/t/{tenant.slug}/models/{classifier.pk}/").text
    response = client.post(f"/t/{tenant.slug}/models/{generator.pk}/train/",
                           {"examples": 120, "epochs": 1, "focus": "merger"})  # fmt: skip
    job = finished(tenant, client.get(response["Location"]).context["job"])
    assert job.status == "succeeded", job.message
    assert job.title.endswith("for merger galaxies")
    with tenant_context(tenant):
        version = ModelVersion.objects.get(model=generator)
    assert version.training_data["summary"].endswith("merger in 90% of the draws")
    page = client.get(f"/t/{tenant.slug}/models/{generator.pk}/")
    assert "merger in 90% of the draws" in page.text
