"""Shared fixtures: an observatory with one telescope, and synthetic FITS files for it."""

import io

import pytest
from astropy.io import fits

from observations.models import Target
from observations.synthetic import make_frame
from portal.demo import load_site
from portal.tenancy import tenant_context

M51 = (202.4696, 47.1952)


def equip(tenant):
    """Give a tenant the Teide site with its 1 m telescope, and the targets M51 and one far away."""
    with tenant_context(tenant):
        load_site(tenant, {"code": "tfn", "name": "Teide", "latitude_deg": 28.3, "longitude_deg": -16.5,
                            "height_m": 2390, "telescopes": [("1m0a", "Teide 1.0 m", 1.0, 26.5, 0.389, "sinistro",
                                                              [("r", 623, 138)])]})  # fmt: skip
        Target.objects.create(tenant=tenant, name="M51", ra_deg=M51[0], dec_deg=M51[1])
        Target.objects.create(tenant=tenant, name="far away", ra_deg=10, dec_deg=-40)


@pytest.fixture
def observatory(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    equip(tenant)
    with tenant_context(tenant):
        yield tenant, users["admin"]


def to_bytes(hdus):
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()


def plain():
    return to_bytes([make_frame(ra_deg=M51[0] + 0.005, dec_deg=M51[1], seed=1)])
