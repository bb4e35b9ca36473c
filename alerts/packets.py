"""Alert packets — ZTF's and Rubin's, as fastavro yields them from a broker's Avro or as the
REST API's JSON with stamps in base64 — read into what an Alert stores, or refused with the
first problem named.

Each survey lays its packets out its own way, so each has a reader (a ``PacketFormat``),
chosen by the record's shape: ZTF's carry ``candidate``, Rubin's ``diaSource``. Only the
fields the portal uses are read, so packets carrying more (ZTF's hundred candidate columns,
later schema versions) are read the same; everything read is checked, because a stream is
untrusted input arriving faster than anyone watches it.
"""

import base64
import binascii
import gzip
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC

import numpy as np
from astropy.time import Time

from observations.fits import ImageError, check_stamp, inflate_fits, is_fits
from portal.parameters import BIGINT_MAX

ZTF_BANDS = {1: "g", 2: "r", 3: "i"}  # ZTF's fid
STAMPS = {"science": "cutoutScience", "template": "cutoutTemplate", "difference": "cutoutDifference"}
JD_MJD_OFFSET = 2400000.5
EARLIEST_MJD, LATEST_MJD = 15020.0, 88069.0  # 1900 and 2100: a time outside is in the wrong unit
NJY_ZERO_POINT = 31.4  # AB magnitude of 1 nJy
MAGNITUDE_PER_RELATIVE_FLUX = 2.5 / math.log(10)
FORCED_DETECTION_SNR = 5.0  # Rubin's forced photometry below this is kept as a 5σ upper limit, like ZTF's


class PacketRefused(ValueError):
    """A packet that cannot be stored; the message says which field and why."""

    def __init__(self, message, candidate_id=None):
        super().__init__(message)
        self.candidate_id = candidate_id


@dataclass(frozen=True)
class Packet:
    object_id: str
    candidate_id: int
    ra_deg: float
    dec_deg: float
    mjd: float  # UTC
    band: str
    magnitude: float
    magnitude_error: float
    positive: bool
    broker_real_bogus: float | None
    history: list  # oldest first: {mjd, band, magnitude, error, positive} or {mjd, band, limit}
    stamps: dict  # science / template / difference -> gzipped FITS bytes, b"" for one the packet lacks


def observed_times(packets):
    """The packets' times of detection as UTC datetimes, in one astropy conversion: one
    Time a packet cost more than storing the packet. Converted naive and then marked UTC:
    ``to_datetime(timezone=UTC)`` builds a units-checked time zone for every element, seven
    times the cost of the conversion itself."""
    if not packets:
        return []
    naive = Time([packet.mjd for packet in packets], format="mjd", scale="utc").to_datetime()
    return [moment.replace(tzinfo=UTC) for moment in naive]


class PacketFormat(ABC):
    """How one survey lays out its alert packets."""

    @abstractmethod
    def recognises(self, record):
        """Whether ``record`` (a dict) has this format's shape."""

    @abstractmethod
    def read(self, record):
        """The Packet in ``record``, or PacketRefused naming the first bad field."""


class ZtfPacket(PacketFormat):
    """ZTF's alert schema, every version (3.x, 4.x): ``objectId``, ``candid``, the detection in
    ``candidate``, earlier ones in ``prv_candidates``, gzipped FITS stamps; times as JD (UTC)."""

    def recognises(self, record):
        return "candidate" in record or "objectId" in record

    def read(self, record):
        candidate_id = _identifier(record, "candid")
        object_id = record.get("objectId")
        if not isinstance(object_id, str) or not object_id.strip() or len(object_id) > 64 or "\x00" in object_id:
            raise PacketRefused(f"objectId: a name of 1 to 64 characters (no NUL) is required, got {object_id!r}",
                                candidate_id)  # fmt: skip
        candidate = record.get("candidate")
        if not isinstance(candidate, dict):
            raise PacketRefused("candidate: the detection's record is missing", candidate_id)
        try:
            ra, dec = _position(candidate, "ra", "dec")
            magnitude, error = _magnitude(_number(candidate, "magpsf"), _number(candidate, "sigmapsf"),
                                          "magpsf/sigmapsf")  # fmt: skip
            return Packet(
                object_id=object_id.strip(), candidate_id=candidate_id, ra_deg=ra, dec_deg=dec,
                mjd=self._mjd(candidate), band=self._band(candidate), magnitude=magnitude, magnitude_error=error,
                positive=self._positive(candidate), broker_real_bogus=_score(candidate, ("drb", "rb")),
                history=self._history(record.get("prv_candidates")), stamps=_stamps(record),
            )  # fmt: skip
        except PacketRefused as refusal:
            raise PacketRefused(str(refusal), candidate_id) from None

    @staticmethod
    def _mjd(record):
        jd = _number(record, "jd")
        mjd = jd - JD_MJD_OFFSET
        if mjd < EARLIEST_MJD:
            raise PacketRefused(f"jd: {jd} is before 1900; the time is a Julian date, not MJD or seconds")
        if mjd > LATEST_MJD:
            raise PacketRefused(f"jd: {jd} is after 2100; the time is a Julian date, not seconds")
        return mjd

    @staticmethod
    def _band(candidate):
        if candidate.get("band"):  # the REST API may name it
            return _band_name(candidate)
        fid = candidate.get("fid")
        if fid not in ZTF_BANDS:
            raise PacketRefused(f"fid: {fid!r} is not a ZTF filter (1 = g, 2 = r, 3 = i)")
        return ZTF_BANDS[fid]

    @staticmethod
    def _positive(detection):
        """ZTF's isdiffpos: 't' or '1' brighter than the template, 'f' or '0' fainter."""
        return str(detection.get("isdiffpos") or "t").lower() in {"t", "1", "true"}

    def _history(self, previous):
        """Earlier detections, oldest first, with their sign; upper limits (no magnitude) with their limit."""
        if previous is None:
            return []
        if not isinstance(previous, list):
            raise PacketRefused("prv_candidates: a list of earlier detections is required")
        history = []
        for index, detection in enumerate(previous):
            try:
                if not isinstance(detection, dict):
                    raise PacketRefused("not an object")
                entry = {"mjd": self._mjd(detection), "band": self._band(detection)}
                if detection.get("magpsf") is None:
                    entry["limit"] = _number(detection, "diffmaglim")
                else:
                    entry["magnitude"], entry["error"] = _number(detection, "magpsf"), _number(detection, "sigmapsf")
                    entry["positive"] = self._positive(detection)
            except PacketRefused as refusal:
                raise PacketRefused(f"prv_candidates[{index}]: {refusal}") from None
            history.append(entry)
        return sorted(history, key=lambda entry: entry["mjd"])


class LsstPacket(PacketFormat):
    """Rubin's LSST alert schema (7.x and later): the detection in ``diaSource``, its object in
    ``diaObject``, earlier detections in ``prvDiaSources`` and forced photometry in
    ``prvDiaForcedSources``. Fluxes are difference-image fluxes in nJy, negative where the
    source is fainter than the template; times are MJD in TAI; cutouts are plain FITS, or
    null. Read onto the same Packet as ZTF's: AB magnitudes of the flux's size, its sign in
    ``positive``, UTC times."""

    def recognises(self, record):
        return "diaSource" in record

    def read(self, record):
        source = record["diaSource"]
        if not isinstance(source, dict):
            raise PacketRefused("diaSource: the detection's record is missing")
        candidate_id = _identifier(source, "diaSourceId", "diaSource.")
        try:
            ra, dec = _position(source, "ra", "dec", "diaSource.")
            flux = _number(source, "psfFlux", "diaSource.")
            magnitude, error = _flux_magnitude(flux, _number(source, "psfFluxErr", "diaSource."), "diaSource.psfFlux")
            detections = self._detections(record.get("prvDiaSources"), "prvDiaSources")
            forced = self._detections(record.get("prvDiaForcedSources"), "prvDiaForcedSources")
            history = [*detections, *self._not_detected_again(forced, detections, source)]
            mjds = self._utc([_number(source, "midpointMjdTai", "diaSource."), *(entry["mjd"] for entry in history)])
            for entry, mjd in zip(history, mjds[1:]):
                entry["mjd"] = mjd
            return Packet(
                object_id=self._object_id(record, source), candidate_id=candidate_id, ra_deg=ra, dec_deg=dec,
                mjd=mjds[0], band=_band_name(source, "diaSource."), magnitude=magnitude, magnitude_error=error,
                positive=flux > 0, broker_real_bogus=_score(source, ("reliability",), "diaSource."),
                history=sorted(history, key=lambda entry: entry["mjd"]), stamps=_stamps(record),
            )  # fmt: skip
        except PacketRefused as refusal:
            raise PacketRefused(str(refusal), candidate_id) from None

    @staticmethod
    def _object_id(record, source):
        """The DIA object's id, else the solar-system object's: Rubin names objects by number."""
        dia_object = record.get("diaObject") if isinstance(record.get("diaObject"), dict) else {}
        for where, field in ((dia_object, "diaObjectId"), (source, "diaObjectId"), (source, "ssObjectId")):
            value = where.get(field)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return str(value)
        raise PacketRefused("diaObject: the packet names no object (diaObject.diaObjectId, or diaSource.ssObjectId)")

    @staticmethod
    def _detections(rows, field):
        """History entries from earlier sources (TAI mjd, converted with the alert's): a measurement
        of at least 5σ is a detection with its sign, anything fainter a 5σ upper limit."""
        if rows is None:
            return []
        if not isinstance(rows, list):
            raise PacketRefused(f"{field}: a list of earlier measurements is required")
        history = []
        for index, row in enumerate(rows):
            prefix = f"{field}[{index}]."
            if not isinstance(row, dict):
                raise PacketRefused(f"{field}[{index}]: not an object")
            flux, flux_error = row.get("psfFlux"), row.get("psfFluxErr")
            if field == "prvDiaForcedSources" and not (_finite(flux) and _finite(flux_error)):
                continue  # forced photometry where there was nothing to measure: no point
            flux, flux_error = _number(row, "psfFlux", prefix), _number(row, "psfFluxErr", prefix)
            entry = {"mjd": _number(row, "midpointMjdTai", prefix), "band": _band_name(row, prefix)}
            if abs(flux) >= FORCED_DETECTION_SNR * flux_error:
                entry["magnitude"], entry["error"] = _flux_magnitude(flux, flux_error, f"{prefix}psfFlux")
                entry["positive"] = flux > 0
            else:
                entry["limit"] = round(NJY_ZERO_POINT - 2.5 * math.log10(FORCED_DETECTION_SNR * flux_error), 4)
            history.append(entry)
        return history

    @staticmethod
    def _not_detected_again(forced, detections, source):
        """Forced photometry of visits that have no detection: a detection says it better."""
        seen = {(round(entry["mjd"], 6), entry["band"]) for entry in detections}
        seen.add((round(_number(source, "midpointMjdTai", "diaSource."), 6), _band_name(source, "diaSource.")))
        return [entry for entry in forced if (round(entry["mjd"], 6), entry["band"]) not in seen]

    @staticmethod
    def _utc(tai_mjds):
        """TAI MJDs as UTC MJDs, in one astropy conversion (leap seconds are astropy's to know)."""
        for mjd in tai_mjds:
            if not EARLIEST_MJD <= mjd <= LATEST_MJD:
                unit = " (seconds, not days?)" if mjd > 1e6 else ""
                raise PacketRefused(f"midpointMjdTai: {mjd} is not an MJD between 1900 and 2100{unit}")
        return [float(mjd) for mjd in np.atleast_1d(Time(tai_mjds, format="mjd", scale="tai").utc.mjd)]


FORMATS = (ZtfPacket(), LsstPacket())


def read_packet(record):
    """A Packet from one record (a dict) of any format in FORMATS, or PacketRefused."""
    if not isinstance(record, dict):
        raise PacketRefused(f"a packet is an object (ZTF's or Rubin's alert schema); got {type(record).__name__}")
    reader = next((packet_format for packet_format in FORMATS if packet_format.recognises(record)), None)
    if reader is None:
        fields = ", ".join(sorted(map(str, record))[:8]) or "none"
        raise PacketRefused(f"not an alert packet: ZTF's have objectId, candid and candidate, Rubin's diaSource; "
                            f"this one has {fields}")  # fmt: skip
    return reader.read(record)


def _identifier(record, field, prefix=""):
    """A candidate's id: positive and within PostgreSQL's bigint, where it is stored."""
    value = record.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= BIGINT_MAX:
        raise PacketRefused(f"{prefix}{field}: a positive integer is required (below 2**63), got {value!r}")
    return value


def _finite(value):
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(record, field, prefix=""):
    value = record.get(field)
    if not _finite(value):
        raise PacketRefused(f"{prefix}{field}: a finite number is required, got {value!r}")
    return float(value)


def _position(record, ra_field, dec_field, prefix=""):
    ra, dec = _number(record, ra_field, prefix), _number(record, dec_field, prefix)
    if not (0 <= ra < 360 and -90 <= dec <= 90):
        raise PacketRefused(f"{prefix}{ra_field}/{dec_field}: ({ra}, {dec}) is not a position on the sky "
                            "(0 ≤ ra < 360, |dec| ≤ 90)")  # fmt: skip
    return ra, dec


def _magnitude(magnitude, error, fields):
    if not (-5 < magnitude < 35) or not (0 < error < 5):
        raise PacketRefused(f"{fields}: {magnitude} ± {error} is not a measured magnitude")
    return magnitude, error


def _flux_magnitude(flux, flux_error, field):
    """(AB magnitude, error) of a difference flux in nJy, by its size: the sign says brighter
    or fainter than the template, as ZTF's isdiffpos does beside a positive magpsf."""
    if flux == 0 or flux_error <= 0:
        raise PacketRefused(f"{field}: {flux} ± {flux_error} nJy is not a measured flux")
    return _magnitude(NJY_ZERO_POINT - 2.5 * math.log10(abs(flux)),
                      MAGNITUDE_PER_RELATIVE_FLUX * flux_error / abs(flux), f"{field} (as a magnitude)")  # fmt: skip


def _band_name(record, prefix=""):
    band = record.get("band")
    if not isinstance(band, str) or not band.strip() or "\x00" in band:
        raise PacketRefused(f"{prefix}band: a filter name (u, g, r, i, z, y) is required, got {band!r}")
    return band.strip()[:10]


def _score(record, fields, prefix=""):
    """The broker's real-bogus score: the first of ``fields`` present (ZTF: the deep-learning one, else the older)."""
    for field in fields:
        if record.get(field) is not None:
            score = _number(record, field, prefix)
            if not 0 <= score <= 1:
                raise PacketRefused(f"{prefix}{field}: a real-bogus score lies between 0 and 1, got {score}")
            return score
    return None


def _stamps(record):
    """{science, template, difference: gzipped FITS bytes, b"" where the packet has none}. ZTF
    nests each in a cutout record's ``stampData``; Rubin's fields are the bytes themselves."""
    stamps = {}
    for name, field in STAMPS.items():
        cutout = record.get(field)
        data = cutout.get("stampData") if isinstance(cutout, dict) else cutout
        stamps[name] = b"" if data is None else _stamp(field, data)
    return stamps


def _stamp(field, data):
    """A stamp checked to be FITS, gzipped or plain (base64 in JSON), and stored gzipped:
    ZTF's bytes as sent, Rubin's plain FITS compressed, so every stamp reads the same way."""
    if isinstance(data, str):
        try:
            data = base64.b64decode(data, validate=True)
        except binascii.Error as error:
            raise PacketRefused(f"{field}: stampData is not base64 ({error})") from None
    if not isinstance(data, bytes | bytearray) or not data:
        raise PacketRefused(f"{field}: the stamp is empty; send FITS bytes, gzipped or plain, or leave it out")
    gzipped = data.startswith(b"\x1f\x8b")
    try:
        fits_bytes = inflate_fits(data)
    except ImageError as error:
        raise PacketRefused(f"{field}: the stamp cannot be read: {error}") from None
    if not is_fits(fits_bytes):
        what = "is gzipped but what it holds is not" if gzipped else "is neither gzipped nor"
        raise PacketRefused(f"{field}: the stamp {what} a FITS file (it starts {fits_bytes[:16]!r})")
    try:
        check_stamp(fits_bytes)
    except ImageError as error:
        raise PacketRefused(f"{field}: {error}") from None
    return bytes(data) if gzipped else gzip.compress(fits_bytes, compresslevel=6, mtime=0)
