"""Volunteer pages: the projects open to this visitor, and the classify page with the small
JSON endpoints its script calls (next galaxies, their images, submitting answers).

A project's pages live at ``/projects/<tenant>/<project>/``, outside the members-only
``/t/`` tree, because a public project takes volunteers who are not members of anything
(anonymous ones included). Each view scopes the database to the project's tenant itself,
after checking that this visitor may classify there; otherwise the answer is 404, as for
a tenant one is not a member of.
"""

import json
from http import HTTPStatus

from django.conf import settings
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from portal import tenancy
from portal.api_errors import problem_response
from portal.models import Membership
from portal.throttling import Limited, client_address, spend_each

from . import counters, services
from .models import Project
from .workflows import field_guide

MAX_BODY_BYTES = 16 * 1024  # a full DECaLS walk is under 400 bytes


def project_list(request):
    """Public projects, and those of the visitor's own tenants that they may classify."""
    projects = list(Project.objects.filter(visibility=Project.Visibility.PUBLIC).select_related("tenant"))
    if request.user.is_authenticated:
        for membership in Membership.objects.filter(user=request.user).select_related("tenant"):
            with tenancy.tenant_context(membership.tenant, request.user):
                projects += [project for project in Project.objects.filter(tenant=membership.tenant)
                             .exclude(visibility=Project.Visibility.PUBLIC).select_related("tenant")
                             if services.may_classify(project, membership.role)]  # fmt: skip
    return render(request, "labeling/project_list.html", {"projects": projects})


def _project(request, tenant_slug, project_slug):
    user = request.user if request.user.is_authenticated else None
    project = services.project_open_to(user, tenant_slug, project_slug)
    if project is None:
        raise Http404("No such project, or it is not open to you.")
    tenancy.activate(project.tenant, user)  # the middleware clears it when the request ends
    return project


@require_GET
def classify_page(request, tenant_slug, project_slug):
    project = _project(request, tenant_slug, project_slug)
    workflow = services.current_workflow(project)
    voter = services.voter_for(request.user, request.session)
    base = reverse("labeling:classify", args=[tenant_slug, project.slug])
    guide, most_questions = field_guide(workflow.tree, project.guide_examples)
    return render(request, "labeling/classify.html", {
        "project": project, "base": base, "guide": guide, "most_questions": most_questions,
        "progress": counters.progress(project),
        "mine": services.history(project, voter),
        "classify": {"workflow": {"version": workflow.version, "tree": workflow.tree},
                     "next_url": f"{base}next", "submit_url": f"{base}classifications",
                     "socket": f"/ws{base}"},
    })  # fmt: skip


@require_GET
def next_subjects(request, tenant_slug, project_slug):
    """The next galaxies for this volunteer (``count``, at most 5), skipping those the page
    already holds (``exclude``: ids, comma-separated)."""
    project = _project(request, tenant_slug, project_slug)
    try:
        count, exclude = _wanted(request, "count", default=1)
    except ValueError:
        return _problem(400, "count and exclude are whole numbers (exclude: ids separated by commas)")
    voter = services.voter_for(request.user, request.session)
    return JsonResponse({"subjects": _served(project, voter, count, exclude)})


def _wanted(request, name, default):
    """(how many galaxies the page asks for in ``name``, at most 5; the ids it already holds)."""
    count = min(max(int(request.GET.get(name, default)), 0), 5)
    return count, [int(part) for part in request.GET.get("exclude", "").split(",") if part.strip()][:20]


def _served(project, voter, count, exclude):
    if not count:
        return []
    base = reverse("labeling:classify", args=[project.tenant.slug, project.slug])
    return [{"id": subject_id, "image": f"{base}subjects/{subject_id}/image.png"}
            for subject_id in services.next_subject_ids(project, voter, count=count, exclude=exclude)]  # fmt: skip


@require_GET
def subject_image(request, tenant_slug, project_slug, subject_id):
    project = _project(request, tenant_slug, project_slug)
    subject = project.subjects.select_related("image").filter(pk=subject_id).first()
    if subject is None:
        raise Http404("No such galaxy in this project.")
    response = FileResponse(subject.image.preview.open("rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=86400"  # a subject's picture never changes
    return response


@require_POST
def submit(request, tenant_slug, project_slug):
    """Count one volunteer's answers about one galaxy: 201 counted, 200 already counted (a
    double submit), 400 answers off the tree, 409 retired meanwhile, 429 too fast. With
    ``?next=N&exclude=…`` the answer also brings the next N galaxies (as ``next_subjects``), so
    a page classifying one galaxy after another makes one request a galaxy."""
    project = _project(request, tenant_slug, project_slug)
    voter = services.voter_for(request.user, request.session)
    try:
        spend_each([("labeling-voter", voter, settings.LABELING_RATE_PER_VOLUNTEER),
                    ("labeling-address", client_address(request), settings.LABELING_RATE_PER_ADDRESS)])  # fmt: skip
    except Limited as limited:
        response = _problem(429, f"too many classifications at once; try again in {limited.retry_after} s")
        response["Retry-After"] = str(limited.retry_after)
        return response
    if len(request.body) > MAX_BODY_BYTES:
        return _problem(413, f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(request.body)
        subject_id, version, answers = body["subject"], body["workflow_version"], body["answers"]
    except (ValueError, TypeError, KeyError):
        return _problem(400, 'send JSON: {"subject": id, "workflow_version": n, "answers": [[question, answer], …]}')
    try:
        wanted, exclude = _wanted(request, "next", default=0)
    except ValueError:
        return _problem(400, "next and exclude are whole numbers (exclude: ids separated by commas)")
    try:
        classification, counted = services.classify(project, subject_id, voter=voter, user=request.user,
                                                    workflow_version=version, answers=answers)  # fmt: skip
    except services.SubjectRetired as retired:
        return _problem(409, str(retired))
    except services.ClassificationRefused as refused:
        return _problem(400, str(refused))
    counts, mine = counters.progress_and_mine(project, voter)
    if counted:
        services.announce_progress(project, counts)
    return JsonResponse({"counted": counted, "classification": classification.pk,
                         "others": services.what_others_said(classification), "progress": counts, "mine": mine,
                         "next": _served(project, voter, wanted, exclude)}, status=201 if counted else 200)  # fmt: skip


def _problem(status, detail):
    return problem_response(status, HTTPStatus(status).phrase, detail)
