"""FITS bytes decoded: the one reader of frames, target images and alert stamps.

Each reader has a fast path for the files it sees most (an unscaled image in the primary HDU,
laid out as the standard says) and falls back to astropy for everything else the standard
allows: a file astropy reads is never refused. Before astropy is given a frame, its headers
are walked — each a run of 2880-byte blocks ending in an END card, followed by as many data
bytes as BITPIX, NAXISn, PCOUNT and GCOUNT say — because astropy answers a file that is not
FITS, or one cut short, with errors about its own internals ("'NoneType' object has no
attribute…"); the walk costs a few header blocks and lets a refusal say what is wrong in the
file's own terms. Both the walk and the fast path read the cards they need with one scanner.
"""

import io
import math
import warnings
import zlib
from collections import Counter
from contextlib import contextmanager

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.utils.exceptions import AstropyWarning


class FrameRejected(ValueError):
    """The file cannot become a frame; the message is the reason shown to the user."""


class ImageError(ValueError):
    """A file that cannot be a target's colour image or an alert's stamp; the message says why."""


BLOCK = 2880
CARD = 80
BITPIX = (8, 16, 32, 64, -32, -64)  # the only values the standard allows
# The first bytes of files that are sent instead of FITS, to name them in a refusal.
MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
         (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a zip archive"), (b"BZh", "a bzip2 archive"),
         (b"\xfd7zXZ", "an xz archive"), (b"Obj\x01", "an Avro file"), (b"\x89HDF", "an HDF5 file"),
         (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
         (b"\x1f\x9d", "a Unix-compressed (.Z) file"))  # fmt: skip
GZIP_MAGIC = b"\x1f\x8b"
MIN_SIDE_PX = 8
STAMP_MAX_BYTES = 4 * 2**20  # a stamp is tens of kB: Rubin's 30×30 px cutouts with two extensions are 35 kB
STAMP_MAX_SIDE_PX = 512  # ZTF's stamps are 63 px a side, Rubin's about 30; a classifier resamples to 64
FAST_HEADER_BLOCKS = 20  # the fast path looks for the END card this far; longer headers go to astropy
# Above this limit a gzip file is inflated twice: once counting, keeping nothing, then for real,
# so a refused bomb costs one chunk of memory rather than the limit (a frame's limit is 512 MiB).
COUNT_FIRST_ABOVE = 64 * 2**20
INFLATE_CHUNK = 2**20
PLAIN_DTYPES = {-32: ">f4", -64: ">f8", 16: ">i2", 32: ">i4"}
SIZE_KEYWORDS = {"BITPIX", "NAXIS", "PCOUNT", "GCOUNT"}
PLAIN_KEYWORDS = {"BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "BSCALE", "BZERO", "BLANK"}
SCALING_KEYWORDS = {"BSCALE", "BZERO", "BLANK"}
# How often each reader took its fast path or astropy's: the benchmarks report the share that
# fell back, so a change that sends real inputs down the slow path shows in their figures.
READS = Counter()


# ---- the cards ---------------------------------------------------------------------------------


def simple_is_true(data):
    """``SIMPLE = T`` in the first card, the value fixed (column 30) or free (anywhere in columns
    11-80, a comment after a slash): how every FITS file starts."""
    return data[:10] == b"SIMPLE  = " and data[10:80].split(b"/", 1)[0].strip() == b"T"


def _end_card(data, offset=0, stop=None):
    """Offset of the END card of the header starting at ``offset`` (looked for before ``stop``,
    by default anywhere in the file), or None."""
    stop = len(data) - CARD + 1 if stop is None else stop
    for card in range(offset, stop, CARD):
        if data[card : card + 8] == b"END     ":
            return card
    return None


def _scan(data, offset, end, wanted, *, assigned):
    """{keyword: value bytes before any comment} of the first card of each keyword that
    ``wanted(keyword)`` accepts between ``offset`` and ``end``, in the order they come;
    ``assigned`` skips cards without the value indicator ('= ' in columns 9-10)."""
    cards = {}
    for card in range(offset, end, CARD):
        keyword = data[card : card + 8].decode("ascii", "replace").rstrip()
        if keyword in cards or not wanted(keyword):
            continue
        if assigned and data[card + 8 : card + 10] != b"= ":
            continue
        cards[keyword] = data[card + 10 : card + CARD].split(b"/", 1)[0]
    return cards


def _sizes(data, offset, end):
    """{keyword: int} of the cards that size an HDU's data (free-format values included)."""
    cards = {}
    for name, value in _scan(data, offset, end, _sizes_data, assigned=False).items():
        value = value.strip()
        try:
            cards[name] = int(value)
        except ValueError:
            raise FrameRejected(f"{name} = {value.decode('ascii', 'replace')!r} is not an integer; the "
                                "header is corrupt") from None  # fmt: skip
    return cards


def _sizes_data(keyword):
    return keyword in SIZE_KEYWORDS or keyword.startswith("NAXIS")


def _plain_layout(data, end):
    """{keyword: integer value} of the primary header's cards that say how the data lie (BSCALE,
    BZERO and BLANK only by their presence), or None when one of them is not a plain integer and
    astropy's reader should have the file."""
    layout = {}
    for name, value in _scan(data, 0, end, PLAIN_KEYWORDS.__contains__, assigned=True).items():
        if name in SCALING_KEYWORDS:
            layout[name] = None
            continue
        try:
            layout[name] = int(value)
        except ValueError:
            return None
    return layout


def _data_bytes(cards):
    axes = cards.get("NAXIS", 0)
    lengths = [cards.get(f"NAXIS{axis}", 0) for axis in range(1, axes + 1)]
    if axes and lengths[0] == 0 and cards.get("GCOUNT", 1) > 1:  # random groups: NAXIS1 = 0 means none
        lengths = lengths[1:]
    if not axes:
        return 0
    elements = math.prod(lengths) + cards.get("PCOUNT", 0)
    return abs(cards.get("BITPIX", 8)) // 8 * cards.get("GCOUNT", 1) * elements


# ---- whole files -------------------------------------------------------------------------------


def check_structure(data):
    """Refuse bytes that are not FITS, or a FITS file cut short, naming what is missing; returns
    the number of HDUs."""
    if not data:
        raise FrameRejected("the file is empty (0 bytes)")
    if not simple_is_true(data):
        raise FrameRejected(f"not a FITS file: it starts with {_first_bytes(data)}; a FITS file starts with "
                            "'SIMPLE  =                    T'")  # fmt: skip
    offset, count = 0, 0
    while offset < len(data):
        if count and not data.startswith(b"XTENSION", offset):
            break  # what follows the last HDU (padding, a trailer some writers add) is not read
        end = _end_card(data, offset)
        if end is None:
            where = "primary header" if count == 0 else f"header of HDU {count}"
            raise FrameRejected(f"truncated: the {where} has no END card; the file ends after {len(data)} bytes")
        cards = _sizes(data, offset, end)
        if cards.get("BITPIX", 8) not in BITPIX:
            raise FrameRejected(f"BITPIX = {cards['BITPIX']} in HDU {count} is not one of "
                                f"{', '.join(map(str, BITPIX))}; the header is corrupt")  # fmt: skip
        start = offset + math.ceil((end + CARD - offset) / BLOCK) * BLOCK
        size = _data_bytes(cards)
        if start + size > len(data):
            have = max(len(data) - start, 0)
            raise FrameRejected(f"truncated: HDU {count}'s header says {size:,} bytes of data, the file has "
                                f"{have:,}; the file was cut short (copy it again)")  # fmt: skip
        offset = start + math.ceil(size / BLOCK) * BLOCK
        count += 1
    return count


def _first_bytes(data):
    kind = next((name for magic, name in MAGIC if data.startswith(magic)), None)
    shown = repr(bytes(data[:16]))
    return f"{shown} ({kind})" if kind else shown


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


# ---- frames ------------------------------------------------------------------------------------


@contextmanager
def frame_hdus(data, *, limit):
    """(HDUList, HDU index, 2-D float32 image) of a frame's bytes (gzipped or not), open for the
    caller to read headers and WCS from, astropy's warnings about non-standard cards silenced;
    or FrameRejected naming what is wrong with the file."""
    if data[:2] == GZIP_MAGIC:  # gzip: astropy reads it from paths, not from bytes
        try:
            data = inflate_fits(data, limit=limit)
        except ImageError as error:
            raise FrameRejected(f"the gzip file cannot be inflated: {error}") from error
    check_structure(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        try:
            # Straight from the bytes: fits.open on a BytesIO copies the whole file twice more.
            hdul = fits.HDUList.fromstring(data)
        except Exception as error:  # the walk above found the layout sound; astropy names what else is wrong
            raise FrameRejected(f"not a readable FITS file ({error})") from error
        with hdul:
            index, image = choose_image(hdul)
            yield hdul, index, image


def choose_image(hdul):
    """(HDU index, 2-D float32 pixels) of the first image HDU that is 2-D once axes of length 1
    are dropped (radio maps are (1, 1, y, x)); tile-compressed HDUs are images like the rest.
    Otherwise a refusal that lists what the file holds instead.

    Float32 pixels stay as the file has them, big-endian and read-only in place: the preview
    reads every pixel once (swapping as it sums) and photometry a few boxes, so a native copy
    of the whole image would be a pass over the file and 16 MB of fresh memory for nothing."""
    seen = []
    for index, hdu in enumerate(hdul):
        if not hdu.is_image:
            rows = hdu.header.get("NAXIS2", 0)
            seen.append(f"HDU {index}: a table of {rows} row{'' if rows == 1 else 's'}")
            continue
        shape = [hdu.header.get(f"NAXIS{axis}", 0) for axis in range(1, hdu.header.get("NAXIS", 0) + 1)]
        if not shape or 0 in shape:
            seen.append(f"HDU {index}: no pixels" + (f" ({' × '.join(map(str, shape))} px)" if shape else ""))
            continue
        try:
            pixels = hdu.data
        except Exception as error:
            raise FrameRejected(f"the data of HDU {index} cannot be read ({error})") from error
        planes = [length for length in pixels.shape[:-2] if length != 1]
        if pixels.ndim >= 2 and not planes:
            pixels = pixels.reshape(pixels.shape[-2:])
            return index, pixels if pixels.dtype.newbyteorder("=") == np.float32 else pixels.astype(np.float32)
        if pixels.ndim == 1:
            seen.append(f"HDU {index}: a 1-D array of {pixels.shape[0]} values (a spectrum?)")
        else:
            seen.append(f"HDU {index}: a {pixels.ndim}-D cube of {' × '.join(map(str, pixels.shape[::-1]))}")
    if not any(hdu.is_image and hdu.header.get("NAXIS") for hdu in hdul) and len(hdul) == 1:
        raise FrameRejected("no image: the file has only a primary header, with no data (NAXIS = 0) and no extensions")
    raise FrameRejected(f"no 2-D image in the file ({'; '.join(seen)}); a frame is one 2-D image, or a cube whose "
                        "extra axes have length 1")  # fmt: skip


# ---- target images and stamps ------------------------------------------------------------------


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


def check_stamp(data):
    """Refuse a stamp whose header claims more than ``STAMP_MAX_SIDE_PX`` a side (a few bytes of
    header can claim an image no classifier should allocate), or one that is not whole FITS
    (cut short, a corrupt layout card, a bogus BITPIX), so it is refused on arrival rather
    than when the classifier reads it. A file that does not start as the standard says is left
    to astropy, which ``is_fits`` has already asked."""
    end = _end_card(data, 0, min(len(data), BLOCK * FAST_HEADER_BLOCKS))
    layout = _plain_layout(data, end) if end is not None else None
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


def _plain_primary_image(data, with_header=True):
    """(float32 array, header) of a file whose primary HDU is an unscaled image (what the
    portal writes and most cutout services send), or None for anything else. Scanning only
    the cards that give the layout and viewing the data in place takes a fraction of the time
    astropy's HDU reader does, and the gpu workers read an image for every one they classify
    (three stamps an alert); the header is parsed only for callers that want it."""
    if not simple_is_true(data):
        return None
    end = _end_card(data, 0, min(len(data), BLOCK * FAST_HEADER_BLOCKS))
    if end is None:
        return None
    layout = _plain_layout(data, end)
    if layout is None or layout.keys() & SCALING_KEYWORDS:
        return None
    dtype, axes = PLAIN_DTYPES.get(layout.get("BITPIX")), layout.get("NAXIS")
    if dtype is None or axes not in (2, 3):
        return None
    shape = tuple(layout.get(f"NAXIS{axis}", 0) for axis in range(axes, 0, -1))
    start, count = -(-(end + CARD) // BLOCK) * BLOCK, int(np.prod(shape))
    if count == 0 or len(data) < start + count * np.dtype(dtype).itemsize:
        return None  # astropy's reader names what is wrong
    pixels = np.frombuffer(data, dtype=dtype, count=count, offset=start).reshape(shape).astype(np.float32)
    return pixels, fits.Header.fromstring(data[: end + CARD].decode("ascii")) if with_header else None
