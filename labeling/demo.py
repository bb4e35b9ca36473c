"""The demo's citizen-science project: the demo galaxies, public, with simulated volunteers of
mixed skill voting from the first minute, so counters, consensus and retirement show on first
start, and the demo volunteer (or anyone, signed in or not) can start classifying at once."""

import functools

import numpy as np
from django.db import transaction

from mlmodels.demo import demo_galaxy
from observations.models import TargetImage
from portal.celery import send

from .models import Project
from .services import (
    SubjectRetired,
    add_subjects,
    aggregate,
    announce_progress,
    classify,
    create_project,
    current_workflow,
)

SLUG = "galaxy-shapes"
GOLD = 3  # galaxies whose true answers are known: they measure each volunteer
# (kind, how often a volunteer of that kind gives the true answer, how many of them)
SIMULATED_VOLUNTEERS = (("careful", 0.92, 4), ("typical", 0.75, 6), ("careless", 0.35, 2), ("adversarial", 0.0, 1))
SHARE_CLASSIFIED = 0.5  # of the galaxies, by each simulated volunteer: about 6 votes a galaxy


def load_demo_project(tenant, owner):
    """Create the project once (an existing one is left as its volunteers made it)."""
    if Project.objects.filter(tenant=tenant, slug=SLUG).exists():
        return None
    project = create_project(
        tenant, owner, name="Galaxy shapes", slug=SLUG, visibility=Project.Visibility.PUBLIC,
        consensus_min_votes=5,  # so that clear galaxies retire among the simulated volunteers' few votes
        description="Is it smooth or a disk, does it have spiral arms or a bar, is it merging? A few questions a "
                    "galaxy, from the Galaxy Zoo DECaLS tree; the answers train the observatory's morphology model.",
    )  # fmt: skip
    # One image a galaxy, its first (the survey's): a volunteer judges a galaxy once.
    images = list(TargetImage.objects.filter(tenant=tenant, target__tags__contains=["demo"]).select_related("target")
                  .order_by("target__name", "created_at", "pk").distinct("target__name"))  # fmt: skip
    tree = current_workflow(project).tree
    add_subjects(project, images, gold={image.pk: true_walk(tree, demo_galaxy(image.target.name).answers)
                                        for image in images[:GOLD]})  # fmt: skip
    transaction.on_commit(functools.partial(send, "labeling.tasks.simulate_demo_volunteers", tenant.pk, project.pk))
    return project


def simulate_volunteers(project):
    """Each simulated volunteer classifies a share of the galaxies, as their kind would; then
    the votes are aggregated, so consensus and skills show at once."""
    workflow = current_workflow(project)
    subjects = list(project.subjects.select_related("image__target").order_by("pk"))
    truths = {subject.pk: demo_galaxy(subject.image.target.name).answers for subject in subjects}
    rng = np.random.default_rng(2026)
    for kind, skill, count in SIMULATED_VOLUNTEERS:
        for number in range(1, count + 1):
            voter = f"simulated:{kind}-{number}"
            for index in rng.permutation(len(subjects))[: int(len(subjects) * SHARE_CLASSIFIED)]:
                subject = subjects[index]
                answers = simulated_walk(workflow.tree, truths[subject.pk], skill, rng)
                try:
                    classify(project, subject.pk, voter=voter, user=None, workflow_version=workflow.version,
                             answers=answers)  # fmt: skip
                except SubjectRetired:
                    continue  # a real volunteer would not have been served it
    aggregate(project)
    announce_progress(project)


def true_walk(tree, truth):
    """The walk through ``tree`` that answers every question with the galaxy's true answer."""
    return simulated_walk(tree, truth, 1.0, None)


def simulated_walk(tree, truth, skill, rng):
    """A simulated volunteer's answers: the true one with probability ``skill``, else another
    (an adversarial volunteer, skill 0, never gives the true one); where an earlier wrong
    answer leads off the galaxy's true path there is no true answer, and they pick at random."""
    walked, key = [], tree["first"]
    while key is not None:
        answers = tree["questions"][key]["answers"]
        correct = truth.get(key)
        if correct is not None and (skill >= 1 or rng.random() < skill):
            chosen = next(answer for answer in answers if answer["key"] == correct)
        else:
            others = [answer for answer in answers if answer["key"] != correct]
            chosen = others[int(rng.integers(len(others)))]
        walked.append([key, chosen["key"]])
        key = chosen["next"]
    return walked
