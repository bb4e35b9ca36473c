"""A filter's rule asks for telescope time in its owner's name: only while the owner may."""

import pytest

from alerts.followup import follow_up_by_rule
from alerts.models import AlertFilter, Source
from alerts.services import ingest_packets
from alerts.synthetic import make_alert
from observations.models import Target
from portal import services
from portal.models import Membership, Role
from portal.tenancy import tenant_context
from scheduling.models import FollowUpRequest


@pytest.mark.parametrize(("role", "asks"), [("astronomer", True), ("volunteer", False), ("partner", False)])
def test_a_rule_asks_for_follow_up_only_if_its_owner_may(tenant_factory, role, asks):
    tenant, users = tenant_factory(members=[("admin", Role.ADMIN), (role, role)], sites=[])
    with tenant_context(tenant):
        m51 = Target.objects.create(tenant=tenant, name="M51", ra_deg=202.4696, dec_deg=47.1952)
        (alert,) = ingest_packets(tenant, [make_alert(7, "sn_ii", ra_deg=m51.ra_deg, dec_deg=m51.dec_deg).packet],
                                  source=Source.REST).alerts  # fmt: skip
        rule = AlertFilter.objects.create(tenant=tenant, user=users[role], name="all", conditions={},
                                          auto_follow_up=True)  # fmt: skip
        assert bool(follow_up_by_rule({alert: [rule]})) == asks
        assert FollowUpRequest.objects.filter(target=m51).exists() == asks


def test_a_demoted_owner_s_rule_stops_asking(tenant_factory):
    tenant, users = tenant_factory(members=[("admin", Role.ADMIN), ("astronomer", Role.ASTRONOMER)], sites=[])
    with tenant_context(tenant):
        targets = [Target.objects.create(tenant=tenant, name=f"T{n}", ra_deg=10.0 * n, dec_deg=5.0) for n in (1, 2)]
        alerts = [ingest_packets(tenant, [make_alert(20 + n, "sn_ia", ra_deg=t.ra_deg, dec_deg=t.dec_deg).packet],
                                 source=Source.REST).alerts[0] for n, t in enumerate(targets)]  # fmt: skip
        rule = AlertFilter.objects.create(tenant=tenant, user=users["astronomer"], name="all", conditions={},
                                          auto_follow_up=True)  # fmt: skip
        assert len(follow_up_by_rule({alerts[0]: [rule]})) == 1
        services.change_role(Membership.objects.get(user=users["astronomer"]), Role.VOLUNTEER)
        assert follow_up_by_rule({alerts[1]: [rule]}) == []
