"""Pages that change live, driven in a real headless Chromium against the running portal."""

import pytest

from observations.synthetic import make_frame
from tests.conftest import PASSWORD
from tests.observations.conftest import M51, equip, to_bytes

pytestmark = pytest.mark.browser

# Records every value the progress bar takes, from before the page's own scripts run.
RECORD_PROGRESS = """
window.progressSeen = [];
new MutationObserver((mutations) => {
  for (const m of mutations) window.progressSeen.push(Number(m.target.getAttribute('aria-valuenow')));
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['aria-valuenow']});
"""


def sign_in(page, base_url, username):
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


def test_self_test_progress_bar_moves_live_to_done(page, live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory()
    page.add_init_script(RECORD_PROGRESS)
    sign_in(page, live_server_url, users["admin"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.click("#start-selftest")
    page.wait_for_selector("#job-status.succeeded", timeout=60_000)
    seen = page.evaluate("window.progressSeen")
    assert seen[-1] == 100
    assert any(0 < value < 100 for value in seen), f"the bar jumped straight to the end: {seen}"
    assert seen == sorted(seen)
    assert page.inner_text("#job-connection") == "finished"
    assert "gpu@" in page.inner_text("#job-result")


def test_tenant_home_shows_sites_map_and_live_health(page, live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory(sites=["north", "south"])
    sign_in(page, live_server_url, users["admin"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.wait_for_selector("#health li.ok >> text=gpu: 1 worker", timeout=15_000)
    assert page.locator("#health li.down").count() == 0
    page.wait_for_selector("#sites-map .scattergeo .point", state="attached", timeout=15_000)
    assert page.locator("#sites-map .scattergeo .point").count() == 2
    assert page.locator("#sites-map .geo path.countries, #sites-map .geo .countries path").count() > 0, (
        "country outlines come from the portal's own topojson"
    )


def test_uploading_frames_fills_the_job_page_live_and_draws_the_light_curve(
    page, live_server_url, committed_tenant_factory, tmp_path
):
    tenant, users = committed_tenant_factory(sites=[])
    equip(tenant)
    files = []
    for night in (14, 15, 16):
        hdu = make_frame(ra_deg=M51[0], dec_deg=M51[1], seed=night, obs_time=f"2026-03-{night}T22:00:00",
                         extra_sources=[(*M51, 2000 * night)], zero_point=25.0)  # fmt: skip
        path = tmp_path / f"night{night}.fits"
        path.write_bytes(to_bytes([hdu]))
        files.append(str(path))
    (tmp_path / "notes.fits").write_text("not a frame")
    files.append(str(tmp_path / "notes.fits"))
    sign_in(page, live_server_url, users["admin"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.goto(f"{live_server_url}/t/{tenant.slug}/frames/upload/")
    page.set_input_files("#id_files", files)
    assert "4 file(s) chosen" in page.inner_text("#dropzone")
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#job-status.succeeded", timeout=60_000)
    rows = page.locator("#job-files tr")
    assert rows.count() == 4
    assert "not a FITS file" in page.inner_text("#job-files")
    assert page.inner_text("#job-message") == "4 files: 3 created, 0 duplicate, 1 rejected"
    page.goto(f"{live_server_url}/t/{tenant.slug}/targets/?q=M51")
    page.click("#targets >> text=M51")
    page.wait_for_selector("#light-curve .scatterlayer .point", state="attached", timeout=15_000)
    assert page.locator("#light-curve .scatterlayer .point").count() == 3
    assert page.locator("#cutouts img").count() == 3


def test_fusing_a_target_s_frames_follows_the_job_live_and_then_shows_the_image(
    page, live_server_url, committed_tenant_factory
):
    from tests.observations.test_fused_images import observed_target

    tenant, users = committed_tenant_factory(members=(("astronomer", "astronomer"),), sites=())
    target = observed_target(tenant, users["astronomer"])
    page.add_init_script(RECORD_PROGRESS)
    sign_in(page, live_server_url, users["astronomer"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.goto(f"{live_server_url}/t/{tenant.slug}/targets/{target.pk}/")
    page.click("#fuse-link")
    page.select_option("#id_band", "r")
    page.fill("#id_size_arcsec", "60")
    page.click("#fusion-form button[type=submit]")
    page.wait_for_selector("#job-progress", timeout=10_000)  # the fused image's page, following its job
    page.wait_for_selector("#fused-preview", timeout=90_000)  # reloaded with the result once it succeeded
    assert page.evaluate("document.getElementById('fused-preview').naturalWidth") > 0
    assert "no astrometry" in page.inner_text("#frames-rejected") and "band g, not r" in page.inner_text(
        "#frames-rejected")  # fmt: skip
    assert page.locator("#frames-used tbody tr").count() == 6
    assert page.inner_text("#fused-gain").endswith("×")


def test_calibrating_a_target_across_sites_follows_the_job_live_and_then_draws_one_light_curve(
    page, live_server_url, committed_tenant_factory
):
    from observations.models import Target
    from portal.tenancy import tenant_context
    from tests.observations.test_calibrated_photometry import followed
    from tests.observations.test_fused_images import three_sites
    from tests.observations.test_fusion import DEC, RA

    tenant, users = committed_tenant_factory(members=(("astronomer", "astronomer"),), sites=())
    three_sites(tenant)
    with tenant_context(tenant):
        target = Target.objects.create(tenant=tenant, name="SN field", ra_deg=RA, dec_deg=DEC)
        followed(tenant, users["astronomer"], nights=2)
    sign_in(page, live_server_url, users["astronomer"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.goto(f"{live_server_url}/t/{tenant.slug}/targets/{target.pk}/")
    assert "Not calibrated yet" in page.inner_text("#fused-light-curve")
    page.select_option("#calibrate-form select[name=band]", "r")
    page.click("#calibrate-form button[type=submit]")
    page.wait_for_selector("#site-offsets", timeout=90_000)  # reloaded with the result once the job succeeded
    offsets = page.inner_text("#site-offsets")
    assert "elp" in offsets and "-0.30" in offsets  # McDonald's headers, 0.3 mag off
    assert page.locator("#fused-light-curve-plot .main-svg").count() > 0  # plotly drew it
    traces = page.evaluate("document.getElementById('fused-light-curve-plot').data.map(t => t.name)")
    assert "r, fused" in traces and "r · elp, raw" in traces


def test_a_mask_drawn_on_a_frame_is_repaired_live_where_it_was_drawn(page, live_server_url, committed_tenant_factory):
    import io

    from astropy.io import fits

    from mlmodels.models import FrameRepair
    from observations.ingest import ingest_frame
    from portal.tenancy import tenant_context
    from tests.mlmodels.test_repairs import FRAME, _inpainter
    from tests.observations.conftest import equip, to_bytes

    tenant, users = committed_tenant_factory(members=(("admin", "admin"), ("astronomer", "astronomer")), sites=())
    equip(tenant)
    with tenant_context(tenant):
        _inpainter(tenant, users["admin"])
        frame = ingest_frame(tenant, users["admin"], to_bytes([make_frame(**FRAME)]), "drawn.fits").frame
    page.add_init_script(RECORD_PROGRESS)
    sign_in(page, live_server_url, users["astronomer"].username)
    page.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    page.goto(f"{live_server_url}/t/{tenant.slug}/frames/{frame.pk}/")
    page.click("#repair-this-frame")
    page.wait_for_function("document.getElementById('repair-preview').naturalWidth > 0")
    page.fill("#mask-width", "6")
    page.locator("#mask-canvas").scroll_into_view_if_needed()
    box = page.locator("#mask-canvas").bounding_box()
    page.mouse.move(box["x"] + 0.1 * box["width"], box["y"] + 0.25 * box["height"])  # a quarter down: north of centre
    page.mouse.down()
    page.mouse.move(box["x"] + 0.9 * box["width"], box["y"] + 0.25 * box["height"], steps=5)
    page.mouse.up()
    assert page.is_checked("input[name=mask_source][value=drawn]")
    assert "1 line(s) and 0 box(es) drawn" in page.inner_text("#mask-summary")
    for field, value in (("#id_steps", "3"), ("#id_resample", "1"), ("#id_samples", "1")):
        page.fill(field, value)
    page.click("#repair-submit")
    page.wait_for_selector("#job-progress", timeout=10_000)  # the repair's page, following its job
    page.wait_for_selector("#repair-result", timeout=90_000)  # reloaded with the repaired frame
    assert page.evaluate("document.getElementById('repair-mask').naturalWidth") == 256
    with tenant_context(tenant):
        repair = FrameRepair.objects.get(frame=frame)
        x0, y0, x1, y1, width = repair.shapes["lines"][0]
        with fits.open(io.BytesIO(repair.file.open("rb").read())) as hdus:
            mask = hdus["MASK"].data.astype(bool)
    assert abs(x0 - 25.6) < 2 and abs(x1 - 230.4) < 2 and abs(y0 - 192) < 2 and abs(y1 - 192) < 2 and width == 6
    assert mask[190:195, 40:220].all() and not mask[:150].any(), "north up: a quarter down the preview is row 192"
    assert repair.masked_pixels == mask.sum() and "drawn" in page.inner_text("#frame-repair").lower()
