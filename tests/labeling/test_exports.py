"""Volunteers' votes exported as numbered training sets: what a file holds, and who may have it."""

import csv
import hashlib
import io

import pytest

from labeling.exports import ExportRefused, export_votes
from labeling.models import VoteExport
from labeling.services import add_subjects, aggregate, classify
from portal.tenancy import tenant_context
from tests.labeling.conftest import signed_in
from tests.labeling.test_classifying import ROUND, SPIRAL, simple_project


def _rows(export):
    with export.file.open("rb") as stored:
        content = stored.read()
    return content, list(csv.DictReader(io.StringIO(content.decode())))


def test_an_export_holds_each_voted_galaxys_counts_per_answer_and_is_numbered(galaxies):
    tenant, users, make = galaxies
    project = simple_project(tenant, users["owner"])
    add_subjects(project, make(3))
    first, second, unvoted = project.subjects.order_by("pk")
    for voter, subject, answers in [("anon:a", first, SPIRAL), ("anon:b", first, ROUND), ("anon:c", first, SPIRAL),
                                    ("anon:a", second, ROUND)]:  # fmt: skip
        classify(project, subject.pk, voter=voter, user=None, workflow_version=1, answers=answers)
    with pytest.raises(ExportRefused, match="no galaxy of Shapes has aggregated votes yet"):
        export_votes(project, users["owner"])
    aggregate(project)
    export = export_votes(project, users["owner"])
    content, rows = _rows(export)
    assert (export.number, export.galaxies, export.classifications, export.volunteers) == (1, 2, 4, 3)
    assert export.sha256 == hashlib.sha256(content).hexdigest()
    assert list(rows[0]) == ["subject_id", "image_id", "target", "ra", "dec", "shape_round", "shape_disk",
                             "arms_yes", "arms_no", "shape_total-votes", "arms_total-votes"]  # fmt: skip
    assert [row["subject_id"] for row in rows] == [str(first.pk), str(second.pk)], "the unvoted galaxy is left out"
    assert [rows[0][column] for column in list(rows[0])[5:]] == ["1", "2", "2", "0", "3", "2"]
    assert rows[1]["target"] == second.image.target.name and float(rows[1]["ra"]) == second.image.target.ra_deg
    classify(project, unvoted.pk, voter="anon:a", user=None, workflow_version=1, answers=ROUND)
    aggregate(project)
    again = export_votes(project, users["owner"])
    assert (again.number, again.galaxies) == (2, 3)
    assert _rows(export)[0] == content, "an export is never rewritten"


def test_the_owner_exports_and_downloads_and_a_volunteer_may_not(galaxies):
    tenant, users, make = galaxies
    project = simple_project(tenant, users["owner"])
    add_subjects(project, make(1))
    classify(project, project.subjects.get().pk, voter="anon:a", user=None, workflow_version=1, answers=ROUND)
    owner = signed_in(users["owner"])
    page = f"/t/{tenant.slug}/projects/{project.pk}/"
    early = owner.post(page, {"action": "export"}, follow=True)
    assert "has aggregated votes yet: aggregate them first" in early.content.decode()
    with tenant_context(tenant):
        aggregate(project)
    exported = owner.post(page, {"action": "export"}, follow=True).content.decode()
    assert "Votes exported as training set v1: 1 galaxies, 1 volunteers." in exported
    assert f"{page}exports/v1.csv" in exported
    download = owner.get(f"{page}exports/v1.csv")
    assert download["Content-Disposition"] == 'attachment; filename="shapes-votes-v1.csv"'
    assert b"".join(download.streaming_content).decode().splitlines()[1].endswith(",1,0,0,0,1,0")
    assert signed_in(users["volunteer"]).get(f"{page}exports/v1.csv").status_code == 403
    with tenant_context(tenant):
        assert VoteExport.objects.count() == 1
