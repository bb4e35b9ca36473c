"""A project's live counters: right after every committed classification, and right again
when Redis has lost them or cannot be reached (the database is the truth)."""

import redis

from labeling import counters
from labeling.counters import progress
from labeling.services import add_subjects, classify, voter_for
from portal.shared_redis import shared_redis
from tests.labeling.test_classifying import ROUND, SPIRAL, simple_project


def test_the_counters_follow_each_committed_classification_and_survive_redis_losing_them(
    galaxies, django_capture_on_commit_callbacks
):
    tenant, users, make = galaxies
    project = simple_project(tenant, users["owner"], retirement_limit=2, consensus_fraction=0)
    with django_capture_on_commit_callbacks(execute=True):
        add_subjects(project, make(3))
    assert progress(project) == {"classifications": 0, "retired": 0, "subjects": 3, "volunteers_active": 0}
    first, second = project.subjects.order_by("pk")[:2]
    for number, (subject, answers) in enumerate([(first, ROUND), (first, SPIRAL), (second, ROUND)]):
        with django_capture_on_commit_callbacks(execute=True):
            classify(project, subject.pk, voter=f"anon:volunteer-{number}", user=None, workflow_version=1,
                     answers=answers)  # fmt: skip
    expected = {"classifications": 3, "retired": 1, "subjects": 3, "volunteers_active": 3}
    assert progress(project) == expected
    shared_redis().delete(*[counters._key(project, name) for name in (*counters.COUNTS, "active")])
    assert progress(project) == expected, "counted again from the database"
    with django_capture_on_commit_callbacks(execute=True):
        classify(project, second.pk, voter=voter_for(users["volunteer"], {}), user=users["volunteer"],
                 workflow_version=1, answers=ROUND)  # fmt: skip
    assert progress(project) == {"classifications": 4, "retired": 2, "subjects": 3, "volunteers_active": 4}
    volunteer = voter_for(users["volunteer"], {})
    assert counters.classified_by(project, volunteer) == 1 == counters.classified_by(project, "anon:volunteer-0")
    with django_capture_on_commit_callbacks(execute=True):
        classify(project, project.subjects.order_by("pk")[2].pk, voter=volunteer, user=users["volunteer"],
                 workflow_version=1, answers=ROUND)  # fmt: skip
    shared_redis().delete(counters._key(project, "classifications"))
    assert counters.classified_by(project, volunteer) == 2, "their own count is kept beside the project's"


def test_with_redis_unreachable_a_classification_still_counts_and_the_counters_come_from_the_database(
    galaxies, django_capture_on_commit_callbacks, monkeypatch
):
    tenant, users, make = galaxies
    project = simple_project(tenant, users["owner"])
    add_subjects(project, make(1))
    unreachable = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.5)  # the discard port: refused
    monkeypatch.setattr(counters, "shared_redis", lambda: unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        _, counted = classify(project, project.subjects.get().pk, voter="anon:someone", user=None,
                              workflow_version=1, answers=ROUND)  # fmt: skip
    assert counted
    assert progress(project) == {"classifications": 1, "retired": 0, "subjects": 1, "volunteers_active": 1}
