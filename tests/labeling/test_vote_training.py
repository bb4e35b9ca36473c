"""From volunteers back to the model: a vote export trains the project's vote-fraction model,
its version is compared on the model page, and once in production its doubt orders the queue."""

import io
import math

import pytest
from django.core.management import call_command

from labeling.exports import export_votes, train_on_export
from labeling.models import Subject
from labeling.services import add_subjects, aggregate, classify, what_others_said
from mlmodels import inference, services
from mlmodels.models import MLModel, Prediction
from mlmodels.subjects import TargetImages
from mlmodels.synthetic_galaxies import make_galaxy
from observations.images import add_target_images
from observations.models import Target
from portal.models import Job, Role
from portal.tenancy import tenant_context
from tests.labeling.conftest import signed_in
from tests.labeling.test_classifying import ROUND, SPIRAL, simple_project
from tests.waiting import finished

EDGE = [["shape", "disk"], ["arms", "no"]]


MEMBERS = [("admin", Role.ADMIN), ("owner", Role.ASTRONOMER), ("volunteer", Role.VOLUNTEER)]


@pytest.fixture
def voted(tenant_factory):
    tenant, users = tenant_factory(members=MEMBERS)
    with tenant_context(tenant):
        yield tenant, users, *voted_project(tenant, users)


def voted_project(tenant, users):
    """A project of 40 galaxies, three volunteers' votes on each, aggregated and exported."""
    targets = [Target.objects.create(tenant=tenant, name=f"G{i}", ra_deg=10 + i / 100, dec_deg=5)
               for i in range(40)]  # fmt: skip
    images = add_target_images(tenant, [(t, make_galaxy(t.pk, size=16).fits_bytes(), "test") for t in targets])
    project = simple_project(tenant, users["owner"], consensus_fraction=None)
    add_subjects(project, images)
    for number, subject in enumerate(project.subjects.order_by("pk")):
        for voter, answers in zip(("anon:a", "anon:b", "anon:c"), [(ROUND, SPIRAL, EDGE)[(number + k) % 3]
                                                                   for k in (0, 0, number % 2)]):  # fmt: skip
            classify(project, subject.pk, voter=voter, user=None, workflow_version=1, answers=answers)
    aggregate(project)
    return project, export_votes(project, users["owner"])


def test_an_admin_trains_the_projects_vote_model_from_an_export_and_others_may_not(voted):
    tenant, users, project, export = voted
    page = f"/t/{tenant.slug}/projects/{project.pk}/"
    button = "Train a vote model</button>"
    assert button in signed_in(users["admin"]).get(page).content.decode()
    assert button not in signed_in(users["owner"]).get(page).content.decode(), "astronomers run projects, admins train"
    refused = signed_in(users["owner"]).post(page, {"action": "train", "number": 1, "epochs": 3})
    assert refused.status_code == 403
    bad = signed_in(users["admin"]).post(page, {"action": "train", "number": 1, "epochs": 0}, follow=True)
    assert "epochs: Ensure this value is greater than or equal to 1." in bad.content.decode()
    started = signed_in(users["admin"]).post(page, {"action": "train", "number": 1, "epochs": 3})
    assert started.status_code == 302 and "/jobs/" in started["Location"]
    with tenant_context(tenant):
        model = MLModel.objects.get(name="shapes-votes")
        job = Job.objects.get(kind="training")
    assert model.task == "vote_fractions" and model.class_names == ["shape_round", "shape_disk", "arms_yes", "arms_no"]
    assert job.title == "Training shapes-votes on 40 galaxies of Shapes votes v1 (volunteers' votes)"
    assert job.arguments["kwargs"]["dataset"] == export.pk and job.arguments["kwargs"]["epochs"] == 3


def test_a_vote_version_predicts_shares_per_question_and_in_production_reorders_the_queue(voted):
    tenant, users, project, export = voted
    with tenant_context(tenant):
        train_on_export(export, users["admin"], epochs=2, examples=1000)
        model = MLModel.objects.get(name="shapes-votes")
        with pytest.raises(ValueError, match="learns from stored sets of galaxies: choose which one"):
            services.train_version(model, users["admin"], examples=100, epochs=1)
        version = services.train_version(model, users["admin"], examples=1000, epochs=2, dataset=export.pk)
        assert version.config["outputs"] == "vote_fractions" and version.training_data["dataset"] == export.pk
        assert (
            "40 galaxies of Shapes votes v1 (120 classifications by 3 volunteers)" in version.training_data["summary"]
        )
        assert set(version.metrics["per_question"]) == {"shape", "arms"}
        assert version.metrics["first_question_answers"] == ["round", "disk"] and version.metrics["rivals"] == {}
        services.promote_version(version, users["admin"])
        open_subjects = project.subjects.filter(retired_at__isnull=True)
        assert open_subjects.exists() and not open_subjects.filter(uncertainty__isnull=False).exists()
        images = TargetImages().subjects().filter(labeling_subjects__project=project).order_by("pk")
        assert inference.classify(version, TargetImages(), images) == 40
        prediction = Prediction.objects.filter(version=version).first()
        shares = prediction.probabilities
        assert math.isclose(shares["shape_round"] + shares["shape_disk"], 1, abs_tol=1e-4)
        assert math.isclose(shares["arms_yes"] + shares["arms_no"], 1, abs_tol=1e-4)
        assert prediction.label == max(("shape_round", "shape_disk"), key=shares.get)
        # Its doubt about the first question (asked of every galaxy) now orders the queue.
        subject = Subject.objects.get(project=project, image=prediction.image)
        entropy = -sum(p * math.log(p) for p in (shares["shape_round"], shares["shape_disk"])) / math.log(2)
        assert subject.retired_at is not None or math.isclose(subject.uncertainty, entropy, abs_tol=1e-3)
        assert not open_subjects.filter(uncertainty__isnull=True).exists()
        # After a galaxy, a volunteer compares the votes with the shares the model expected.
        mine, _ = classify(project, subject.pk, voter="anon:new", user=None, workflow_version=1, answers=ROUND)
        expected = what_others_said(mine)["model"]
        assert expected["name"] == "shapes-votes" and set(expected["shares"]) == {"round", "disk"}
        assert math.isclose(expected["shares"]["round"], shares["shape_round"], abs_tol=1e-4)
        again = services.train_version(model, users["admin"], examples=1000, epochs=2, dataset=export.pk, seed=1)
        assert list(again.metrics["rivals"]) == [f"v{version.number} (production)"]
    output = io.StringIO()
    call_command("train_model", tenant.slug, "from-a-shell", "--task", "vote_fractions", "--dataset", str(export.pk),
                 "--epochs", "1", stdout=output)  # fmt: skip
    assert "from-a-shell v1 (staging): test accuracy" in output.getvalue()
    admin = signed_in(users["admin"])
    target_page = admin.get(f"/t/{tenant.slug}/targets/{prediction.image.target_id}/").content.decode()
    assert "The share of volunteers it expects to give each answer" in target_page and "<th>arms</th>" in target_page
    shown = admin.get(f"/t/{tenant.slug}/models/{model.pk}/v{again.number}/").content.decode()
    for text in ("Vote-fraction error", "Per question", 'id="per-question"', "v1 (production)", "Learn from",
                 "Shapes votes v1 (40 galaxies)", "the same held-out"):  # fmt: skip
        assert text in shown, text


def test_the_loop_closes_on_real_workers_an_admin_trains_from_the_project_page_and_reads_the_model_page(
    workers, committed_tenant_factory
):
    tenant, users = committed_tenant_factory(members=MEMBERS)
    with tenant_context(tenant):
        project, export = voted_project(tenant, users)
    admin = signed_in(users["admin"])
    started = admin.post(f"/t/{tenant.slug}/projects/{project.pk}/", {"action": "train", "number": 1, "epochs": 2})
    job = finished(tenant, admin.get(started["Location"]).context["job"])
    assert job.status == "succeeded", job.message
    assert job.message.startswith("shapes-votes v1: test accuracy") and "vote fractions off by" in job.message
    with tenant_context(tenant):
        model = MLModel.objects.get(name="shapes-votes")
    shown = admin.get(f"/t/{tenant.slug}/models/{model.pk}/").content.decode()
    assert "Galaxy Zoo vote fractions" in shown and 'id="per-question"' in shown and "Shapes votes v1" in shown
