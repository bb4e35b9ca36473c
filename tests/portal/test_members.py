"""Observatory admins manage who is in their tenant, and as what."""

from django.contrib.auth import authenticate
from django.core.management import call_command

from portal.models import Membership, Tenant
from portal.tenancy import tenant_context


def _members(tenant):
    with tenant_context(tenant):
        return {m.user.username: m.role for m in Membership.objects.select_related("user")}


def test_admin_adds_a_new_user_who_can_then_sign_in(client, tenant_factory):
    tenant, users = tenant_factory()
    client.force_login(users["admin"])
    page = client.post(
        f"/t/{tenant.slug}/members/", {"username": "new-observer", "email": "o@example.org", "role": "astronomer"}
    )
    password = page.context["added"]["password"]
    assert password and password in page.text
    assert _members(tenant)["new-observer"] == "astronomer"
    assert authenticate(username="new-observer", password=password) is not None


def test_adding_an_existing_member_again_is_refused(client, tenant_factory):
    tenant, users = tenant_factory(members=[("admin", "admin"), ("vol", "volunteer")])
    client.force_login(users["admin"])
    page = client.post(f"/t/{tenant.slug}/members/", {"username": users["vol"].username, "role": "astronomer"})
    assert "already a member" in page.text
    assert _members(tenant)[users["vol"].username] == "volunteer"


def test_the_last_admin_cannot_be_demoted_or_removed(client, tenant_factory):
    tenant, users = tenant_factory()
    client.force_login(users["admin"])
    with tenant_context(tenant):
        membership = Membership.objects.get(user=users["admin"])
    page = client.post(f"/t/{tenant.slug}/members/{membership.pk}/", {"role": "volunteer"}, follow=True)
    assert "last admin" in page.text
    page = client.post(f"/t/{tenant.slug}/members/{membership.pk}/", {"action": "remove"}, follow=True)
    assert "last admin" in page.text
    assert _members(tenant)[users["admin"].username] == "admin"


def test_admin_changes_a_role_and_removes_a_member(client, tenant_factory):
    tenant, users = tenant_factory(members=[("admin", "admin"), ("vol", "volunteer")])
    client.force_login(users["admin"])
    with tenant_context(tenant):
        membership = Membership.objects.get(user=users["vol"])
    client.post(f"/t/{tenant.slug}/members/{membership.pk}/", {"role": "partner"})
    assert _members(tenant)[users["vol"].username] == "partner"
    client.post(f"/t/{tenant.slug}/members/{membership.pk}/", {"action": "remove"})
    assert users["vol"].username not in _members(tenant)
    assert client.get(f"/t/{tenant.slug}/").status_code == 200


def test_admin_cannot_touch_another_tenants_members(client, tenant_factory):
    tenant, users = tenant_factory()
    other, other_users = tenant_factory(members=[("admin", "admin"), ("vol", "volunteer")])
    with tenant_context(other):
        theirs = Membership.objects.get(user=other_users["vol"])
    client.force_login(users["admin"])
    response = client.post(f"/t/{tenant.slug}/members/{theirs.pk}/", {"action": "remove"})
    assert response.status_code == 404
    assert other_users["vol"].username in _members(other)


def test_astronomer_cannot_manage_members(client, tenant_factory):
    tenant, users = tenant_factory(members=[("astro", "astronomer")])
    client.force_login(users["astro"])
    assert client.get(f"/t/{tenant.slug}/members/").status_code == 403


def test_create_tenant_command_makes_a_tenant_with_its_first_admin(db, capsys):
    call_command("create_tenant", "north-obs", "Northern Observatory", "--admin", "north-admin")
    output = capsys.readouterr().out
    tenant = Tenant.objects.get(slug="north-obs")
    assert _members(tenant) == {"north-admin": "admin"}
    password = output.split("Temporary password for north-admin: ")[1].strip()
    assert authenticate(username="north-admin", password=password) is not None
