"""Fused images of a target observed from three sites: asked for, made by a real worker from the
stored frames, refused with the reason, and kept to their tenant."""

import datetime
import io

import pytest
from astropy.io import fits

from observations.fused_images import request_fusion, target_frames
from observations.fusion import FusionRefused
from observations.ingest import ingest_frame
from observations.models import FusedImage, Target
from observations.synthetic import make_frame
from portal.demo import TENANTS, load_site
from portal.models import Job
from portal.tenancy import tenant_context
from tests.observations.test_fusion import DEC, RA, SITES, SOURCE_MAG, STARS
from tests.waiting import finished

EQUIPMENT = {"tfn": ("1m0a", "sinistro"), "elp": ("1m0a", "sinistro"), "coj": ("2m0a", "spectral")}


def three_sites(tenant):
    """The demo's Teide, McDonald and Siding Spring, with their telescopes."""
    with tenant_context(tenant):
        for spec in TENANTS[0]["sites"]:
            if spec["code"] in EQUIPMENT:
                load_site(tenant, dict(spec))


def observe(tenant, user, number, *, filter_name="r", with_wcs=True, day=1):
    """One site's frame of the field around the target, ingested as a site uploads it."""
    site, scale, seeing, zero_point, sky, exptime = SITES[number % 3]
    telescope, instrument = EQUIPMENT[site]
    hdu = make_frame(ra_deg=RA + 0.003 * (number % 4 - 1.5), dec_deg=DEC - 0.002 * (number % 3 - 1), site=site,
                     telescope=telescope, instrument=instrument, filter_name=filter_name,
                     obs_time=f"2026-05-{day:02d}T22:00:00",
                     pixel_scale_arcsec=scale, seeing_fwhm_arcsec=seeing, zero_point=zero_point, sky_adu=sky,
                     exptime_s=exptime, n_stars=0, seed=200 + number, stars=[*STARS, (RA, DEC, SOURCE_MAG)],
                     with_wcs=with_wcs)  # fmt: skip
    hdu.header["OBJECT"] = "SN field"
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    result = ingest_frame(tenant, user, buffer.getvalue(), f"{site}-{number}.fits")
    assert result.frame is not None, result.as_dict()
    return result.frame


def observed_target(tenant, user):
    """A target with six r frames from three sites over three nights, a g frame and an r frame
    without astrometry."""
    three_sites(tenant)
    with tenant_context(tenant):
        target = Target.objects.create(tenant=tenant, name="SN field", ra_deg=RA, dec_deg=DEC)
        for number in range(6):
            observe(tenant, user, number, day=1 + number // 2)
        observe(tenant, user, 6, filter_name="g", day=2)
        observe(tenant, user, 7, with_wcs=False, day=2)
    return target


def test_an_astronomer_gets_a_fused_image_from_every_site_with_the_frames_left_out_and_why(
    workers, committed_tenant_factory
):
    tenant, users = committed_tenant_factory(members=(("astronomer", "astronomer"),), sites=())
    target = observed_target(tenant, users["astronomer"])
    with tenant_context(tenant):
        fused = request_fusion(tenant, users["astronomer"], target, band="r", size_arcsec=60)
        job = finished(tenant, fused.job, timeout=120)
        assert job.status == "succeeded", job.message
        assert job.done == job.total and "Fused 6 frames" in job.message
        fused.refresh_from_db()

        assert sorted(each["label"] for each in fused.frames_used) == ["coj", "coj", "elp", "elp", "tfn", "tfn"]
        assert sorted(each["reason"] for each in fused.frames_rejected) == [
            "band g, not r", "no astrometry (no celestial WCS)"]  # fmt: skip
        assert fused.snr > 0.95 * fused.theoretical_snr and fused.snr_gain > 1.8
        assert fused.pixel_scale_arcsec == pytest.approx(0.304)  # the finest frame's
        with fused.file.open("rb") as stored, fits.open(io.BytesIO(stored.read())) as hdul:
            assert [hdu.name for hdu in hdul] == ["PRIMARY", "SCI", "WHT", "ERR"]
            assert hdul[0].header["NFRAMES"] == 6 and hdul[0].header["NREJECT"] == 2
        with fused.preview.open("rb") as preview:
            assert preview.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_fusion_that_cannot_be_made_is_refused_before_anything_is_queued(tenant_factory):
    tenant, users = tenant_factory(members=(("astronomer", "astronomer"),), sites=())
    user = users["astronomer"]
    three_sites(tenant)
    with tenant_context(tenant):
        target = Target.objects.create(tenant=tenant, name="SN field", ra_deg=RA, dec_deg=DEC)
        observe(tenant, user, 0, day=1)
        observe(tenant, user, 1, filter_name="g", day=1)
        refusals = {
            "no frames in i; it has frames in g, r.": dict(band="i"),
            "no frames in r between 2026-06-01 and the last; it has no frames at all.": dict(
                band="r", first_night=datetime.date(2026, 6, 1)),
            "The first night (2026-05-03) is after the last (2026-05-01).": dict(
                band="r", first_night=datetime.date(2026, 5, 3), last_night=datetime.date(2026, 5, 1)),
            "the most a fusion makes is 16,777,216 pixels": dict(band="r", size_arcsec=3600, pixel_scale_arcsec=0.1),
            "The field's side must be 10–3600″, not 5″.": dict(band="r", size_arcsec=5),
            "Unknown resampling 'lanczos'": dict(band="r", method="lanczos"),
        }  # fmt: skip
        for message, request in refusals.items():
            with pytest.raises(FusionRefused) as refused:
                request_fusion(tenant, user, target, **request)
            assert message in str(refused.value)
        assert not FusedImage.objects.exists() and not Job.objects.filter(kind="fusion").exists()
        assert [frame.filter_name for frame, _ in target_frames(target)] == ["r", "g"]  # one night: in arrival order


def test_a_fused_image_is_seen_only_in_its_own_tenant(tenant_factory):
    mine, my_users = tenant_factory(members=(("astronomer", "astronomer"),), sites=())
    theirs, _ = tenant_factory()
    target = observed_target(mine, my_users["astronomer"])
    with tenant_context(mine):
        fused = request_fusion(mine, my_users["astronomer"], target, band="r", size_arcsec=30)
        assert FusedImage.objects.filter(pk=fused.pk).exists()
    with tenant_context(theirs):
        assert not FusedImage.objects.filter(pk=fused.pk).exists()
        assert FusedImage.objects.count() == 0
