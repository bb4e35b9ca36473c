"""One permission map for pages and API: a key acts as its owner's current role, the API allows
what the pages allow (role × endpoint × method), and the navigation offers only what opens."""

import pytest
from django.template.loader import render_to_string

from portal import services
from portal.models import Membership, Role
from portal.tenancy import tenant_context
from tests.conftest import api_client

ROLES = ("admin", "astronomer", "volunteer", "partner")
EVERYONE = set(ROLES)
ADMINS = {"admin"}
STAFF = {"admin", "astronomer"}  # the pages: targets, frames, follow-up
SENDERS = {"admin", "astronomer", "partner"}  # alert packets: pipelines and partners' brokers
KEY_WRITERS = {"admin", "astronomer", "partner"}  # volunteers hold no keys on the pages: theirs only read

SITE = {"name": "Cerro Tololo", "latitude_deg": -30.17, "longitude_deg": -70.8, "height_m": 2198,
        "time_zone": "America/Santiago"}  # fmt: skip

# (method, path, body, roles whose write key is allowed). {placeholders} are the tenant's rows;
# 0 is an id that does not exist: allowed roles get 404, refused ones 403 before any lookup.
MATRIX = [
    ("get", "/api/v1/whoami/", None, EVERYONE),
    *[
        row
        for facility in ("sites", "telescopes", "instruments", "filters")
        for row in [
            ("get", f"/api/v1/{facility}/", None, EVERYONE),
            ("get", f"/api/v1/{facility}/{{{facility}}}/", None, EVERYONE),
            ("post", f"/api/v1/{facility}/", {}, ADMINS),
            ("patch", f"/api/v1/{facility}/{{{facility}}}/", {"name": "renamed"}, ADMINS),
            ("delete", f"/api/v1/{facility}/{{{facility}}}/", None, ADMINS),
        ]
    ],
    ("get", "/api/v1/targets/", None, EVERYONE),
    ("get", "/api/v1/targets/{targets}/", None, EVERYONE),
    ("post", "/api/v1/targets/", {"name": "NGC 1", "ra_deg": 1.0, "dec_deg": 27.7}, STAFF),
    ("patch", "/api/v1/targets/{targets}/", {"tags": ["seen"]}, STAFF),
    ("delete", "/api/v1/targets/{targets}/", None, STAFF),
    ("post", "/api/v1/targets/import/", "multipart", STAFF),
    ("get", "/api/v1/targets/{targets}/similar/", None, EVERYONE),
    ("get", "/api/v1/targets/{targets}/predictions/", None, EVERYONE),
    ("get", "/api/v1/frames/", None, EVERYONE),
    ("get", "/api/v1/frames/0/", None, EVERYONE),
    ("post", "/api/v1/frames/upload/", "multipart", STAFF),
    ("get", "/api/v1/models/", None, EVERYONE),
    ("get", "/api/v1/models/0/", None, EVERYONE),
    ("get", "/api/v1/alerts/", None, EVERYONE),
    ("get", "/api/v1/alerts/0/", None, EVERYONE),
    ("post", "/api/v1/alerts/", {}, SENDERS),
    ("post", "/api/v1/alerts/0/follow-up/", {}, STAFF),
    ("get", "/api/v1/alert-filters/", None, EVERYONE),
    ("post", "/api/v1/alert-filters/", {"name": "bright", "conditions": {"brighter_than": 18}}, KEY_WRITERS),
    ("patch", "/api/v1/alert-filters/{alert-filters}/", {"enabled": False}, KEY_WRITERS),
    ("delete", "/api/v1/alert-filters/{alert-filters}/", None, KEY_WRITERS),
    ("get", "/api/v1/follow-ups/", None, EVERYONE),
]
# Methods an endpoint does not answer are 405 for every role, not a 403 that suggests another role would do.
DELETE_ORDER = ["sites", "telescopes", "instruments", "filters", "targets", "alert-filters"]  # parents first
NOT_ANSWERED = [("post", "/api/v1/models/"), ("post", "/api/v1/follow-ups/"), ("delete", "/api/v1/frames/0/"),
                ("delete", "/api/v1/alerts/0/"), ("put", "/api/v1/whoami/")]  # fmt: skip


@pytest.fixture
def observatory(tenant_factory):
    """A tenant with one member per role, each holding a read-write key, and one row of each kind."""
    tenant, users = tenant_factory(members=[(role, role) for role in ROLES], sites=["site"])
    keys = {role: api_client(tenant, users[role]) for role in ROLES}
    admin, ids = keys["admin"], {}
    ids["sites"] = admin.get("/api/v1/sites/").json()["results"][0]["id"]
    made = [
        ("telescopes", {"site": ids["sites"], "code": "t1", "name": "T1", "aperture_m": 1, "field_of_view_arcmin": 30,
                        "pixel_scale_arcsec": 0.5}),
        ("instruments", {"telescope": "telescopes", "code": "cam", "name": "Camera"}),
        ("filters", {"instrument": "instruments", "name": "r", "central_wavelength_nm": 620, "bandwidth_nm": 140}),
        ("targets", {"name": "M51", "ra_deg": 202.4696, "dec_deg": 47.1952}),
        ("alert-filters", {"name": "all", "conditions": {}}),
    ]  # fmt: skip
    for endpoint, body in made:
        body = {name: ids.get(value, value) if isinstance(value, str) else value for name, value in body.items()}
        response = admin.post(f"/api/v1/{endpoint}/", body, format="json")
        assert response.status_code == 201, response.json()
        ids[endpoint] = response.json()["id"]
    return tenant, users, keys, ids


@pytest.mark.parametrize("role", ROLES)
def test_each_role_s_key_may_do_on_the_api_what_the_pages_let_it(observatory, role):
    """Every row of MATRIX with this role's read-write key: refused (403, problem+json naming
    the key's owner) exactly where the pages refuse the role. Deletions run last, children
    before parents, so each row finds the rows it names."""
    tenant, users, keys, ids = observatory
    rows = sorted(MATRIX, key=lambda row: (row[0] == "delete", -DELETE_ORDER.index(row[1].split("/")[3])
                                           if row[0] == "delete" else 0))  # fmt: skip
    allowed, expected = {}, {}
    for method, path, body, roles in rows:
        url = path.format(**ids)
        if body == "multipart":
            response = getattr(keys[role], method)(url, {}, format="multipart")
        else:
            response = getattr(keys[role], method)(url, body, format="json")
        assert response.status_code < 500 and response.status_code != 401, (method, url, response.status_code)
        allowed[f"{method} {path}"], expected[f"{method} {path}"] = response.status_code != 403, role in roles
        if response.status_code == 403:
            assert response["Content-Type"] == "application/problem+json"
            assert users[role].username in response.json()["detail"], response.json()
    assert allowed == expected


@pytest.mark.parametrize(("method", "path"), NOT_ANSWERED)
def test_a_method_an_endpoint_does_not_answer_is_405_for_every_role(observatory, method, path):
    _, _, keys, _ = observatory
    assert {role: getattr(keys[role], method)(path).status_code for role in ROLES} == dict.fromkeys(ROLES, 405)


def test_a_partner_s_key_no_longer_edits_or_deletes_sites(observatory):
    tenant, users, keys, ids = observatory
    partner = keys["partner"]
    refused = partner.delete(f"/api/v1/sites/{ids['sites']}/")
    assert refused.status_code == 403 and "Only admins may do this" in refused.json()["detail"]
    assert partner.post("/api/v1/sites/", {**SITE, "code": "lsc"}, format="json").status_code == 403
    assert [site["id"] for site in partner.get("/api/v1/sites/").json()["results"]] == [ids["sites"]]


def test_a_read_key_still_only_reads_whatever_its_owner_may_do(observatory):
    tenant, users, _, _ = observatory
    reader = api_client(tenant, users["admin"], scope="read")
    refused = reader.post("/api/v1/sites/", {**SITE, "code": "lsc"}, format="json")
    assert refused.status_code == 403 and "read-only" in refused.json()["detail"]


def _membership(tenant, user):
    with tenant_context(tenant):
        return Membership.objects.get(tenant=tenant, user=user)


def test_a_removed_member_s_key_stops_at_once(observatory):
    tenant, users, keys, _ = observatory
    astronomer = keys["astronomer"]
    assert astronomer.get("/api/v1/targets/").status_code == 200
    with tenant_context(tenant):
        services.remove_member(_membership(tenant, users["astronomer"]))
    response = astronomer.get("/api/v1/targets/")
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"
    assert "no longer a member" in response.json()["detail"]
    assert astronomer.post("/api/v1/targets/", {"name": "M1", "ra_deg": 83.6, "dec_deg": 22.0}).status_code == 401


def test_a_demoted_member_s_key_shrinks_to_the_new_role_at_once(observatory):
    tenant, users, keys, _ = observatory
    key = keys["astronomer"]
    created = key.post("/api/v1/targets/", {"name": "M1", "ra_deg": 83.633, "dec_deg": 22.014}, format="json")
    assert created.status_code == 201
    with tenant_context(tenant):
        services.change_role(_membership(tenant, users["astronomer"]), Role.VOLUNTEER)
    assert key.get("/api/v1/whoami/").json()["role"] == "volunteer"
    refused = key.patch(f"/api/v1/targets/{created.json()['id']}/", {"tags": ["crab"]}, format="json")
    assert refused.status_code == 403 and "Only admins and astronomers may do this" in refused.json()["detail"]
    own_filter = key.post("/api/v1/alert-filters/", {"name": "mine", "conditions": {}}, format="json")
    assert own_filter.status_code == 403 and "keys only read" in own_filter.json()["detail"]
    assert key.get("/api/v1/targets/").status_code == 200


def test_an_admin_demoted_to_partner_no_longer_edits_sites(observatory):
    tenant, users, _, ids = observatory
    key = api_client(tenant, users["admin"])
    assert key.patch(f"/api/v1/sites/{ids['sites']}/", {"name": "Teide"}, format="json").status_code == 200
    with tenant_context(tenant):
        services.change_role(_membership(tenant, users["partner"]), Role.ADMIN)  # someone must stay admin
        services.change_role(_membership(tenant, users["admin"]), Role.PARTNER)
    assert key.patch(f"/api/v1/sites/{ids['sites']}/", {"name": "Roque"}, format="json").status_code == 403


@pytest.mark.parametrize(
    ("role", "links"),
    [
        ("volunteer", {"API keys": False, "Members": False, "Audit log": False, "Admin": False}),
        ("partner", {"API keys": True, "Members": False, "Audit log": False, "Admin": False}),
        ("astronomer", {"API keys": True, "Members": False, "Audit log": False, "Admin": False}),
        ("admin", {"API keys": True, "Members": True, "Audit log": True, "Admin": True}),
    ],
)
def test_the_navigation_offers_only_the_pages_a_role_may_open(client, tenant_factory, role, links):
    tenant, users = tenant_factory(members=[("admin", Role.ADMIN), (role, role)])
    client.force_login(users[role])
    home = client.get(f"/t/{tenant.slug}/").text
    nav = home[home.index('<nav class="links">') : home.index("</nav>", home.index('<nav class="links">'))]
    assert {name: f">{name}</a>" in nav for name in links} == links
    opens = {"API keys": f"/t/{tenant.slug}/api-keys/", "Members": f"/t/{tenant.slug}/members/",
             "Audit log": f"/t/{tenant.slug}/audit/"}  # fmt: skip
    for name, url in opens.items():
        assert (client.get(url).status_code == 200) == links[name], name


def test_a_refused_page_keeps_the_top_bar_and_says_why(client, tenant_factory):
    tenant, users = tenant_factory(members=[("admin", Role.ADMIN), ("volunteer", Role.VOLUNTEER)])
    client.force_login(users["volunteer"])
    page = client.get(f"/t/{tenant.slug}/api-keys/")
    assert page.status_code == 403
    assert 'class="topbar"' in page.text and ">Targets</a>" in page.text
    assert "Only admins, astronomers and partners" in page.text
    assert f'href="/t/{tenant.slug}/"' in page.text  # where to go instead


def test_a_missing_page_keeps_the_top_bar_and_says_where_to_go(client, tenant_factory):
    tenant, users = tenant_factory()
    client.force_login(users["admin"])
    page = client.get(f"/t/{tenant.slug}/targets/999999/")
    assert page.status_code == 404
    assert 'class="topbar"' in page.text and users["admin"].username in page.text
    assert f'href="/t/{tenant.slug}/"' in page.text
    elsewhere = client.get("/t/no-such-observatory/")
    assert elsewhere.status_code == 404 and "not one of its members" in elsewhere.text
    assert 'class="topbar"' in elsewhere.text


def test_the_server_error_page_renders_with_no_request_or_database():
    page = render_to_string("500.html")  # as Django's handler does: no request, no context processors
    assert 'class="topbar"' in page and "/healthz" in page
