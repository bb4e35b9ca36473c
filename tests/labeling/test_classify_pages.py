"""The volunteer's side over HTTP: who may open a project, the next galaxies, and sending answers."""

import json

import pytest
from django.test import Client, override_settings

from labeling.models import Classification
from labeling.services import add_subjects, create_project
from portal.models import Role
from portal.tenancy import tenant_context
from tests.labeling.conftest import signed_in
from tests.labeling.test_workflows import SIMPLE

SPIRAL = [["shape", "disk"], ["arms", "yes"]]


@pytest.fixture
def projects(galaxies):
    """A public, a tenant-wide and a private project, two galaxies each."""
    tenant, users, make = galaxies
    made = {}
    for visibility in ("public", "tenant", "private"):
        project = create_project(tenant, users["owner"], name=visibility.title(), slug=visibility, tree=SIMPLE,
                                 visibility=visibility)  # fmt: skip
        add_subjects(project, make(2) if visibility == "public" else [])
        made[visibility] = project
    return tenant, users, made


def url(project, rest=""):
    return f"/projects/{project.tenant.slug}/{project.slug}/{rest}"


def test_who_may_open_which_project(projects, tenant_factory):
    tenant, users, made = projects
    _, outsiders = tenant_factory(members=[("outsider", Role.ADMIN)])
    visitors = {"anonymous": Client(), "outsider": signed_in(outsiders["outsider"]),
                "volunteer": signed_in(users["volunteer"]), "owner": signed_in(users["owner"])}  # fmt: skip
    opens = {(who, visibility): client.get(url(made[visibility])).status_code
             for who, client in visitors.items() for visibility in made}  # fmt: skip
    assert opens == {
        ("anonymous", "public"): 200, ("anonymous", "tenant"): 404, ("anonymous", "private"): 404,
        ("outsider", "public"): 200, ("outsider", "tenant"): 404, ("outsider", "private"): 404,
        ("volunteer", "public"): 200, ("volunteer", "tenant"): 200, ("volunteer", "private"): 404,
        ("owner", "public"): 200, ("owner", "tenant"): 200, ("owner", "private"): 200,
    }  # fmt: skip
    listed = visitors["volunteer"].get("/projects/").content.decode()
    assert "Public" in listed and "Tenant" in listed and ">Private<" not in listed
    assert ">Tenant<" not in visitors["anonymous"].get("/projects/").content.decode()


def test_an_anonymous_volunteer_classifies_a_public_project_through_the_page_endpoints(
    projects, django_capture_on_commit_callbacks
):
    _, _, made = projects
    project = made["public"]
    client = Client(enforce_csrf_checks=True)
    page = client.get(url(project))
    config = json.loads(page.content.decode().split('id="classify-config" type="application/json">')[1]
                        .split("</script>")[0])  # fmt: skip
    assert config["workflow"] == {"version": 1, "tree": SIMPLE}
    token = page.content.decode().split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]  # as the script reads it
    subjects = client.get(config["next_url"], {"count": 2}).json()["subjects"]
    assert len(subjects) == 2 and subjects[0]["id"] != subjects[1]["id"]
    picture = client.get(subjects[0]["image"])
    assert picture["Content-Type"] == "image/png" and b"".join(picture.streaming_content).startswith(b"\x89PNG")
    body = json.dumps({"subject": subjects[0]["id"], "workflow_version": 1, "answers": SPIRAL})
    refused = client.post(config["submit_url"], body, content_type="application/json")
    assert refused.status_code == 403, "no CSRF token, no vote"
    with django_capture_on_commit_callbacks(execute=True):  # as the request's commit would
        sent = client.post(config["submit_url"], body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert sent.status_code == 201 and sent.json()["counted"] is True
    assert sent.json()["others"]["shares"] == {"disk": 1.0}
    again = client.post(f"{config['submit_url']}?next=2", body, content_type="application/json",
                        HTTP_X_CSRFTOKEN=token)  # fmt: skip
    assert again.status_code == 200 and again.json()["counted"] is False, "a double submit counts once"
    # The counters are read after the commit (which a test's transaction never makes): here, the next answer's.
    assert again.json()["progress"]["classifications"] == 1 and again.json()["mine"] == 1
    assert again.json()["next"] == [subjects[1]], "the answer brings the next galaxy, never one classified"
    held = client.post(f"{config['submit_url']}?next=2&exclude={subjects[1]['id']}", body,
                       content_type="application/json", HTTP_X_CSRFTOKEN=token)  # fmt: skip
    assert held.json()["next"] == [], "nor one the page already holds"
    wrong = client.post(f"{config['submit_url']}?next=many", body, content_type="application/json",
                        HTTP_X_CSRFTOKEN=token)  # fmt: skip
    assert wrong.status_code == 400 and "next and exclude are whole numbers" in wrong.json()["detail"]
    with tenant_context(project.tenant):  # each request ends with no tenant in scope
        assert Classification.objects.count() == 1 and Classification.objects.get().voter.startswith("anon:")
    (left,) = client.get(config["next_url"], {"count": 2}).json()["subjects"]
    assert left["id"] == subjects[1]["id"], "the classified galaxy is not served again"


@pytest.mark.parametrize(("body", "status", "detail"), [
    ("not json", 400, "send JSON"),
    ({"subject": 0, "workflow_version": 1}, 400, "send JSON"),
    ({"workflow_version": 1, "answers": [["shape", "disk"]]}, 400, "stop before 'arms'"),
    ({"workflow_version": 3, "answers": SPIRAL}, 400, "workflow version 3 is not a version of Public"),
])  # fmt: skip
def test_bad_answers_get_a_problem_naming_it(projects, body, status, detail):
    _, users, made = projects
    project = made["public"]
    subject = project.subjects.first()
    if isinstance(body, dict) and "answers" in body:
        body = {**body, "subject": subject.pk}
    response = signed_in(users["volunteer"]).post(url(project, "classifications"),
                                                  body if isinstance(body, str) else json.dumps(body),
                                                  content_type="application/json")  # fmt: skip
    assert response.status_code == status and response["Content-Type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    with tenant_context(project.tenant):
        assert not Classification.objects.exists()


def test_a_galaxy_retired_meanwhile_is_a_conflict(projects):
    _, users, made = projects
    project = made["public"]
    subject = project.subjects.first()
    project.subjects.filter(pk=subject.pk).update(retired_at="2026-01-01T00:00Z", retirement="owner")
    body = json.dumps({"subject": subject.pk, "workflow_version": 1, "answers": SPIRAL})
    response = signed_in(users["volunteer"]).post(
        url(project, "classifications"), body, content_type="application/json"
    )
    assert response.status_code == 409 and "retired before your answers arrived" in response.json()["detail"]


@override_settings(LABELING_RATE_PER_VOLUNTEER="1/min")
def test_a_flood_from_one_volunteer_is_answered_429_with_retry_after(projects):
    _, users, made = projects
    project = made["public"]
    client = signed_in(users["volunteer"])
    first, second = project.subjects.all()
    responses = [client.post(url(project, "classifications"), json.dumps(
        {"subject": subject.pk, "workflow_version": 1, "answers": SPIRAL}), content_type="application/json")
        for subject in (first, second)]  # fmt: skip
    assert [r.status_code for r in responses] == [201, 429]
    assert 1 <= int(responses[1]["Retry-After"]) <= 60
    with tenant_context(project.tenant):
        assert Classification.objects.count() == 1


def test_the_page_teaches_a_newcomer_guides_everyone_and_shows_a_volunteers_history(
    projects, django_capture_on_commit_callbacks
):
    _, users, made = projects
    project = made["public"]
    subject = project.subjects.first()
    client = signed_in(users["volunteer"])
    first = client.get(url(project)).content.decode()
    assert 'id="tutorial"' in first and "at most 2 a galaxy, starting with “What shape is it?”" in first
    guide = first.split('id="field-guide"')[1].split("</details>")[0]
    assert guide.index("What shape is it?") < guide.index("<h3>Does it have spiral arms?")
    assert 'A disk <span class="muted">→ Does it have spiral arms?</span>' in guide and "→ done" in guide
    body = json.dumps({"subject": subject.pk, "workflow_version": 1, "answers": SPIRAL})
    with django_capture_on_commit_callbacks(execute=True):  # as the request's commit would
        assert client.post(url(project, "classifications"), body, content_type="application/json").status_code == 201
    again = client.get(url(project)).content.decode()
    assert 'id="tutorial"' not in again, "the tutorial is for a first visit"
    history = again.split('id="mine"')[1]
    assert f"subjects/{subject.pk}/image.png" in history and "disk → yes" in history
