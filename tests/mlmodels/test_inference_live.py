"""Inference on a real gpu worker: promoting a version classifies every image it has not seen,
a new image is classified as it arrives, and the answers reach the pages and the API."""

from mlmodels import registry, services
from mlmodels.models import Embedding, Prediction
from mlmodels.runtime import build_network
from mlmodels.synthetic_galaxies import KINDS, make_galaxy
from mlmodels.training import weights_of
from observations.images import add_target_images
from observations.ingest import ingest_frame
from observations.models import Target
from observations.synthetic import make_frame
from portal.models import Site
from portal.tenancy import tenant_context
from tests.conftest import api_client
from tests.observations.conftest import M51, equip, to_bytes
from tests.waiting import eventually, finished


def test_a_promoted_version_classifies_every_image_and_new_ones_as_they_arrive(
    workers, committed_tenant_factory, untrained_version, client
):
    tenant, users = committed_tenant_factory(sites=["tfn"])
    with tenant_context(tenant):
        version = untrained_version(tenant, users["admin"])
        targets = [Target.objects.create(tenant=tenant, name=f"ARS J{n}", ra_deg=150 + n, dec_deg=2, kind="galaxy")
                   for n in range(6)]  # fmt: skip
        tfn = Site.objects.get(tenant=tenant, code="tfn")
        add_target_images(tenant, [(t, make_galaxy(n, KINDS[n]).fits_bytes(), "survey") for n, t in
                                   enumerate(targets[:3])], site=tfn)  # fmt: skip
        add_target_images(tenant, [(t, make_galaxy(n, KINDS[n]).fits_bytes(), "survey") for n, t in
                                   enumerate(targets[3:5], start=3)])  # fmt: skip
        assert not Prediction.objects.exists(), "nothing serves yet: the images wait for a production version"
        version, job = services.promote_version(version, users["admin"])
        finished(tenant, job)
        assert job.status == "succeeded" and job.result == {"classified": 5, "refused": 0}, job.message
        assert Embedding.objects.filter(version=version).count() == 5
        [late] = add_target_images(tenant, [(targets[5], make_galaxy(77, "merger").fits_bytes(), "survey")])
        eventually(Prediction.objects.filter(image=late).exists, 120, "the gpu worker to classify the new image")
        label = Prediction.objects.get(image=late).label
    client.force_login(users["admin"])
    page = client.get(f"/t/{tenant.slug}/targets/{targets[5].pk}/")
    assert f"galaxy-morphology v{version.number}" in page.text and f'<tr class="best"><th>{label}</th>' in page.text
    similar = client.get(f"/t/{tenant.slug}/targets/{targets[5].pk}/similar/")
    assert similar.status_code == 200 and similar.text.count('class="distance"') == 5
    assert 'id="embedding-map"' in similar.text
    answer = api_client(tenant, users["admin"]).get(f"/api/v1/targets/{targets[5].pk}/similar/?k=3&site=tfn").json()
    assert answer["model"] == "galaxy-morphology" and len(answer["neighbours"]) == 3
    distances = [n["distance"] for n in answer["neighbours"]]
    assert distances == sorted(distances) and {n["site"] for n in answer["neighbours"]} == {"tfn"}
    predictions = api_client(tenant, users["admin"]).get(f"/api/v1/targets/{targets[5].pk}/predictions/").json()
    assert [(p["model"], p["label"]) for p in predictions["results"]] == [("galaxy-morphology", label)]


def test_a_promoted_frame_quality_version_judges_existing_frames_and_each_new_one(workers, committed_tenant_factory):
    tenant, users = committed_tenant_factory(sites=[])
    equip(tenant)
    with tenant_context(tenant):
        model = services.create_task_model(tenant, users["admin"], name="frame-quality", task="frame_quality",
                                           architecture="convnext_atto")  # fmt: skip
        network = build_network("convnext_atto", num_classes=len(model.class_names) + len(model.flag_names), in_chans=2)
        version = registry.save_version(model, users["admin"], weights=weights_of(network))
        frame = make_frame(ra_deg=M51[0], dec_deg=M51[1], width=512, height=512, seed=4, defects=("clouds",))
        before = ingest_frame(tenant, users["admin"], to_bytes([frame]), "cloudy.fits").frame
        version, job = services.promote_version(version, users["admin"])
        finished(tenant, job)
        assert job.status == "succeeded" and job.result == {"classified": 1, "refused": 0}, job.message
        assert job.title == f"Classifying frames with frame-quality v{version.number}"
        frame = make_frame(ra_deg=M51[0], dec_deg=M51[1], width=512, height=512, seed=5)
        after = ingest_frame(tenant, users["admin"], to_bytes([frame]), "clear.fits").frame
        eventually(Prediction.objects.filter(frame=after).exists, 120, "the gpu worker to judge the new frame")
        for judged in (before, after):
            prediction = Prediction.objects.get(frame=judged)
            assert prediction.label in model.class_names and set(prediction.flags) == set(model.flag_names)
