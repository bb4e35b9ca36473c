"""Frame ingest: one service for the upload page, the API and the ``ingest`` command.

A file is checked to be whole FITS, read with astropy, its headers resolved (image HDU, then
the primary header it inherits), matched to the tenant's telescope, timed, stored, given a
preview and linked to the targets inside its footprint — or rejected with one reason that
says what to do and nothing stored. The same bytes twice are one frame (a duplicate).
"""

import collections
import functools
import hashlib
import itertools
import math
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timezone

import numpy as np
from astropy import units as u
from astropy.coordinates import ICRS, SkyCoord, angular_separation
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales, wcs_to_celestial_frame
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from . import photometry
from .equipment import EquipmentMatcher, rules_hint
from .fits import FrameRejected, frame_hdus
from .fits_headers import FrameHeader, celestial_wcs, exposure_seconds, observation_time
from .models import Frame, FrameTarget, Photometry, Target
from .rendering import preview_png
from .services import cone_search
from .signals import frame_ingested

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.fz", ".fz", ".fits.gz", ".fit.gz")


@dataclass
class IngestResult:
    name: str
    status: str  # "created", "duplicate" or "rejected"
    frame: Frame | None = None
    reason: str = ""
    fallback: bool = False  # its keywords were resolved beyond the image HDU (primary header, header rules)

    def as_dict(self):
        return {"file": self.name, "status": self.status, "frame": self.frame.pk if self.frame else None,
                "reason": self.reason}  # fmt: skip


def ingest_frame(tenant, user, data, name):
    """Ingest one file's bytes; never raises for bad input, the result says what happened."""
    return _finish(tenant, user, name, data, _prepare(data), EquipmentMatcher(tenant), {}, [])


def ingest_many(tenant, user, files):
    """Ingest ``(name, read)`` pairs in order, yielding each file's result once it is committed.

    The next file is read, hashed and parsed in a thread while this one is stored, linked
    and measured: a folder of frames goes at the speed of the slower half, not of both.
    Only the storing half touches the database, so it stays on the caller's connection.
    The header rules, and the equipment the headers name, are looked up once per batch.

    Frames are committed together, about every ``COMMIT_EVERY_S``, each in a savepoint of its
    own so that a refused file takes nothing else with it: a commit waits for the disk to
    confirm the log, and with the frame files streaming to the same disk that wait was a
    fifth of each frame's time when every frame had one. A result is yielded only after its
    commit, so whatever the caller sees as created (and deletes the source of) is durable.
    """
    files = iter(files)
    equipment, run = EquipmentMatcher(tenant), {}

    def prepare(item):
        name, read = item
        try:
            data = read()
        except OSError as error:  # gone or unreadable since it was listed: that file only
            return name, b"", _Prepared(problem=FrameRejected(f"cannot be read ({error.strerror or error})"))
        return name, data, _prepare(data)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-read") as reader:
        upcoming = [reader.submit(prepare, item) for item in itertools.islice(files, 1)]
        while upcoming:
            results, stored, started = [], [], time.monotonic()
            with _committed_together(stored):
                while upcoming and time.monotonic() - started < COMMIT_EVERY_S:
                    name, data, prepared = upcoming.pop().result()
                    following = next(files, None)
                    if following is not None:
                        upcoming.append(reader.submit(prepare, following))
                    results.append(_finish(tenant, user, name, data, prepared, equipment, run, stored))
            yield from results


COMMIT_EVERY_S = 0.5


@contextmanager
def _committed_together(stored):
    """One transaction for the frames stored inside it; if it does not commit, the files
    they wrote (listed in ``stored`` as they are saved) are removed with them."""
    try:
        with transaction.atomic():
            yield
    except BaseException:
        _delete(stored)
        raise


def _delete(stored):
    for file in stored:
        if file:
            file.storage.delete(file.name)


@dataclass
class _Prepared:
    digest: str = ""
    parsed: "ParsedFrame | None" = None
    problem: FrameRejected | None = None


def _prepare(data):
    """What can be known from the bytes alone: their checksum and the parsed image, or why not."""
    if len(data) > settings.FRAME_MAX_BYTES:
        return _Prepared(problem=FrameRejected(f"the file is {len(data) / 2**20:.1f} MiB; the limit is "
                                               f"{settings.FRAME_MAX_BYTES / 2**20:.0f} MiB"))  # fmt: skip
    # Hashing releases the GIL: it runs beside the parsing instead of before it.
    hashing = _background().submit(_sha256, data)
    try:
        parsed, problem = parse_frame(data), None
    except FrameRejected as error:
        parsed, problem = None, error
    return _Prepared(hashing.result(), parsed, problem)


def _finish(tenant, user, name, data, prepared, equipment, run, stored):
    """Store one prepared file (``stored`` gets its files) or say why not."""
    try:
        if prepared.digest:
            existing = Frame.objects.filter(tenant=tenant, sha256=prepared.digest).first()
            if existing:
                return IngestResult(name, "duplicate", existing, f"same file as {existing.original_name}")
        if prepared.problem is not None:
            raise prepared.problem
        frame, fallback = _store(tenant, user, data, name, prepared.digest, prepared.parsed, equipment, stored)
        frame_ingested.send(Frame, tenant=tenant, frame=frame, run=run)
        return IngestResult(name, "created", frame, fallback=fallback)
    except FrameRejected as error:
        return IngestResult(name, "rejected", reason=str(error))


@functools.cache
def _background():
    """Threads for the work that releases the GIL (hashing, previews, writing files), made on first use
    so that each worker process (forked after import) gets its own."""
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="ingest")


class _InMemoryFile(ContentFile):
    """Bytes already in memory, handed to storage in 1 MiB writes rather than Django's 64 KiB:
    fewer calls, while each stays small enough for the kernel's fast path. Measured here
    (Linux 6.18, ext4), a 16 MiB frame written in one call cost 25–40 ms of kernel time once
    the page cache held a few GiB, and 6–9 ms in writes of 1 MiB or less (2 MiB was already
    slow); a file copy (sendfile), as the benchmark's floor makes, costs the latter."""

    DEFAULT_CHUNK_SIZE = 2**20


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


@dataclass
class ParsedFrame:
    image: np.ndarray
    header: FrameHeader
    wcs: WCS | None
    astrometry_note: str  # why there is no WCS, when there is none


def parse_frame(data):
    """A frame's bytes (plain, gzip, tile-compressed, multi-extension) as ingest reads them: the
    image it chose, its header (inherited keywords included) and its WCS or why there is none.
    Whatever reads a stored frame's pixels again reads them through this, so it sees the same."""
    with frame_hdus(data, limit=settings.FRAME_MAX_BYTES) as (hdul, index, image):
        header = FrameHeader.of(hdul[index].header.copy(), index, hdul[0].header.copy() if index else None)
        wcs, note = celestial_wcs(header.image, fobj=hdul)
    # A sparse grid of pixels settles it for any real image; only a blank one pays for the whole check.
    if not np.isfinite(image[::64, ::64]).any() and not np.isfinite(image).any():
        raise FrameRejected("the image holds no finite pixel (all NaN or infinite)")
    return ParsedFrame(image, header, wcs, note or "")


def read_stored_frame(frame):
    """A stored Frame's file parsed as it was at ingest (``parse_frame``)."""
    with frame.file.open("rb") as stored:
        return parse_frame(stored.read())


def _number(header, keyword, low, high):
    if keyword not in header:
        return None
    try:
        value = float(header.get(keyword))
    except (TypeError, ValueError) as error:
        raise FrameRejected(f"{keyword} = {header.get(keyword)!r} is not a number") from error
    return _plausible(keyword, value, low, high)


def _plausible(keyword, value, low, high):
    if not low <= value <= high:
        raise FrameRejected(f"{keyword} = {value:g} is outside the plausible range {low:g} … {high:g}")
    return value


def _store(tenant, user, data, name, digest, parsed, equipment_for, stored):
    # The preview (numpy and PNG encoding release the GIL) is drawn while the header is
    # checked and the telescope looked up; if the header is refused it is simply dropped.
    drawing = _background().submit(preview_png, parsed.image)
    header = parsed.header
    equipment = equipment_for.equipment(header)
    time_rule = equipment_for.time_rule(equipment, header)
    try:
        start = observation_time(header, time_rule)
    except FrameRejected as error:  # the hint is made only for a refusal: reverse() loads every URL module
        raise FrameRejected(f"{error}{rules_hint('say which keyword holds the time')}") from error
    seconds, exposure_keyword = exposure_seconds(header)
    exptime = _plausible(exposure_keyword, seconds, 0, 100_000)
    airmass = _number(header, "AIRMASS", 1, 40)
    gain = _number(header, "GAIN", 0.01, 1000)
    merged = header.merged()
    height, width = parsed.image.shape
    frame = Frame(
        tenant=tenant, ingested_by=user, original_name=name[:255], sha256=digest, size_bytes=len(data),
        file_suffix=_suffix(name), site=equipment.telescope.site, telescope=equipment.telescope,
        instrument=equipment.instrument, filter_name=equipment.filter_name,
        object_name=str(header.get("OBJECT", "")).strip()[:100],
        obs_time=start.start.to_datetime(timezone=timezone.utc), mjd_obs=float(start.start.mjd),
        time_source=start.source[:150], exptime_s=exptime, airmass=airmass, gain_e_per_adu=gain, width_px=width,
        height_px=height, hdu_index=header.hdu_index, astrometry_note=parsed.astrometry_note[:300],
        header={card.keyword: str(card.value) for card in merged.cards if card.keyword and card.keyword != "COMMENT"},
    )  # fmt: skip
    # The file and preview are written beside the rest (file writes release the GIL), while
    # the targets on the detector are measured: both before the frame's row exists.
    writing = _background().submit(_write_files, frame, data, drawing)
    sightings = []
    cutouts = []
    try:
        centre = _set_astrometry(frame, parsed.wcs) if parsed.wcs is not None else None
        if centre is not None:
            sightings = _measure_targets(frame, parsed, merged, centre, equipment.calibration)
        with transaction.atomic():
            writing.result()
            frame.save()
            for sighting in sightings:
                _save_sighting(frame, sighting, cutouts)
    except BaseException:
        wait([writing])  # a write still going on must finish before it can be removed
        _delete([frame.file, frame.preview, *cutouts])
        raise
    stored.extend([frame.file, frame.preview, *cutouts])
    return frame, header.inherited or equipment.by_rule or time_rule is not None


def _write_files(frame, data, drawing):
    frame.file.save(frame.file_suffix, _InMemoryFile(data), save=False)
    _archived_frames.written(frame.file)
    frame.preview.save("preview.png", ContentFile(drawing.result()), save=False)


class _ArchivedFrames:
    """Keeps the frame files just written out of the page cache once they are on disk.

    A night's frames are written once and read back rarely (the quality worker reads each once,
    a download now and then): kept cached, they crowd out the database's pages, and each new
    one takes fresh pages from the kernel. On a virtual machine whose free memory goes back to
    the host (a balloon with free-page reporting) that was the dearest part of ingest: measured
    here, 16 MiB written in 5–7 ms while freed pages were reused and in 45–55 ms once the
    cache had grown by a few GiB. Asking the kernel to drop a file starts its writeback; asking
    again a few frames later, once it is clean, frees its pages for the next frames to reuse.
    Local storage only (remote storage has no path) and where the OS has ``posix_fadvise``.
    """

    KEEP_CACHED = 3  # files still being written back when the next ones are dropped

    def __init__(self):
        self.lock = threading.Lock()
        self.recent = collections.deque()

    def written(self, file):
        try:
            path = file.storage.path(file.name)
        except NotImplementedError:
            return
        self._drop(path)
        with self.lock:
            self.recent.append(path)
            clean = self.recent.popleft() if len(self.recent) > self.KEEP_CACHED else None
        if clean is not None:
            self._drop(clean)

    @staticmethod
    def _drop(path):
        if not hasattr(os, "posix_fadvise"):
            return
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:  # removed since (its transaction rolled back): nothing to drop
            return
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


_archived_frames = _ArchivedFrames()


def _suffix(name):
    lowered = name.lower()
    return next((suffix for suffix in sorted(FITS_SUFFIXES, key=len, reverse=True) if lowered.endswith(suffix)),
                ".fits")  # fmt: skip


def _set_astrometry(frame, wcs):
    """Fill in the frame's centre, footprint (ICRS, whatever frame the WCS is in) and pixel
    scale; returns the centre (SkyCoord), or None (and the reason on the frame) when the WCS
    does not put the whole image on the sky."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            corners = wcs.calc_footprint(axes=(frame.width_px, frame.height_px))
            middle = wcs.all_pix2world([[(frame.width_px - 1) / 2, (frame.height_px - 1) / 2]], 0)
            points = np.vstack([middle, corners])
            if np.all(np.isfinite(points)):
                points = _to_icrs(wcs, points)
        except Exception as error:  # distortions that do not converge, projections undefined there
            frame.astrometry_note = f"the WCS cannot place the image on the sky ({error})"[:300]
            return None
    if not np.all(np.isfinite(points)):
        frame.astrometry_note = "the WCS puts part of the image off the sky (outside its projection)"
        return None
    frame.has_astrometry = True
    frame.ra_center_deg, frame.dec_center_deg = (float(value) for value in points[0])
    frame.footprint = [[float(ra), float(dec)] for ra, dec in points[1:]]
    frame.pixel_scale_arcsec = float(np.mean(proj_plane_pixel_scales(wcs)) * 3600)
    return SkyCoord(frame.ra_center_deg * u.deg, frame.dec_center_deg * u.deg)


def _to_icrs(wcs, points):
    """(lon, lat) rows in the WCS's celestial frame (Galactic, FK4 B1950, FK5…) as ICRS RA/Dec."""
    sky = wcs_to_celestial_frame(wcs)
    if isinstance(sky, ICRS):
        return points
    icrs = SkyCoord(points[:, 0] * u.deg, points[:, 1] * u.deg, frame=sky).icrs
    return np.column_stack([icrs.ra.deg, icrs.dec.deg])


def _from_icrs(wcs, ra, dec):
    """ICRS RA/Dec arrays in the WCS's own celestial frame (the inverse of ``_to_icrs``)."""
    sky = wcs_to_celestial_frame(wcs)
    if isinstance(sky, ICRS):
        return ra, dec
    native = SkyCoord(np.asarray(ra) * u.deg, np.asarray(dec) * u.deg).transform_to(sky).spherical
    return native.lon.deg, native.lat.deg


@dataclass
class _Sighting:
    """A target on the detector: where, its cutout and its photometry, ready to be saved."""

    target: Target
    x: float
    y: float
    cutout: bytes
    photometry: dict


def _measure_targets(frame, parsed, header, centre, calibration):
    """Every visible target whose position lands on the detector, measured (cutout and photometry)."""
    wcs = parsed.wcs
    corners = np.radians(frame.footprint)
    radius = angular_separation(centre.ra.rad, centre.dec.rad, corners[:, 0], corners[:, 1]).max() * 1.01
    radius = max(radius, math.radians(frame.pixel_scale_arcsec / 3600))  # a one-pixel image's corners are its centre
    candidates = cone_search(frame.tenant, centre, radius * u.rad, include_all_private=True, limit=None)
    if not candidates:
        return []
    # The array form of the WCS (SIP distortion included): SkyCoord round trips cost more than the frame's targets.
    lon, lat = _from_icrs(wcs, [t.ra_deg for t in candidates], [t.dec_deg for t in candidates])
    xs, ys = wcs.all_world2pix(lon, lat, 0)
    zero_point = photometry.zero_point(header, calibration)
    sightings = []
    for target, x, y in zip(candidates, xs.tolist(), ys.tolist()):
        if not (-0.5 <= x < frame.width_px - 0.5 and -0.5 <= y < frame.height_px - 0.5):
            continue
        cutout = photometry.cutout_fits(parsed.image, wcs, x, y, pixel_scale_arcsec=frame.pixel_scale_arcsec,
                                        header=header)  # fmt: skip
        measured = photometry.measure(parsed.image, x, y, pixel_scale_arcsec=frame.pixel_scale_arcsec,
                                      exptime_s=frame.exptime_s, gain=frame.gain_e_per_adu,
                                      zero_point_mag=zero_point)  # fmt: skip
        sightings.append(_Sighting(target, x, y, cutout, measured))
    return sightings


def _save_sighting(frame, sighting, cutouts):
    """Link the target to the saved frame with its cutout and light-curve point; the stored
    cutout joins ``cutouts`` at once, so a failure after it removes it with the rest."""
    link = FrameTarget(tenant=frame.tenant, frame=frame, target=sighting.target, x_px=sighting.x, y_px=sighting.y)
    link.cutout.save("cutout.fits", ContentFile(sighting.cutout), save=False)
    cutouts.append(link.cutout)
    link.save()
    Photometry.objects.create(tenant=frame.tenant, link=link, target=sighting.target, filter_name=frame.filter_name,
                              mjd=frame.mjd_obs + frame.exptime_s / 2 / 86400, site=frame.site,
                              **sighting.photometry)  # fmt: skip
