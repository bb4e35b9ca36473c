"""Alert packets in the ZTF schema — what fastavro yields from a broker's Avro, or the REST
API's JSON with stamps in base64 — read into what an Alert stores, or refused with the
first problem named.

Only the fields the portal uses are read, so packets carrying more (ZTF's hundred candidate
columns, later schema versions) are read the same; everything read is checked, because a
stream is untrusted input arriving faster than anyone watches it.
"""

import base64
import binascii
import gzip
import io
import math
import zlib
from dataclasses import dataclass
from datetime import UTC

from astropy.time import Time

ZTF_BANDS = {1: "g", 2: "r", 3: "i"}  # ZTF's fid
STAMPS = {"science": "cutoutScience", "template": "cutoutTemplate", "difference": "cutoutDifference"}
JD_MJD_OFFSET = 2400000.5
EARLIEST_JD = 2415020.5  # 1900: no CCD alert is older


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
    mjd: float
    band: str
    magnitude: float
    magnitude_error: float
    positive: bool
    broker_real_bogus: float | None
    history: list
    stamps: dict  # science / template / difference -> gzipped FITS bytes


def observed_times(packets):
    """The packets' times of detection as UTC datetimes, in one astropy conversion: one
    Time a packet cost more than storing the packet. Converted naive and then marked UTC:
    ``to_datetime(timezone=UTC)`` builds a units-checked time zone for every element, seven
    times the cost of the conversion itself."""
    if not packets:
        return []
    naive = Time([packet.mjd for packet in packets], format="mjd", scale="utc").to_datetime()
    return [moment.replace(tzinfo=UTC) for moment in naive]


def read_packet(record):
    """A Packet from one ZTF-schema record (a dict), or PacketRefused."""
    if not isinstance(record, dict):
        raise PacketRefused(f"a packet is an object with objectId, candid and candidate; got {type(record).__name__}")
    candidate_id = record.get("candid")
    if not isinstance(candidate_id, int) or isinstance(candidate_id, bool) or candidate_id <= 0:
        raise PacketRefused(f"candid: a positive integer is required, got {candidate_id!r}")
    object_id = record.get("objectId")
    if not isinstance(object_id, str) or not object_id.strip() or len(object_id) > 64:
        raise PacketRefused(f"objectId: a name of 1 to 64 characters is required, got {object_id!r}", candidate_id)
    candidate = record.get("candidate")
    if not isinstance(candidate, dict):
        raise PacketRefused("candidate: the detection's record is missing", candidate_id)
    try:
        ra, dec = _number(candidate, "ra"), _number(candidate, "dec")
        if not (0 <= ra < 360 and -90 <= dec <= 90):
            raise PacketRefused(f"ra/dec: ({ra}, {dec}) is not a position on the sky (0 ≤ ra < 360, |dec| ≤ 90)")
        jd = _number(candidate, "jd")
        if jd < EARLIEST_JD:
            raise PacketRefused(f"jd: {jd} is before 1900; the time is a Julian date, not MJD or seconds")
        magnitude, error = _number(candidate, "magpsf"), _number(candidate, "sigmapsf")
        if not (-5 < magnitude < 35) or not (0 < error < 5):
            raise PacketRefused(f"magpsf/sigmapsf: {magnitude} ± {error} is not a measured magnitude")
        packet = Packet(
            object_id=object_id.strip(), candidate_id=candidate_id, ra_deg=ra, dec_deg=dec, mjd=jd - JD_MJD_OFFSET,
            band=_band(candidate), magnitude=magnitude, magnitude_error=error,
            positive=str(candidate.get("isdiffpos", "t")).lower() in {"t", "1", "true"},
            broker_real_bogus=_score(candidate), history=_history(record.get("prv_candidates")),
            stamps={name: _stamp(record, field) for name, field in STAMPS.items()},
        )  # fmt: skip
    except PacketRefused as refusal:
        raise PacketRefused(str(refusal), candidate_id) from None
    return packet


def _number(record, field):
    value = record.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PacketRefused(f"{field}: a finite number is required, got {value!r}")
    return float(value)


def _band(candidate):
    if candidate.get("band"):  # Rubin-style packets and the REST API may name it
        return str(candidate["band"])[:10]
    fid = candidate.get("fid")
    if fid not in ZTF_BANDS:
        raise PacketRefused(f"fid: {fid!r} is not a ZTF filter (1 = g, 2 = r, 3 = i)")
    return ZTF_BANDS[fid]


def _score(candidate):
    """The broker's real-bogus score: the deep-learning one when present, else the older."""
    for field in ("drb", "rb"):
        value = candidate.get(field)
        if value is not None:
            score = _number(candidate, field)
            if not 0 <= score <= 1:
                raise PacketRefused(f"{field}: a real-bogus score lies between 0 and 1, got {score}")
            return score
    return None


def _history(previous):
    """Earlier detections, oldest first; upper limits (no magnitude) kept with their limit."""
    if previous is None:
        return []
    if not isinstance(previous, list):
        raise PacketRefused("prv_candidates: a list of earlier detections is required")
    history = []
    for index, detection in enumerate(previous):
        try:
            if not isinstance(detection, dict):
                raise PacketRefused("not an object")
            entry = {"mjd": _number(detection, "jd") - JD_MJD_OFFSET, "band": _band(detection)}
            if detection.get("magpsf") is None:
                entry["limit"] = _number(detection, "diffmaglim")
            else:
                entry["magnitude"], entry["error"] = _number(detection, "magpsf"), _number(detection, "sigmapsf")
        except PacketRefused as refusal:
            raise PacketRefused(f"prv_candidates[{index}]: {refusal}") from None
        history.append(entry)
    return sorted(history, key=lambda entry: entry["mjd"])


def _stamp(record, field):
    """A stamp's gzipped FITS bytes (base64 in JSON), checked to be gzipped FITS."""
    cutout = record.get(field)
    data = cutout.get("stampData") if isinstance(cutout, dict) else None
    if data is None:
        raise PacketRefused(f"{field}: the stamp is missing; an alert needs science, template and difference stamps")
    if isinstance(data, str):
        try:
            data = base64.b64decode(data, validate=True)
        except binascii.Error as error:
            raise PacketRefused(f"{field}: stampData is not base64 ({error})") from None
    try:
        head = gzip.GzipFile(fileobj=io.BytesIO(data)).read(30)  # the header only: no need to inflate it all
    except (OSError, EOFError, zlib.error) as error:
        raise PacketRefused(f"{field}: stampData is not gzipped ({error})") from None
    if not head.startswith(b"SIMPLE  =") or head[29:30] != b"T":
        raise PacketRefused(f"{field}: stampData is not a FITS file")
    return bytes(data)
