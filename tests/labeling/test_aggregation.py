"""Consensus from votes: skill-weighted (Dawid–Skene) against plain majority, on volunteers of known skill."""

import numpy as np
from django.test import Client

from labeling.aggregation import QuestionVotes, dawid_skene, majority, vote_fractions
from labeling.models import Subject, VolunteerSkill
from labeling.services import add_subjects, aggregate, classify, create_project, projects_to_aggregate
from portal.tenancy import tenant_context
from tests.labeling.conftest import signed_in
from tests.labeling.test_classifying import ROUND, simple_project
from tests.labeling.test_workflows import SIMPLE


def simulated_votes(seed=0, subjects=600, answers=3, votes_each=7):
    """Good volunteers (right 75% of the time), random ones, and adversaries who always give the
    next answer round from the truth; returns the votes, the truth and each volunteer's kind."""
    rng = np.random.default_rng(seed)
    kinds = ["good"] * 12 + ["random"] * 8 + ["adversarial"] * 5
    truth = rng.integers(answers, size=subjects)
    rows, people, given = [], [], []
    for subject in range(subjects):
        for person in rng.choice(len(kinds), size=votes_each, replace=False):
            kind = kinds[person]
            if kind == "good":
                answer = truth[subject] if rng.random() < 0.75 else rng.integers(answers)
            elif kind == "random":
                answer = rng.integers(answers)
            else:
                answer = (truth[subject] + 1) % answers
            rows.append(subject), people.append(person), given.append(answer)
    votes = QuestionVotes(np.array(rows), np.array(people), np.array(given), answers, subjects, len(kinds))
    return votes, truth, kinds


def test_skill_weighted_consensus_beats_majority_and_finds_who_to_trust():
    votes, truth, kinds = simulated_votes()
    consensus = dawid_skene(votes)
    weighted = (consensus.posteriors.argmax(axis=1) == truth).mean()
    plain = (majority(votes) == truth).mean()
    assert weighted > plain + 0.05, (weighted, plain)
    skill = consensus.skill()
    by_kind = {kind: np.mean([s for s, k in zip(skill, kinds) if k == kind]) for kind in set(kinds)}
    assert by_kind["good"] > by_kind["random"] > by_kind["adversarial"], by_kind
    assert by_kind["adversarial"] < 0.1 and abs(by_kind["random"] - 1 / 3) < 0.1


def test_gold_standard_galaxies_keep_their_truth():
    votes, truth, _ = simulated_votes(seed=1)
    gold = {index: int(truth[index]) for index in range(20)}
    consensus = dawid_skene(votes, gold)
    assert (consensus.posteriors[:20].argmax(axis=1) == truth[:20]).all()
    assert np.allclose(consensus.posteriors[:20].max(axis=1), 1.0)


def test_fractions_are_shares_of_each_galaxys_votes():
    votes = QuestionVotes(np.array([0, 0, 0, 1]), np.array([0, 1, 2, 0]), np.array([1, 1, 0, 2]), 3, 3, 3)
    assert np.allclose(vote_fractions(votes), [[1 / 3, 2 / 3, 0], [0, 0, 1], [0, 0, 0]])
    assert list(majority(votes)) == [1, 2, -1]


def test_a_projects_aggregation_writes_counts_consensus_and_skills(galaxies):
    tenant, users, make = galaxies
    project = create_project(tenant, users["owner"], name="Shapes", slug="shapes", tree=SIMPLE,
                             consensus_fraction=None)  # fmt: skip
    images = make(4)
    add_subjects(project, images, gold={images[0].pk: [["shape", "round"]]})
    truths = {images[0].pk: "round", images[1].pk: "round", images[2].pk: "disk", images[3].pk: "disk"}
    subjects = {subject.image_id: subject for subject in project.subjects.all()}
    for image_id, shape in truths.items():
        other = "disk" if shape == "round" else "round"
        for voter, said in [("careful-1", shape), ("careful-2", shape), ("careful-3", shape), ("contrary", other)]:
            answers = [["shape", said]] + ([["arms", "no"]] if said == "disk" else [])
            classify(project, subjects[image_id].pk, voter=voter, user=None, workflow_version=1, answers=answers)
    aggregate(project)
    subject = Subject.objects.get(pk=subjects[images[2].pk].pk)
    assert subject.vote_counts == {"shape": {"round": 1, "disk": 3}, "arms": {"no": 3}}
    assert subject.consensus["shape"]["disk"] > 0.9 and subject.aggregated_at is not None
    skills = dict(VolunteerSkill.objects.filter(project=project).values_list("voter", "skill"))
    assert skills["careful-1"] > 0.8 and skills["contrary"] < 0.5
    assert VolunteerSkill.objects.get(project=project, voter="contrary").gold_votes == 1
    # The field guide shows, for each answer, the galaxies the crowd is surest of.
    project.refresh_from_db()
    round_ones, disks = (sorted(subjects[image.pk].pk for image in images[start : start + 2]) for start in (0, 2))
    assert sorted(project.guide_examples["shape"]["round"]) == round_ones
    assert sorted(project.guide_examples["shape"]["disk"]) == disks
    guide = signed_in(users["owner"]).get(f"/projects/{tenant.slug}/shapes/").content.decode()
    assert f"/projects/{tenant.slug}/shapes/subjects/{disks[0]}/image.png" in guide


def test_the_target_page_shows_the_volunteers_consensus_beside_the_model(galaxies):
    tenant, users, make = galaxies
    (image,) = make(1)
    project = create_project(tenant, users["owner"], name="Shapes", slug="shapes", tree=SIMPLE)
    add_subjects(project, [image])
    subject = project.subjects.get()
    for voter in ("a", "b", "c"):
        classify(project, subject.pk, voter=voter, user=None, workflow_version=1, answers=[["shape", "round"]])
    client = Client()
    client.force_login(users["owner"])
    before = client.get(f"/t/{tenant.slug}/targets/{image.target_id}/").content.decode()
    assert "3 classifications so far; the consensus is worked out when" in before
    with tenant_context(tenant):
        aggregate(project)
    after = client.get(f"/t/{tenant.slug}/targets/{image.target_id}/").content.decode()
    assert "Volunteers · Shapes" in after and "skill-weighted consensus" in after
    assert "round <span" in after and "disk <span" not in after, "answers under 5% are left out"


def test_projects_with_votes_since_their_last_aggregation_are_due_and_the_owner_sees_when(galaxies):
    tenant, users, make = galaxies
    project = simple_project(tenant, users["owner"])
    quiet = create_project(tenant, users["owner"], name="Quiet", slug="quiet", tree=SIMPLE)
    add_subjects(project, make(2))
    assert projects_to_aggregate(tenant) == [], "no votes, nothing to aggregate"
    first, second = project.subjects.order_by("pk")
    classify(project, first.pk, voter="anon:a", user=None, workflow_version=1, answers=ROUND)
    assert projects_to_aggregate(tenant) == [project]
    aggregate(project)
    assert projects_to_aggregate(tenant) == [] and quiet not in projects_to_aggregate(tenant)
    page = signed_in(users["owner"]).get(f"/t/{tenant.slug}/projects/{project.pk}/").content.decode()
    assert "Last aggregated 0" in page and "new votes are aggregated every 10 minutes" in page
    with tenant_context(tenant):  # the test client's request left its own
        classify(project, second.pk, voter="anon:a", user=None, workflow_version=1, answers=ROUND)
        assert projects_to_aggregate(tenant) == [project], "a vote after the aggregation makes it due again"
