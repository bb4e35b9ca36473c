"""Volunteers classifying: which galaxy comes next, each vote counted once, and retirement."""

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from labeling.counters import progress
from labeling.models import Classification, Subject
from labeling.services import (
    ClassificationRefused,
    add_subjects,
    classify,
    create_project,
    images_to_classify,
    next_subject_ids,
    publish_workflow,
    voter_for,
    what_others_said,
)
from labeling.workflows import AnswersInvalid
from mlmodels.models import MLModel, ModelVersion, Prediction
from mlmodels.registry import create_model, save_version
from observations.models import Target
from tests.labeling.test_workflows import SIMPLE

ROUND = [["shape", "round"]]
SPIRAL = [["shape", "disk"], ["arms", "yes"]]


def simple_project(tenant, owner, **options):
    return create_project(tenant, owner, name="Shapes", slug="shapes", tree=SIMPLE, visibility="public", **options)


def test_a_volunteer_never_gets_a_galaxy_twice_and_every_galaxy_comes_round(galaxies):
    tenant, users, make = galaxies
    project = simple_project(tenant, users["owner"], consensus_fraction=None)
    add_subjects(project, make(30))
    voter = voter_for(users["volunteer"], {})
    served = []
    for _ in range(30):
        (subject_id,) = next_subject_ids(project, voter)
        classify(project, subject_id, voter=voter, user=users["volunteer"], workflow_version=1, answers=ROUND)
        served.append(subject_id)
    assert len(set(served)) == 30
    assert next_subject_ids(project, voter) == [], "nothing left that this volunteer has not classified"
    assert len(next_subject_ids(project, voter_for(None, {}))) == 1, "another volunteer still has all of them"


def test_the_next_two_galaxies_are_different_so_the_page_can_load_one_ahead(galaxies):
    tenant, users, make = galaxies
    project = simple_project(tenant, users["owner"])
    add_subjects(project, make(3))
    first, second = next_subject_ids(project, "user:1", count=2)
    assert first != second
    (third,) = next_subject_ids(project, "user:1", exclude=[first, second])
    assert third not in {first, second}


def test_a_double_submit_counts_once(galaxies):
    tenant, users, make = galaxies
    project = simple_project(tenant, users["owner"])
    add_subjects(project, make(1))
    subject = project.subjects.get()
    voter = voter_for(users["volunteer"], {})
    first, created = classify(project, subject.pk, voter=voter, user=users["volunteer"], workflow_version=1,
                              answers=SPIRAL)  # fmt: skip
    again, created_again = classify(project, subject.pk, voter=voter, user=users["volunteer"], workflow_version=1,
                                    answers=ROUND)  # fmt: skip
    assert created and not created_again and again == first and again.answers == SPIRAL
    subject.refresh_from_db()
    assert subject.classification_count == 1 and subject.first_answers == {"shape": {"disk": 1}}
    assert progress(project) == {"classifications": 1, "retired": 0, "subjects": 1, "volunteers_active": 1}


def test_an_anonymous_volunteer_keeps_one_name_in_their_session_and_counts_once():
    session = {}
    assert voter_for(None, session) == voter_for(None, session) != voter_for(None, {})


def test_retired_after_the_limit_and_never_served_again(galaxies):
    tenant, users, make = galaxies
    project = simple_project(tenant, users["owner"], retirement_limit=3, consensus_fraction=None)
    add_subjects(project, make(1))
    subject = project.subjects.get()
    for n in range(3):
        classify(project, subject.pk, voter=f"anon:{n}", user=None, workflow_version=1, answers=[SPIRAL, ROUND][n % 2])
    subject.refresh_from_db()
    assert subject.retired_at is not None and subject.retirement == Subject.Retirement.LIMIT
    assert next_subject_ids(project, "anon:new") == []
    with pytest.raises(ClassificationRefused, match="retired before your answers arrived"):
        classify(project, subject.pk, voter="anon:late", user=None, workflow_version=1, answers=ROUND)
    assert Classification.objects.filter(subject=subject).count() == 3


def test_retired_early_once_the_first_question_is_clear(galaxies):
    tenant, users, make = galaxies
    project = simple_project(tenant, users["owner"], consensus_fraction=0.8, consensus_min_votes=5)
    add_subjects(project, make(2))
    clear, split = project.subjects.order_by("pk")
    for n in range(5):
        classify(project, clear.pk, voter=f"anon:{n}", user=None, workflow_version=1, answers=ROUND)
        classify(project, split.pk, voter=f"anon:{n}", user=None, workflow_version=1, answers=[ROUND, SPIRAL][n % 2])
    clear.refresh_from_db()
    split.refresh_from_db()
    assert clear.retirement == Subject.Retirement.CONSENSUS and clear.classification_count == 5
    assert split.retired_at is None, "3 of 5 is no consensus"


def test_answers_that_leave_the_tree_or_a_foreign_galaxy_count_nothing(galaxies):
    tenant, users, make = galaxies
    project = simple_project(tenant, users["owner"])
    other = create_project(tenant, users["owner"], name="Other", slug="other", tree=SIMPLE)
    images = make(2)
    add_subjects(project, images[:1])
    add_subjects(other, images[1:])
    subject, foreign = project.subjects.get(), other.subjects.get()
    cases = [
        (subject.pk, 1, [["shape", "disk"]], r"stop before 'arms', .*\(workflow version 1\)"),
        (subject.pk, 7, ROUND, "workflow version 7 is not a version of Shapes"),
        (subject.pk, "1", ROUND, "workflow version '1' is not a version"),
        (foreign.pk, 1, ROUND, f"galaxy {foreign.pk} is not a subject of Shapes"),
    ]
    for subject_id, version, answers, message in cases:
        with pytest.raises(ClassificationRefused, match=message):
            classify(project, subject_id, voter="anon:x", user=None, workflow_version=version, answers=answers)
    assert not Classification.objects.exists()
    subject.refresh_from_db()
    assert subject.classification_count == 0


def test_a_new_workflow_version_keeps_the_old_votes_and_takes_new_ones(galaxies):
    tenant, users, make = galaxies
    project = simple_project(tenant, users["owner"])
    add_subjects(project, make(1))
    subject = project.subjects.get()
    classify(project, subject.pk, voter="anon:a", user=None, workflow_version=1, answers=SPIRAL)
    revised = {**SIMPLE, "questions": {**SIMPLE["questions"], "shape": {**SIMPLE["questions"]["shape"], "answers": [
        *SIMPLE["questions"]["shape"]["answers"], {"key": "star", "label": "A star", "next": None}]}}}  # fmt: skip
    assert publish_workflow(project, revised, users["owner"], note="stars").version == 2
    classify(project, subject.pk, voter="anon:b", user=None, workflow_version=2, answers=[["shape", "star"]])
    classify(project, subject.pk, voter="anon:c", user=None, workflow_version=1, answers=ROUND)  # a page loaded before
    with pytest.raises(ClassificationRefused, match=r"'star' is not an answer to 'shape' \(round, disk\)"):
        classify(project, subject.pk, voter="anon:d", user=None, workflow_version=1, answers=[["shape", "star"]])
    votes = dict(Classification.objects.values_list("voter", "workflow__version"))
    assert votes == {"anon:a": 1, "anon:b": 2, "anon:c": 1}
    assert project.workflows.get(version=1).tree == SIMPLE, "an old version is never rewritten"


def test_galaxies_the_model_doubts_come_first(galaxies):
    tenant, users, make = galaxies
    images = make(3)
    model = create_model(tenant, users["owner"], name="morph", task=MLModel.Task.MORPHOLOGY, architecture="resnet18",
                         class_names=["smooth", "spiral"])  # fmt: skip
    version = save_version(model, users["owner"], weights={})
    ModelVersion.objects.filter(pk=version.pk).update(stage=ModelVersion.Stage.PRODUCTION)
    sure, unsure = images[0], images[1]  # images[2] is not judged at all
    Prediction.objects.create(tenant=tenant, version=version, image=sure, label="smooth",
                              probabilities={"smooth": 0.99, "spiral": 0.01})  # fmt: skip
    Prediction.objects.create(tenant=tenant, version=version, image=unsure, label="spiral",
                              probabilities={"smooth": 0.5, "spiral": 0.5})  # fmt: skip
    project = simple_project(tenant, users["owner"], uncertainty_weight=1.0)
    add_subjects(project, images)
    order = list(project.subjects.order_by("-priority").values_list("image_id", "uncertainty"))
    assert [image for image, _ in order] == [unsure.pk, images[2].pk, sure.pk]
    assert order[0][1] == pytest.approx(1.0) and order[1][1] is None and order[2][1] < 0.1


def test_gold_standard_galaxies_are_served_at_the_projects_rate(galaxies):
    tenant, users, make = galaxies
    project = simple_project(tenant, users["owner"], gold_rate=0.25)
    images = make(6)
    add_subjects(project, images, gold={images[0].pk: ROUND})
    draws = iter([0.1, 0.9, 0.9, 0.9])  # one draw under the rate, three over
    gold = project.subjects.get(image=images[0]).pk
    served = next_subject_ids(project, "anon:v", count=4, chance=lambda: next(draws))
    assert [subject_id == gold for subject_id in served] == [True, False, False, False]
    with pytest.raises(AnswersInvalid, match="the answers stop before 'arms'"):
        add_subjects(project, images[1:2], gold={images[1].pk: [["shape", "disk"]]})


def test_a_subject_set_is_built_by_target_cone_tag_or_the_models_doubt(galaxies):
    tenant, users, make = galaxies
    images = make(4)  # G0..G3 at RA 10.00..10.03, Dec 5
    Target.objects.filter(name__in=["G1", "G3"]).update(tags=["bar-candidate"])
    names = lambda chosen: sorted(image.target.name for image in chosen)  # noqa: E731
    assert names(images_to_classify(tenant, targets=Target.objects.filter(name="G2"))) == ["G2"]
    near = (SkyCoord(10.0 * u.deg, 5 * u.deg), 40 * u.arcsec)  # 0.01° = 36″ apart
    assert names(images_to_classify(tenant, cone=near)) == ["G0", "G1"]
    assert names(images_to_classify(tenant, tag="bar-candidate")) == ["G1", "G3"]
    assert names(images_to_classify(tenant, cone=near, tag="bar-candidate")) == ["G1"]
    model = create_model(tenant, users["owner"], name="morph", task=MLModel.Task.MORPHOLOGY, architecture="resnet18",
                         class_names=["smooth", "spiral"])  # fmt: skip
    version = save_version(model, users["owner"], weights={})
    ModelVersion.objects.filter(pk=version.pk).update(stage=ModelVersion.Stage.PRODUCTION)
    for image, p in zip(images, [0.9, 0.6, 0.99, 0.5]):
        Prediction.objects.create(tenant=tenant, version=version, image=image, label="smooth",
                                  probabilities={"smooth": p, "spiral": 1 - p})  # fmt: skip
    assert [image.target.name for image in images_to_classify(tenant, least_sure=2)] == ["G3", "G1"]


def test_after_a_galaxy_the_volunteer_sees_what_the_others_and_the_production_model_said(galaxies):
    tenant, users, make = galaxies
    image, unjudged = make(2)
    model = create_model(tenant, users["owner"], name="morph", task=MLModel.Task.MORPHOLOGY, architecture="resnet18",
                         class_names=["smooth", "spiral"])  # fmt: skip
    version = save_version(model, users["owner"], weights={})
    ModelVersion.objects.filter(pk=version.pk).update(stage=ModelVersion.Stage.PRODUCTION)
    Prediction.objects.create(tenant=tenant, version=version, image=image, label="spiral", confidence=0.8,
                              probabilities={"smooth": 0.2, "spiral": 0.8})  # fmt: skip
    project = simple_project(tenant, users["owner"])
    add_subjects(project, [image, unjudged])
    judged, other = (project.subjects.get(image=image), project.subjects.get(image=unjudged))
    classify(project, judged.pk, voter="anon:a", user=None, workflow_version=1, answers=ROUND)
    mine, _ = classify(project, judged.pk, voter="anon:b", user=None, workflow_version=1, answers=SPIRAL)
    said = what_others_said(mine)
    assert said["question"] == "What shape is it?" and said["votes"] == 2
    assert said["shares"] == {"round": 0.5, "disk": 0.5}
    assert said["model"] == {"name": "morph", "label": "spiral", "confidence": 0.8}
    lone, _ = classify(project, other.pk, voter="anon:b", user=None, workflow_version=1, answers=ROUND)
    assert what_others_said(lone)["model"] is None, "no model has judged that galaxy"
