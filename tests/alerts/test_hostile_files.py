"""A corpus of hostile files, each fed to both ingest services (frames and alerts) and to their
API routes: every one is refused with a reason naming the problem, none gets a 5xx, and none
leaves a frame, an alert or a stored file behind.

The files are made here (nothing is committed), the bombs a few kilobytes each: a FITS or
gzip file goes to frame ingest as a frame and to alert ingest as a packet's difference
stamp; an Avro file goes to alert ingest as a file and to frame ingest as a (wrong) frame.
"""

import copy
import gzip
import io
import re
from pathlib import Path

import fastavro
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from alerts.avro import write_alerts
from alerts.models import Alert
from alerts.services import ingest_avro, ingest_packets
from alerts.synthetic import make_alert
from observations.ingest import ingest_frame
from observations.models import Frame
from portal.tenancy import tenant_context
from tests.alerts.test_ingest import as_json
from tests.conftest import api_client
from tests.observations.conftest import equip, plain

FRAME_LIMIT = 2**20  # the frame limit while these run, so a bomb of a few kB passes it


def fits_header(*cards):
    """A primary header of these cards and END, padded to a FITS block; no data."""
    header = b"".join(card.ljust(80).encode("ascii") for card in [*cards, "END"])
    return header + b" " * (-len(header) % 2880)


def image_header(width, height, bitpix=-32):
    return fits_header("SIMPLE  = T", f"BITPIX  = {bitpix}", "NAXIS   = 2", f"NAXIS1  = {width}",
                       f"NAXIS2  = {height}")  # fmt: skip


def avro(packets, schema=None):
    buffer = io.BytesIO()
    if schema is None:
        write_alerts(buffer, packets)
    else:
        fastavro.writer(buffer, schema, packets)
    return buffer.getvalue()


def with_stamp(stamp):
    packet = copy.deepcopy(make_alert(40).packet)
    packet["cutoutDifference"]["stampData"] = stamp
    return packet


GZIP_BOMB = gzip.compress(image_header(1024, 1024) + bytes(4 * 2**20), compresslevel=9)  # 4 MiB of pixels
HUGE = image_header(200_000, 200_000)  # NAXIS huge, with no data
CUT_AVRO = avro([make_alert(41 + n).packet for n in range(3)])

# (name, bytes, what frame ingest says, what alert ingest says)
FITS_AND_GZIP = [
    ("truncated FITS", plain()[:9000], "truncated: HDU 0's header says 262,144 bytes of data, the file has 6,120",
     "truncated: HDU 0's header says 262,144 bytes of data"),
    ("wrong first card", fits_header("SIMPLY  = T", "NAXIS   = 0"), "not a FITS file: it starts with b'SIMPLY",
     "the stamp is neither gzipped nor a FITS file"),
    ("NAXIS huge, no data", HUGE, "the file has 0; the file was cut short",
     "the stamp is 200,000×200,000 px; the limit is 512 px a side"),
    ("BITPIX bogus", image_header(9, 7, bitpix=7) + bytes(2880), "BITPIX = 7 in HDU 0 is not one of 8, 16, 32, 64",
     "BITPIX = 7 in HDU 0 is not one of 8, 16, 32, 64"),
    ("gzip bomb", GZIP_BOMB, "inflates to more than 1,048,576 bytes, the limit: refused as a gzip bomb",
     "inflates to more than 4,194,304 bytes, the limit: refused as a gzip bomb"),
    ("gzip of a huge header", gzip.compress(HUGE), "the file was cut short", "the limit is 512 px a side"),
    ("truncated gzip", gzip.compress(plain())[:4000], "the gzip file cannot be inflated: the gzip stream is cut short",
     "the gzip stream is cut short"),
]  # fmt: skip
AVRO_FILES = [
    ("truncated Avro", CUT_AVRO[: len(CUT_AVRO) - 200], "it is cut short after record 2"),
    ("wrong schema", avro([{"temperature": 12.5}], {"type": "record", "name": "Weather",
                                                     "fields": [{"name": "temperature", "type": "double"}]}),
     "packet 0: not an alert packet: ZTF's have objectId, candid and candidate, Rubin's diaSource; this one has "
     "temperature"),
    ("stamp bomb", avro([with_stamp(GZIP_BOMB)]), "cutoutDifference: the stamp cannot be read: it inflates to more "
     "than 4,194,304 bytes"),
    ("stamp of 200,000 px a side", avro([with_stamp(gzip.compress(HUGE))]),
     "cutoutDifference: the stamp is 200,000×200,000 px; the limit is 512 px a side"),
]  # fmt: skip


def stored_files():
    root = Path(default_storage.location)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def observatory(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    equip(tenant)
    with tenant_context(tenant), override_settings(FRAME_MAX_BYTES=FRAME_LIMIT):
        before = stored_files()
        yield tenant, users["admin"]
        assert not Frame.objects.exists() and not Alert.objects.exists(), "nothing of a refused file is kept"
        assert stored_files() == before, "no file is left in storage"


def test_the_bombs_are_a_few_kilobytes():
    assert len(GZIP_BOMB) < 5_000 and len(gzip.compress(HUGE)) < 200


@pytest.mark.parametrize("name, data, as_frame, as_stamp", FITS_AND_GZIP, ids=[case[0] for case in FITS_AND_GZIP])
def test_a_hostile_fits_or_gzip_file_is_refused_as_a_frame_and_as_a_stamp(observatory, name, data, as_frame,
                                                                          as_stamp):  # fmt: skip
    tenant, user = observatory
    frame = ingest_frame(tenant, user, data, "hostile.fits")
    assert frame.status == "rejected" and as_frame in frame.reason, frame.reason
    ((_, said),) = ingest_packets(tenant, [with_stamp(data)], source="rest", origin="hostile").refused
    assert said.startswith("cutoutDifference: ") and as_stamp in said, said
    client = api_client(tenant, user)
    upload = client.post("/api/v1/frames/upload/", {"files": [SimpleUploadedFile("hostile.fits", data)]},
                         format="multipart")  # fmt: skip
    assert upload.status_code == 200 and upload.json()[0]["status"] == "rejected", upload.content[:300]
    posted = client.post("/api/v1/alerts/", as_json(with_stamp(data)), format="json")
    assert posted.status_code < 500 and as_stamp in posted.content.decode(), posted.content[:300]


@pytest.mark.parametrize("name, data, as_alerts", AVRO_FILES, ids=[case[0] for case in AVRO_FILES])
def test_a_hostile_avro_file_is_refused_by_alert_ingest_and_by_frame_ingest(observatory, name, data, as_alerts):
    tenant, user = observatory
    result = ingest_avro(tenant, io.BytesIO(data), origin="hostile.avro")
    said = result.unreadable or "; ".join(f"packet {index}: {reason}" for index, reason in result.refused)
    assert not result.alerts and as_alerts in said, said
    frame = ingest_frame(tenant, user, data, "hostile.avro")
    assert frame.status == "rejected" and re.search(r"not a FITS file: .*\(an Avro file\)", frame.reason)
    client = api_client(tenant, user)
    posted = client.post("/api/v1/alerts/", data, content_type="avro/binary")
    assert 400 <= posted.status_code < 500, posted.content[:300]
    upload = client.post("/api/v1/frames/upload/", {"files": [SimpleUploadedFile("hostile.avro", data)]},
                         format="multipart")  # fmt: skip
    assert upload.status_code == 200 and upload.json()[0]["status"] == "rejected"
