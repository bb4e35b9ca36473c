"""Alert filters as an astronomer writes them: checked when saved (one that can never match is
refused with the reason), and asked of every classified alert."""

from datetime import timedelta

import pytest

from alerts.filters import FilterInvalid, clean_conditions
from alerts.models import Alert, AlertClassification, AlertFilter, Source
from alerts.services import ingest_packets, matching_filters, scores_by_alert
from alerts.synthetic import make_alert
from observations.models import Target
from portal.tenancy import tenant_context
from tests.alerts.test_classification import serve_untrained
from tests.conftest import api_client


@pytest.mark.parametrize("conditions, reason", [
    ({"brighter_than": 17, "fainter_than": 19}, "brighter than 17.0 and fainter than 19.0 can never both hold"),
    ({"classes": []}, "classes: a non-empty list is required"),
    ({"classes": ["sn_iax"]}, "classes: 'sn_iax' is not one of"),
    ({"min_real_bogus": 1.5}, "min_real_bogus: 1.5 is outside 0–1"),
    ({"min_class_probability": 0.5}, "min_class_probability needs classes"),
    ({"cone": {"ra_deg": 10, "dec_deg": 95, "radius_deg": 5}}, "dec_deg: 95 is outside -90–90"),
    ({"cone": {"ra_deg": 10, "dec_deg": 5, "radius_deg": 0}}, "a radius of 0° can match nothing"),
    ({"magnitude": 19}, "unknown condition 'magnitude'"),
    ({"targets": []}, "targets: a non-empty list of target ids"),
    ({"observed_after": "2026-12-02", "observed_before": "2026-12-01T12:00"}, "that window is empty"),
    ({"observed_after": "yesterday"}, "observed_after: 'yesterday' is not a time"),
    ({"max_age_days": -1}, "max_age_days: -1 is outside 0–36500"),
])  # fmt: skip
def test_an_impossible_or_malformed_condition_is_refused_with_the_reason(conditions, reason):
    with pytest.raises(FilterInvalid, match=reason):
        clean_conditions(conditions)


@pytest.fixture
def classified(tenant_factory):
    """Three alerts with what the classifiers said of them, set by hand."""
    tenant, users = tenant_factory(sites=[], members=[("admin", "admin"), ("astronomer", "astronomer")])
    with tenant_context(tenant):
        real_bogus, light_curve = serve_untrained(tenant, users["admin"])
        host = Target.objects.create(tenant=tenant, name="NGC 3370", ra_deg=161.77, dec_deg=17.27)
        supernova = make_alert(80, "sn_ia", ra_deg=161.77, dec_deg=17.27)
        variable = make_alert(81, "variable", ra_deg=200.0, dec_deg=-30.0)
        artefact = make_alert(82, "bogus", ra_deg=162.5, dec_deg=17.0)
        stored = ingest_packets(tenant, [supernova.packet, variable.packet, artefact.packet], source=Source.REST).alerts
        said = [(0.97, "sn_ia", 0.85), (0.9, "variable", 0.95), (0.05, "sn_ia", 0.4)]
        for alert, (real, label, probability) in zip(stored, said):
            AlertClassification.objects.create(tenant=tenant, alert=alert, version=real_bogus, label="real",
                                               probabilities={"real": real, "bogus": 1 - real})  # fmt: skip
            AlertClassification.objects.create(tenant=tenant, alert=alert, version=light_curve, label=label,
                                               probabilities={label: probability})  # fmt: skip
        yield tenant, users, dict(zip(("supernova", "variable", "artefact"), stored)), host


def _matching(tenant, user, conditions):
    AlertFilter.objects.filter(tenant=tenant).delete()
    AlertFilter.objects.create(tenant=tenant, user=user, name="f", conditions=clean_conditions(conditions))
    alerts = list(Alert.objects.filter(tenant=tenant).select_related("alert_object__target"))
    matched = matching_filters(tenant, alerts, scores_by_alert(tenant, [alert.pk for alert in alerts]))
    return {alert.alert_object.object_id for alert, filters in matched.items() if filters}


def test_a_filter_gets_the_alerts_meeting_every_condition_and_only_those(classified):
    tenant, users, alerts, host = classified
    name = {key: alert.alert_object.object_id for key, alert in alerts.items()}
    user = users["astronomer"]
    assert _matching(tenant, user, {"min_real_bogus": 0.8}) == {name["supernova"], name["variable"]}
    assert _matching(tenant, user, {"min_real_bogus": 0.8, "classes": ["sn_ia", "sn_ii"]}) == {name["supernova"]}
    assert _matching(tenant, user, {"classes": ["sn_ia"], "min_class_probability": 0.5}) == {name["supernova"]}
    near = {"cone": {"ra_deg": 161.0, "dec_deg": 17.0, "radius_deg": 5}}
    assert _matching(tenant, user, near) == {name["supernova"], name["artefact"]}
    assert _matching(tenant, user, {"targets": [host.pk]}) == {name["supernova"]}
    assert _matching(tenant, user, {"known_targets_only": True}) == {name["supernova"]}
    observed = alerts["variable"].observed_at
    window = {"observed_after": observed.isoformat(), "observed_before": (observed + timedelta(seconds=1)).isoformat()}
    assert name["variable"] in _matching(tenant, user, window)
    assert _matching(tenant, user, {"observed_before": observed.isoformat()}) == {
        alert.alert_object.object_id for alert in alerts.values() if alert.observed_at < observed
    }  # fmt: skip
    ages = {key: alert.mjd - min([p["mjd"] for p in alert.history if "magnitude" in p] + [alert.mjd])
            for key, alert in alerts.items()}  # fmt: skip
    young = min(ages.values()) + 0.01
    assert _matching(tenant, user, {"max_age_days": young}) == {name[k] for k, age in ages.items() if age <= young}
    assert len(_matching(tenant, user, {"max_age_days": young})) < 3, "an old object is left out"
    magnitude = alerts["variable"].magnitude
    assert name["variable"] in _matching(tenant, user, {"brighter_than": magnitude + 0.01})
    assert name["variable"] not in _matching(tenant, user, {"brighter_than": magnitude - 0.01})


def test_filters_through_the_api_are_each_users_own_and_a_never_matching_one_is_a_problem(classified):
    tenant, users, _, _ = classified
    mine = api_client(tenant, users["astronomer"])
    created = mine.post("/api/v1/alert-filters/", {"name": "bright SNe", "conditions": {
        "min_real_bogus": 0.8, "classes": ["sn_ii", "sn_ia"], "brighter_than": 19}}, format="json")  # fmt: skip
    assert created.status_code == 201, created.json()
    assert created.json()["conditions"]["classes"] == ["sn_ia", "sn_ii"]
    never = {"name": "never", "conditions": {"brighter_than": 15, "fainter_than": 18}}
    refused = mine.post("/api/v1/alert-filters/", never, format="json")
    assert refused.status_code == 400 and "can never both hold" in refused.json()["detail"]
    again = mine.post("/api/v1/alert-filters/", {"name": "bright SNe", "conditions": {}}, format="json")
    assert again.status_code == 400 and "already have a filter with this name" in again.json()["detail"]
    theirs = api_client(tenant, users["admin"]).get("/api/v1/alert-filters/").json()
    assert theirs["results"] == [], "a colleague's filters are their own"
    changed = mine.patch(f"/api/v1/alert-filters/{created.json()['id']}/", {"enabled": False}, format="json")
    assert changed.status_code == 200 and changed.json()["enabled"] is False


def test_a_filter_on_another_observatorys_target_or_an_unknown_id_is_refused_naming_it(classified, tenant_factory):
    tenant, users, _, host = classified
    other, _ = tenant_factory(sites=[])
    with tenant_context(other):
        theirs = Target.objects.create(tenant=other, name="their M51", ra_deg=202.47, dec_deg=47.19)
    mine = api_client(tenant, users["astronomer"])
    for index, (targets, said) in enumerate([([host.pk, theirs.pk], f"no target of this observatory has the id "
                                              f"{theirs.pk}"), ([2**62], f"has the id {2**62}"),
                                             ([2**64], "a non-empty list of target ids")]):  # fmt: skip
        refused = mine.post("/api/v1/alert-filters/", {"name": f"f{index}", "conditions": {"targets": targets}},
                            format="json")  # fmt: skip
        assert refused.status_code == 400 and said in refused.json()["detail"], refused.json()
        assert refused.json()["detail"].startswith("conditions: targets:")
    created = mine.post("/api/v1/alert-filters/", {"name": "host", "conditions": {"targets": [host.pk]}}, format="json")
    assert created.status_code == 201, created.json()
    with tenant_context(tenant):
        assert list(AlertFilter.objects.filter(tenant=tenant).values_list("name", flat=True)) == ["host"]


def test_partners_search_alerts_by_class_cone_and_time(classified):
    tenant, users, alerts, host = classified
    client = api_client(tenant, users["astronomer"])

    def found(query):
        response = client.get(f"/api/v1/alerts/?{query}")
        assert response.status_code == 200, response.json()
        return {alert["object_id"] for alert in response.json()["results"]}

    name = {key: alert.alert_object.object_id for key, alert in alerts.items()}
    assert found("class=sn_ia") == {name["supernova"], name["artefact"]}
    assert found("class=variable") == {name["variable"]}
    assert found("ra=161.0&dec=17.0&radius=5 deg") == {name["supernova"], name["artefact"]}
    assert found("position=10:46:40 %2B17:16:00&radius=10 arcmin") == {name["supernova"]}
    observed = alerts["variable"].observed_at.isoformat().replace("+", "%2B")
    assert name["variable"] in found(f"since={observed}") and name["variable"] not in found(f"until={observed}")
    refused = client.get("/api/v1/alerts/?ra=161&dec=95")
    assert refused.status_code == 400 and "outside" in refused.json()["detail"]
    assert "since: an ISO 8601 time is required" in client.get("/api/v1/alerts/?since=yesterday").json()["detail"]
