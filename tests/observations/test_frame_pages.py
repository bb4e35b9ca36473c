"""Frames as an astronomer browses them, and through the partner API."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from observations.ingest import ingest_frame
from observations.models import Frame
from observations.synthetic import make_frame
from portal.tenancy import tenant_context
from tests.conftest import api_client
from tests.observations.conftest import M51, plain, to_bytes


@pytest.fixture
def night(observatory, client):
    """Three frames: two on the night of 2026-03-14 (r and g), one a week later without WCS."""
    tenant, user = observatory
    client.force_login(user)
    with tenant_context(tenant):
        for seed, filter_name, start, wcs in [(1, "r", "2026-03-14T22:00:00", True),
                                              (2, "g", "2026-03-15T03:00:00", True),
                                              (3, "r", "2026-03-21T23:00:00", False)]:  # fmt: skip
            hdu = make_frame(ra_deg=M51[0], dec_deg=M51[1], filter_name=filter_name, obs_time=start, seed=seed,
                             with_wcs=wcs)  # fmt: skip
            assert ingest_frame(tenant, user, to_bytes([hdu]), f"f{seed}.fits").status == "created"
    return tenant


def names(page):
    return sorted(frame.original_name for frame in page.context["page"])


def test_frame_list_filters_by_night_filter_target_and_astrometry(client, night):
    url = f"/t/{night.slug}/frames/"
    assert names(client.get(url)) == ["f1.fits", "f2.fits", "f3.fits"]
    assert names(client.get(url, {"night": "2026-03-14"})) == ["f1.fits", "f2.fits"]
    assert names(client.get(url, {"filter_name": "g"})) == ["f2.fits"]
    assert names(client.get(url, {"target": "m51"})) == ["f1.fits", "f2.fits"]
    assert names(client.get(url, {"astrometry": "no"})) == ["f3.fits"]


def test_frame_detail_shows_header_targets_and_serves_preview_and_file(client, night):
    with tenant_context(night):
        frame = Frame.objects.get(original_name="f1.fits")
    page = client.get(f"/t/{night.slug}/frames/{frame.pk}/")
    assert page.status_code == 200 and "M51</a> at pixel" in page.text and "EXPTIME" in page.text
    preview = client.get(f"/t/{night.slug}/frames/{frame.pk}/preview/")
    assert preview["Content-Type"] == "image/png" and b"".join(preview.streaming_content)[:4] == b"\x89PNG"
    fits_file = client.get(f"/t/{night.slug}/frames/{frame.pk}/fits/")
    assert b"".join(fits_file.streaming_content)[:6] == b"SIMPLE"
    assert 'filename="f1.fits"' in fits_file["Content-Disposition"]


def test_frame_without_astrometry_says_so(client, night):
    with tenant_context(night):
        frame = Frame.objects.get(original_name="f3.fits")
    page = client.get(f"/t/{night.slug}/frames/{frame.pk}/").text
    assert "No astrometry: the header has no WCS (no CTYPE1/CTYPE2). The frame is kept" in page


def test_frame_page_and_api_say_where_the_time_came_from(client, night):
    with tenant_context(night):
        frame = Frame.objects.get(original_name="f1.fits")
    page = client.get(f"/t/{night.slug}/frames/{frame.pk}/").text
    assert "Start of the exposure read from DATE-OBS (primary header)." in page
    listed = api_client(night, frame.ingested_by).get("/api/v1/frames/", {"astrometry": "no"}).json()["results"]
    assert listed[0]["time_source"] == "DATE-OBS (primary header)"
    assert listed[0]["astrometry_note"] == "the header has no WCS (no CTYPE1/CTYPE2)"


def test_target_page_lists_the_frames_covering_it(client, night):
    from observations.models import Target

    with tenant_context(night):
        m51 = Target.objects.get(name="M51")
    page = client.get(f"/t/{night.slug}/targets/{m51.pk}/")
    assert "f1.fits" in page.text and "f2.fits" in page.text and "f3.fits" not in page.text


def test_other_tenants_cannot_open_frames_or_their_files(client, night, tenant_factory):
    with tenant_context(night):
        frame = Frame.objects.get(original_name="f1.fits")
    other, users = tenant_factory()
    client.force_login(users["admin"])
    assert client.get(f"/t/{other.slug}/frames/{frame.pk}/").status_code == 404
    assert client.get(f"/t/{other.slug}/frames/{frame.pk}/fits/").status_code == 404
    assert client.get(f"/t/{night.slug}/frames/{frame.pk}/fits/").status_code == 404


def test_frames_api_lists_filters_and_uploads(observatory):
    tenant, user = observatory
    client = api_client(tenant, user)
    response = client.post("/api/v1/frames/upload/", {"files": [SimpleUploadedFile("a.fits", plain())]},
                           format="multipart")  # fmt: skip
    assert response.status_code == 201 and response.json()[0]["status"] == "created"
    listed = client.get("/api/v1/frames/", {"target": "M51"}).json()["results"]
    assert len(listed) == 1 and listed[0]["targets"] == ["M51"] and listed[0]["telescope"] == "1m0a"
    assert client.get("/api/v1/frames/", {"night": "not-a-date"}).status_code == 400
