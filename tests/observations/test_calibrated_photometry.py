"""A target followed from three sites whose own zero points disagree: its photometry calibrated
across sites per site and night (stored beside the raw, which stays), and its light curve fused
into one curve with each site's offset shown; on the page, through a real worker, and in the API."""

import datetime
import gzip
import io

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from observations.calibrated_photometry import calibrate_photometry, night_of, request_calibration
from observations.calibration import CalibrationRefused
from observations.ingest import ingest_frame
from observations.light_curves import fuse_light_curve
from observations.models import CalibratedPhotometry, FrameCalibration, Photometry, PhotometryCalibration, Target
from observations.services import fused_light_curve
from observations.synthetic import sky_field
from portal.tenancy import tenant_context
from tests.conftest import api_client
from tests.observations.conftest import to_bytes
from tests.observations.test_fused_images import observatory_with_target, observe, three_sites
from tests.observations.test_fusion import DEC, RA, SITES, SOURCE_MAG
from tests.observations.test_real_files import REAL, add_rule, space_telescope
from tests.waiting import finished

TRUTH = {site: zero_point for site, _, _, zero_point, *_ in SITES}
FIELD = sky_field(RA, DEC, radius_arcsec=70, count=40, seed=8, magnitudes=(15, 19))  # a field rich enough in stars


def followed(tenant, user, nights=3):
    """Every other night a frame from each site; McDonald's headers say 25.0 where its truth is 24.7."""
    frames = []
    for night in range(nights):
        for site in range(3):
            frames.append(observe(tenant, user, site, day=1 + 2 * night, stars=FIELD, size=400,
                                  zero_point_written=25.0 if SITES[site][0] == "elp" else None))  # fmt: skip
    return frames


def calibrated_run(tenant, user, target, band="r"):
    run = request_calibration(tenant, user, target, band)
    calibrate_photometry(run, lambda done, message: None)
    return run


def test_each_site_s_zero_point_is_fitted_per_night_and_the_raw_photometry_is_kept(tenant_factory):
    tenant, user, target = observatory_with_target(tenant_factory)
    with tenant_context(tenant):
        frames = followed(tenant, user)
        raw_before = {p.pk: p.mag for p in Photometry.objects.filter(target=target)}
        run = calibrated_run(tenant, user, target)

        rows = {row.frame_id: row for row in FrameCalibration.objects.filter(run=run).select_related("site")}
        assert set(rows) == {frame.pk for frame in frames}
        for row in rows.values():
            assert row.zero_point == pytest.approx(TRUTH[row.site.code], abs=0.02), row.site.code
            assert 0 < row.zero_point_error < 0.01 and row.stars_used >= 5
        elp = [row for row in rows.values() if row.site.code == "elp"]
        assert all(row.zero_point_own == 25.0 and row.offset == pytest.approx(-0.3, abs=0.02) for row in elp)
        assert run.star_count >= 8

        # The raw photometry is as it was; the calibrated value beside it puts McDonald right.
        assert {p.pk: p.mag for p in Photometry.objects.filter(target=target)} == raw_before
        for calibrated in CalibratedPhotometry.objects.filter(photometry__target=target).select_related(
            "photometry__site"
        ):
            assert calibrated.mag == pytest.approx(SOURCE_MAG, abs=3 * calibrated.mag_err)
            assert calibrated.mag_err >= calibrated.photometry.mag_err
        for elp in Photometry.objects.filter(target=target, site__code="elp").select_related("calibrated"):
            assert elp.mag - elp.calibrated.mag == pytest.approx(0.3, abs=0.02)


def test_the_fused_light_curve_is_one_curve_with_the_sites_offsets(tenant_factory):
    tenant, user, target = observatory_with_target(tenant_factory)
    with tenant_context(tenant):
        followed(tenant, user)
        raw = fused_light_curve(tenant, target)
        calibrated_run(tenant, user, target)
        fused = fused_light_curve(tenant, target)

    assert [epoch.count for epoch in fused.epochs] == [3, 3, 3]
    assert all(epoch.sites == ("coj", "elp", "tfn") and epoch.calibrated for epoch in fused.epochs)
    for epoch in fused.epochs:
        assert epoch.mag == pytest.approx(SOURCE_MAG, abs=3 * epoch.mag_err + 0.01)
        assert epoch.chi2 < 5  # the sites agree once tied
    # Without calibration, McDonald's frames pull each epoch faint and the sites disagree.
    assert not any(epoch.calibrated for epoch in raw.epochs)
    assert sum(epoch.chi2 for epoch in raw.epochs) > 5 * sum(epoch.chi2 for epoch in fused.epochs)
    offsets = {offset.site: offset for offset in fused.offsets}
    assert offsets["elp"].offset == pytest.approx(-0.3, abs=0.02) and offsets["elp"].nights == 3
    assert abs(offsets["tfn"].offset) < 0.02 and abs(offsets["coj"].offset) < 0.02


def test_a_site_s_frames_of_one_night_share_a_zero_point():
    """Siding Spring's night straddles midnight UTC; it stays one night (local evening's date)."""
    coj, elp = 149.07, -104.02
    evening = datetime.datetime(2026, 5, 1, 9, 0, tzinfo=datetime.UTC)  # 19:00 local at Siding Spring
    assert night_of(evening, coj) == night_of(evening + datetime.timedelta(hours=8), coj) == datetime.date(2026, 5, 1)
    late = datetime.datetime(2026, 5, 2, 9, 30, tzinfo=datetime.UTC)  # 03:30 local at McDonald
    assert night_of(late, elp) == datetime.date(2026, 5, 1)


def test_epochs_combine_fluxes_by_inverse_variance_within_the_window():
    class Point:
        def __init__(self, mjd, mag, mag_err, band="r", site="tfn"):
            self.mjd, self.mag, self.mag_err, self.filter_name = mjd, mag, mag_err, band
            self.site = type("Site", (), {"code": site})()

    points = [Point(100.0, 15.0, 0.01), Point(100.4, 15.2, 0.1, site="elp"), Point(102.0, 16.0, 0.02)]
    curve = fuse_light_curve(points, window_hours=24)
    assert [epoch.count for epoch in curve.epochs] == [2, 1]
    first = curve.epochs[0]
    assert 15.0 < first.mag < 15.01  # the precise point weighs 100 times the other
    assert first.mag_err < 0.01 and first.sites == ("elp", "tfn") and not first.calibrated
    assert [epoch.count for epoch in fuse_light_curve(points, window_hours=6).epochs] == [1, 1, 1]


def test_a_calibration_with_nothing_to_tie_is_refused_and_nothing_is_stored(tenant_factory):
    tenant, user, target = observatory_with_target(tenant_factory)
    with tenant_context(tenant):
        with pytest.raises(CalibrationRefused, match="no frame in r that can be calibrated; it has frames in no band"):
            request_calibration(tenant, user, target, "r")
        observe(tenant, user, 0, day=1)
        observe(tenant, user, 3, day=1)  # the same site (Teide) the same night
        observe(tenant, user, 7, filter_name="g", with_wcs=False, day=2)
        with pytest.raises(CalibrationRefused, match="from one site and night: there is nothing to tie them to"):
            request_calibration(tenant, user, target, "r")
        with pytest.raises(CalibrationRefused, match=r"in g that can .*\(elp\): no astrometry: its stars cannot be"):
            request_calibration(tenant, user, target, "g")
        assert not PhotometryCalibration.objects.exists() and not FrameCalibration.objects.exists()


def test_calibrations_are_seen_only_in_their_own_tenant(tenant_factory):
    mine, my_users = tenant_factory(members=(("astronomer", "astronomer"),), sites=())
    theirs, _ = tenant_factory()
    three_sites(mine)
    with tenant_context(mine):
        target = Target.objects.create(tenant=mine, name="SN field", ra_deg=RA, dec_deg=DEC)
        followed(mine, my_users["astronomer"], nights=2)
        calibrated_run(mine, my_users["astronomer"], target)
        assert FrameCalibration.objects.count() == 6 and CalibratedPhotometry.objects.count() == 6
    with tenant_context(theirs):
        assert not PhotometryCalibration.objects.exists()
        assert not FrameCalibration.objects.exists() and not CalibratedPhotometry.objects.exists()


def test_an_astronomer_calibrates_from_the_page_and_reads_one_light_curve_there_and_in_the_api(
    workers, committed_tenant_factory, client
):
    tenant, users = committed_tenant_factory(members=(("astronomer", "astronomer"),), sites=())
    three_sites(tenant)
    user = users["astronomer"]
    with tenant_context(tenant):
        target = Target.objects.create(tenant=tenant, name="SN field", ra_deg=RA, dec_deg=DEC)
        followed(tenant, user, nights=2)
    client.force_login(user)
    page = client.get(f"/t/{tenant.slug}/targets/{target.pk}/")
    assert "Calibrate across sites" in page.text and "Not calibrated yet" in page.text

    asked = client.post(f"/t/{tenant.slug}/targets/{target.pk}/calibrate/", {"band": "r"}, follow=True)
    assert "Calibrating SN field in r across sites" in asked.text
    with tenant_context(tenant):
        run = PhotometryCalibration.objects.get()
        job = finished(tenant, run.job, timeout=120)
        assert job.status == "succeeded", job.message
        assert job.message.startswith("Tied 6 of 6 frames")
    shown = client.get(f"/t/{tenant.slug}/targets/{target.pk}/")
    assert 'id="site-offsets"' in shown.text and "-0.30" in shown.text  # McDonald's own zero point, 0.3 mag off
    assert "2 epochs" in shown.text and "fused-light-curve-plot" in shown.text

    partner = api_client(tenant, user, scope="read")
    curve = partner.get(f"/api/v1/targets/{target.pk}/fused-light-curve/").json()
    assert [epoch["count"] for epoch in curve["epochs"]] == [3, 3]
    assert all(epoch["mag"] == pytest.approx(SOURCE_MAG, abs=3 * epoch["mag_err"]) for epoch in curve["epochs"])
    assert {offset["site"]: round(offset["offset"], 1) for offset in curve["site_offsets"]} == {
        "coj": 0.0, "elp": -0.3, "tfn": 0.0}  # fmt: skip
    points = partner.get(f"/api/v1/targets/{target.pk}/light-curve/").json()
    elp = [point for point in points if point["site"] == "elp"]
    assert all(point["mag_calibrated"] == pytest.approx(point["mag"] - 0.3, abs=0.02) for point in elp)
    described = partner.get(f"/api/v1/calibrations/{run.pk}/").json()
    assert described["status"] == "succeeded" and len(described["frames"]) == 6
    table = Table.read(io.BytesIO(partner.get(f"/api/v1/targets/{target.pk}/fused-light-curve/?download=votable")
                                  .content), format="votable")  # fmt: skip
    assert len(table) == 2 and table["mag"].unit == "mag" and list(table["calibrated"]) == ["yes", "yes"]
    from_page = client.get(f"/t/{tenant.slug}/targets/{target.pk}/fused-light-curve/?download=csv")
    assert from_page["Content-Type"].startswith("text/csv") and from_page.content.decode().count("\n") >= 3
    too_wide = partner.get(f"/api/v1/targets/{target.pk}/fused-light-curve/?window_hours=9999")
    assert too_wide.status_code == 400 and "window_hours" in too_wide.json()["errors"]


def test_the_api_refuses_a_calibration_naming_the_reason_and_keeps_tenants_apart(tenant_factory):
    tenant, user, target = observatory_with_target(tenant_factory)
    other, other_users = tenant_factory()
    with tenant_context(tenant):
        observe(tenant, user, 0, day=1)
        observe(tenant, user, 1, day=1)
    partner = api_client(tenant, user)
    refused = partner.post("/api/v1/calibrations/", {"target": target.pk, "band": "i"}, format="json")
    assert refused.status_code == 400 and "no frame in i that can be calibrated" in str(refused.json()["errors"])
    accepted = partner.post("/api/v1/calibrations/", {"target": target.pk, "band": "r"}, format="json")
    assert accepted.status_code == 202 and accepted.json()["status"] == "queued"
    stranger = api_client(other, other_users["admin"])
    assert stranger.get(f"/api/v1/calibrations/{accepted.json()['id']}/").status_code == 404
    theirs = stranger.post("/api/v1/calibrations/", {"target": target.pk, "band": "r"}, format="json")
    assert theirs.json()["errors"]["target"] == ["No target you can see has this id."]


def test_with_a_second_band_each_site_s_colour_term_is_fitted_and_applied_for_the_target_s_colour(tenant_factory):
    """Stars of many colours; in r, McDonald's filter reads red stars fainter than Teide's and
    Siding Spring's (colour terms −0.10, +0.05, +0.05 per mag of g − r); g frames from two sites.
    The target is red (g − r = 1.0), so uncorrected McDonald reads it 0.03 mag off the others."""
    colours = np.random.default_rng(3).uniform(-0.2, 1.8, len(FIELD))
    terms = {"tfn": 0.05, "elp": -0.10, "coj": 0.05}
    tenant, user, target = observatory_with_target(tenant_factory)
    with tenant_context(tenant):
        for night in range(2):
            for number, (site, *_) in enumerate(SITES):
                field = [(ra, dec, mag + terms[site] * (c - 0.8)) for (ra, dec, mag), c in zip(FIELD, colours)]
                observe(tenant, user, number, day=1 + 2 * night, stars=field, size=400,
                        source_mag=19.5 + terms[site] * (1.0 - 0.8))  # fmt: skip
                if site != "elp":
                    blue = [(ra, dec, mag + colour) for (ra, dec, mag), colour in zip(FIELD, colours)]
                    observe(tenant, user, number, filter_name="g", day=1 + 2 * night, stars=blue, size=400,
                            source_mag=20.5)  # fmt: skip
        run = calibrated_run(tenant, user, target)
        rows = {row.site.code: row for row in FrameCalibration.objects.filter(run=run).select_related("site")}
        assert {row.colour for row in rows.values()} == {"g-r"}
        assert rows["elp"].colour_term - rows["tfn"].colour_term == pytest.approx(-0.15, abs=0.02)
        assert rows["coj"].colour_term - rows["tfn"].colour_term == pytest.approx(0.0, abs=0.02)
        assert 0 < rows["elp"].colour_term_error < 0.02
        points = CalibratedPhotometry.objects.filter(photometry__target=target, photometry__filter_name="r")
        assert points.count() == 6
        for point in points:
            assert point.colour == pytest.approx(1.0, abs=0.15)  # the target's g − r that night
            assert point.mag == pytest.approx(19.5, abs=3 * point.mag_err + 0.01)


def test_a_real_survey_plate_ingested_on_two_nights_is_calibrated_through_its_own_stars(observatory):
    """The Digitized Sky Survey cutout (tests/data/real/fits: a rotated, skewed plate solution,
    saturating softly) as a pipeline would send it with a MAGZP, and the same plate claimed as
    half the exposure on the next night: read back from storage as ingested, its own stars must
    put the second night's zero point 2.5 log10 2 mag above the first's."""
    tenant, user = observatory
    add_rule(tenant, space_telescope(tenant, "real"), pattern="UK 48-inch*")
    target = Target.objects.create(tenant=tenant, name="DSS field", ra_deg=217.4833, dec_deg=-62.6847)
    with fits.open(io.BytesIO(gzip.decompress((REAL / "dss.14.29.56-62.41.05.fits.gz").read_bytes()))) as hdul:
        hdul.verify("silentfix")
        plate = hdul[0].copy()
    plate.header["MAGZP"] = 21.0
    first = ingest_frame(tenant, user, to_bytes([plate]), "dss-night-1.fits").frame
    plate.header["DATE-OBS"], plate.header["EXPOSURE"] = "1976-03-12", plate.header["EXPOSURE"] / 2
    second = ingest_frame(tenant, user, to_bytes([plate]), "dss-night-2.fits").frame

    run = calibrated_run(tenant, user, target, band=first.filter_name)
    rows = {row.frame_id: row for row in FrameCalibration.objects.filter(run=run)}
    assert rows[second.pk].zero_point - rows[first.pk].zero_point == pytest.approx(2.5 * np.log10(2), abs=1e-6)
    assert rows[first.pk].night != rows[second.pk].night and rows[first.pk].stars_used >= 10
