"""Importing target lists as astronomers have them: CSV with mixed notations, VOTables, bad rows."""

import io

import pytest
from astropy.io.votable import from_table
from astropy.table import Table
from django.core.files.uploadedfile import SimpleUploadedFile

from observations.models import Target
from portal.tenancy import tenant_context
from tests.conftest import api_client

CSV = b"""name,ra,dec,kind,tags
NGC 4151,12:10:32.58,+39:24:20.6,qso,seyfert;agn
M 100,185.7288,15.8225,galaxy,
Bad position,25:99:00,+95:00:00,galaxy,
NGC 4151,10.0,10.0,galaxy,
,10.0,20.0,galaxy,
Arp 220,15h34m57.1s,+23d30m11s,galaxy,merger
"""


@pytest.fixture
def member(client, tenant_factory):
    tenant, users = tenant_factory(sites=[])
    client.force_login(users["admin"])
    return tenant, users["admin"]


def _upload(client, tenant, name, data, visibility="tenant"):
    return client.post(
        f"/t/{tenant.slug}/targets/import/", {"file": SimpleUploadedFile(name, data), "visibility": visibility}
    )


def test_csv_rows_are_imported_and_bad_rows_reported_with_reasons(client, member):
    tenant, _ = member
    page = _upload(client, tenant, "list.csv", CSV)
    report = page.context["report"]
    assert [t.name for t in report.created] == ["NGC 4151", "M 100", "Arp 220"]
    reasons = {row: reason for row, _, reason in report.skipped}
    assert set(reasons) == {3, 4, 5}
    assert "cannot read" in reasons[3] and "already exists" in reasons[4] and "empty" in reasons[5]
    assert "3 of 6 rows imported" in page.text
    with tenant_context(tenant):
        ngc = Target.objects.get(name="NGC 4151")
        arp = Target.objects.get(name="Arp 220")
    assert ngc.kind == "qso" and ngc.tags == ["seyfert", "agn"]
    assert arp.ra_deg == pytest.approx(233.73792, abs=1e-4) and arp.dec_deg == pytest.approx(23.50306, abs=1e-4)


def test_votable_with_catalogue_column_names(client, member):
    tenant, _ = member
    table = Table({"main_id": ["M 87", "M 84"], "RAJ2000": [187.70593, 186.26560], "DEJ2000": [12.39112, 12.88698]})
    buffer = io.BytesIO()
    from_table(table).to_xml(buffer)
    page = _upload(client, tenant, "virgo.xml", buffer.getvalue(), visibility="public")
    assert [t.name for t in page.context["report"].created] == ["M 87", "M 84"]
    with tenant_context(tenant):
        assert Target.objects.get(name="M 84").visibility == "public"


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("junk.csv", b"\x00\x01\x02 not a table", "not a CSV or VOTable"),
        ("cols.csv", b"object,x,y\nM1,1,2\n", "no ra or dec column"),
        ("broken.xml", b"<?xml version='1.0'?><VOTABLE><RESOURCE><TABLE>", "not a CSV or VOTable"),
    ],
)
def test_unreadable_lists_are_refused_whole(client, member, name, data, message):
    tenant, _ = member
    page = _upload(client, tenant, name, data)
    assert page.context["report"] is None and message in page.text
    with tenant_context(tenant):
        assert not Target.objects.exists()


def test_import_through_the_api(member):
    tenant, user = member
    client = api_client(tenant, user)
    response = client.post("/api/v1/targets/import/", {"file": SimpleUploadedFile("l.csv", CSV)}, format="multipart")
    assert response.status_code == 201
    body = response.json()
    assert body["rows"] == 6 and len(body["created"]) == 3 and [s["row"] for s in body["skipped"]] == [3, 4, 5]
    empty = client.post("/api/v1/targets/import/", {}, format="multipart")
    assert empty.status_code == 400 and "file" in empty.json()["errors"]
