"""Header rules: a site whose control software names its equipment its own way still ingests."""

import pytest
from django.core.exceptions import ValidationError

from observations.ingest import ingest_frame
from observations.models import Frame, Photometry
from observations.synthetic import make_frame
from portal.demo import load_demo, load_site
from portal.models import HeaderRule, Site, Telescope, Tenant
from portal.tenancy import tenant_context
from tests.observations.conftest import M51, to_bytes


def site_software_frame(telescope="LCO 1m0-08", instrument="fa03", filter_name="rp", site=None):
    """A frame as a site's control software writes it: none of the portal's codes."""
    return to_bytes([make_frame(ra_deg=M51[0], dec_deg=M51[1], telescope=telescope, instrument=instrument,
                                site=site or "tfn", filter_name=filter_name, seed=4)])  # fmt: skip


def rule(tenant, keyword, pattern, **maps_to):
    site = Site.objects.get(tenant=tenant, code="tfn")
    made = HeaderRule(tenant=tenant, site=site, keyword=keyword, pattern=pattern, **maps_to)
    made.full_clean()
    made.save()
    return made


def test_without_rules_the_sites_own_names_are_refused_with_a_hint(observatory):
    tenant, user = observatory
    result = ingest_frame(tenant, user, site_software_frame(), "tfn-0001.fits")
    assert result.status == "rejected"
    assert "TELESCOP 'LCO 1m0-08'" in result.reason and "header rule at /admin/portal/headerrule/add/" in result.reason


def test_rules_map_telescope_instrument_and_filter(observatory):
    tenant, user = observatory
    telescope = Telescope.objects.get(tenant=tenant, code="1m0a")
    rule(tenant, "TELESCOP", "lco 1m0-*", telescope=telescope)
    rule(tenant, "INSTRUME", "fa??", instrument=telescope.instruments.get(code="sinistro"))
    rule(tenant, "FILTER", "rp", filter_name="r")
    result = ingest_frame(tenant, user, site_software_frame(), "tfn-0001.fits")
    assert result.status == "created", result.reason
    frame = result.frame
    assert (frame.telescope.code, frame.instrument.code, frame.filter_name) == ("1m0a", "sinistro", "r")
    assert frame.header["TELESCOP"] == "LCO 1m0-08", "the header itself is kept as the site wrote it"
    other = ingest_frame(tenant, user, site_software_frame(filter_name="gp"), "tfn-0002.fits")
    assert other.status == "created" and other.frame.filter_name == "gp", "an unmapped filter keeps its own name"


def test_a_value_matching_rules_for_two_telescopes_is_refused(observatory):
    tenant, user = observatory
    load_site(tenant, {"code": "tfn", "name": "Teide", "latitude_deg": 28.3, "longitude_deg": -16.5, "height_m": 2390,
                       "telescopes": [("1m0b", "Teide 1.0 m B", 1.0, 26.5, 0.389, "sinistro", [])]})  # fmt: skip
    rule(tenant, "TELESCOP", "LCO 1m0-*", telescope=Telescope.objects.get(tenant=tenant, code="1m0a"))
    rule(tenant, "TELESCOP", "LCO 1m0-0?", telescope=Telescope.objects.get(tenant=tenant, code="1m0b"))
    result = ingest_frame(tenant, user, site_software_frame(), "tfn-0001.fits")
    assert result.status == "rejected" and "several telescopes" in result.reason


def test_a_rule_must_map_to_what_its_keyword_names_at_its_own_site(observatory):
    tenant, _ = observatory
    load_site(tenant, {"code": "coj", "name": "Siding Spring", "latitude_deg": -31.3, "longitude_deg": 149.1,
                       "height_m": 1116, "telescopes": [("2m0a", "FTS", 2.0, 10, 0.3, "spectral", [])]})  # fmt: skip
    with pytest.raises(ValidationError) as missing:
        rule(tenant, "TELESCOP", "LCO*")
    assert "say which telescope" in str(missing.value)
    with pytest.raises(ValidationError) as elsewhere:
        rule(tenant, "TELESCOP", "FTS", telescope=Telescope.objects.get(tenant=tenant, code="2m0a"))
    assert "is not at Teide" in str(elsewhere.value)
    with pytest.raises(ValidationError) as crossed:
        rule(tenant, "FILTER", "rp", filter_name="r", telescope=Telescope.objects.get(tenant=tenant, code="1m0a"))
    assert "maps to a filter name, not a telescope" in str(crossed.value)


def test_tenant_admin_adds_a_rule_on_the_admin_page_offering_only_their_telescopes(client, observatory, tenant_factory):
    tenant, user = observatory
    tenant_factory(sites=["theirs"])
    site = Site.objects.get(tenant=tenant, code="tfn")
    telescope = Telescope.objects.get(tenant=tenant, code="1m0a")
    client.force_login(user)
    client.get(f"/t/{tenant.slug}/")
    form = client.get("/admin/portal/headerrule/add/")
    assert form.status_code == 200 and "Teide 1.0 m" in form.text and "theirs" not in form.text
    response = client.post("/admin/portal/headerrule/add/", {"site": site.pk, "keyword": "TELESCOP",
                           "pattern": "LCO 1m0-08", "telescope": telescope.pk, "filter_name": ""})  # fmt: skip
    assert response.status_code == 302
    with tenant_context(tenant):
        assert HeaderRule.objects.get(tenant=tenant).maps_to == telescope
        frame = site_software_frame(instrument="sinistro", filter_name="r")
        assert ingest_frame(tenant, user, frame, "a.fits").status == "created"


def test_the_demo_site_that_writes_its_own_names_is_mapped_by_its_rules(db, monkeypatch):
    """The demo's sites, targets and frames; its galaxy images, models and alerts (most of a
    minute per load) have no part in it and are left out here."""
    for loader in ("galaxy_images", "models", "alerts"):
        monkeypatch.setattr(f"portal.demo.load_demo_{loader}", lambda *args: None)
    load_demo("pw-for-tests")
    tenant = Tenant.objects.get(slug="demo")
    with tenant_context(tenant):
        frames = list(Frame.objects.filter(site__code="coj").select_related("telescope", "instrument"))
        assert len(frames) >= 4 and {frame.header["TELESCOP"] for frame in frames} == {"FTS"}
        assert {(frame.telescope.code, frame.instrument.code) for frame in frames} == {("2m0a", "spectral")}
        assert {frame.header["FILTER"] for frame in frames} <= {"gp", "rp", "ip"}
        assert {frame.filter_name for frame in frames} <= {"g", "r", "i"}
        points = set(Photometry.objects.filter(site__code="coj").values_list("filter_name", flat=True))
        assert points and points <= {"g", "r", "i"}, "light curves are per the portal's filter names"


def test_a_time_rule_must_name_its_keyword_and_format_and_nothing_else(observatory):
    tenant, _ = observatory
    with pytest.raises(ValidationError) as bare:
        rule(tenant, "DATE-OBS", "*")
    assert "say which keyword holds the observation's start" in str(bare.value)
    assert "say how that keyword writes the time" in str(bare.value)
    with pytest.raises(ValidationError) as odd:
        rule(tenant, "DATE-OBS", "*", read_from="START TIME!", time_format="iso",
             telescope=Telescope.objects.get(tenant=tenant, code="1m0a"))  # fmt: skip
    assert "'START TIME!' is not a FITS keyword" in str(odd.value)
    assert "a DATE-OBS rule says where the time is, it does not map to a telescope" in str(odd.value)
    with pytest.raises(ValidationError) as crossed:
        rule(tenant, "FILTER", "rp", filter_name="r", time_format="mjd")
    assert "only DATE-OBS rules have a time format" in str(crossed.value)
    assert str(rule(tenant, "DATE-OBS", "*", read_from="hierarch eso obs start", time_format="iso")).startswith(
        "tfn: DATE-OBS '*' → ESO OBS START as ISO 8601"
    )


def test_admin_adds_a_time_rule_on_the_admin_page_and_the_refused_frame_then_ingests(client, observatory):
    tenant, user = observatory
    hdu = make_frame(ra_deg=M51[0], dec_deg=M51[1], seed=7)
    del hdu.header["DATE-OBS"], hdu.header["MJD-OBS"]
    hdu.header["UTSTART"] = "2026-03-14T22:10:00"
    data = to_bytes([hdu])
    refused = ingest_frame(tenant, user, data, "utstart.fits")
    assert refused.status == "rejected" and "no DATE-OBS, DATE-BEG, MJD-OBS, EXPSTART or JD keyword" in refused.reason
    assert "an admin can say which keyword holds the time with a header rule at /admin/portal/headerrule/add/" in (
        refused.reason
    )
    site = Site.objects.get(tenant=tenant, code="tfn")
    client.force_login(user)
    client.get(f"/t/{tenant.slug}/")
    form = {"site": site.pk, "keyword": "DATE-OBS", "pattern": "*", "read_from": "", "time_format": "iso"}
    response = client.post("/admin/portal/headerrule/add/", form)
    assert response.status_code == 200 and "say which keyword holds the observation" in response.text
    response = client.post("/admin/portal/headerrule/add/", {**form, "read_from": "utstart"})
    assert response.status_code == 302
    with tenant_context(tenant):
        frame = ingest_frame(tenant, user, data, "utstart.fits").frame
        assert frame.time_source == "UTSTART as ISO date and time, by header rule (primary header)"
        assert frame.mjd_obs == pytest.approx(61113.92361, abs=1e-5)
