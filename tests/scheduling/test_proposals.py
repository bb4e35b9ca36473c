"""Proposals from draft to a decision, and request groups checked against time, equipment and sky."""

from datetime import datetime, timedelta, timezone

import pytest

from observations.models import Target
from portal.demo import load_site
from portal.tenancy import tenant_context
from scheduling.models import Proposal, Request, RequestGroup, Window
from scheduling.proposals import (
    ConfigurationSpec,
    SchedulingRefused,
    add_request_group,
    create_proposal,
    create_semester,
    decide_proposal,
    review_proposal,
    submit_proposal,
)
from tests.scheduling.conftest import MEMBERS, TEIDE, request_spec


def test_a_proposal_goes_from_draft_through_review_to_approved_with_the_hours_granted(tenant_factory):
    tenant, users = tenant_factory(members=MEMBERS)
    with tenant_context(tenant):
        load_site(tenant, dict(TEIDE, telescopes=list(TEIDE["telescopes"])))
        now = datetime.now(timezone.utc)
        semester = create_semester(tenant, "2027A", now, now + timedelta(days=180))
        proposal = create_proposal(tenant, users["astronomer"], semester, title="Tidal tails", hours={"1m0": 20},
                                   co_investigators=[users["admin"]])  # fmt: skip
        assert proposal.status == "draft" and list(proposal.co_investigators.all()) == [users["admin"]]
        submitted = submit_proposal(proposal)
        with pytest.raises(SchedulingRefused, match="status: the proposal is submitted; it can become submitted only "
                                                    "when draft"):  # fmt: skip
            submit_proposal(proposal)
        reviewed = review_proposal(submitted, grade=1.5, rank=2)
        approved = decide_proposal(reviewed, approve=True, granted={"1m0": (15, 3)})
        allocation = approved.allocations.get()
        assert (approved.status, approved.grade, approved.rank) == ("approved", 1.5, 2)
        assert (allocation.hours_requested, allocation.hours_granted, allocation.rapid_response_hours,
                allocation.hours_remaining) == (20, 15, 3, 15)  # fmt: skip
        with pytest.raises(SchedulingRefused, match="hours: this observatory has no '2m0' telescope"):
            create_proposal(tenant, users["astronomer"], semester, title="Big glass", hours={"2m0": 5})


def test_a_request_group_is_stored_whole_with_its_windows_and_configurations(approved):
    tenant, users, proposal, target, window = approved
    group = add_request_group(proposal, users["astronomer"], name="SN 2026xyz", priority=30,
                              requests=[request_spec(target, window)])  # fmt: skip
    (request,) = group.requests.all()
    assert (request.state, request.telescope_class, request.max_airmass) == ("pending", "1m0", 1.6)
    assert [(c.filter_name, c.exposure_s, c.exposure_count) for c in request.configurations.all()] == [
        ("r", 300, 3), ("g", 300, 3)]  # fmt: skip
    assert [(w.start, w.end) for w in request.windows.all()] == [window]


def test_a_cadence_becomes_one_request_a_visit(approved):
    tenant, users, proposal, target, (start, _) = approved
    spec = request_spec(target, (start, start + timedelta(days=6, hours=12)), cadence_hours=48, jitter_hours=12,
                    configurations=[ConfigurationSpec("sinistro", "r", 60, 1)])  # fmt: skip
    group = add_request_group(proposal, users["astronomer"], name="every two nights", requests=[spec])
    windows = list(Window.objects.filter(request__group=group).order_by("start").values_list("start", flat=True))
    assert [w - windows[0] for w in windows] == [timedelta(hours=48 * n) for n in range(4)]


@pytest.mark.parametrize(("changes", "message"), [
    ({"windows": "past"}, r"requests\[1\]\.windows: the window ending .* UTC is in the past"),
    ({"windows": "short"},
     r"requests\[1\]\.windows: the window .* is shorter than the observation \(32.5 min with overheads"),
    ({"configurations": [ConfigurationSpec("sinistro", "r", -5)]},
     r"requests\[1\]\.configurations\[1\]\.exposure_s: an exposure lasts more than 0 s, not -5"),
    ({"configurations": [ConfigurationSpec("sinistro", "Halpha", 60)]},
     r"requests\[1\]\.configurations\[1\]\.filter_name: sinistro has no filter 'Halpha' \(it has: g, r\)"),
    ({"configurations": [ConfigurationSpec("spectral", "r", 60)]},
     r"requests\[1\]\.configurations\[1\]\.instrument: no instrument 'spectral' on the 1m0 telescopes"),
    ({"telescope_class": "2m0"}, r"requests\[1\]\.telescope_class: the proposal has no time granted on '2m0'"),
    ({"target_id": "elsewhere"}, r"requests\[1\]\.target: no target \d+ in this observatory"),
    ({"cadence_hours": 1, "jitter_hours": 1, "windows": "week"},
     r"requests: they need 91.64 h on 1m0 and the proposal has 10.00 h of it left"),
    ({"target_id": "south"}, r"requests\[1\]\.windows: Deep south is not observable in any of its windows: it never "
                             r"rises above 15° \(the site's horizon limit\) at Teide"),
])  # fmt: skip
def test_a_bad_request_is_refused_naming_its_field_and_nothing_is_stored(approved, tenant_factory, changes, message):
    tenant, users, proposal, target, window = approved
    start, end = window
    windows = {"past": [(start - timedelta(days=3), start - timedelta(days=2))],
               "short": [(start, start + timedelta(minutes=30))],
               "week": [(start, start + timedelta(days=7))]}  # fmt: skip
    if changes.get("windows") in windows:
        changes["windows"] = windows[changes["windows"]]
    if changes.get("target_id") == "south":
        changes["target_id"] = Target.objects.create(tenant=tenant, name="Deep south", ra_deg=target.ra_deg,
                                                     dec_deg=-80).pk  # fmt: skip
    if changes.get("target_id") == "elsewhere":
        other, _ = tenant_factory()
        with tenant_context(other):
            changes["target_id"] = Target.objects.create(tenant=other, name="Theirs", ra_deg=1, dec_deg=2).pk
    with pytest.raises(SchedulingRefused, match=message):
        add_request_group(proposal, users["astronomer"], name="bad", requests=[request_spec(target, window, **changes)])
    assert not RequestGroup.objects.exists() and not Request.objects.exists()


def test_requests_wait_for_the_proposals_approval(approved):
    tenant, users, proposal, target, window = approved
    Proposal.objects.filter(pk=proposal.pk).update(status="under_review")
    proposal.refresh_from_db()
    with pytest.raises(SchedulingRefused, match="proposal: the proposal is under review; requests are made under an "
                                                "approved proposal"):  # fmt: skip
        add_request_group(proposal, users["astronomer"], name="early", requests=[request_spec(target, window)])
