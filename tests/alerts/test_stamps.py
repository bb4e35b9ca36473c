"""Alert stamps as real pipelines write them: every header the FITS standard allows is read to
the same pixels astropy reads (the fast path where it applies, astropy's reader otherwise),
gzipped or plain, and a stamp that would inflate past any real one is refused by name."""

import gzip
import io
from pathlib import Path

import fastavro
import numpy as np
import pytest
from astropy.io import fits

from alerts.features import AlertInputError, stamp_triplet
from alerts.packets import PacketRefused, read_packet
from observations.fits import READS, ImageError, inflate_fits, is_fits, read_pixels

REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "alerts"
PIXELS = np.arange(63, dtype=np.float32).reshape(7, 9) * 1.5 - 20  # not square: a misread shape shows


def real_stamps():
    """(file, stamp field, bytes as sent) of every stamp in the real corpus."""
    for path in sorted(REAL.glob("*.avro")):
        with path.open("rb") as avro:
            for record in fastavro.reader(avro):
                for field in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
                    value = record.get(field)
                    data = value.get("stampData") if isinstance(value, dict) else value
                    if data is not None:
                        yield pytest.param(data, id=f"{path.stem}-{field}")


def astropy_pixels(data):
    with fits.open(io.BytesIO(data)) as hdul:
        hdu = next(h for h in hdul if h.is_image and h.data is not None)
        return np.asarray(hdu.data, dtype=np.float32)


@pytest.mark.parametrize("stamp", real_stamps())
def test_every_real_stamp_reads_to_astropys_pixels_on_the_fast_path(stamp):
    data = inflate_fits(stamp)
    before = READS["pixels fast"]
    pixels, header = read_pixels(data)
    assert READS["pixels fast"] == before + 1, "ZTF's free-format and Rubin's fixed-format headers are both plain"
    np.testing.assert_array_equal(pixels, astropy_pixels(data))
    assert header["NAXIS1"] == pixels.shape[1] and is_fits(data)


def card(text):
    return text.ljust(80).encode("ascii")


def fits_file(cards, pixels=PIXELS, dtype=">f4"):
    """A FITS file written card by card, as a pipeline's own writer would."""
    header = b"".join(card(text) for text in [*cards, "END"])
    header += b" " * (-len(header) % 2880)
    data = pixels.astype(dtype).tobytes()
    return header + data + bytes(-len(data) % 2880)


FREE = ["SIMPLE  =  T", "BITPIX  = -32 / IEEE single", "NAXIS   = 2", "NAXIS1  = 9 / columns", "NAXIS2  =  7"]
FIXED = [f"{'SIMPLE':8}= {'T':>20}", f"{'BITPIX':8}= {-32:>20}", f"{'NAXIS':8}= {2:>20}", f"{'NAXIS1':8}= {9:>20}",
         f"{'NAXIS2':8}= {7:>20}"]  # fmt: skip
EXTRAS = [
    "OBJECT  = 'a very long value that goes on &'", "CONTINUE  'and on, over two cards'",
    "HIERARCH ESO DET CHIP NAXIS1 = 2048 / a hierarchical keyword that names NAXIS1",
    "", "COMMENT NAXIS1  = 99 is only a comment", "", "HISTORY written card by card",
]  # fmt: skip


def in_an_extension():
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(PIXELS, name="sci")]).writeto(buffer)
    return buffer.getvalue()


FILES = {
    "fixed format": (fits_file(FIXED), "fast"),
    "free format, as ZTF writes": (fits_file(FREE), "fast"),
    "free format with CONTINUE, HIERARCH, COMMENT and blank cards": (fits_file([*FREE, *EXTRAS]), "fast"),
    "fixed format with the extras": (fits_file([*FIXED, *EXTRAS]), "fast"),
    "scaled (BSCALE/BZERO)": (fits_file([*FREE, "BSCALE  = 1.0", "BZERO   = 0.0"]), "astropy"),
    "the image in an extension": (in_an_extension(), "astropy"),
}


@pytest.mark.parametrize("name", FILES)
def test_a_header_the_standard_allows_reads_to_the_pixels_astropy_reads_and_the_fast_path_never_misreads(name):
    data, path = FILES[name]
    before = READS[f"pixels {path}"]
    pixels, header = read_pixels(data)
    assert READS[f"pixels {path}"] == before + 1
    np.testing.assert_array_equal(pixels, astropy_pixels(data))
    np.testing.assert_array_equal(pixels, PIXELS)
    assert header["NAXIS1"] == 9 and is_fits(data)
    np.testing.assert_array_equal(read_pixels(inflate_fits(gzip.compress(data)), header=False)[0], PIXELS)


def real_packet(name="ztf-3.3-ZTF17aaajnnn.avro"):
    with (REAL / name).open("rb") as avro:
        return next(fastavro.reader(avro))


def test_a_stamp_astropy_reads_is_accepted_even_where_the_fast_check_does_not_cover_it():
    nonstandard = fits_file(["SIMPLE  =                    F", "BITPIX  = -32", "NAXIS   = 2", "NAXIS1  = 9",
                             "NAXIS2  = 7"])  # fmt: skip
    before = READS["header astropy"]
    packet = real_packet()
    packet["cutoutScience"]["stampData"] = gzip.compress(nonstandard)
    assert read_packet(packet).stamps["science"] == packet["cutoutScience"]["stampData"], "stored as sent"
    assert READS["header astropy"] == before + 1


def test_plain_fits_stamps_are_stored_gzipped_and_read_back_to_the_same_pixels():
    packet = real_packet("rubin-9.0-169298432598474839-negative.avro")
    stamps = read_packet(packet).stamps
    for name, field in (("science", "cutoutScience"), ("difference", "cutoutDifference")):
        assert stamps[name][:2] == b"\x1f\x8b"
        np.testing.assert_array_equal(read_pixels(inflate_fits(stamps[name]))[0], astropy_pixels(packet[field]))


def test_a_gzip_bomb_is_refused_at_ingest_and_by_the_classifier_without_inflating_it():
    bomb = gzip.compress(fits_file(FREE) + bytes(64 * 2**20), compresslevel=9)
    assert len(bomb) < 100_000
    packet = real_packet()
    packet["cutoutDifference"]["stampData"] = bomb
    refusal = "cutoutDifference: the stamp cannot be read: it inflates to more than 4,194,304 bytes.*gzip bomb"
    with pytest.raises(PacketRefused, match=refusal):
        read_packet(packet)
    with pytest.raises(ImageError, match="gzip bomb"):
        inflate_fits(bomb)
    science = gzip.compress(fits_file(FREE))
    with pytest.raises(AlertInputError, match="the difference stamp cannot be read .*gzip bomb"):
        stamp_triplet(science, science, bomb)


def test_the_classifier_reads_plain_and_gzipped_stamps_and_says_which_are_missing():
    plain = fits_file(FREE)
    triplet = stamp_triplet(plain, gzip.compress(plain), plain, size=15)
    assert triplet.shape == (3, 15, 15) and np.isfinite(triplet).all()
    with pytest.raises(AlertInputError, match="^no stamps$"):
        stamp_triplet(b"", b"", b"")
    with pytest.raises(AlertInputError, match="^no template stamp$"):
        stamp_triplet(plain, memoryview(b""), plain)
