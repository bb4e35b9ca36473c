"""IVOA Simple Cone Search over targets and frames, read by pyvo — a real VO client, over HTTP,
against the running web server — as an astronomer's TOPCAT or script would."""

import io

import pytest
import pyvo
import requests
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits

from observations.models import Target, Visibility
from observations.synthetic import make_frame
from portal.models import ApiKey
from portal.tenancy import tenant_context
from tests.observations.conftest import M51, equip, to_bytes


def keyed_session(key):
    session = requests.Session()
    session.headers["Authorization"] = f"Api-Key {key}"
    return session


@pytest.fixture
def two_observatories(committed_tenant_factory):
    """(session with a key of the first, its tenant): M51 and a target far away of its own, a
    public and a private target of another observatory beside M51."""
    mine, users = committed_tenant_factory(sites=[])
    equip(mine)
    other, other_users = committed_tenant_factory(sites=[])
    with tenant_context(other):
        Target.objects.create(tenant=other, name="NGC 5195 (public)", ra_deg=202.498, dec_deg=47.266,
                              visibility=Visibility.PUBLIC, created_by=other_users["admin"])  # fmt: skip
        Target.objects.create(tenant=other, name="their secret", ra_deg=202.47, dec_deg=47.20,
                              created_by=other_users["admin"])  # fmt: skip
    with tenant_context(mine):
        _, key = ApiKey.issue(tenant=mine, created_by=users["admin"], name="topcat", scope="write")
    return keyed_session(key), mine


def test_pyvo_finds_the_targets_in_a_cone_nearest_first_and_none_it_may_not_see(web_only_server, two_observatories):
    url, _ = web_only_server
    session, tenant = two_observatories
    service = pyvo.dal.SCSService(f"{url}/api/v1/vo/targets/cone/", session=session)
    found = service.search(pos=SkyCoord(*M51, unit="deg"), radius=0.2 * u.deg)
    assert [record["name"] for record in found] == ["M51", "NGC 5195 (public)"]
    with tenant_context(tenant):
        m51 = Target.objects.get(tenant=tenant, name="M51")
    assert found[0].id == m51.pk
    assert found[0].pos.separation(SkyCoord(*M51, unit="deg")) < 0.01 * u.arcsec
    table = found.to_table()
    assert table["separation"].unit == u.arcsec and table["separation"][0] < table["separation"][1]
    assert table["ra"].unit == u.deg
    assert len(service.search(pos=SkyCoord(0, 0, unit="deg"), radius=1 * u.deg)) == 0

    minimal = service.search(pos=SkyCoord(*M51, unit="deg"), radius=0.2 * u.deg, verbosity=1)
    assert minimal.fieldnames == ("id", "ra", "dec")
    everything = service.search(pos=SkyCoord(*M51, unit="deg"), radius=0.2 * u.deg, verbosity=3)
    assert [record["owner"] for record in everything][0] == tenant.slug
    columns_only = service.search(pos=SkyCoord(*M51, unit="deg"), radius=0)
    assert len(columns_only) == 0 and "separation" in columns_only.fieldnames


def test_a_frame_uploaded_through_the_api_is_found_by_its_footprint_and_downloaded(web_only_server, two_observatories):
    url, _ = web_only_server
    session, tenant = two_observatories
    frame = make_frame(ra_deg=M51[0] + 0.01, dec_deg=M51[1], seed=3, obs_time="2026-03-14T22:00:00")
    uploaded = session.post(f"{url}/api/v1/frames/upload/", files={"files": ("m51.fits", to_bytes([frame]))})
    assert uploaded.status_code == 201, uploaded.text
    service = pyvo.dal.SCSService(f"{url}/api/v1/vo/frames/cone/", session=session)

    # The frame is 100" across, its centre 24" east of M51: a 1" cone at M51 falls inside it; one 60"
    # north of its centre is outside, reached only by a radius that crosses the footprint's edge.
    north = SkyCoord(M51[0] + 0.01, M51[1] + 60 / 3600, unit="deg")
    assert len(service.search(pos=north, radius=5 * u.arcsec)) == 0
    assert len(service.search(pos=north, radius=15 * u.arcsec)) == 1
    found = service.search(pos=SkyCoord(*M51, unit="deg"), radius=1 * u.arcsec, verbosity=3)
    assert len(found) == 1
    record = found[0]
    assert record["filter"] == "r" and record["site"] == "tfn" and record["exptime"] > 0
    assert record["s_region"].startswith("POLYGON ICRS ") and len(record["s_region"].split()) == 2 + 8
    downloaded = session.get(record["access_url"])
    assert downloaded.status_code == 200
    with fits.open(io.BytesIO(downloaded.content)) as hdus:
        assert hdus[0].data.shape == frame.data.shape
    assert len(service.search(pos=SkyCoord(*M51, unit="deg").directional_offset_by(0 * u.deg, 2 * u.deg),
                              radius=0.1 * u.deg)) == 0  # fmt: skip


def test_a_query_the_service_cannot_answer_is_refused_naming_the_parameter(web_only_server, two_observatories):
    url, _ = web_only_server
    session, _ = two_observatories
    service = pyvo.dal.SCSService(f"{url}/api/v1/vo/targets/cone/", session=session)
    with pytest.raises(pyvo.DALQueryError, match="SR must be from 0 to 10 degrees"):
        service.search(pos=SkyCoord(*M51, unit="deg"), radius=20 * u.deg)
    refusals = (
        ({"RA": "202", "SR": "0.1"}, "DEC is required"),
        ({"RA": "abc", "DEC": "47", "SR": "0.1"}, "RA must be a number"),
        ({"RA": "202", "DEC": "95", "SR": "0.1"}, "DEC: declination 95"),
        ({"RA": "202", "DEC": "47", "SR": "nan"}, "SR must be a finite number"),
        ({"ra": "202", "dec": "47", "sr": "0.1", "verb": "7"}, "VERB must be 1, 2 or 3"),
    )
    for query, reason in refusals:
        answer = session.get(f"{url}/api/v1/vo/targets/cone/", params=query)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/xml")
        assert 'name="Error"' in answer.text and reason in answer.text, (query, answer.text)
    refused = requests.get(f"{url}/api/v1/vo/frames/cone/", params={"RA": 1, "DEC": 1, "SR": 1},
                           headers={"Authorization": "Api-Key ask_00000000_wrong"})  # fmt: skip
    assert refused.status_code == 401 and 'name="Error"' in refused.text and "Unknown API key" in refused.text
    with pytest.raises(pyvo.DALQueryError, match="credentials were not provided"):
        pyvo.dal.SCSService(f"{url}/api/v1/vo/targets/cone/").search(pos=SkyCoord(*M51, unit="deg"), radius=0.1)
