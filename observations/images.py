"""Colour images of targets: FITS cubes (band, y, x) kept with a colour PNG for pages, and
handed to the morphology models once they are committed."""

import hashlib
import io
import warnings
import zlib
from collections import Counter

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.visualization import make_lupton_rgb
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from .fits_headers import FrameRejected
from .fits_layout import check_structure, simple_is_true
from .models import TargetImage
from .signals import images_added

MIN_SIDE_PX = 8
STAMP_MAX_BYTES = 4 * 2**20  # a stamp is tens of kB: Rubin's 30×30 px cutouts with two extensions are 35 kB
STAMP_MAX_SIDE_PX = 512  # ZTF's stamps are 63 px a side, Rubin's about 30; a classifier resamples to 64
# Above this limit a gzip file is inflated twice: once counting, keeping nothing, then for real,
# so a refused bomb costs one chunk of memory rather than the limit (a frame's limit is 512 MiB).
COUNT_FIRST_ABOVE = 64 * 2**20
INFLATE_CHUNK = 2**20
GZIP_MAGIC = b"\x1f\x8b"
# How often each reader took its fast path or astropy's: the benchmarks report the share that
# fell back, so a change that sends real inputs down the slow path shows in their figures.
READS = Counter()


class ImageError(ValueError):
    """A file that cannot be a target's colour image; the message says why."""


def read_cube(data):
    """(cube as float32 (band, y, x), band names, pixel scale in arcsec or None) of a FITS image.

    The bands come from BANDS (comma-separated, one per plane) or, for a single plane,
    FILTER; a cube whose planes are not named cannot be matched to a model's bands.
    """
    cube, header = read_pixels(data)
    if cube.ndim == 2:
        cube = cube[None]
    if "BANDS" in header:
        bands = [band.strip() for band in str(header["BANDS"]).split(",") if band.strip()]
    elif cube.shape[0] == 1 and header.get("FILTER"):
        bands = [str(header["FILTER"]).strip()]
    else:
        raise ImageError("the cube's planes are not named: give BANDS (e.g. 'g,r,z'), or FILTER for one plane")
    if len(bands) != cube.shape[0]:
        raise ImageError(f"BANDS names {len(bands)} band(s) ({', '.join(bands)}) but the cube has {cube.shape[0]} "
                         "plane(s)")  # fmt: skip
    if min(cube.shape[1:]) < MIN_SIDE_PX:
        raise ImageError(f"{cube.shape[2]}×{cube.shape[1]} px is too small; at least {MIN_SIDE_PX} px a side")
    if not np.isfinite(cube).any():
        raise ImageError("every pixel is NaN or infinite")
    scale = header.get("PIXSCALE")
    return cube, bands, float(scale) if scale else None


def read_pixels(data, *, header=True):
    """(float32 array, header) of a FITS file's first image, however the file is laid out.
    ``header=False`` is for callers that only want the pixels (the header may then be None):
    a plain file's header is then only scanned for its layout, not parsed."""
    try:
        plain = _plain_primary_image(data, header)
        READS["pixels fast" if plain else "pixels astropy"] += 1
        return plain or _first_image(data)
    except (OSError, ValueError, TypeError) as error:
        if isinstance(error, ImageError):
            raise
        raise ImageError(f"not a readable FITS file ({error})") from error


def inflate_fits(data, *, limit=STAMP_MAX_BYTES):
    """A stamp's FITS bytes, whether it came gzipped (as ZTF sends them) or plain (as Rubin
    does), inflated no further than ``limit``: a few hundred bytes of gzip can claim
    gigabytes, and a stream is untrusted input."""
    data = bytes(data)
    if len(data) > limit:
        raise ImageError(f"{len(data):,} bytes is more than the limit of {limit:,} bytes")
    if not data.startswith(GZIP_MAGIC):
        return data
    if limit > COUNT_FIRST_ABOVE:
        _check_inflated_size(data, limit)
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
    try:
        inflated = inflater.decompress(data, limit + 1)
    except zlib.error as error:
        raise ImageError(f"the gzip stream is corrupt ({error})") from None
    if len(inflated) > limit:
        raise ImageError(_bomb(limit))
    if not inflater.eof:
        raise ImageError("the gzip stream is cut short")
    return inflated


def _bomb(limit):
    return f"it inflates to more than {limit:,} bytes, the limit: refused as a gzip bomb"


def _check_inflated_size(data, limit):
    """Inflate ``data`` a chunk at a time, keeping nothing, and refuse it once it passes ``limit``."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    size, pending = 0, data
    try:
        while pending and not inflater.eof:
            size += len(inflater.decompress(pending, INFLATE_CHUNK))
            if size > limit:
                raise ImageError(_bomb(limit))
            pending = inflater.unconsumed_tail
    except zlib.error as error:
        raise ImageError(f"the gzip stream is corrupt ({error})") from None


def check_stamp(data):
    """Refuse a stamp whose header claims more than ``STAMP_MAX_SIDE_PX`` a side (a few bytes of
    header can claim an image no classifier should allocate), or one that is not whole FITS
    (cut short, a corrupt layout card, a bogus BITPIX), so it is refused on arrival rather
    than when the classifier reads it. A file that does not start as the standard says is left
    to astropy, which ``is_fits`` has already asked."""
    cards = range(0, min(len(data), 2880 * 20), 80)
    end = next((offset for offset in cards if data[offset : offset + 8] == b"END     "), None)
    layout = _layout_cards(data, end) if end is not None else None
    sides = [(layout or {}).get(f"NAXIS{axis}", 0) for axis in (1, 2)]
    if max(sides) > STAMP_MAX_SIDE_PX or (layout or {}).get("NAXIS3", 1) > 16:
        raise ImageError(f"the stamp is {sides[0]:,}×{sides[1]:,} px; the limit is {STAMP_MAX_SIDE_PX} px a side")
    if simple_is_true(data):
        try:
            check_structure(data)
        except FrameRejected as error:
            raise ImageError(str(error)) from None


def is_fits(data):
    """Whether ``data`` is a FITS file: a glance at its first card where that settles it (the
    standard's fixed format, or the free format ZTF writes, ``SIMPLE  =  T``), else whatever
    astropy can read as one: a file astropy reads is never refused."""
    if simple_is_true(data):
        READS["header fast"] += 1
        return True
    READS["header astropy"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VerifyWarning)  # what is non-standard is no reason to refuse
            with fits.open(io.BytesIO(data)) as hdul:
                hdul[0].header  # noqa: B018  (lazy: this reads the primary header)
    except (OSError, ValueError, TypeError, IndexError):
        return False
    return True


def _first_image(data):
    """(float32 array, header) of the first HDU holding a 2-D image or a cube: extensions,
    tile compression, scaled integers, everything astropy reads."""
    with fits.open(io.BytesIO(data)) as hdul:
        hdu = next((h for h in hdul if h.is_image and h.data is not None and h.data.ndim in (2, 3)), None)
        if hdu is None:
            raise ImageError("the file holds no 2-D image or (band, y, x) cube")
        return np.asarray(hdu.data, dtype=np.float32), hdu.header


PLAIN_DTYPES = {-32: ">f4", -64: ">f8", 16: ">i2", 32: ">i4"}


def _plain_primary_image(data, with_header=True):
    """(float32 array, header) of a file whose primary HDU is an unscaled image (what the
    portal writes and most cutout services send), or None for anything else. Scanning only
    the cards that give the layout and viewing the data in place takes a fraction of the time
    astropy's HDU reader does, and the gpu workers read an image for every one they classify
    (three stamps an alert); the header is parsed only for callers that want it."""
    if not simple_is_true(data):
        return None
    cards = range(0, min(len(data), 2880 * 20), 80)
    end = next((offset for offset in cards if data[offset : offset + 8] == b"END     "), None)
    if end is None:
        return None
    layout = _layout_cards(data, end)
    if layout is None or layout.keys() & {"BSCALE", "BZERO", "BLANK"}:
        return None
    dtype, axes = PLAIN_DTYPES.get(layout.get("BITPIX")), layout.get("NAXIS")
    if dtype is None or axes not in (2, 3):
        return None
    shape = tuple(layout.get(f"NAXIS{axis}", 0) for axis in range(axes, 0, -1))
    start, count = -(-(end + 80) // 2880) * 2880, int(np.prod(shape))
    if count == 0 or len(data) < start + count * np.dtype(dtype).itemsize:
        return None  # astropy's reader names what is wrong
    pixels = np.frombuffer(data, dtype=dtype, count=count, offset=start).reshape(shape).astype(np.float32)
    return pixels, fits.Header.fromstring(data[: end + 80].decode("ascii")) if with_header else None


LAYOUT_KEYWORDS = {b"BITPIX", b"NAXIS", b"NAXIS1", b"NAXIS2", b"NAXIS3", b"BSCALE", b"BZERO", b"BLANK"}


def _layout_cards(data, end):
    """{keyword: integer value} of the cards before ``end`` that say how the data lie (the
    first of each; BSCALE, BZERO and BLANK only by their presence), or None when one of them
    is not a plain integer and astropy's reader should have the file."""
    layout = {}
    for offset in range(0, end, 80):
        keyword = data[offset : offset + 8].rstrip()
        if keyword in LAYOUT_KEYWORDS and data[offset + 8 : offset + 10] == b"= ":
            name = keyword.decode()
            if name in layout:
                continue
            if name in ("BSCALE", "BZERO", "BLANK"):
                layout[name] = None
                continue
            try:
                layout[name] = int(data[offset + 10 : offset + 80].split(b"/", 1)[0])
            except ValueError:
                return None
    return layout


def colour_png(cube):
    """A Lupton asinh colour composite (bluest plane blue, reddest red), north up."""
    planes = np.nan_to_num(cube, nan=0.0)
    blue, green, red = planes[0], planes[len(planes) // 2], planes[-1]
    stretch = max(float(np.percentile(planes, 99.5)) / 2, 1e-6)
    rgb = make_lupton_rgb(red, green, blue, minimum=0, stretch=stretch, Q=8)
    buffer = io.BytesIO()
    Image.fromarray(rgb[::-1]).save(buffer, format="PNG")
    return buffer.getvalue()


def add_target_images(tenant, items, *, site=None):
    """Store (target, FITS bytes, source) items as the targets' colour images, all or none,
    and queue them for the morphology models. An image a target already has is not stored
    twice. Returns the images, new and already there, in the order given."""
    images, stored = [], []
    try:
        with transaction.atomic():
            for target, data, source in items:
                cube, bands, scale = read_cube(data)
                digest = hashlib.sha256(data).hexdigest()
                image = TargetImage.objects.filter(target=target, sha256=digest).first()
                if image is None:
                    image = TargetImage(tenant=tenant, target=target, sha256=digest, bands=bands, site=site,
                                        width_px=cube.shape[2], height_px=cube.shape[1], pixel_scale_arcsec=scale,
                                        source=source)  # fmt: skip
                    image.file.save("image.fits", ContentFile(data), save=False)
                    stored.append(image.file)
                    image.preview.save("image.png", ContentFile(colour_png(cube)), save=False)
                    stored.append(image.preview)
                    image.save()
                images.append(image)
            images_added.send(TargetImage, tenant=tenant, images=images)
    except BaseException:
        for file in stored:
            file.storage.delete(file.name)
        raise
    return images
