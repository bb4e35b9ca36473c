"""The audit log as a tenant admin reads it: every change of members, keys, models, sites and
streams made on the pages, through the API, in the admin or by a command has its entry (who,
when, from → to, where); the log is the tenant's own, and the app cannot rewrite it."""

import datetime
import io

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import ProgrammingError, connection, transaction
from django.utils import timezone

from mlmodels.registry import create_model, save_version
from portal import audit, services
from portal.demo import load_demo
from portal.models import Action, ApiKey, AuditEntry, Membership, Role, Site, Tenant
from portal.tenancy import tenant_context
from tests.conftest import api_client, make_tenant

SITE = {"code": "ctio", "name": "Cerro Tololo", "latitude_deg": -30.17, "longitude_deg": -70.8, "height_m": 2198,
        "time_zone": "America/Santiago", "horizon_limit_deg": 15, "description": ""}  # fmt: skip


def _log(tenant, **filters):
    """The tenant's entries, oldest first (the order the test made the changes in)."""
    with tenant_context(tenant):
        return list(AuditEntry.objects.filter(tenant=tenant, **filters).order_by("at", "id"))


def _membership(tenant, user):
    with tenant_context(tenant):
        return Membership.objects.select_related("user", "tenant").get(tenant=tenant, user=user)


@pytest.fixture
def committed_observatory(committed):
    """A tenant whose changes really commit; deleted afterwards by the app role, which may delete
    no entry itself: the database's cascade takes its log."""
    tenant, users = make_tenant(members=[("admin", Role.ADMIN), ("astro", Role.ASTRONOMER)])
    yield tenant, users
    with tenant_context(tenant):
        Tenant.objects.filter(pk=tenant.pk).delete()
    get_user_model().objects.filter(pk__in=[u.pk for u in users.values()]).delete()
    assert _log(tenant) == [], "the tenant's entries went with it"


@pytest.fixture
def observatory(client, tenant_factory):
    tenant, users = tenant_factory(members=[("admin", Role.ADMIN), ("astro", Role.ASTRONOMER)])
    client.force_login(users["admin"])
    client.get(f"/t/{tenant.slug}/")  # the admin's active tenant
    return tenant, users


def test_members_added_changed_and_removed_on_the_page_say_who_when_and_from_what(client, observatory):
    tenant, users = observatory
    started = timezone.now()
    client.post(f"/t/{tenant.slug}/members/", {"username": "new-observer", "role": "astronomer"})
    membership = _membership(tenant, get_user_model().objects.get(username="new-observer"))
    client.post(f"/t/{tenant.slug}/members/{membership.pk}/", {"role": "partner"})
    client.post(f"/t/{tenant.slug}/members/{membership.pk}/", {"action": "remove"})
    added, changed, removed = _log(tenant)
    assert [added.action, changed.action, removed.action] == ["member.added", "member.role_changed", "member.removed"]
    assert {e.actor_id for e in (added, changed, removed)} == {users["admin"].pk}
    assert {e.actor_name for e in (added, changed, removed)} == {users["admin"].username}
    assert {e.subject_label for e in (added, changed, removed)} == {"new-observer"}
    assert added.changes == [("role", None, "astronomer")] and added.facts == {"new_user": True}
    assert changed.changes == [("role", "astronomer", "partner")]
    assert removed.changes == [("role", "partner", None)]
    assert all(e.via == "page" and e.address == "127.0.0.1" for e in (added, changed, removed))
    assert started <= added.at <= changed.at <= removed.at <= timezone.now()


def test_refused_and_unchanged_member_edits_leave_no_entry(client, observatory):
    tenant, users = observatory
    mine = _membership(tenant, users["admin"])
    client.post(f"/t/{tenant.slug}/members/{mine.pk}/", {"role": "volunteer"})  # the last admin
    client.post(f"/t/{tenant.slug}/members/{_membership(tenant, users['astro']).pk}/", {"role": "astronomer"})
    assert _log(tenant) == []


def test_api_keys_issued_and_revoked_on_the_page_and_by_the_command(client, observatory, capsys):
    tenant, users = observatory
    client.post(f"/t/{tenant.slug}/api-keys/", {"name": "pipeline", "scope": "write"})
    with tenant_context(tenant):
        key = ApiKey.objects.get(tenant=tenant, name="pipeline")
    client.post(f"/t/{tenant.slug}/api-keys/{key.pk}/revoke/")
    call_command("issue_api_key", tenant.slug, users["astro"].username, "--name", "night script")
    issued, revoked, by_command = _log(tenant)
    assert (issued.action, issued.subject_id, issued.actor_id, issued.via) == (
        "api_key.issued", str(key.pk), users["admin"].pk, "page")  # fmt: skip
    assert issued.changes == [("name", None, "pipeline"), ("scope", None, "write")]
    assert key.prefix in issued.subject_label and key.key_hash not in str(issued.details)
    assert (revoked.action, revoked.subject_id, revoked.facts) == (
        "api_key.revoked", str(key.pk), {"owner": users["admin"].username})  # fmt: skip
    assert (by_command.action, by_command.via, by_command.actor_id, by_command.actor_name) == (
        "api_key.issued", "command", None, "")  # fmt: skip
    assert by_command.facts == {"owner": users["astro"].username}
    assert capsys.readouterr().out.strip() not in str(by_command.details), "the secret is never logged"


def test_a_tenant_made_by_the_command_starts_its_log_with_its_first_admin(db):
    call_command(
        "create_tenant", "audited-obs", "Audited Observatory", "--admin", "audited-admin", stdout=io.StringIO()
    )
    (entry,) = _log(Tenant.objects.get(slug="audited-obs"))
    assert (entry.action, entry.subject_label, entry.via, entry.actor_name) == (
        "member.added", "audited-admin", "command", "")  # fmt: skip
    assert entry.changes == [("role", None, "admin")] and entry.facts == {"new_user": True}


def test_site_edits_through_the_api_name_the_key_and_every_changed_field(observatory):
    tenant, users = observatory
    client = api_client(tenant, users["admin"])
    site_id = client.post("/api/v1/sites/", SITE, format="json").json()["id"]
    client.patch(f"/api/v1/sites/{site_id}/", {"name": "CTIO", "horizon_limit_deg": 20}, format="json")
    client.patch(f"/api/v1/sites/{site_id}/", {"name": "CTIO"}, format="json")  # changes nothing: no entry
    assert client.delete(f"/api/v1/sites/{site_id}/").status_code == 204
    created, changed, deleted = _log(tenant)
    prefix = client._credentials["HTTP_AUTHORIZATION"].split("_")[1]
    assert [e.action for e in (created, changed, deleted)] == ["site.created", "site.changed", "site.deleted"]
    assert all((e.via, e.api_key_prefix, e.actor_id) == ("api", prefix, users["admin"].pk)
               for e in (created, changed, deleted))  # fmt: skip
    assert ("code", None, "ctio") in created.changes and ("time_zone", None, "America/Santiago") in created.changes
    assert changed.changes == [("name", "Cerro Tololo", "CTIO"), ("horizon_limit_deg", 15.0, 20.0)]
    assert ("name", "CTIO", None) in deleted.changes and deleted.subject_label == "CTIO"


def test_admin_edits_of_a_site_its_telescopes_and_a_stream_are_logged(client, observatory):
    tenant, users = observatory
    with tenant_context(tenant):
        site = Site.objects.get(tenant=tenant)
    form = {**SITE, "code": site.code, "name": "Teide", "telescopes-TOTAL_FORMS": "1", "telescopes-INITIAL_FORMS": "0",
            "telescopes-0-code": "1m0a", "telescopes-0-name": "Teide 1.0 m", "telescopes-0-aperture_m": "1.0",
            "telescopes-0-field_of_view_arcmin": "26.5", "telescopes-0-pixel_scale_arcsec": "0.389",
            "telescopes-0-active": "on", "header_rules-TOTAL_FORMS": "0",
            "header_rules-INITIAL_FORMS": "0"}  # fmt: skip
    assert client.post(f"/admin/portal/site/{site.pk}/change/", form).status_code == 302
    stream = {"name": "ztf", "kind": "kafka", "bootstrap_servers": "broker:9092", "topic": "ztf_public",
              "options": '{"sasl.password": "hunter2", "security.protocol": "SASL_SSL"}', "rate_per_s": "10",
              "enabled": "on", "folder": ""}  # fmt: skip
    assert client.post("/admin/alerts/alertstream/add/", stream).status_code == 302
    assert client.post(f"/admin/portal/site/{site.pk}/delete/", {"post": "yes"}).status_code == 302
    site_changed, telescope_created, stream_created, site_deleted = _log(tenant)
    assert site_changed.action == "site.changed" and ("name", site.name, "Teide") in site_changed.changes
    assert telescope_created.action == "telescope.created"
    assert (
        "site",
        None,
        "Teide",
    ) in telescope_created.changes and telescope_created.subject_label == "Teide 1.0 m (site)"
    assert stream_created.action == "alert_stream.created" and stream_created.subject_label == "ztf"
    options = dict((field, after) for field, _, after in stream_created.changes)["options"]
    assert options == {"sasl.password": "•••", "security.protocol": "SASL_SSL"}, "secrets stay out of the log"
    assert site_deleted.action == "site.deleted" and site_deleted.subject_label == "Teide"
    assert {e.via for e in _log(tenant)} == {"admin"} and {e.actor_id for e in _log(tenant)} == {users["admin"].pk}


def test_promotion_and_archiving_on_the_model_pages(client, observatory):
    tenant, users = observatory
    with tenant_context(tenant):
        model = create_model(tenant, users["admin"], name="morph", task="morphology", architecture="resnet18",
                             class_names=["a"])  # fmt: skip
        for _ in range(2):
            save_version(model, users["admin"], weights={"w": np.zeros(2, np.float32)})
    stage = f"/t/{tenant.slug}/models/{model.pk}/v{{}}/stage/"
    client.post(stage.format(1), {"action": "promote"})
    client.post(stage.format(2), {"action": "promote"})
    client.post(stage.format(2), {"action": "promote"})  # already serving: nothing happened
    client.post(stage.format(2), {"action": "archive"})
    first, second, archived = _log(tenant)
    assert (first.action, first.subject_label, first.changes) == ("model.promoted", "morph",
                                                                  [("production version", None, 1)])  # fmt: skip
    assert second.changes == [("production version", 1, 2)]
    assert archived.action == "model.archived" and archived.changes == [("stage", "production", "archived")]
    assert archived.facts == {"version": 2} and archived.actor_id == users["admin"].pk


def test_a_rolled_back_change_leaves_no_entry(observatory):
    tenant, users = observatory
    membership = _membership(tenant, users["astro"])
    with pytest.raises(ZeroDivisionError), tenant_context(tenant), transaction.atomic():
        services.change_role(membership, Role.PARTNER)
        1 / 0  # whatever fails later in the same transaction
    assert _membership(tenant, users["astro"]).role == Role.ASTRONOMER
    assert _log(tenant) == []


def test_an_entry_outside_a_transaction_is_refused(committed_observatory):
    tenant, users = committed_observatory
    with pytest.raises(RuntimeError, match="outside a transaction"), tenant_context(tenant):
        audit.record(tenant, Action.MEMBER_ADDED, users["astro"], audit.SYSTEM)


def test_a_committed_change_has_its_entry(client, committed_observatory):
    tenant, users = committed_observatory
    client.force_login(users["admin"])
    membership = _membership(tenant, users["astro"])
    client.post(f"/t/{tenant.slug}/members/{membership.pk}/", {"role": "volunteer"})
    assert _membership(tenant, users["astro"]).role == Role.VOLUNTEER
    assert [(e.action, e.changes) for e in _log(tenant)] == [
        ("member.role_changed", [("role", "astronomer", "volunteer")])
    ]


def test_the_page_lists_newest_first_and_filters_by_kind_person_and_day(client, observatory):
    tenant, users = observatory
    astro = _membership(tenant, users["astro"])
    for role in ["partner", "astronomer"] * 30:
        client.post(f"/t/{tenant.slug}/members/{astro.pk}/", {"role": role})
    client.post(f"/t/{tenant.slug}/api-keys/", {"name": "pipeline", "scope": "read"})
    call_command("issue_api_key", tenant.slug, users["astro"].username, stdout=io.StringIO())
    url = f"/t/{tenant.slug}/audit/"
    page = client.get(url)
    assert page.status_code == 200 and page.context["page"].paginator.count == 62
    rows = list(page.context["page"])
    assert len(rows) == 50 and [rows[0].via, rows[1].action] == ["command", "api_key.issued"]
    assert "astronomer → partner" in page.text and "Member&#x27;s role changed" in page.text
    assert f"{rows[0].at_utc}" in page.text and rows[0].at_utc.endswith("Z")
    assert len(client.get(url, {"page": 2}).context["page"]) == 12
    assert client.get(url, {"action": "api_key"}).context["page"].paginator.count == 2
    assert client.get(url, {"action": "member.role_changed"}).context["page"].paginator.count == 60
    assert client.get(url, {"actor": "system"}).context["page"].paginator.count == 1
    by_admin = client.get(url, {"actor": str(users["admin"].pk), "action": "api_key"})
    assert [e.subject_label.split(" (")[0] for e in by_admin.context["page"]] == ["pipeline"]
    today = timezone.now().date()
    assert client.get(url, {"since": today, "until": today}).context["page"].paginator.count == 62
    assert client.get(url, {"since": today + datetime.timedelta(days=1)}).context["page"].paginator.count == 0
    backwards = client.get(url, {"since": today, "until": today - datetime.timedelta(days=1)})
    assert "“To” is before “From”" in backwards.text and backwards.context["page"].paginator.count == 0
    unknown = client.get(url, {"action": "member.renamed"})
    assert "member.renamed is not one of the available choices" in unknown.text


def test_a_non_admin_gets_403_and_no_link(client, observatory):
    tenant, users = observatory
    assert ">Audit log</a>" in client.get(f"/t/{tenant.slug}/").text
    client.force_login(users["astro"])
    assert ">Audit log</a>" not in client.get(f"/t/{tenant.slug}/").text
    assert client.get(f"/t/{tenant.slug}/audit/").status_code == 403


def test_the_admin_lists_the_log_read_only(client, observatory):
    tenant, users = observatory
    services.add_member(tenant, username="listed-user", role=Role.VOLUNTEER)
    listing = client.get("/admin/portal/auditentry/")
    assert listing.status_code == 200 and "listed-user" in listing.text
    (entry,) = _log(tenant)
    assert client.get("/admin/portal/auditentry/add/").status_code == 403
    assert client.post(f"/admin/portal/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/portal/auditentry/{entry.pk}/change/", {"actor_name": "x"}).status_code == 403
    assert _log(tenant)[0].actor_name == ""


def test_an_admin_never_sees_another_tenants_entries(client, observatory, tenant_factory):
    tenant, users = observatory
    other, other_users = tenant_factory(members=[("admin", Role.ADMIN), ("vol", Role.VOLUNTEER)])
    with tenant_context(other):
        services.change_role(_membership(other, other_users["vol"]), Role.PARTNER)
    services.add_member(tenant, username="ours", role=Role.VOLUNTEER)
    page = client.get(f"/t/{tenant.slug}/audit/")
    assert [e.subject_label for e in page.context["page"]] == ["ours"]
    assert other_users["vol"].username not in page.text
    refused = client.get(f"/t/{tenant.slug}/audit/", {"actor": str(other_users["admin"].pk)})
    assert "not one of the available choices" in refused.text
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tenant_id FROM portal_auditentry")  # no tenant filter: the policy's
        assert cursor.fetchall() == [(tenant.pk,)]
    assert client.get(f"/t/{other.slug}/audit/").status_code == 404


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE portal_auditentry SET actor_name = 'someone else'",
        "DELETE FROM portal_auditentry",
        "TRUNCATE portal_auditentry",
    ],  # fmt: skip
)
def test_the_app_cannot_rewrite_or_delete_the_log(observatory, statement):
    tenant, users = observatory
    services.add_member(tenant, username="kept", role=Role.VOLUNTEER)
    with tenant_context(tenant), pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement)
    assert [e.subject_label for e in _log(tenant)] == ["kept"]


def test_an_entry_outlives_its_actor(client, observatory):
    tenant, users = observatory
    client.post(f"/t/{tenant.slug}/members/", {"username": "short-lived", "role": "volunteer"})
    gone = users["admin"].username
    with tenant_context(tenant):
        services.change_role(_membership(tenant, users["astro"]), Role.ADMIN)
        users["admin"].delete()
    (added, _) = _log(tenant)
    assert added.actor_name == gone
    client.force_login(users["astro"])
    page = client.get(f"/t/{tenant.slug}/audit/")
    assert page.status_code == 200 and gone in page.text


def test_the_demo_observatory_s_log_is_not_empty(client, db, monkeypatch):
    """The demo's members are in its log; its science (targets, frames, models, alerts: a
    minute per load) has no part in it and is left out here."""
    for loader in ("targets", "frames", "fusion", "calibration", "galaxy_images", "models", "alerts"):
        monkeypatch.setattr(f"portal.demo.load_demo_{loader}", lambda *args: None)
    load_demo("pw-for-tests")
    tenant = Tenant.objects.get(slug="demo")
    entries = _log(tenant)
    assert {e.action for e in entries} == {"member.added"} and {e.via for e in entries} == {"command"}
    load_demo("pw-for-tests")
    assert len(_log(tenant)) == len(entries), "loading again adds nothing"
    client.force_login(get_user_model().objects.get(username="demo-admin"))
    assert "demo-volunteer" in client.get(f"/t/{tenant.slug}/audit/").text
