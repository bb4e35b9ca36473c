"""The demo's semester: proposals at every stage, requests under the approved ones, and
tonight's plan asked of a worker at first start."""

from observations.models import Target
from portal.celery import send
from portal.demo import TENANTS, load_site
from portal.tenancy import tenant_context
from scheduling.demo import PROPOSALS, SURVEY_FIELDS, load_demo_semester
from scheduling.models import Proposal, Request, ScheduledObservation
from scheduling.nightly import plan_night
from tests.scheduling.conftest import MEMBERS


def test_the_demo_semester_fills_tonights_queue_once(tenant_factory, django_capture_on_commit_callbacks):
    tenant, users = tenant_factory(members=MEMBERS)
    with tenant_context(tenant):
        for site in TENANTS[0]["sites"]:  # the demo network's: Teide, Siding Spring, McDonald
            load_site(tenant, dict(site))
        Target.objects.create(tenant=tenant, name="M31", ra_deg=10.68, dec_deg=41.27, tags=["demo"])
        with django_capture_on_commit_callbacks() as queued:  # captured, not sent: no worker here
            load_demo_semester(tenant, users["astronomer"], users["admin"])
        assert [c.args[:2] for c in queued if c.func is send] == [("scheduling.tasks.plan_tenant_night", tenant.pk)]
        stands = dict(Proposal.objects.values_list("title", "status"))
        assert stands == {title: status for title, status, _, _ in PROPOSALS}
        requests = Request.objects.filter(group__proposal__status="approved")
        assert requests.count() == sum(count for _, status, _, count in PROPOSALS if status == "approved")
        assert set(requests.values_list("telescope_class", flat=True)) == {"1m0", "0m4", "2m0"}
        assert Target.objects.filter(tags__contains=["survey-field"]).count() == SURVEY_FIELDS
        plan = plan_night(tenant, time_limit_s=10)  # what that task runs
        assert ScheduledObservation.objects.filter(plan=plan).count() > 5, "survey fields are up somewhere tonight"
        load_demo_semester(tenant, users["astronomer"], users["admin"])
        assert Proposal.objects.count() == len(PROPOSALS), "loaded once; a second start leaves it as it is"
