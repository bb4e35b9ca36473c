"""Fused images of a target observed from three sites: asked for, made by a real worker from the
stored frames, refused with the reason, and kept to their tenant."""

import datetime
import gzip
import io

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from mlmodels.frame_quality import QUALITY_CLASSES
from mlmodels.models import MLModel, Prediction
from mlmodels.registry import create_model, promote, save_version
from observations.fused_images import make_fused_image, request_fusion, target_frames
from observations.fusion import FusionRefused, aperture_snr
from observations.ingest import ingest_frame
from observations.models import FusedImage, Target
from observations.synthetic import make_frame
from portal.demo import TENANTS, load_site
from portal.models import Job
from portal.tenancy import tenant_context
from tests.conftest import api_client
from tests.observations.conftest import to_bytes
from tests.observations.test_fusion import DEC, RA, SITES, SOURCE_FLUX, SOURCE_MAG, STARS
from tests.observations.test_real_files import REAL, add_rule, space_telescope
from tests.waiting import finished

EQUIPMENT = {"tfn": ("1m0a", "sinistro"), "elp": ("1m0a", "sinistro"), "coj": ("2m0a", "spectral")}


def three_sites(tenant):
    """The demo's Teide, McDonald and Siding Spring, with their telescopes."""
    with tenant_context(tenant):
        for spec in TENANTS[0]["sites"]:
            if spec["code"] in EQUIPMENT:
                load_site(tenant, dict(spec))


def observe(tenant, user, number, *, filter_name="r", with_wcs=True, day=1, zero_point_written=None, stars=STARS,
            size=256, source_mag=SOURCE_MAG):  # fmt: skip
    """One site's frame of the field around the target, ingested as a site uploads it."""
    site, scale, seeing, zero_point, sky, exptime = SITES[number % 3]
    telescope, instrument = EQUIPMENT[site]
    hdu = make_frame(ra_deg=RA + 0.003 * (number % 4 - 1.5), dec_deg=DEC - 0.002 * (number % 3 - 1), site=site,
                     telescope=telescope, instrument=instrument, filter_name=filter_name,
                     obs_time=f"2026-05-{day:02d}T22:00:00", width=size, height=size,
                     pixel_scale_arcsec=scale, seeing_fwhm_arcsec=seeing, zero_point=zero_point, sky_adu=sky,
                     exptime_s=exptime, n_stars=0, seed=200 + number + 10 * day, stars=[*stars, (RA, DEC, source_mag)],
                     with_wcs=with_wcs)  # fmt: skip
    hdu.header["OBJECT"] = "SN field"
    if zero_point_written is not None:  # a site whose calibration is off
        hdu.header["MAGZP"] = zero_point_written
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    result = ingest_frame(tenant, user, buffer.getvalue(), f"{site}-{number}.fits")
    assert result.frame is not None, result.as_dict()
    return result.frame


def observatory_with_target(tenant_factory):
    """(tenant, its astronomer, the target) with the three sites and no frames yet."""
    tenant, users = tenant_factory(members=(("astronomer", "astronomer"),), sites=())
    three_sites(tenant)
    with tenant_context(tenant):
        target = Target.objects.create(tenant=tenant, name="SN field", ra_deg=RA, dec_deg=DEC)
    return tenant, users["astronomer"], target


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
    workers, committed_tenant_factory, client
):
    tenant, users = committed_tenant_factory(members=(("astronomer", "astronomer"),), sites=())
    target = observed_target(tenant, users["astronomer"])
    client.force_login(users["astronomer"])
    page = client.get(f"/t/{tenant.slug}/targets/{target.pk}/")
    assert "Fuse frames" in page.text
    form = client.get(f"/t/{tenant.slug}/targets/{target.pk}/fuse/")
    assert '<option value="g">' in form.text and '<option value="r">' in form.text  # the bands of its frames

    asked = client.post(f"/t/{tenant.slug}/targets/{target.pk}/fuse/", {"band": "r", "method": "interp",
                                                                          "size_arcsec": "60"})  # fmt: skip
    assert asked.status_code == 302 and "/fused/" in asked.url
    with tenant_context(tenant):
        fused = FusedImage.objects.get()
        job = finished(tenant, fused.job, timeout=120)
        assert job.status == "succeeded", job.message
        assert job.done == job.total and "Fused 6 frames" in job.message
        fused.refresh_from_db()

        assert sorted(each["label"] for each in fused.frames_used) == ["coj", "coj", "elp", "elp", "tfn", "tfn"]
        assert sorted(each["reason"] for each in fused.frames_rejected) == [
            "band g, not r", "no astrometry (no celestial WCS)"]  # fmt: skip
        assert fused.snr > 0.95 * fused.theoretical_snr and fused.snr_gain > 1.8
        assert fused.pixel_scale_arcsec == pytest.approx(0.304)  # the finest frame's

    shown = client.get(asked.url)
    assert "Frames used" in shown.text and "band g, not r" in shown.text and "no astrometry" in shown.text
    assert f"{fused.snr_gain:.2f}×" in shown.text
    preview = client.get(f"/t/{tenant.slug}/fused/{fused.pk}/preview/")
    assert preview["Content-Type"] == "image/png" and b"".join(preview.streaming_content)[:4] == b"\x89PNG"
    download = client.get(f"/t/{tenant.slug}/fused/{fused.pk}/fits/")
    with fits.open(io.BytesIO(b"".join(download.streaming_content))) as hdul:
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "SCI", "WHT", "ERR"]
        assert hdul[0].header["NFRAMES"] == 6 and hdul[0].header["NREJECT"] == 2
    assert "fused-images" in client.get(f"/t/{tenant.slug}/targets/{target.pk}/").text

    partner = api_client(tenant, users["astronomer"], scope="read")
    described = partner.get(f"/api/v1/fused-images/{fused.pk}/").json()
    assert described["status"] == "succeeded" and described["target_name"] == "SN field"
    assert len(described["frames_used"]) == 6 and described["snr_gain"] == pytest.approx(fused.snr_gain)
    fetched = partner.get(described["fits_url"])
    assert fetched.status_code == 200 and fetched["Content-Type"] == "application/fits"


def test_a_fusion_that_cannot_be_made_is_refused_before_anything_is_queued(tenant_factory):
    tenant, user, target = observatory_with_target(tenant_factory)
    with tenant_context(tenant):
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


def test_the_api_refuses_a_fusion_naming_the_field_and_keeps_each_tenant_to_its_own(tenant_factory):
    tenant, users = tenant_factory(members=(("astronomer", "astronomer"), ("volunteer", "volunteer")), sites=())
    other, other_users = tenant_factory()
    three_sites(tenant)
    with tenant_context(tenant):
        target = Target.objects.create(tenant=tenant, name="SN field", ra_deg=RA, dec_deg=DEC)
        observe(tenant, users["astronomer"], 0, day=1)
    partner = api_client(tenant, users["astronomer"])

    for body, field, said in [
        ({"target": target.pk, "band": "i"}, "band", "no frames in i; it has frames in r."),
        ({"target": target.pk, "band": "r", "size_arcsec": 5}, "size_arcsec", "must be 10–3600″"),
        ({"target": target.pk, "band": "r", "method": "lanczos"}, "method", "not a valid choice"),
        ({"target": 10**9, "band": "r"}, "target", "No target you can see has this id."),
        ({"band": "r"}, "target", "required"),
    ]:
        refused = partner.post("/api/v1/fused-images/", body, format="json")
        assert refused.status_code == 400 and refused["Content-Type"] == "application/problem+json", refused.json()
        assert said in str(refused.json()["errors"][field]), refused.json()
    accepted = partner.post("/api/v1/fused-images/", {"target": target.pk, "band": "r", "size_arcsec": 30},
                            format="json")  # fmt: skip
    assert accepted.status_code == 202 and accepted.json()["status"] == "queued"
    fused_id = accepted.json()["id"]
    not_made = partner.get(f"/api/v1/fused-images/{fused_id}/file/")
    assert not_made.status_code == 404 and "not made yet: its job is queued" in not_made.json()["detail"]

    assert api_client(tenant, users["volunteer"], scope="write").post(
        "/api/v1/fused-images/", {"target": target.pk, "band": "r"}, format="json").status_code == 403  # fmt: skip
    stranger = api_client(other, other_users["admin"])
    assert stranger.get(f"/api/v1/fused-images/{fused_id}/").status_code == 404
    assert stranger.get("/api/v1/fused-images/").json()["results"] == []
    theirs = stranger.post("/api/v1/fused-images/", {"target": target.pk, "band": "r"}, format="json")
    assert theirs.json()["errors"]["target"] == ["No target you can see has this id."]


def test_the_page_shows_a_refusal_on_the_field_at_fault(tenant_factory, client):
    tenant, user, target = observatory_with_target(tenant_factory)
    with tenant_context(tenant):
        observe(tenant, user, 0, day=1)
    client.force_login(user)
    url = f"/t/{tenant.slug}/targets/{target.pk}/fuse/"
    refused = client.post(url, {"band": "r", "method": "interp", "size_arcsec": "60", "first_night": "2026-06-01"})
    assert refused.status_code == 200 and "no frames in r between 2026-06-01 and the last" in refused.text
    assert client.post(url, {"band": "i", "method": "interp", "size_arcsec": "60"}).status_code == 200
    with tenant_context(tenant):
        assert not FusedImage.objects.exists()


def test_frames_the_frame_quality_model_judges_spoilt_are_left_out_naming_the_model(tenant_factory):
    tenant, users = tenant_factory(members=(("astronomer", "astronomer"),), sites=())
    user = users["astronomer"]
    target = observed_target(tenant, user)
    with tenant_context(tenant):
        model = create_model(tenant, user, name="frame-quality", task=MLModel.Task.FRAME_QUALITY,
                             architecture="resnet18", class_names=list(QUALITY_CLASSES))  # fmt: skip
        version = promote(save_version(model, user, weights={"w": np.zeros(1, np.float32)}))
        frames = [frame for frame, _ in target_frames(target) if frame.filter_name == "r" and frame.has_astrometry]
        said = [("bad", {"clouds": 0.91, "defocus": 0.02}), ("medium", {"satellite": 0.97}), ("good", {})]
        for frame, (label, flags) in zip(frames, said):
            Prediction.objects.create(tenant=tenant, version=version, frame=frame, label=label, confidence=0.9,
                                      probabilities={label: 0.9}, flags=flags)  # fmt: skip
        fused = request_fusion(tenant, user, target, band="r", size_arcsec=40)
        make_fused_image(fused, lambda done, message: None)

    reasons = {each["id"]: each["reason"] for each in fused.frames_rejected}
    assert reasons[frames[0].pk] == "judged spoilt by frame-quality v1 (clouds 91%)"
    assert {each["id"] for each in fused.frames_used} == {frame.pk for frame in frames[1:]}  # a trail is clipped


def test_a_site_whose_own_zero_point_is_off_is_put_right_by_the_stars_it_shares(tenant_factory):
    tenant, user, target = observatory_with_target(tenant_factory)
    with tenant_context(tenant):
        for number in range(6):  # McDonald's frames say 25.0; its truth is 24.7
            observe(tenant, user, number, day=1 + number // 2,
                    zero_point_written=25.0 if SITES[number % 3][0] == "elp" else None)  # fmt: skip
        fused = request_fusion(tenant, user, target, band="r", size_arcsec=60)
        make_fused_image(fused, lambda done, message: None)

    by_site = {each["label"]: each for each in fused.frames_used}
    assert by_site["elp"]["zero_point_own"] == 25.0
    assert by_site["elp"]["zero_point"] == pytest.approx(24.7, abs=0.02)
    assert by_site["tfn"]["zero_point"] == pytest.approx(25.0, abs=0.02)
    assert "stars shared with the other frames" in by_site["coj"]["calibration"]
    with fused.file.open("rb") as stored, fits.open(io.BytesIO(stored.read())) as hdul:
        science, uncertainty = hdul["SCI"].data, hdul["ERR"].data
        flux, _ = aperture_snr(science, uncertainty, RA, DEC, WCS(hdul["SCI"].header), 3.0)
    assert flux == pytest.approx(SOURCE_FLUX, rel=0.04)  # uncalibrated, McDonald's frames pulled it 8% low


def test_a_real_survey_plate_is_fused_on_its_own_wcs_and_one_without_a_zero_point_is_left_out(observatory):
    """The Digitized Sky Survey cutout (tests/data/real/fits): a rotated, skewed plate solution
    and no zero point, as it was published; then the same plate with the MAGZP a pipeline adds."""
    tenant, user = observatory
    add_rule(tenant, space_telescope(tenant, "real"), pattern="UK 48-inch*")
    target = Target.objects.create(tenant=tenant, name="DSS field", ra_deg=217.4833, dec_deg=-62.6847)
    published = (REAL / "dss.14.29.56-62.41.05.fits.gz").read_bytes()
    with fits.open(io.BytesIO(gzip.decompress(published))) as hdul:
        hdul.verify("silentfix")  # its SKEW card is not standard; the pipeline writing MAGZP mends it
        calibrated_plate = hdul[0].copy()
    calibrated_plate.header["MAGZP"] = 21.0
    as_published = ingest_frame(tenant, user, published, "dss.fits.gz").frame
    with_zero_point = ingest_frame(tenant, user, to_bytes([calibrated_plate]), "dss-zp.fits").frame

    fused = request_fusion(tenant, user, target, band=as_published.filter_name, size_arcsec=120)
    make_fused_image(fused, lambda done, message: None)

    assert [each["id"] for each in fused.frames_used] == [with_zero_point.pk]
    assert fused.frames_rejected == [{"id": as_published.pk, "label": "tfn", "reason": (
        "no zero point (none in its header, none for its filter at its site)")}]  # fmt: skip
    with fused.file.open("rb") as stored, fits.open(io.BytesIO(stored.read())) as hdul:
        science, grid_wcs = hdul["SCI"].data, WCS(hdul["SCI"].header)
    # The fused image's brightest star is where the plate has it: its solution was followed. (Its
    # plate image is saturated flat, so centroids, not peaks.)
    peak = np.unravel_index(np.nanargmax(science), science.shape)
    fused_x, fused_y = centroid(science, peak[1], peak[0], 3)
    x, y = WCS(calibrated_plate.header).world_to_pixel(grid_wcs.pixel_to_world(fused_x, fused_y))
    plate_x, plate_y = centroid(calibrated_plate.data.astype(float), int(round(float(x))), int(round(float(y))), 4)
    assert abs(plate_x - x) < 0.5 and abs(plate_y - y) < 0.5
    assert np.isfinite(science).mean() > 0.99  # the 120″ field lies inside the 170″ plate


def centroid(image, x, y, half):
    """The light-weighted centre of the box of side 2·half+1 around pixel (x, y), above its lowest pixel."""
    box = image[y - half : y + half + 1, x - half : x + half + 1]
    light = box - np.nanmin(box)
    rows, columns = np.mgrid[-half : half + 1, -half : half + 1]
    return x + (light * columns).sum() / light.sum(), y + (light * rows).sum() / light.sum()
