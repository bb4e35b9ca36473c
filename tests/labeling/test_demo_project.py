"""The demo's project: public, over the demo galaxies, with simulated volunteers already voting."""

from django.test import Client

from labeling.demo import SIMULATED_VOLUNTEERS, load_demo_project, simulate_volunteers, true_walk
from labeling.models import Classification, Project
from labeling.services import current_workflow
from labeling.workflows import check_answers
from mlmodels.demo import demo_galaxy
from observations.images import add_target_images
from observations.models import Target
from portal.celery import send

NAMES = ["M31", "M51", "M87", "M104", "NGC 1300", "LMC", "M82", "M33", "NGC 4565", "M77"]


def test_the_demo_project_is_open_to_anyone_and_its_simulated_volunteers_vote(
    galaxies, django_capture_on_commit_callbacks
):
    tenant, users, _ = galaxies
    targets = [Target.objects.create(tenant=tenant, name=name, ra_deg=10, dec_deg=5, tags=["demo"]) for name in NAMES]
    add_target_images(tenant, [(t, demo_galaxy(t.name).fits_bytes(), "synthetic") for t in targets])
    with django_capture_on_commit_callbacks() as queued:  # captured, not sent: no worker here
        project = load_demo_project(tenant, users["owner"])
    sent = [callback.args[:2] for callback in queued if callback.func is send]
    assert sent == [("labeling.tasks.simulate_demo_volunteers", tenant.pk)]
    simulate_volunteers(project)  # what that task runs
    assert project.visibility == Project.Visibility.PUBLIC and project.subjects.count() == len(NAMES)
    assert load_demo_project(tenant, users["owner"]) is None, "loaded once; a second start leaves it as it is"
    tree = current_workflow(project).tree
    gold = list(project.subjects.filter(gold_answers__isnull=False).select_related("image__target"))
    assert len(gold) == 3
    for subject in gold:
        assert subject.gold_answers == true_walk(tree, demo_galaxy(subject.image.target.name).answers)
        assert check_answers(tree, subject.gold_answers)
    votes = Classification.objects.filter(project=project)
    assert {v.split("-")[0] for v in votes.values_list("voter", flat=True)} == {
        f"simulated:{kind}" for kind, _, _ in SIMULATED_VOLUNTEERS
    }
    # Careful volunteers agree with the truth on the first question; the adversarial one never does.
    truth = {s.pk: demo_galaxy(s.image.target.name).answers for s in project.subjects.select_related("image__target")}
    agreement = {}
    for voter, subject_id, answers in votes.values_list("voter", "subject_id", "answers"):
        kind = voter.split(":")[1].split("-")[0]
        agreement.setdefault(kind, []).append(answers[0][1] == truth[subject_id]["smooth-or-featured"])
    assert sum(agreement["careful"]) / len(agreement["careful"]) > 0.7
    assert not any(agreement["adversarial"])
    assert project.subjects.filter(retirement="consensus").exists(), "clear galaxies retire among the first votes"
    counted = votes.count()  # before the request: it ends with no tenant in scope
    page = Client().get(f"/projects/{tenant.slug}/{project.slug}/")
    assert page.status_code == 200 and f'<strong data-live-count="classifications">{counted}</strong>' in (
        page.content.decode()
    )
