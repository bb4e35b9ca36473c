"""A project owner's pages: create a project, publish a workflow version, choose its galaxies."""

import json

from labeling.models import Project
from labeling.services import add_subjects, classify, create_project, next_subject_ids
from portal.tenancy import tenant_context
from tests.labeling.conftest import signed_in
from tests.labeling.test_workflows import SIMPLE


def test_an_astronomer_creates_a_project_chooses_its_galaxies_and_publishes_a_new_version(galaxies):
    tenant, users, make = galaxies
    make(3)  # G0..G2
    owner = signed_in(users["owner"])
    base = f"/t/{tenant.slug}/projects/"
    created = owner.post(base, {"name": "Bars", "slug": "bars", "visibility": "tenant", "retirement_limit": 20,
                                "consensus_fraction": 0.8, "consensus_min_votes": 10, "gold_rate": 0.05,
                                "uncertainty_weight": 0.5, "tree": ""})  # fmt: skip
    with tenant_context(tenant):
        project = Project.objects.get(slug="bars")
    assert created.status_code == 302 and created["Location"] == f"{base}{project.pk}/"
    page = f"{base}{project.pk}/"
    added = owner.post(page, {"action": "subjects", "targets": "G0, G2", "radius": "30 arcmin"}, follow=True)
    assert "2 galaxies added" in added.content.decode()
    missing = owner.post(page, {"action": "subjects", "targets": "G0, Nope", "radius": "30 arcmin"})
    assert "no target named Nope" in missing.content.decode()
    broken = dict(SIMPLE, first="nowhere")
    refused = owner.post(page, {"action": "workflow", "tree": json.dumps(broken)})
    assert "&quot;first&quot; is &#x27;nowhere&#x27;" in refused.content.decode()
    published = owner.post(page, {"action": "workflow", "tree": json.dumps(SIMPLE), "note": "shapes only"},
                           follow=True)  # fmt: skip
    assert "Workflow version 2 published" in published.content.decode()
    with tenant_context(tenant):
        assert project.subjects.count() == 2
        assert list(project.workflows.values_list("version", "note")) == [(2, "shapes only"), (1, "Galaxy Zoo DECaLS")]


def test_a_second_project_with_the_same_slug_is_refused_on_the_form(galaxies):
    tenant, users, _ = galaxies
    create_project(tenant, users["owner"], name="Bars", slug="bars")
    response = signed_in(users["owner"]).post(f"/t/{tenant.slug}/projects/", {
        "name": "Bars again", "slug": "BARS", "visibility": "tenant", "retirement_limit": 40, "consensus_min_votes": 10,
        "gold_rate": 0, "uncertainty_weight": 0.5})  # fmt: skip
    assert (
        response.status_code == 200 and "another project of this observatory has this slug" in response.content.decode()
    )


def test_a_volunteer_cannot_run_projects(galaxies):
    tenant, users, _ = galaxies
    project = create_project(tenant, users["owner"], name="Bars", slug="bars")
    volunteer = signed_in(users["volunteer"])
    assert volunteer.get(f"/t/{tenant.slug}/projects/").status_code == 403
    assert volunteer.post(f"/t/{tenant.slug}/projects/{project.pk}/", {"action": "settings"}).status_code == 403


def test_new_rules_retire_or_reopen_galaxies_by_the_limit_and_reorder_the_queue(galaxies):
    tenant, users, make = galaxies
    project = create_project(tenant, users["owner"], name="Shapes", slug="shapes", tree=SIMPLE, visibility="public",
                             retirement_limit=3)  # fmt: skip
    add_subjects(project, make(2))
    busy, quiet = project.subjects.order_by("pk")
    for number in range(2):
        classify(project, busy.pk, voter=f"anon:{number}", user=None, workflow_version=1, answers=[["shape", "round"]])
    owner = signed_in(users["owner"])
    page = f"/t/{tenant.slug}/projects/{project.pk}/"
    rules = {"action": "settings", "name": "Shapes", "visibility": "public", "consensus_fraction": 0.8,
             "consensus_min_votes": 10, "gold_rate": 0.05, "uncertainty_weight": 0.0}  # fmt: skip
    saved = owner.post(page, {**rules, "retirement_limit": 2}, follow=True)
    assert "Settings saved" in saved.content.decode()
    with tenant_context(tenant):
        busy.refresh_from_db()
        quiet.refresh_from_db()
        assert busy.retirement == "limit" and busy.retired_at is not None, "two votes reach a limit of two"
        assert quiet.priority == 1.0, "without the model's doubt, a galaxy with no votes needs them all"
        assert next_subject_ids(project, "anon:new", count=2) == [quiet.pk]
    owner.post(page, {**rules, "retirement_limit": 4})
    with tenant_context(tenant):
        busy.refresh_from_db()
        assert busy.retired_at is None and busy.retirement == "" and busy.priority == 0.5, "two of four votes: back"
        assert set(next_subject_ids(project, "anon:new", count=2)) == {busy.pk, quiet.pk}


def test_aggregate_now_queues_the_aggregation_for_a_worker(galaxies):
    tenant, users, make = galaxies
    project = create_project(tenant, users["owner"], name="Shapes", slug="shapes", tree=SIMPLE)
    page = f"/t/{tenant.slug}/projects/{project.pk}/"
    queued = signed_in(users["owner"]).post(page, {"action": "aggregate"}, follow=True)
    assert "Aggregation queued" in queued.content.decode()
    refused = signed_in(users["volunteer"]).post(page, {"action": "aggregate"})
    assert refused.status_code == 403, "a volunteer runs no project"
