"""Whether bytes are a whole FITS file, and which of its HDUs is the frame's image.

astropy's readers answer a file that is not FITS, or one cut short, with errors about their
own internals ("'NoneType' object has no attribute…"). Walking the headers first — each a run
of 2880-byte blocks ending in an END card, followed by as many data bytes as BITPIX, NAXISn,
PCOUNT and GCOUNT say — costs a few header blocks and lets a refusal say what is wrong in the
file's own terms.
"""

import math

import numpy as np

from .fits_headers import FrameRejected

BLOCK = 2880
BITPIX = (8, 16, 32, 64, -32, -64)  # the only values the standard allows
CARD = 80
# The first bytes of files that are sent instead of FITS, to name them in a refusal.
MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
         (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a zip archive"), (b"BZh", "a bzip2 archive"),
         (b"\xfd7zXZ", "an xz archive"), (b"Obj\x01", "an Avro file"), (b"\x89HDF", "an HDF5 file"),
         (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
         (b"\x1f\x9d", "a Unix-compressed (.Z) file"))  # fmt: skip


def simple_is_true(data):
    """``SIMPLE = T`` in the first card, the value fixed (column 30) or free (anywhere in columns
    11-80, a comment after a slash): how every FITS file starts."""
    return data[:10] == b"SIMPLE  = " and data[10:80].split(b"/", 1)[0].strip() == b"T"


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
        cards = _layout(data, offset, end)
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


def _end_card(data, offset):
    """Offset of the END card of the header starting at ``offset``, or None if the file ends first."""
    for card in range(offset, len(data) - CARD + 1, CARD):
        if data[card : card + 8] == b"END     ":
            return card
    return None


def _layout(data, offset, end):
    """{keyword: int} of the cards that size the data (free-format values included)."""
    wanted = {"BITPIX", "NAXIS", "PCOUNT", "GCOUNT"}
    cards = {}
    for card in range(offset, end, CARD):
        keyword = data[card : card + 8].decode("ascii", "replace").rstrip()
        if (keyword in wanted or keyword.startswith("NAXIS")) and keyword not in cards:
            value = data[card + 10 : card + CARD].split(b"/", 1)[0].strip()
            try:
                cards[keyword] = int(value)
            except ValueError:
                raise FrameRejected(f"{keyword} = {value.decode('ascii', 'replace')!r} is not an integer; the "
                                    "header is corrupt") from None  # fmt: skip
    return cards


def _data_bytes(cards):
    axes = cards.get("NAXIS", 0)
    lengths = [cards.get(f"NAXIS{axis}", 0) for axis in range(1, axes + 1)]
    if axes and lengths[0] == 0 and cards.get("GCOUNT", 1) > 1:  # random groups: NAXIS1 = 0 means none
        lengths = lengths[1:]
    if not axes:
        return 0
    elements = math.prod(lengths) + cards.get("PCOUNT", 0)
    return abs(cards.get("BITPIX", 8)) // 8 * cards.get("GCOUNT", 1) * elements


def choose_image(hdul):
    """(HDU index, 2-D float32 pixels) of the first image HDU that is 2-D once axes of length 1
    are dropped (radio maps are (1, 1, y, x)); tile-compressed HDUs are images like the rest.
    Otherwise a refusal that lists what the file holds instead."""
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
            return index, np.asarray(pixels.reshape(pixels.shape[-2:]), dtype=np.float32)
        if pixels.ndim == 1:
            seen.append(f"HDU {index}: a 1-D array of {pixels.shape[0]} values (a spectrum?)")
        else:
            seen.append(f"HDU {index}: a {pixels.ndim}-D cube of {' × '.join(map(str, pixels.shape[::-1]))}")
    if not any(hdu.is_image and hdu.header.get("NAXIS") for hdu in hdul) and len(hdul) == 1:
        raise FrameRejected("no image: the file has only a primary header, with no data (NAXIS = 0) and no extensions")
    raise FrameRejected(f"no 2-D image in the file ({'; '.join(seen)}); a frame is one 2-D image, or a cube whose "
                        "extra axes have length 1")  # fmt: skip
