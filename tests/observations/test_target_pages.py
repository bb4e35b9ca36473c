"""Target pages as an astronomer uses them: demo targets, search, detail, create with errors."""

import pytest
from django.db import transaction
from django.db.models import Count

from observations.models import FusedImage, PhotometryCalibration, Target, TargetImage
from portal.demo import load_demo
from portal.models import Membership, Tenant
from portal.tenancy import tenant_context


@pytest.fixture(scope="module")
def demo_loaded(django_db_blocker):
    """The demo, loaded once for the module (it takes half a minute) in a transaction rolled back
    at the module's end, as Django's TestCase.setUpTestData does: each test's own transaction
    is a savepoint inside it, so what one test changes the next does not see."""
    with django_db_blocker.unblock(), transaction.atomic():
        load_demo("pw-for-tests")
        yield
        transaction.set_rollback(True)


@pytest.fixture
def demo(demo_loaded, client, db):
    tenant = Tenant.objects.get(slug="demo")
    with tenant_context(tenant):
        user = Membership.objects.get(tenant=tenant, role="astronomer").user
    client.force_login(user)
    return tenant


def test_demo_has_a_few_hundred_targets_and_loading_again_adds_none(demo):
    with tenant_context(demo):
        count, images = Target.objects.count(), TargetImage.objects.count()
        assert 250 <= count <= 400
        load_demo("pw-for-tests")
        assert Target.objects.count() == count and TargetImage.objects.count() == images


def test_some_demo_galaxies_have_a_night_from_every_site_for_learned_fusion(demo):
    with tenant_context(demo):
        galaxies = (Target.objects.filter(images__source__startswith="one night at")
                    .annotate(sites=Count("images__site", distinct=True)))  # fmt: skip
        assert len(galaxies) >= 5 and all(galaxy.sites == 3 for galaxy in galaxies)
        assert "M87" in {galaxy.name for galaxy in galaxies}


def test_the_followed_supernova_has_a_fused_image_asked_for_beside_its_light_curve(demo):
    with tenant_context(demo):
        fused = FusedImage.objects.filter(target__name__in=["ASASSN-14lp", "M104"]).values_list("target__name", "band")
        assert sorted(fused) == [("ASASSN-14lp", "r"), ("M104", "r")]
        assert PhotometryCalibration.objects.filter(target__name="ASASSN-14lp").count() == 2  # r and g


def test_cone_search_page_finds_m51_and_its_field_nearest_first(client, demo):
    page = client.get(f"/t/{demo.slug}/targets/", {"position": "13h29m52.7s +47d11m43s", "radius": "25 arcmin"})
    assert page.status_code == 200
    names = [t.name for t in page.context["page"]]
    assert names[0] == "M51" and len(names) > 5
    assert all(t.separation_deg <= 25 / 60 for t in page.context["page"])


def test_name_search_page(client, demo):
    page = client.get(f"/t/{demo.slug}/targets/", {"q": "ngc 13"})
    assert [t.name for t in page.context["page"]] == ["NGC 1300", "NGC 1365"]


def test_bad_cone_is_a_form_error_not_a_crash(client, demo):
    page = client.get(f"/t/{demo.slug}/targets/", {"position": "north of Orion", "radius": "5"})
    assert page.status_code == 200 and "cannot read" in page.text


def test_target_detail_shows_positions_neighbours_and_plot(client, demo):
    with tenant_context(demo):
        m101 = Target.objects.get(name="M101")
    page = client.get(f"/t/{demo.slug}/targets/{m101.pk}/")
    assert page.status_code == 200
    assert "14h03m12.55s" in page.text  # RA 210.8023 deg
    assert "SN 2011fe" in page.text and "4.62′" in page.text  # its distance, in arcmin
    assert 'id="neighbourhood"' in page.text


def test_other_tenants_see_public_demo_targets_read_only(client, demo):
    southern = Tenant.objects.get(slug="southern")
    with tenant_context(southern):
        user = Membership.objects.filter(tenant=southern).first().user
    client.force_login(user)
    page = client.get(f"/t/{southern.slug}/targets/", {"q": "M8"})
    assert {t.name for t in page.context["page"]} == {"M81", "M82", "M83", "M87"}
    assert "ARS J" not in client.get(f"/t/{southern.slug}/targets/").text, "field galaxies are not public"


def test_create_target_from_the_form_and_refuse_a_duplicate(client, demo):
    response = client.post(
        f"/t/{demo.slug}/targets/new/",
        {"name": "NGC 4151", "position": "12:10:32.58 +39:24:20.6", "frame": "icrs", "kind": "qso",
         "visibility": "tenant", "aliases": "UGC 7166", "tags": "seyfert, agn"},
    )  # fmt: skip
    assert response.status_code == 302
    with tenant_context(demo):
        target = Target.objects.get(name="NGC 4151")
    assert target.aliases == ["UGC 7166"] and target.tags == ["seyfert", "agn"]
    assert target.ra_deg == pytest.approx(182.63575, abs=1e-4)
    again = client.post(
        f"/t/{demo.slug}/targets/new/",
        {"name": "Other", "position": "182.63576 39.40573", "frame": "icrs", "kind": "qso", "visibility": "tenant"},
    )
    assert again.status_code == 200 and "NGC 4151 is only" in again.text


def test_volunteer_cannot_create_targets(client, demo):
    with tenant_context(demo):
        volunteer = Membership.objects.get(tenant=demo, role="volunteer").user
    client.force_login(volunteer)
    assert client.get(f"/t/{demo.slug}/targets/new/").status_code == 403


def test_astronomer_edits_names_tags_and_sharing_and_a_taken_name_is_refused(client, demo):
    with tenant_context(demo):
        target = Target.objects.get(tenant=demo, name="M51")
    detail = client.get(f"/t/{demo.slug}/targets/{target.pk}/")
    assert f"/t/{demo.slug}/targets/{target.pk}/edit/" in detail.text
    form = client.get(f"/t/{demo.slug}/targets/{target.pk}/edit/")
    assert form.status_code == 200 and 'value="M51"' in form.text
    edit = {"name": "M51", "kind": "galaxy", "aliases": "NGC 5194, Whirlpool", "tags": "interacting, sn-host",
            "visibility": "tenant"}  # fmt: skip
    response = client.post(f"/t/{demo.slug}/targets/{target.pk}/edit/", edit)
    assert response.status_code == 302
    with tenant_context(demo):
        target.refresh_from_db()
    assert target.aliases == ["NGC 5194", "Whirlpool"] and target.tags == ["interacting", "sn-host"]
    assert target.visibility == "tenant" and target.ra_deg == pytest.approx(202.4696, abs=1e-3)
    taken = client.post(f"/t/{demo.slug}/targets/{target.pk}/edit/", {"name": "M81", "kind": "galaxy",
                        "aliases": "", "tags": "", "visibility": "tenant"})  # fmt: skip
    assert taken.status_code == 200 and "M81 already goes by" in taken.text
    with tenant_context(demo):
        target.refresh_from_db()
    assert target.name == "M51"


def test_targets_of_other_tenants_and_volunteers_cannot_edit(client, demo):
    southern = Tenant.objects.get(slug="southern")
    with tenant_context(demo):
        m51 = Target.objects.get(tenant=demo, name="M51")
        volunteer = Membership.objects.get(tenant=demo, role="volunteer").user
    with tenant_context(southern):
        astronomer = Membership.objects.filter(tenant=southern, role__in=["admin", "astronomer"]).first().user
    client.force_login(astronomer)
    assert client.get(f"/t/{southern.slug}/targets/{m51.pk}/").status_code == 200, "public: readable"
    assert client.get(f"/t/{southern.slug}/targets/{m51.pk}/edit/").status_code == 404, "but not theirs to edit"
    client.force_login(volunteer)
    assert client.get(f"/t/{demo.slug}/targets/{m51.pk}/edit/").status_code == 403
