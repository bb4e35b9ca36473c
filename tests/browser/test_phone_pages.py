"""Every page on a phone: volunteers and astronomers open the portal at 390 × 844, and nothing
may run off to the right (a wide table scrolls inside its own box, the page does not)."""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from labeling.services import add_subjects, create_project
from mlmodels.models import MLModel
from mlmodels.registry import create_model
from mlmodels.synthetic_galaxies import make_galaxy
from observations.images import add_target_images
from observations.models import FusedImage, Target
from portal.demo import load_site
from portal.models import ApiKey
from portal.tenancy import tenant_context
from scheduling.proposals import create_proposal, create_semester, decide_proposal, submit_proposal
from tests.browser.test_live_pages import sign_in
from tests.scheduling.conftest import TEIDE

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# The page's width, and the outermost elements that run past the screen's right edge (outside
# any box that scrolls sideways itself): what to fix, named in the failure.
MEASURE = """() => {
  const clipped = (el) => { for (let a = el.parentElement; a; a = a.parentElement) {
    if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(a).overflowX)) return true; } return false; };
  const culprits = [];
  for (const el of document.querySelectorAll('body *')) {
    const outside = el.getBoundingClientRect().right > 391 && !clipped(el);
    if (outside && !culprits.some((c) => c.contains(el))) culprits.push(el);
  }
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  return [document.documentElement.scrollWidth, culprits.slice(0, 3).map(name)];
}"""


def test_no_page_scrolls_sideways_on_a_phone(browser, live_server_url, committed_tenant_factory):
    tenant, users = committed_tenant_factory()
    admin = users["admin"]
    with tenant_context(tenant):
        target = Target.objects.create(tenant=tenant, name="NGC 1300 with a long name to wrap", ra_deg=49.92,
                                       dec_deg=-19.41, tags=["barred", "spiral", "southern"])  # fmt: skip
        add_target_images(tenant, [(target, make_galaxy(7, size=32).fits_bytes(), "test")])
        model = create_model(tenant, admin, name="morphology-with-a-long-name", task=MLModel.Task.MORPHOLOGY,
                             architecture="convnext_atto", class_names=["elliptical", "spiral", "merger"])  # fmt: skip
        project = create_project(tenant, admin, name="Galaxy shapes", slug="shapes", visibility="public")
        add_subjects(project, target.images.all())
        semester = create_semester(tenant, "phone", timezone.now(), timezone.now() + timedelta(days=90))
        load_site(tenant, dict(TEIDE, telescopes=list(TEIDE["telescopes"])))
        proposal = decide_proposal(submit_proposal(create_proposal(tenant, admin, semester, title="On a phone",
                                                                   hours={"1m0": 3})), approve=True)  # fmt: skip
        fused = FusedImage.objects.create(
            tenant=tenant, target=target, band="r", size_arcsec=120, pixel_scale_arcsec=0.304, snr=1215.6,
            best_single_snr=544.9, theoretical_snr=1215.6,
            frames_used=[{"id": 1, "label": "tfn", "weight_share": 0.24, "zero_point": 25.0, "sky_noise": 0.1445,
                          "snr": 543.2, "clipped_pixels": 0}],
            frames_rejected=[{"id": 2, "label": "coj", "reason": "judged spoilt by frame-quality-with-a-long-name v12 "
                                                                "(clouds 91%, defocus 64%)"}],
        )  # fmt: skip
        _, key = ApiKey.issue(tenant=tenant, created_by=admin, name="a partner's nightly pipeline", scope="write",
                              app_scopes={"alerts": "read", "scheduling": "none"})  # fmt: skip
    for path in ("/api/v1/whoami/", "/api/v1/sites/999999/"):  # the keys page charts the key's calls and errors
        requests.get(f"{live_server_url}{path}", headers={"Authorization": f"Api-Key {key}"}, timeout=30)
    t = f"/t/{tenant.slug}"
    pages = [
        f"{t}/", f"{t}/api-keys/", f"{t}/members/", f"{t}/audit/",
        f"{t}/targets/", f"{t}/targets/new/", f"{t}/targets/import/", f"{t}/targets/{target.pk}/",
        f"{t}/targets/{target.pk}/edit/", f"{t}/targets/{target.pk}/similar/", f"{t}/targets/{target.pk}/fuse/",
        f"{t}/fused/{fused.pk}/",
        f"{t}/frames/", f"{t}/frames/upload/",
        f"{t}/models/", f"{t}/models/{model.pk}/",
        f"{t}/alerts/", f"{t}/alerts/follow-ups/", f"{t}/alerts/filters/", f"{t}/alerts/filters/new/",
        f"{t}/projects/", f"{t}/projects/{project.pk}/", f"{t}/scheduling/night/", f"{t}/scheduling/proposals/",
        f"{t}/scheduling/proposals/new/", f"{t}/scheduling/proposals/{proposal.pk}/",
        f"{t}/scheduling/proposals/{proposal.pk}/groups/new/",
        "/projects/", f"/projects/{tenant.slug}/shapes/", "/",
    ]  # fmt: skip
    phone = browser.new_context(**PHONE).new_page()
    phone.goto(f"{live_server_url}/accounts/login/")
    wide = {"/accounts/login/": phone.evaluate(MEASURE)}
    sign_in(phone, live_server_url, admin.username)
    phone.wait_for_url(f"{live_server_url}{t}/")
    for path in pages:
        response = phone.goto(f"{live_server_url}{path}")
        assert response.status == 200, f"{path} answered {response.status}"
        phone.wait_for_load_state("networkidle")  # plotly figures drawn
        wide[path] = phone.evaluate(MEASURE)
    phone.context.close()
    assert {path: found for path, found in wide.items() if found[0] > 390} == {}, "pages wider than a 390 px phone"
