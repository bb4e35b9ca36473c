"""Project owners' pages, inside their tenant (``/t/<tenant>/projects/``): create a project,
publish workflow versions, choose its galaxies, and follow its progress."""

import json

from django.conf import settings
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render

from observations.models import Target
from observations.sky import PositionError, parse_cone
from portal.celery import send
from portal.permissions import may, require

from . import counters, exports, services
from .forms import ExportTrainingForm, ProjectForm, ProjectSettingsForm, SubjectSetForm, WorkflowForm
from .models import Project, VoteExport


def project_admin_list(request, tenant_slug):
    require(request, "projects.manage")
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        tree = data.pop("tree")
        try:
            with transaction.atomic():
                project = services.create_project(request.tenant, request.user, tree=tree, **data)
        except IntegrityError:
            form.add_error("slug", "another project of this observatory has this slug")
        else:
            messages.success(request, f"Project “{project.name}” created. Now choose its galaxies.")
            return redirect("project_admin", tenant_slug, project.pk)
    projects = Project.objects.filter(tenant=request.tenant).order_by("name")
    return render(request, "labeling/project_admin_list.html", {"projects": projects, "form": form})


def project_admin(request, tenant_slug, project_id):
    require(request, "projects.manage")
    project = get_object_or_404(Project, tenant=request.tenant, pk=project_id)
    workflow = services.current_workflow(project)
    settings_form = ProjectSettingsForm(instance=project)
    workflow_form = WorkflowForm(initial={"tree": json.dumps(workflow.tree, indent=2)})
    subjects_form = SubjectSetForm()
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "settings":
            settings_form = ProjectSettingsForm(request.POST, instance=project)
            if settings_form.is_valid():
                with transaction.atomic():
                    services.apply_rules(settings_form.save())
                messages.success(request, "Settings saved; every galaxy's place in the queue follows them.")
                return redirect("project_admin", tenant_slug, project.pk)
        elif action == "workflow":
            workflow_form = WorkflowForm(request.POST)
            if workflow_form.is_valid():
                new = services.publish_workflow(project, workflow_form.cleaned_data["tree"], request.user,
                                                note=workflow_form.cleaned_data["note"])  # fmt: skip
                messages.success(request, f"Workflow version {new.version} published; earlier votes keep theirs.")
                return redirect("project_admin", tenant_slug, project.pk)
        elif action == "aggregate":
            send("labeling.tasks.aggregate_project", request.tenant.pk, project.pk)
            messages.success(request, "Aggregation queued: consensus and skills are updated in a minute or so.")
            return redirect("project_admin", tenant_slug, project.pk)
        elif action == "export":
            try:
                export = exports.export_votes(project, request.user)
            except exports.ExportRefused as refused:
                messages.error(request, str(refused))
            else:
                held = f"{export.galaxies:,} galaxies, {export.volunteers:,} volunteers"
                messages.success(request, f"Votes exported as training set v{export.number}: {held}.")
            return redirect("project_admin", tenant_slug, project.pk)
        elif action == "train":
            require(request, "models.manage")
            training = ExportTrainingForm(request.POST)
            if not training.is_valid():
                messages.error(request, "; ".join(f"{field}: {' '.join(errors)}"
                                                  for field, errors in training.errors.items()))  # fmt: skip
                return redirect("project_admin", tenant_slug, project.pk)
            export = get_object_or_404(VoteExport, tenant=request.tenant, project=project,
                                       number=training.cleaned_data["number"])  # fmt: skip
            try:
                job = exports.train_on_export(export, request.user, epochs=training.cleaned_data["epochs"],
                                              examples=exports.MAX_TRAINING_GALAXIES)  # fmt: skip
            except exports.ExportRefused as refused:
                messages.error(request, str(refused))
                return redirect("project_admin", tenant_slug, project.pk)
            return redirect("job_detail", tenant_slug=tenant_slug, job_id=job.pk)
        elif action == "subjects":
            subjects_form = SubjectSetForm(request.POST)
            if subjects_form.is_valid() and _add_subjects(request, project, subjects_form):
                return redirect("project_admin", tenant_slug, project.pk)
    return render(request, "labeling/project_admin.html", {
        "project": project, "workflow": workflow, "versions": project.workflows.all(),
        "progress": counters.progress(project), "skills": project.skills.all()[:20],
        "exports": project.exports.select_related("created_by", "workflow")[:20],
        "may_train": may(request.tenant_role, "models.manage"),
        "aggregate_every_min": round(settings.AGGREGATE_EVERY_S / 60),
        "settings_form": settings_form, "workflow_form": workflow_form, "subjects_form": subjects_form,
    })  # fmt: skip


def vote_export_file(request, tenant_slug, project_id, number):
    """An export's CSV, as a download named after the project and the export's number."""
    require(request, "projects.manage")
    export = get_object_or_404(VoteExport, tenant=request.tenant, project_id=project_id, number=number)
    return FileResponse(export.file.open("rb"), as_attachment=True, content_type="text/csv",
                        filename=f"{export.project.slug}-votes-v{number}.csv")  # fmt: skip


def _add_subjects(request, project, form):
    data = form.cleaned_data
    criteria = {"tag": data["tag"] or None, "least_sure": data["least_sure"]}
    if data["targets"]:
        targets = list(Target.objects.filter(tenant=request.tenant, name__in=data["targets"]))
        missing = sorted(set(data["targets"]) - {target.name for target in targets})
        if missing:
            form.add_error("targets", f"no target named {', '.join(missing)}")
            return False
        criteria["targets"] = targets
    if data["position"]:
        try:
            criteria["cone"] = parse_cone(position=data["position"], radius=data["radius"],
                                          frame=data["frame"] or "icrs")  # fmt: skip
        except PositionError as error:
            form.add_error(error.field if error.field in form.fields else "position", error.message)
            return False
    images = services.images_to_classify(request.tenant, **criteria)
    added = services.add_subjects(project, images)
    messages.success(request, f"{added} galaxies added ({len(images) - added} were in the project already).")
    return True
