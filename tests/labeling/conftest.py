import pytest
from django.test import Client

from mlmodels.synthetic_galaxies import make_galaxy
from observations.images import add_target_images
from observations.models import Target
from portal.models import Role
from portal.tenancy import tenant_context
from tests.conftest import PASSWORD


@pytest.fixture
def galaxies(tenant_factory):
    """A tenant with an owner and a volunteer, and ``count`` galaxies (target images) made on demand."""
    tenant, users = tenant_factory(members=[("owner", Role.ASTRONOMER), ("volunteer", Role.VOLUNTEER)])

    def make(count):
        with tenant_context(tenant):
            targets = [Target.objects.create(tenant=tenant, name=f"G{i}", ra_deg=10 + i / 100, dec_deg=5)
                       for i in range(count)]  # fmt: skip
            return add_target_images(tenant, [(t, make_galaxy(t.pk, size=16).fits_bytes(), "test") for t in targets])

    with tenant_context(tenant):
        yield tenant, users, make


def signed_in(user):
    """A test client signed in as ``user``, through the sign-in form's backend."""
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client
