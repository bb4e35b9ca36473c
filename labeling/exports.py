"""Volunteers' votes exported as versioned training sets.

One CSV per export, a galaxy a row: the galaxy (subject, image, target, position), then one
column per answer of the project's tree, ``question_answer``, with its vote count, and each
question's ``question_total-votes`` — the layout of the Galaxy Zoo DECaLS catalogues, which
Zoobot trains on. Exports are numbered per project and never rewritten, so a model trained
on one can always say what it learnt from; each row of ``VoteExport`` says which aggregation
it holds and how many galaxies, classifications and volunteers were behind it.
"""

import csv
import hashlib
import io
import tempfile

from django.core.files import File
from django.db import transaction
from django.db.models import Max

from mlmodels.models import MLModel
from mlmodels.services import create_task_model, queue_training, training_refusal

from .models import Classification, Project, VoteExport
from .services import current_workflow
from .workflows import question_order

CHUNK_BYTES = 2**20
# At most this many galaxies of an export go into one training: 64² g/r/z cubes take 48 KiB
# each in memory, so this bounds a gpu-batch worker's set to about a GiB.
MAX_TRAINING_GALAXIES = 20_000


class ExportRefused(ValueError):
    """Nothing was exported; the message says why."""


def answer_columns(tree):
    """The count columns: ``vote_columns`` and then each question's total (``question_total-votes``)."""
    return vote_columns(tree) + [f"{key}_total-votes" for key in question_order(tree)]


def vote_columns(tree):
    """The tree's answers as ``question_answer`` columns, in the order they can be asked: the
    outputs of a model that learns from the export."""
    return [f"{key}_{answer}" for key, answers in _answers(tree) for answer in answers]


def _answers(tree):
    return [(key, [answer["key"] for answer in tree["questions"][key]["answers"]]) for key in question_order(tree)]


def export_votes(project, user):
    """Write the project's aggregated vote counts as its next numbered export. ExportRefused
    when no galaxy has been aggregated yet (the counts are the aggregation's)."""
    workflow = current_workflow(project)
    tree = workflow.tree
    voted = (project.subjects.filter(aggregated_at__isnull=False).exclude(vote_counts={}).order_by("pk")
             .values_list("pk", "image_id", "image__target__name", "image__target__ra_deg", "image__target__dec_deg",
                          "vote_counts", "aggregated_at"))  # fmt: skip
    with tempfile.TemporaryFile() as spool:
        galaxies, aggregated_at = _write_csv(spool, tree, voted.iterator(chunk_size=5000))
        if not galaxies:
            raise ExportRefused(f"no galaxy of {project.name} has aggregated votes yet: aggregate them first")
        digest = _sha256(spool)
        classifications = Classification.objects.filter(project=project)
        export = None
        try:
            with transaction.atomic():
                Project.objects.select_for_update().get(pk=project.pk)  # one number for one export
                number = (project.exports.aggregate(last=Max("number"))["last"] or 0) + 1
                export = VoteExport(tenant_id=project.tenant_id, project=project, number=number, workflow=workflow,
                                    sha256=digest, galaxies=galaxies, classifications=classifications.count(),
                                    volunteers=classifications.values("voter").distinct().count(),
                                    aggregated_at=aggregated_at, created_by=user)  # fmt: skip
                export.file.save(f"votes-v{number}.csv", File(spool), save=False)
                export.save()
        except BaseException:
            if export is not None and export.file:
                export.file.delete(save=False)  # no file without its row
            raise
    return export


def _write_csv(spool, tree, rows):
    """(galaxies written, the latest aggregation among them)."""
    text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow(["subject_id", "image_id", "target", "ra", "dec", *answer_columns(tree)])
    questions = _answers(tree)
    galaxies, latest = 0, None
    for pk, image_id, target, ra, dec, counts, aggregated_at in rows:
        votes = [counts.get(key, {}).get(answer, 0) for key, answers in questions for answer in answers]
        totals = [sum(counts.get(key, {}).values()) for key, _ in questions]
        writer.writerow([pk, image_id, target, ra, dec, *votes, *totals])
        galaxies += 1
        latest = aggregated_at if latest is None else max(latest, aggregated_at)
    text.flush()
    text.detach()  # the spool stays open for the caller
    return galaxies, latest


def _sha256(spool):
    spool.seek(0)
    digest = hashlib.sha256()
    while chunk := spool.read(CHUNK_BYTES):
        digest.update(chunk)
    spool.seek(0)
    return digest.hexdigest()


def vote_model_name(project):
    return f"{project.slug}-votes"


def train_on_export(export, user, *, epochs, examples):
    """Queue the next version of the project's vote-fraction model (``<project>-votes``,
    registered the first time with the export's answers as its outputs), learning from
    ``export``; returns the training job. ExportRefused when the model cannot learn from it
    (a name taken by another kind of model, a tree whose answers changed)."""
    project = export.project
    model = MLModel.objects.filter(tenant_id=export.tenant_id, name=vote_model_name(project)).first()
    if model is None:
        model = create_task_model(
            project.tenant, user, name=vote_model_name(project), task=MLModel.Task.VOTE_FRACTIONS, dataset=export.pk,
            description=f"Predicts the share of volunteers of {project.name} who give each answer of its tree.",
        )  # fmt: skip
    if model.task != MLModel.Task.VOTE_FRACTIONS:
        raise ExportRefused(f"the model {model.name} exists and is a {model.get_task_display().lower()} model; "
                            "rename it to train a vote model for this project")  # fmt: skip
    refusal = training_refusal(model, export.pk)
    if refusal:
        raise ExportRefused(f"{refusal} (the tree changed since {model.name} was registered: register a new model)")
    return queue_training(model, user, examples=examples, epochs=epochs, dataset=export.pk)
