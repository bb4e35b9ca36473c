"""Issue 21: conditional GET. Every answer to a GET carries an ETag; a client that sends it back
(``If-None-Match``) gets 304 Not Modified and no body until the row changes."""

from tests.conftest import api_client
from tests.portal.test_api import NEW_SITE


def test_a_detail_answers_304_until_its_row_changes(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    api = api_client(tenant, users["admin"])
    site = api.post("/api/v1/sites/", NEW_SITE, format="json").json()
    first = api.get(f"/api/v1/sites/{site['id']}/")
    etag = first["ETag"]
    assert first.status_code == 200 and etag
    unchanged = api.get(f"/api/v1/sites/{site['id']}/", HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304 and unchanged.content == b""
    api.patch(f"/api/v1/sites/{site['id']}/", {"name": "Cerro Tololo Inter-American Observatory"}, format="json")
    changed = api.get(f"/api/v1/sites/{site['id']}/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed.json()["name"].startswith("Cerro Tololo Inter")
    assert changed["ETag"] != etag


def test_a_list_and_another_keys_view_of_it_have_their_own_etags(tenant_factory):
    tenant, users = tenant_factory(sites=["one"])
    stranger, strangers = tenant_factory(sites=["two"])
    mine, theirs = api_client(tenant, users["admin"]), api_client(stranger, strangers["admin"])
    etag = mine.get("/api/v1/sites/")["ETag"]
    assert mine.get("/api/v1/sites/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    other = theirs.get("/api/v1/sites/", HTTP_IF_NONE_MATCH=etag)
    assert other.status_code == 200 and other.json()["results"][0]["code"] == "two"
