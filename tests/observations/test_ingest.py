"""Frame ingest: every FITS flavour sites send, and every way a file can be wrong."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import FK4, SkyCoord
from astropy.io import fits
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import override_settings
from PIL import Image

from observations.ingest import ingest_frame, ingest_many
from observations.models import Frame, Photometry
from observations.synthetic import make_frame
from portal.demo import load_site
from tests.observations.conftest import M51, plain, to_bytes


def stored_files():
    root = Path(default_storage.location)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_plain_frame_is_parsed_stored_previewed_and_linked(observatory):
    tenant, user = observatory
    result = ingest_frame(tenant, user, plain(), "tfn1m001-20260314-0042.fits")
    assert result.status == "created", result.reason
    frame = result.frame
    assert frame.telescope.code == "1m0a" and frame.site.code == "tfn" and frame.instrument.code == "sinistro"
    assert frame.filter_name == "r" and frame.exptime_s == 120 and frame.airmass == 1.2
    assert frame.mjd_obs == pytest.approx(61113.92361, abs=1e-4)
    assert frame.has_astrometry and frame.pixel_scale_arcsec == pytest.approx(0.389, rel=1e-6)
    assert frame.ra_center_deg == pytest.approx(M51[0] + 0.005, abs=1e-6)
    assert [link.target.name for link in frame.target_links.all()] == ["M51"]
    link = frame.target_links.get()
    assert 0 <= link.x_px < 256 and 0 <= link.y_px < 256
    assert frame.file.read()[:30].startswith(b"SIMPLE  =")
    preview = np.asarray(Image.open(frame.preview).convert("RGB"))
    assert preview.shape == (256, 256, 3) and (preview == preview[..., :1]).all(), "a grey picture of the frame"
    assert preview.std() > 5, "the sky and its stars show, not a flat square"


@pytest.mark.parametrize("flavour", ["gzip", "fpack", "fpack named .fits", "extension"])
def test_compressed_and_multi_extension_files(observatory, flavour):
    tenant, user = observatory
    hdu = make_frame(ra_deg=M51[0], dec_deg=M51[1], seed=2)
    if flavour == "gzip":
        data, name = gzip.compress(to_bytes([hdu])), "frame.fits.gz"
    elif flavour == "fpack":
        data, name = to_bytes([fits.PrimaryHDU(), fits.CompImageHDU(hdu.data, hdu.header)]), "frame.fits.fz"
    elif flavour == "fpack named .fits":  # tile compression is known by the HDU, not the name
        data, name = to_bytes([fits.PrimaryHDU(), fits.CompImageHDU(hdu.data, hdu.header)]), "frame.fits"
    else:
        data, name = to_bytes([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("x", "E", array=[1.0])]),
                               fits.ImageHDU(hdu.data, hdu.header, name="SCI")]), "frame.fits"  # fmt: skip
    result = ingest_frame(tenant, user, data, name)
    assert result.status == "created", result.reason
    assert result.frame.has_astrometry and result.frame.width_px == 256
    assert result.frame.file.name.endswith(name[name.index(".") :])


def test_a_radio_map_with_degenerate_frequency_and_stokes_axes_is_a_2d_frame_on_the_sky(observatory):
    """Radio images are (Stokes, frequency, y, x) with one plane each (synthetic pixels, the layout
    CASA and AIPS write)."""
    tenant, user = observatory
    hdu = make_frame(ra_deg=M51[0], dec_deg=M51[1], seed=6)
    header = hdu.header.copy()
    for axis, (ctype, crval, cdelt) in ((3, ("FREQ", 1.4e9, 1e6)), (4, ("STOKES", 1.0, 1.0))):
        header[f"CTYPE{axis}"], header[f"CRVAL{axis}"], header[f"CDELT{axis}"], header[f"CRPIX{axis}"] = (
            ctype, crval, cdelt, 1.0)  # fmt: skip
    result = ingest_frame(tenant, user, to_bytes([fits.PrimaryHDU(hdu.data[None, None], header)]), "vla.fits")
    assert result.status == "created", result.reason
    frame = result.frame
    assert (frame.width_px, frame.height_px) == (256, 256) and frame.has_astrometry
    assert (frame.ra_center_deg, frame.dec_center_deg) == pytest.approx(M51, abs=1e-3)
    assert [link.target.name for link in frame.target_links.all()] == ["M51"]


@pytest.mark.parametrize(
    "axes, note",
    [
        (("WAVE", "LINEAR"), "a spectrum: its WCS has a spectral axis (CTYPE1 = 'WAVE' and CTYPE2 = 'LINEAR'), not RA "
                             "and Dec"),
        (("LINEAR", "LINEAR"), "the WCS is not celestial (CTYPE1 = 'LINEAR' and CTYPE2 = 'LINEAR')"),
        (("RA---TAN", "VRAD"), "a spectrum: its WCS has a spectral axis (CTYPE1 = 'RA---TAN' and CTYPE2 = 'VRAD'), "
                               "not RA and Dec"),
        (("RA---TAN", "GLAT-TAN"), "the WCS cannot be used (Inconsistent projection types (expected DEC--TAN, got "
                                   "GLAT-TAN in CTYPE2).)"),
    ],
)  # fmt: skip
def test_an_image_whose_axes_are_not_ra_and_dec_is_kept_off_the_sky_with_the_reason(observatory, axes, note):
    tenant, user = observatory
    frame = ingest_frame(tenant, user, _with({"CTYPE1": axes[0], "CTYPE2": axes[1]}), "odd.fits").frame
    assert not frame.has_astrometry and frame.target_links.count() == 0 and frame.astrometry_note == note


@pytest.mark.parametrize("system", ["galactic", "fk4"])
def test_a_wcs_in_galactic_or_b1950_coordinates_is_placed_in_icrs(observatory, system):
    """Radio and older optical images are written in Galactic or FK4 B1950 coordinates; the
    frame's position, footprint and targets are ICRS all the same."""
    tenant, user = observatory
    hdu = make_frame(ra_deg=M51[0], dec_deg=M51[1], seed=8)
    m51 = SkyCoord(*M51, unit="deg")
    if system == "galactic":
        native = m51.galactic
        hdu.header.update({"CTYPE1": "GLON-TAN", "CTYPE2": "GLAT-TAN", "CRVAL1": native.l.deg, "CRVAL2": native.b.deg})
        del hdu.header["RADESYS"]
    else:
        native = m51.transform_to(FK4(equinox="B1950"))
        hdu.header.update({"RADESYS": "FK4", "EQUINOX": 1950.0, "CRVAL1": native.ra.deg, "CRVAL2": native.dec.deg})
    frame = ingest_frame(tenant, user, to_bytes([hdu]), f"{system}.fits").frame
    assert frame.has_astrometry
    assert SkyCoord(frame.ra_center_deg, frame.dec_center_deg, unit="deg").separation(m51).arcsec < 1
    link = frame.target_links.get(target__name="M51")
    assert (link.x_px, link.y_px) == pytest.approx((127.5, 127.5), abs=0.05)
    corners = SkyCoord([ra for ra, _ in frame.footprint], [dec for _, dec in frame.footprint], unit="deg")
    assert all(abs(corner.separation(m51).arcsec - 128 * 0.389 * 2**0.5) < 1 for corner in corners)


def test_same_file_twice_is_one_frame(observatory):
    tenant, user = observatory
    data = plain()
    first = ingest_frame(tenant, user, data, "a.fits")
    second = ingest_frame(tenant, user, data, "copy-of-a.fits")
    assert second.status == "duplicate" and second.frame.pk == first.frame.pk and "a.fits" in second.reason
    assert Frame.objects.count() == 1


def test_frame_without_wcs_is_kept_without_astrometry_and_not_linked(observatory):
    tenant, user = observatory
    result = ingest_frame(tenant, user, to_bytes([make_frame(ra_deg=M51[0], dec_deg=M51[1], with_wcs=False)]), "x.fits")
    assert result.status == "created" and not result.frame.has_astrometry
    assert result.frame.target_links.count() == 0


def _with(header_changes=None, data=None):
    hdu = make_frame(ra_deg=M51[0], dec_deg=M51[1], seed=3)
    for key, value in (header_changes or {}).items():
        if value is None:
            del hdu.header[key]
        else:
            hdu.header[key] = value
    if data is not None:
        hdu.data = data
    return to_bytes([hdu])


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"SIMPLE  = this is a text file pretending", "not a FITS file: it starts with b'SIMPLE  = this i'"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 3000, "not a FITS file: it starts with b'\\x89PNG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 3000, "(a PNG image); a FITS file starts with 'SIMPLE  ="),
        (b"", "the file is empty (0 bytes)"),
        (plain()[:9000], "truncated: HDU 0's header says 262,144 bytes of data, the file has 6,120"),
        (plain()[:1000], "truncated: the primary header has no END card"),
        (gzip.compress(plain())[:4000], "the gzip file cannot be inflated: the gzip stream is cut short"),
        (plain().replace(b"NAXIS1  =                  256", b"NAXIS1  =                  2x6"),
         "NAXIS1 = '2x6' is not an integer; the header is corrupt"),
        (to_bytes([fits.PrimaryHDU()]), "no image: the file has only a primary header, with no data (NAXIS = 0)"),
        (to_bytes([fits.PrimaryHDU(np.zeros((0, 5), np.float32))]), "no 2-D image in the file (HDU 0: no pixels"),
        (to_bytes([fits.PrimaryHDU(np.ones(100, np.float32))]), "HDU 0: a 1-D array of 100 values (a spectrum?)"),
        (to_bytes([fits.PrimaryHDU(np.ones((3, 8, 8), np.float32))]), "HDU 0: a 3-D cube of 8 × 8 × 3"),
        (to_bytes([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("x", "E", array=[1.0])])]),
         "no 2-D image in the file (HDU 0: no pixels; HDU 1: a table of 1 row)"),
        (_with(data=np.full((64, 64), np.nan, dtype=np.float32)), "no finite pixel"),
        (_with({"AIRMASS": 0.3}), "AIRMASS = 0.3 is outside"),
        (_with({"EXPTIME": -5.0}), "EXPTIME = -5 is outside"),
        (_with({"EXPTIME": None}), "no EXPTIME"),
        (_with({"DATE-OBS": "yesterday", "MJD-OBS": None}), "not a date"),
        (_with({"DATE-OBS": None, "MJD-OBS": None}), "no DATE-OBS"),
        (_with({"DATE-OBS": "2026-03-14", "MJD-OBS": None}), "gives the day but not the time"),
        (_with({"TELESCOP": "Hubble"}), "unknown site or telescope"),
        (_with({"SITEID": "lsc"}), "unknown site or telescope"),
    ],
)  # fmt: skip
def test_bad_files_are_rejected_with_a_reason_and_nothing_is_stored(observatory, data, reason):
    tenant, user = observatory
    before = stored_files()
    result = ingest_frame(tenant, user, data, "bad.fits")
    assert result.status == "rejected" and reason in result.reason, result.reason
    assert Frame.objects.count() == 0
    assert stored_files() == before


@override_settings(FRAME_MAX_BYTES=10_000)
def test_file_over_the_size_limit_is_rejected(observatory):
    tenant, user = observatory
    result = ingest_frame(tenant, user, plain(), "big.fits")
    assert result.status == "rejected" and "the limit is" in result.reason


@override_settings(FRAME_MAX_BYTES=2**20)
def test_gzipped_frame_inflating_past_the_size_limit_is_refused_as_a_bomb(observatory):
    tenant, user = observatory
    bomb = gzip.compress(to_bytes([fits.PrimaryHDU(np.zeros((1024, 1024), np.float32))]), compresslevel=9)
    assert len(bomb) < 10_000
    result = ingest_frame(tenant, user, bomb, "bomb.fits.gz")
    assert result.status == "rejected"
    assert "inflates to more than 1,048,576 bytes, the limit: refused as a gzip bomb" in result.reason
    assert Frame.objects.count() == 0


def test_ingest_command_reports_each_file_and_carries_on(observatory, tmp_path, capsys):
    tenant, _ = observatory
    (tmp_path / "night").mkdir()
    (tmp_path / "night" / "good.fits").write_bytes(plain())
    (tmp_path / "night" / "copy.fits").write_bytes(plain())
    (tmp_path / "night" / "broken.fits").write_bytes(b"not fits at all")
    (tmp_path / "night" / "notes.txt").write_text("ignored")
    call_command("ingest", tenant.slug, str(tmp_path / "night"))
    output = capsys.readouterr().out
    assert "3 files: 1 created, 1 duplicate, 1 rejected." in output
    assert "rejected  " in output and "broken.fits: not a FITS file" in output


def test_a_synthetic_night_written_by_command_is_ingested_and_measured(observatory, tmp_path, capsys):
    tenant, _ = observatory
    load_site(tenant, {"code": "elp", "name": "McDonald", "latitude_deg": 30.7, "longitude_deg": -104.0,
                       "height_m": 2070, "telescopes": [("1m0a", "McDonald 1.0 m", 1.0, 26.5, 0.389, "sinistro",
                                                         [("r", 623, 138)])]})  # fmt: skip
    call_command("synthetic_frames", str(tmp_path / "night"), "--count", "4", "--size", "256")
    call_command("ingest", tenant.slug, str(tmp_path / "night"))
    assert "4 files: 4 created, 0 duplicate, 0 rejected." in capsys.readouterr().out
    points = Photometry.objects.filter(target__name="M51").order_by("mjd")
    assert [point.site.code for point in points] == ["tfn", "elp", "tfn", "elp"]
    assert all(abs(point.mag - points[0].mag) < 0.1 for point in points if point.filter_name == "r")


def test_synthetic_frames_command_refuses_an_unknown_target(tmp_path):
    with pytest.raises(CommandError, match="not a demo target"):
        call_command("synthetic_frames", str(tmp_path), "--target", "Planet Nine")


def test_a_file_that_cannot_be_read_is_reported_and_the_batch_carries_on(observatory):
    tenant, user = observatory

    def vanished():
        raise FileNotFoundError(2, "No such file or directory")

    results = list(ingest_many(tenant, user, [("gone.fits", vanished), ("good.fits", lambda: plain())]))
    assert [(r.name, r.status) for r in results] == [("gone.fits", "rejected"), ("good.fits", "created")]
    assert results[0].reason == "cannot be read (No such file or directory)"


def test_a_folder_committed_together_keeps_each_files_own_outcome(observatory):
    tenant, user = observatory
    other = to_bytes([make_frame(ra_deg=M51[0], dec_deg=M51[1], seed=7)])
    files = [("a.fits", plain), ("junk.fits", lambda: b"not FITS at all"), ("b.fits", lambda: other),
             ("a-again.fits", plain)]  # fmt: skip
    results = list(ingest_many(tenant, user, files))
    assert [(r.name, r.status) for r in results] == [("a.fits", "created"), ("junk.fits", "rejected"),
                                                     ("b.fits", "created"), ("a-again.fits", "duplicate")]  # fmt: skip
    assert results[3].frame == results[0].frame, "a copy later in the same commit is known as a duplicate"
    assert sorted(Frame.objects.values_list("original_name", flat=True)) == ["a.fits", "b.fits"]


def test_an_unexpected_failure_takes_its_uncommitted_frames_and_their_files_with_it(observatory):
    tenant, user = observatory

    def broken():
        raise RuntimeError("the disk went away")

    before = stored_files()
    results = ingest_many(tenant, user, [("good.fits", plain), ("broken.fits", broken)])
    with pytest.raises(RuntimeError, match="the disk went away"):
        next(results)
    assert not Frame.objects.exists() and not Photometry.objects.exists()
    assert stored_files() == before, "the good frame's file, preview and cutout were removed with its row"


def test_a_leftover_file_where_a_frame_belongs_is_left_alone_and_the_row_names_the_one_written(observatory):
    tenant, user = observatory
    data = plain()
    expected = f"frames/{tenant.pk}/"
    result = ingest_frame(tenant, user, data, "first.fits")
    name = result.frame.file.name
    assert name.startswith(expected)
    Frame.objects.all().delete()  # the row goes; its file stays behind, as after a crash
    again = ingest_frame(tenant, user, data, "again.fits")
    assert again.status == "created" and again.frame.file.name != name
    assert Frame.objects.get(pk=again.frame.pk).file.open("rb").read() == data, "the row names the file written"
    assert default_storage.open(name).read() == data, "the leftover file is not overwritten"


def test_a_write_that_fails_takes_the_frames_of_its_commit_and_their_files_with_it(observatory, monkeypatch):
    tenant, user = observatory
    from observations import ingest

    def failing(frame, data, drawing):
        if b"OBJECT  = 'M51-b" in data[: 2880 * 4]:
            raise OSError(28, "No space left on device")
        return real(frame, data, drawing)

    real = ingest._write_files
    monkeypatch.setattr(ingest, "_write_files", failing)
    other = make_frame(ra_deg=M51[0], dec_deg=M51[1], seed=8)
    other.header["OBJECT"] = "M51-b"
    before = stored_files()
    with pytest.raises(OSError, match="No space left on device"):
        list(ingest_many(tenant, user, [("good.fits", plain), ("full.fits", lambda: to_bytes([other]))]))
    assert not Frame.objects.exists() and stored_files() == before
