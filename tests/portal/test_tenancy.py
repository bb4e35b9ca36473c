"""Tenant isolation: pages, raw SQL under row-level security, and every tenant table's policy."""

import io
from datetime import timedelta

import numpy as np
import pytest
from django.apps import apps
from django.conf import settings
from django.db import DataError, ProgrammingError, connection, transaction
from django.db.utils import ConnectionHandler
from django.utils import timezone

from alerts.followup import request_follow_up
from alerts.models import AlertClassification, AlertFilter, AlertStream, FilterMatch, WebhookDelivery
from alerts.services import ingest_packets
from alerts.synthetic import make_alert
from labeling.exports import export_votes
from labeling.services import add_subjects, aggregate, classify, create_project
from mlmodels.models import (
    AugmentationExperiment,
    Embedding,
    FrameRepair,
    FusedPrediction,
    GeneratedSet,
    Prediction,
)
from mlmodels.registry import create_model, save_version
from mlmodels.synthetic_galaxies import make_galaxy
from observations.fused_images import request_fusion
from observations.images import add_target_images
from observations.ingest import ingest_frame
from observations.models import CalibratedPhotometry, FrameCalibration, PhotometryCalibration, Target
from observations.synthetic import make_frame
from portal import services
from portal.models import ApiKey, HeaderRule, Job, Membership, Site, Telescope, TenantOwned
from portal.tenancy import pool_options, tenant_context
from scheduling.models import (
    Configuration,
    ObservationFrame,
    Request,
    RequestGroup,
    ScheduledObservation,
    SchedulePlan,
    SiteCondition,
    Window,
)
from scheduling.proposals import create_proposal, create_semester

TENANT_MODELS = [model for model in apps.get_models() if issubclass(model, TenantOwned)]
# Rows readable by others because what they belong to is public.
_PUBLIC_TARGET = "EXISTS (SELECT 1 FROM observations_target t WHERE t.id = {} AND t.visibility = 'public')"
SHARED_THROUGH = {
    "observations_targetimage": _PUBLIC_TARGET.format("target_id"),
    "mlmodels_prediction": _PUBLIC_TARGET.format(
        "(SELECT i.target_id FROM observations_targetimage i WHERE i.id = image_id)"
    ),
    "mlmodels_fusedprediction": _PUBLIC_TARGET.format("target_id"),
}


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda model: model._meta.label)
def test_every_tenant_table_has_a_policy_and_is_not_owned_by_the_app(db, model):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relrowsecurity, pg_get_userbyid(c.relowner) <> current_user, "
            "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) "
            "FROM pg_class c WHERE c.relname = %s",
            [model._meta.db_table],
        )
        rls_enabled, owned_by_someone_else, policies = cursor.fetchone()
    assert rls_enabled and owned_by_someone_else and policies >= 1


def _rows_in_every_tenant_table(tenant, user):
    """One row of each tenant model for ``tenant`` (sites, memberships come from the factory)."""
    from portal.demo import load_site

    with tenant_context(tenant):
        load_site(
            tenant,
            {
                "code": "x" + tenant.slug[-6:],
                "name": "S",
                "latitude_deg": 0,
                "longitude_deg": 0,
                "height_m": 0,
                "telescopes": [("t", "T", 1.0, 10, 0.4, "cam", [("r", 623, 138)])],
            },
        )
        telescope = Telescope.objects.get(tenant=tenant, code="t")
        HeaderRule.objects.create(
            tenant=tenant, site=telescope.site, keyword="TELESCOP", pattern="T*", telescope=telescope
        )
        ApiKey.issue(tenant=tenant, created_by=user, name="k")
        services.issue_api_key(tenant, user, name="audited", scope="read")  # and its audit entry
        model = create_model(tenant, user, name="m", task="morphology", architecture="resnet18", class_names=["a"])
        version = save_version(model, user, weights={"w": np.zeros(2, np.float32)})
        Job.objects.create(tenant=tenant, kind="k", title="j", total=1)
        targets = [Target.objects.create(tenant=tenant, name=visibility, ra_deg=1, dec_deg=2, visibility=visibility)
                   for visibility in ("private", "tenant", "public")]  # fmt: skip
        images = add_target_images(tenant, [(t, make_galaxy(t.pk, size=16).fits_bytes(), "test") for t in targets])
        for image in images:
            Prediction.objects.create(tenant=tenant, version=version, image=image, label="a", probabilities={"a": 1})
            Embedding.objects.create(tenant=tenant, version=version, image=image, target=image.target, label="a",
                                     visibility=image.target.visibility, vector=[1.0, 0.0])  # fmt: skip
            FusedPrediction.objects.create(tenant=tenant, version=version, target=image.target, label="a",
                                           probabilities={"a": 1})  # fmt: skip
        generated = GeneratedSet.objects.create(tenant=tenant, version=version, class_name="a", count=1)
        AugmentationExperiment.objects.create(tenant=tenant, generated_set=generated, model=model, epochs=1)
        frame = make_frame(
            ra_deg=1, dec_deg=2, telescope="t", instrument="cam", site="x" + tenant.slug[-6:], seed=tenant.pk
        )
        buffer = io.BytesIO()
        frame.writeto(buffer)
        frame = ingest_frame(tenant, user, buffer.getvalue(), "f.fits").frame
        assert frame.target_links.exists()
        FrameRepair.objects.create(tenant=tenant, frame=frame, number=1, version=version, mask_source="drawn")
        request_fusion(tenant, user, frame.target_links.first().target, band=frame.filter_name, size_arcsec=30)
        link = frame.target_links.select_related("photometry").first()
        run = PhotometryCalibration.objects.create(tenant=tenant, target=link.target, band=frame.filter_name)
        fitted = FrameCalibration.objects.create(tenant=tenant, run=run, frame=frame, night=frame.obs_time.date(),
                                                 zero_point=25.0, zero_point_error=0.01, stars_used=5,
                                                 note="n")  # fmt: skip
        CalibratedPhotometry.objects.create(tenant=tenant, photometry=link.photometry, calibration=fitted, mag=20,
                                            mag_err=0.1)  # fmt: skip
        stored = ingest_packets(tenant, [make_alert(tenant.pk).packet, {"candid": "x"}], source="rest")
        assert len(stored.alerts) == 1 and len(stored.refused) == 1, "an alert, its object, and a dead letter"
        AlertStream.objects.create(tenant=tenant, name="replay", kind="replay", folder="/srv/alerts")
        bright = AlertFilter.objects.create(tenant=tenant, user=user, name="bright", conditions={"brighter_than": 19})
        FilterMatch.objects.create(tenant=tenant, alert_filter=bright, alert=stored.alerts[0])
        AlertClassification.objects.create(tenant=tenant, alert=stored.alerts[0], version=version, label="a")
        WebhookDelivery.objects.create(tenant=tenant, alert_filter=bright, url="https://example.org/hook",
                                       alert_ids=[stored.alerts[0].pk], payload=b"{}")  # fmt: skip
        request_follow_up(stored.alerts[0], user=user, rule=bright)  # and the alert's record of it
        now = timezone.now()
        semester = create_semester(tenant, "2027A", now, now + timedelta(days=180))
        proposal = create_proposal(tenant, user, semester, title="P", hours={"1m0": 5}, co_investigators=[user])
        group = RequestGroup.objects.create(tenant=tenant, proposal=proposal, name="g")
        request = Request.objects.create(tenant=tenant, group=group, target=targets[0], telescope_class="1m0")
        Configuration.objects.create(tenant=tenant, request=request, instrument="cam", filter_name="r", exposure_s=1)
        Window.objects.create(tenant=tenant, request=request, start=now, end=now + timedelta(hours=1))
        plan = SchedulePlan.objects.create(tenant=tenant, start=now, end=now + timedelta(days=1), slice_seconds=300,
                                           planner="greedy", status="feasible", objective=1, candidates=1,
                                           seconds=1)  # fmt: skip
        ScheduledObservation.objects.create(tenant=tenant, plan=plan, telescope=telescope, request=request, start=now,
                                            end=now + timedelta(minutes=5), priority=10)  # fmt: skip
        SiteCondition.objects.create(tenant=tenant, site=telescope.site, open=False, reason="clouds")
        observed = ScheduledObservation.objects.get(plan=plan)
        ObservationFrame.objects.create(tenant=tenant, observation=observed, frame=frame)
        project = create_project(tenant, user, name="Zoo", slug="zoo", visibility="tenant")  # and its workflow
        add_subjects(project, images)
        classify(project, project.subjects.first().pk, voter="anon:x", user=None, workflow_version=1,
                 answers=[["smooth-or-featured", "artifact"]])  # fmt: skip
        aggregate(project)  # the volunteers' skills
        export_votes(project, user)  # a training set of their votes


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda model: model._meta.label)
def test_raw_select_without_where_returns_only_the_active_tenants_rows(tenant_factory, model):
    tenant_a, users_a = tenant_factory()
    tenant_b, users_b = tenant_factory()
    _rows_in_every_tenant_table(tenant_a, users_a["admin"])
    _rows_in_every_tenant_table(tenant_b, users_b["admin"])
    table = connection.ops.quote_name(model._meta.db_table)
    shared = "visibility = 'public'" if any(f.name == "visibility" for f in model._meta.fields) else "false"
    shared = SHARED_THROUGH.get(model._meta.db_table, shared)
    with tenant_context(tenant_a), connection.cursor() as cursor:
        cursor.execute(f"SELECT tenant_id, {shared} FROM {table}")
        rows = cursor.fetchall()
    assert {tenant for tenant, _ in rows} <= {tenant_a.pk, tenant_b.pk} and (tenant_a.pk, False) in rows
    assert all(public for tenant, public in rows if tenant != tenant_a.pk), "only public rows of others are readable"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE NOT {shared}")
        assert cursor.fetchone()[0] == 0, "with no tenant active nothing private is visible"


def test_writing_a_row_into_another_tenant_is_refused_by_the_database(tenant_factory):
    tenant_a, _ = tenant_factory()
    tenant_b, _ = tenant_factory()
    with tenant_context(tenant_a), pytest.raises((ProgrammingError, DataError), match="row-level security"):
        with transaction.atomic():
            Site.objects.create(tenant=tenant_b, code="sneaky", name="x", latitude_deg=0, longitude_deg=0, height_m=0)
    with tenant_context(tenant_b):
        assert not Site.objects.filter(code="sneaky").exists()


def test_orm_update_of_other_tenants_rows_changes_nothing(tenant_factory):
    tenant_a, _ = tenant_factory()
    tenant_b, _ = tenant_factory()
    with tenant_context(tenant_a):
        assert Site.objects.update(name="renamed") == 1
    with tenant_context(tenant_b):
        assert Site.objects.get().name != "renamed"


def test_a_user_sees_their_own_memberships_in_every_tenant_but_no_one_elses(tenant_factory):
    tenant_a, users_a = tenant_factory(members=[("admin", "admin"), ("other", "volunteer")])
    tenant_b, _ = tenant_factory()
    user = users_a["admin"]
    with tenant_context(tenant_b):
        Membership.objects.create(tenant=tenant_b, user=user, role="astronomer")
    with tenant_context(None, user):
        assert set(Membership.objects.values_list("tenant_id", flat=True)) == {tenant_a.pk, tenant_b.pk}
        assert not Membership.objects.filter(user=users_a["other"]).exists()


def _forge(cursor, **settings):
    """What a SQL injection could run as the app role: set the context settings itself."""
    for name, value in settings.items():
        cursor.execute("SELECT set_config(%s, %s, false)", [f"app.{name}", str(value)])


def test_a_tenant_setting_forged_in_sql_shows_no_tenants_rows(tenant_factory):
    tenant_a, _ = tenant_factory()
    tenant_b, users_b = tenant_factory()
    with tenant_context(tenant_a), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM portal_site")
        assert cursor.fetchone()[0] == 1, "the signed setting shows the active tenant's site"
        _forge(cursor, tenant_id=tenant_b.pk)
        cursor.execute("SELECT count(*) FROM portal_site")
        assert cursor.fetchone()[0] == 0, "a forged tenant id shows neither tenant's rows"
        cursor.execute("SELECT count(*) FROM portal_membership")
        assert cursor.fetchone()[0] == 0
        _forge(cursor, user_id=users_b["admin"].pk, tenant_id="")
        cursor.execute("SELECT count(*) FROM portal_membership")
        assert cursor.fetchone()[0] == 0, "a forged user id shows no one's memberships"
        with pytest.raises(ProgrammingError, match="row-level security"), transaction.atomic():
            cursor.execute(
                "INSERT INTO portal_site (tenant_id, code, name, latitude_deg, longitude_deg, height_m, time_zone, "
                "horizon_limit_deg, description) VALUES (%s, 'forged', 'x', 0, 0, 0, 'UTC', 15, '')",
                [tenant_b.pk],
            )
    with tenant_context(tenant_b):
        assert not Site.objects.filter(code="forged").exists()


def test_a_signature_copied_from_another_connection_is_worth_nothing(committed_tenant_factory):
    """Another connection's settings, signature included, can be read from pg_stat_activity by
    the same role; replayed here they name that connection's backend, not this one."""
    tenant, _ = committed_tenant_factory()
    other = ConnectionHandler(settings.DATABASES)["default"]
    try:
        with tenant_context(tenant):
            other.ensure_connection()  # signs the context for its own backend
            signed = other.connection.execute(
                "SELECT current_setting('app.tenant_id'), current_setting('app.user_id'), "
                "current_setting('app.context_sig')"
            ).fetchone()
            assert other.connection.execute("SELECT count(*) FROM portal_site").fetchone()[0] == 1
        with connection.cursor() as cursor:
            _forge(cursor, tenant_id=signed[0], user_id=signed[1], context_sig=signed[2])
            cursor.execute("SELECT count(*) FROM portal_site")
            assert cursor.fetchone()[0] == 0
    finally:
        other.close()


def test_the_app_role_cannot_read_the_key_that_signs_the_context(db):
    with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM arrayscope_private.context_key")


def _in_a_thread_of_its_own(work):
    """Run ``work`` as the ASGI server runs a request: in a new thread, with no tenant active."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(work).result()


def test_a_pooled_connection_carries_no_tenant_to_its_next_borrower(committed_tenant_factory):
    """The ASGI server's requests borrow connections from a pool, and the tenant is a setting of
    the connection: whoever borrows it next (another observatory's partner, an anonymous
    visitor) sees their own sites, never the previous borrower's."""
    tenant_a, _ = committed_tenant_factory()
    tenant_b, _ = committed_tenant_factory()
    database = {**connection.settings_dict, "CONN_MAX_AGE": 0}
    database["OPTIONS"] = {**database["OPTIONS"], "pool": {**pool_options(1), "min_size": 1}}
    pooled = ConnectionHandler({"default": database})  # one connection: every borrower gets the same

    def borrow(tenant):
        def request():
            with tenant_context(tenant):
                borrowed = pooled["default"]
                try:
                    with borrowed.cursor() as cursor:
                        cursor.execute("SELECT pg_backend_pid(), array(SELECT DISTINCT tenant_id FROM portal_site)")
                        return cursor.fetchone()
                finally:
                    borrowed.close()  # back to the pool, as at the end of a request

        return _in_a_thread_of_its_own(request)

    try:
        backend, sites = borrow(tenant_a)
        assert sites == [tenant_a.pk]
        assert borrow(None) == (backend, []), "a visitor with no observatory sees no one's sites"
        assert borrow(tenant_b) == (backend, [tenant_b.pk])
        assert borrow(tenant_a) == (backend, [tenant_a.pk])
        waiting = pooled["default"].pool.getconn()  # as it lies in the pool, before anyone borrows it
        try:
            setting = waiting.execute("SELECT current_setting('app.tenant_id', true)").fetchone()[0]
        finally:
            pooled["default"].pool.putconn(waiting)
        assert not setting, "a connection waiting in the pool belongs to no observatory"
    finally:
        pooled["default"].close_pool()


def test_member_sees_their_tenant_home_with_its_sites(client, tenant_factory):
    tenant, users = tenant_factory(sites=["north", "south"])
    client.force_login(users["admin"])
    response = client.get(f"/t/{tenant.slug}/")
    assert response.status_code == 200
    assert f"north of {tenant.slug}" in response.text and f"south of {tenant.slug}" in response.text


@pytest.mark.parametrize("slug", ["other", "no-such-observatory"])
def test_foreign_or_forged_slug_is_not_found(client, tenant_factory, slug):
    tenant, users = tenant_factory()
    other, _ = tenant_factory(sites=["secret"])
    client.force_login(users["admin"])
    response = client.get(f"/t/{other.slug if slug == 'other' else slug}/")
    assert response.status_code == 404
    assert "secret" not in response.text


def test_anonymous_visitor_is_sent_to_sign_in(client, tenant_factory):
    tenant, _ = tenant_factory()
    response = client.get(f"/t/{tenant.slug}/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_member_of_two_tenants_gets_a_switcher_listing_both(client, tenant_factory):
    tenant_a, users = tenant_factory()
    tenant_b, _ = tenant_factory()
    with tenant_context(tenant_b):
        Membership.objects.create(tenant=tenant_b, user=users["admin"], role="astronomer")
    client.force_login(users["admin"])
    home = client.get("/")
    assert home.status_code == 200 and tenant_a.name in home.text and tenant_b.name in home.text
    page = client.get(f"/t/{tenant_a.slug}/")
    assert f"/t/{tenant_b.slug}/" in page.text


def test_tenant_admin_manages_only_their_own_sites_in_the_admin(client, tenant_factory):
    tenant, users = tenant_factory(sites=["mine"])
    other, _ = tenant_factory(sites=["theirs"])
    client.force_login(users["admin"])
    client.get(f"/t/{tenant.slug}/")  # makes it the active tenant
    listing = client.get("/admin/portal/site/")
    assert listing.status_code == 200
    assert f"mine of {tenant.slug}" in listing.text and "theirs" not in listing.text
    response = client.post(
        "/admin/portal/site/add/",
        {
            "code": "new",
            "name": "New site",
            "latitude_deg": "-24.6",
            "longitude_deg": "-70.4",
            "height_m": "2635",
            "time_zone": "America/Santiago",
            "horizon_limit_deg": "15",
            "description": "",
            "telescopes-TOTAL_FORMS": "0",
            "telescopes-INITIAL_FORMS": "0",
            "header_rules-TOTAL_FORMS": "0",
            "header_rules-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        assert Site.objects.get(code="new").tenant_id == tenant.pk


def test_volunteer_cannot_open_the_admin(client, tenant_factory):
    tenant, users = tenant_factory(members=[("vol", "volunteer")])
    client.force_login(users["vol"])
    client.get(f"/t/{tenant.slug}/")
    assert client.get("/admin/portal/site/").status_code == 302  # to the admin's login


def test_site_with_an_unknown_time_zone_is_refused_with_the_reason(client, tenant_factory):
    tenant, users = tenant_factory()
    client.force_login(users["admin"])
    client.get(f"/t/{tenant.slug}/")
    response = client.post(
        "/admin/portal/site/add/",
        {
            "code": "bad",
            "name": "Bad",
            "latitude_deg": "10",
            "longitude_deg": "10",
            "height_m": "10",
            "time_zone": "Mars/Olympus_Mons",
            "horizon_limit_deg": "15",
            "telescopes-TOTAL_FORMS": "0",
            "telescopes-INITIAL_FORMS": "0",
            "header_rules-TOTAL_FORMS": "0",
            "header_rules-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200 and "is not an IANA time zone" in response.text
