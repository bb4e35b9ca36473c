"""Writing filters on the page, and asking for follow-up of an alert, as astronomers, admins,
volunteers and partners would."""

import pytest

from alerts.models import AlertFilter, Source
from alerts.services import ingest_packets
from alerts.synthetic import make_alert
from observations.models import Target
from portal.tenancy import tenant_context
from scheduling.models import FollowUpRequest
from tests.conftest import api_client

MEMBERS = (("admin", "admin"), ("astronomer", "astronomer"), ("volunteer", "volunteer"), ("partner", "partner"))


@pytest.fixture
def observatory(tenant_factory):
    tenant, users = tenant_factory(members=MEMBERS, sites=[])
    with tenant_context(tenant):
        m51 = Target.objects.create(tenant=tenant, name="M51", ra_deg=202.4696, dec_deg=47.1952)
        (alert,) = ingest_packets(tenant, [make_alert(5, "sn_ii", ra_deg=m51.ra_deg, dec_deg=m51.dec_deg).packet],
                                  source=Source.REST).alerts  # fmt: skip
    return tenant, users, m51, alert


def test_an_astronomer_writes_a_filter_in_the_form_and_the_dashboard_shows_its_feed(client, observatory):
    tenant, users, m51, _ = observatory
    client.force_login(users["astronomer"])
    assert 'href="/t/%s/alerts/filters/new/"' % tenant.slug in client.get(f"/t/{tenant.slug}/alerts/").text
    response = client.post(f"/t/{tenant.slug}/alerts/filters/new/", {
        "name": "Bright SNe near M51", "min_real_bogus": "0.8", "classes": ["sn_ia", "sn_ii"], "brighter_than": "19",
        "cone_centre": "13:29:52.7 +47:11:43", "cone_radius": "5 deg", "target_names": "M51", "enabled": "on",
        "webhook_url": "https://partner.example.org/alerts", "max_age_days": "10", "observed_after": "2026-12-01 18:00",
    })  # fmt: skip
    with tenant_context(tenant):
        saved = AlertFilter.objects.get(user=users["astronomer"])
    assert response.status_code == 302 and response.url == f"/t/{tenant.slug}/alerts/?filter={saved.pk}"
    cone = saved.conditions.pop("cone")
    assert saved.conditions == {"min_real_bogus": 0.8, "classes": ["sn_ia", "sn_ii"], "brighter_than": 19.0,
                                "targets": [m51.pk], "max_age_days": 10.0,
                                "observed_after": "2026-12-01T18:00:00+00:00"}  # fmt: skip
    assert cone["ra_deg"] == pytest.approx(202.4696, abs=1e-3) and cone["radius_deg"] == pytest.approx(5)
    assert len(saved.webhook_secret) == 64
    dashboard = client.get(response.url)
    assert "Alerts: Bright SNe near M51" in dashboard.text
    edit = client.get(f"/t/{tenant.slug}/alerts/filters/{saved.pk}/")
    assert 'value="M51"' in edit.text and saved.webhook_secret in edit.text, "the form shows what is stored"
    assert "Bright SNe near M51" in client.get(f"/t/{tenant.slug}/alerts/filters/").text


def test_a_filter_s_conditions_are_written_in_words_wherever_it_is_shown(client, observatory):
    tenant, users, m51, _ = observatory
    with tenant_context(tenant):
        near_m51 = AlertFilter.objects.create(tenant=tenant, user=users["astronomer"], name="SNe Ia", conditions={
            "min_real_bogus": 0.8, "classes": ["sn_ia"], "brighter_than": 18.5,
            "cone": {"ra_deg": m51.ra_deg, "dec_deg": m51.dec_deg, "radius_deg": 5 / 60},
        })  # fmt: skip
        AlertFilter.objects.create(tenant=tenant, user=users["astronomer"], name="young on M51", conditions={
            "bands": ["g", "r"], "targets": [m51.pk], "max_age_days": 3.0,
            "observed_after": "2026-12-01T18:00:00+00:00",
        })  # fmt: skip
    client.force_login(users["astronomer"])
    words = "real-bogus ≥ 0.8, class is SN Ia, brighter than 18.5 mag, within 5′ of M51 (13:29:52.7 +47:11:42.7)"
    listed = client.get(f"/t/{tenant.slug}/alerts/filters/").text
    assert words in listed and "min_real_bogus" not in listed and "{" not in listed.split('id="filters"')[1]
    assert "in band g or r, on target M51, first detected ≤ 3 days before, observed from 2026-12-01 18:00 UTC" in listed
    assert f"Matches: {words}." in client.get(f"/t/{tenant.slug}/alerts/?filter={near_m51.pk}").text
    assert f"It matches now: {words}." in client.get(f"/t/{tenant.slug}/alerts/filters/{near_m51.pk}/").text


@pytest.mark.parametrize("fields, message", [
    ({"brighter_than": "17", "fainter_than": "19"}, "can never both hold"),
    ({"min_class_probability": "0.9"}, "min_class_probability needs classes"),
    ({"cone_centre": "13:29:52.7 +97:11:43", "cone_radius": "5 deg"}, "cannot read"),
    ({"cone_centre": "202.47 47.19"}, "needs both a centre and a radius"),
    ({"target_names": "M51, Nowhere"}, "no target of this observatory is named &#x27;Nowhere&#x27;"),
    ({"webhook_url": "ftp://partner.example.org/"}, "Enter a valid URL"),
    ({"observed_after": "2026-12-02 00:00", "observed_before": "2026-12-01 00:00"}, "that window is empty"),
])  # fmt: skip
def test_a_filter_that_cannot_work_is_refused_with_the_reason_and_nothing_is_stored(client, observatory, fields,
                                                                                    message):  # fmt: skip
    tenant, users, _, _ = observatory
    client.force_login(users["astronomer"])
    response = client.post(f"/t/{tenant.slug}/alerts/filters/new/", {"name": "broken", **fields})
    assert response.status_code == 200 and message in response.text
    with tenant_context(tenant):
        assert not AlertFilter.objects.exists()


def test_filters_are_each_users_own(client, observatory):
    tenant, users, _, _ = observatory
    with tenant_context(tenant):
        theirs = AlertFilter.objects.create(tenant=tenant, user=users["admin"], name="admin's", conditions={})
    client.force_login(users["astronomer"])
    assert client.get(f"/t/{tenant.slug}/alerts/filters/{theirs.pk}/").status_code == 404
    assert client.post(f"/t/{tenant.slug}/alerts/filters/{theirs.pk}/delete/").status_code == 404
    assert "admin&#x27;s" not in client.get(f"/t/{tenant.slug}/alerts/filters/").text


def test_request_follow_up_from_the_panel_once_per_target_and_only_for_those_who_observe(client, observatory):
    tenant, users, m51, alert = observatory
    client.force_login(users["astronomer"])
    panel = client.get(f"/t/{tenant.slug}/alerts/{alert.pk}/")
    assert "Request follow-up" in panel.text
    first = client.post(f"/t/{tenant.slug}/alerts/{alert.pk}/follow-up/", follow=True)
    assert "Follow-up of M51 requested" in first.text and "M51" in first.text
    assert "A follow-up of M51 is pending" in client.get(f"/t/{tenant.slug}/alerts/{alert.pk}/").text
    client.force_login(users["admin"])
    again = client.post(f"/t/{tenant.slug}/alerts/{alert.pk}/follow-up/", follow=True)
    assert f"a follow-up of M51 is already pending: asked by {users['astronomer'].username}" in again.text
    with tenant_context(tenant):
        (made,) = FollowUpRequest.objects.select_related("from_alert")
    assert made.requested_by_id == users["astronomer"].pk and made.priority == "top"
    assert made.from_alert.alert_id == alert.pk

    client.force_login(users["volunteer"])
    assert "Request follow-up" not in client.get(f"/t/{tenant.slug}/alerts/{alert.pk}/").text
    assert client.post(f"/t/{tenant.slug}/alerts/{alert.pk}/follow-up/").status_code == 403


def test_follow_up_through_the_api_for_astronomers_keys_and_refusals_named(observatory, tenant_factory):
    tenant, users, m51, alert = observatory
    partner = api_client(tenant, users["partner"])
    refused = partner.post(f"/api/v1/alerts/{alert.pk}/follow-up/", {}, format="json")
    assert refused.status_code == 403 and "Only admins and astronomers" in refused.json()["detail"]
    astronomer = api_client(tenant, users["astronomer"])
    bad = astronomer.post(f"/api/v1/alerts/{alert.pk}/follow-up/", {"priority": "urgent"}, format="json")
    assert bad.status_code == 400 and "priority must be one of normal, high, top" in bad.text
    made = astronomer.post(f"/api/v1/alerts/{alert.pk}/follow-up/", {"priority": "high", "note": "spectrum"},
                           format="json")  # fmt: skip
    assert made.status_code == 201 and made.json()["target"] == {"id": m51.pk, "name": "M51"}
    twice = astronomer.post(f"/api/v1/alerts/{alert.pk}/follow-up/", {}, format="json")
    assert twice.status_code == 400 and "already pending" in twice.text
    listed = astronomer.get("/api/v1/follow-ups/?status=pending").json()["results"]
    assert [(r["priority"], r["note"], r["requested_by"]) for r in listed] == [
        ("high", "spectrum", users["astronomer"].username)
    ]  # fmt: skip
    other, other_users = tenant_factory(sites=[])
    assert api_client(other, other_users["admin"]).post(f"/api/v1/alerts/{alert.pk}/follow-up/").status_code == 404
