"""Targets' colour images: stored with a colour preview, refused with the reason when they
cannot be read as named bands, shown on the target page, shared only with public targets."""

import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from django.core.files.storage import default_storage
from PIL import Image

from mlmodels.synthetic_galaxies import make_galaxy
from observations.fits import ImageError, read_cube
from observations.images import add_target_images
from observations.models import Target, TargetImage
from portal.tenancy import tenant_context


def cube(planes, **header):
    buffer = io.BytesIO()
    fits.PrimaryHDU(np.asarray(planes, dtype=np.float32), fits.Header(header)).writeto(buffer)
    return buffer.getvalue()


def stored_files(tenant):
    folder = Path(default_storage.location) / "target-images" / str(tenant.pk)
    return sorted(path.name for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


@pytest.fixture
def galaxy_target(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        yield tenant, Target.objects.create(tenant=tenant, name="NGC 4414", ra_deg=186.6129, dec_deg=31.2233,
                                            kind="galaxy")  # fmt: skip


def test_a_colour_image_is_stored_with_its_preview_and_only_once(galaxy_target):
    tenant, target = galaxy_target
    data = make_galaxy(7, "spiral").fits_bytes()
    [image] = add_target_images(tenant, [(target, data, "upload")])
    assert image.bands == ["g", "r", "z"] and (image.width_px, image.height_px) == (64, 64)
    assert image.pixel_scale_arcsec == pytest.approx(0.262)
    with image.preview.open("rb") as png:
        preview = Image.open(png)
        assert preview.mode == "RGB" and preview.size == (64, 64)
        assert np.asarray(preview).std() > 5, "the galaxy shows, not a flat square"
    [again] = add_target_images(tenant, [(target, data, "upload again")])
    assert again.pk == image.pk and TargetImage.objects.filter(target=target).count() == 1
    assert len(stored_files(tenant)) == 2


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"SIMPLE  = nonsense", "not a readable FITS file"),
        (cube(np.ones((3, 32, 32)), BANDS="g,r"), r"BANDS names 2 band\(s\) \(g, r\) but the cube has 3 plane\(s\)"),
        (cube(np.ones((3, 32, 32))), "planes are not named"),
        (cube(np.ones((3, 4, 4)), BANDS="g,r,z"), "4×4 px is too small"),
        (cube(np.full((1, 32, 32), np.nan), FILTER="r"), "every pixel is NaN"),
        (make_galaxy(2).fits_bytes()[:20_000], "not a readable FITS file"),
    ],
    ids=["not-fits", "bands-mismatch", "unnamed", "tiny", "all-nan", "cut-short"],
)
def test_an_unusable_image_is_refused_with_the_reason_and_nothing_is_kept(galaxy_target, data, reason):
    tenant, target = galaxy_target
    good = make_galaxy(1).fits_bytes()
    with pytest.raises(ImageError, match=reason):
        add_target_images(tenant, [(target, good, "fine"), (target, data, "broken")])
    assert not TargetImage.objects.filter(target=target).exists(), "all or nothing: the good one is not kept either"
    assert stored_files(tenant) == []


def test_the_target_page_shows_the_image_and_only_members_who_may_see_the_target_get_it(client, tenant_factory):
    tenant, users = tenant_factory(sites=[])
    other, other_users = tenant_factory(sites=[])
    with tenant_context(tenant):
        shared = Target.objects.create(tenant=tenant, name="M51", ra_deg=202.47, dec_deg=47.2, visibility="public")
        own = Target.objects.create(tenant=tenant, name="ARS J1", ra_deg=202.5, dec_deg=47.3, visibility="tenant")
        public_image, own_image = add_target_images(
            tenant, [(shared, make_galaxy(1).fits_bytes(), "survey"), (own, make_galaxy(2).fits_bytes(), "survey")]
        )
    client.force_login(users["admin"])
    page = client.get(f"/t/{tenant.slug}/targets/{shared.pk}/")
    assert 'id="morphology"' in page.text and "g r z · 64×64 px at 0.262″ · survey" in page.text
    assert "Not classified yet" in page.text and f"/targets/{shared.pk}/similar/" in page.text
    png = client.get(f"/t/{tenant.slug}/target-images/{own_image.pk}/png/")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    cube_file = client.get(f"/t/{tenant.slug}/target-images/{own_image.pk}/fits/")
    assert fits.getdata(io.BytesIO(b"".join(cube_file.streaming_content))).shape == (3, 64, 64)
    client.force_login(other_users["admin"])
    assert client.get(f"/t/{other.slug}/target-images/{public_image.pk}/png/").status_code == 200
    assert client.get(f"/t/{other.slug}/target-images/{own_image.pk}/png/").status_code == 404
    with tenant_context(other):
        assert list(TargetImage.objects.values_list("pk", flat=True)) == [public_image.pk]


def _fits_bytes(hdus):
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()


def _layouts(planes):
    header = fits.Header({"BANDS": "g,r,z", "PIXSCALE": 0.262})
    scaled = fits.PrimaryHDU(planes.astype(np.float32), header.copy())
    scaled.scale("int16", bscale=1.0, bzero=32768.0)
    return {
        "float32 primary": _fits_bytes([fits.PrimaryHDU(planes.astype(np.float32), header.copy())]),
        "float64 primary": _fits_bytes([fits.PrimaryHDU(planes.astype(np.float64), header.copy())]),
        "scaled integers": _fits_bytes([scaled]),
        "image extension": _fits_bytes([fits.PrimaryHDU(), fits.ImageHDU(planes.astype(np.float32), header.copy())]),
        "tile-compressed": _fits_bytes(
            [fits.PrimaryHDU(), fits.CompImageHDU(planes.astype(np.float32), header.copy(), quantize_level=0)]
        ),  # fmt: skip
    }


@pytest.mark.parametrize("layout", ["float32 primary", "float64 primary", "scaled integers", "image extension",
                                    "tile-compressed"])  # fmt: skip
def test_an_image_reads_as_the_same_pixels_and_bands_however_the_file_is_laid_out(layout):
    planes = np.random.default_rng(3).integers(0, 30_000, (3, 20, 24)).astype(np.float32)
    data, bands, scale = read_cube(_layouts(planes)[layout])
    assert data.dtype == np.float32 and data.shape == (3, 20, 24)
    assert np.array_equal(data, planes), "pixel values survive the file's layout"
    assert bands == ["g", "r", "z"] and scale == pytest.approx(0.262)
