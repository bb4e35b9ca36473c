"""Real broker alerts, as ZTF and Rubin publish them (tests/data/real/alerts, sources in its
README), get in by every route — an Avro file, the REST API as JSON and as an Avro body, a
replayed folder, the ingest_alerts command — with what an astronomer looks at intact: the
object, where and when, how bright in which band, the stamps as images, and the history with
its negative detections marked; and bad files are refused with a reason, nothing stored."""

import base64
import html
import io
import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import fastavro
import pytest
from django.core.management import call_command

from alerts.classifiers import classify_new_alerts
from alerts.models import Alert, AlertClassification, AlertStream, DeadLetter, Source
from alerts.services import ingest_avro
from alerts.streams import run_stream
from observations.fits import inflate_fits, read_pixels
from portal.tenancy import tenant_context
from tests.alerts.test_classification import serve_untrained, wait_published
from tests.conftest import api_client

REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "alerts"
AVRO = "avro/binary"


@dataclass(frozen=True)
class Seen:
    """What a user should see of a real packet."""

    object_id: str
    candidate_id: int
    ra_deg: float
    dec_deg: float
    observed: str  # UTC, to the second
    band: str
    magnitude: float
    positive: bool
    history: int  # earlier points: detections and upper limits
    negative_history: int
    stamp_px: int | None  # a side of the science stamp, None: the packet carried none


EXPECTED = {
    "ztf-3.3-ZTF17aaajnnn.avro": Seen("ZTF17aaajnnn", 472263571115115000, 179.6402013, 52.0297203,
                                      "2018-04-18T06:19:33", "r", 18.3619, True, 11, 0, 63),
    "ztf-3.2-ZTF17aaacxxf-negative.avro": Seen("ZTF17aaacxxf", 739260766315010006, 75.2007803, 35.3613954,
                                               "2019-01-10T06:15:30", "r", 15.3711, False, 28, 19, 63),
    "ztf-4.02-ZTF18abaqxrt-negative.avro": Seen("ZTF18abaqxrt", 2481153800115010036, 290.6173, 1.7065,
                                                "2023-10-18T03:41:29", "g", 17.9183, False, 17, 7, 63),
    # Rubin: nJy → AB magnitude of the flux's size (31.4 - 2.5 log10 |f|), TAI → UTC (37 s).
    "rubin-7.4-58804293150441527-negative.avro": Seen("3527247275581505617", 58804293150441527, 52.0118, -28.9876,
                                                      "2025-04-11T20:03:15", "i", 21.978, False, 5, 5, 30),
    "rubin-9.0-169298432598474839-negative.avro": Seen("169298432598474839", 169298432598474839, 10.4989, -45.1014,
                                                       "2025-09-06T07:55:10", "i", 22.522, False, 0, 0, 30),
    # The same Rubin packet with its (optional) cutouts taken out and its ids moved on by one.
    "rubin-9.0-169298432598474840-negative-no-cutouts.avro": Seen("169298432598474840", 169298432598474840, 10.4989,
                                                                  -45.1014, "2025-09-06T07:55:10", "i", 22.522, False,
                                                                  0, 0, None),
}  # fmt: skip
FILES = sorted(EXPECTED)


def test_every_file_of_the_real_corpus_has_its_expectations():
    assert sorted(path.name for path in REAL.glob("*.avro")) == FILES


@pytest.fixture
def observatory(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        yield tenant, users


def records(name):
    with (REAL / name).open("rb") as avro:
        return list(fastavro.reader(avro))


def as_json(record):
    """A real packet as a partner's pipeline sends it as JSON: bytes in base64, and NaN (which
    JSON cannot carry) as null."""
    if isinstance(record, dict):
        return {key: as_json(value) for key, value in record.items()}
    if isinstance(record, list):
        return [as_json(value) for value in record]
    if isinstance(record, bytes):
        return base64.b64encode(record).decode()
    if isinstance(record, float) and not math.isfinite(record):
        return None
    return record


def assert_seen_in_api(detail, seen):
    """The alert as the API's detail shows it: the packet's facts and its readable stamps."""
    assert (detail["object_id"], detail["candidate_id"], detail["band"]) == (seen.object_id, seen.candidate_id,
                                                                             seen.band)  # fmt: skip
    assert detail["ra_deg"] == pytest.approx(seen.ra_deg, abs=1e-4)
    assert detail["dec_deg"] == pytest.approx(seen.dec_deg, abs=1e-4)
    assert detail["observed_at"].startswith(seen.observed), detail["observed_at"]
    assert detail["magnitude"] == pytest.approx(seen.magnitude, abs=1e-3) and detail["positive"] is seen.positive
    history = detail["history"]
    assert len(history) == seen.history
    assert sum(entry.get("positive") is False for entry in history) == seen.negative_history
    assert all("positive" in entry for entry in history if "magnitude" in entry), "every detection says its sign"
    if seen.stamp_px is None:
        assert detail["stamps"] == {"science": None, "template": None, "difference": None}
    for name, stamp in detail["stamps"].items():
        if seen.stamp_px is not None:
            pixels, _ = read_pixels(inflate_fits(base64.b64decode(stamp)))
            assert pixels.shape == (seen.stamp_px, seen.stamp_px), name


@pytest.mark.parametrize("name", FILES)
def test_a_real_avro_file_is_stored_as_an_astronomer_reads_it(observatory, name):
    tenant, users = observatory
    seen = EXPECTED[name]
    with (REAL / name).open("rb") as avro:
        result = ingest_avro(tenant, avro, origin=name)
    assert not result.refused and not result.unreadable and len(result.alerts) == 1
    (alert,) = result.alerts
    assert alert.source == Source.FILE and alert.origin == name
    assert alert.alert_object.object_id == seen.object_id and alert.alert_object.target.name == seen.object_id
    detail = api_client(tenant, users["admin"]).get(f"/api/v1/alerts/{alert.pk}/").json()
    assert_seen_in_api(detail, seen)


def test_real_packets_posted_as_json_with_base64_stamps_are_stored_as_sent(observatory):
    tenant, users = observatory
    client = api_client(tenant, users["admin"])
    response = client.post("/api/v1/alerts/", [as_json(record) for name in FILES for record in records(name)],
                           format="json")  # fmt: skip
    assert response.status_code == 201, response.json()
    answer = response.json()
    assert (answer["stored"], answer["duplicates"], answer["refused"]) == (len(FILES), 0, [])
    for alert_id in answer["ids"]:
        detail = client.get(f"/api/v1/alerts/{alert_id}/").json()
        assert_seen_in_api(detail, next(seen for seen in EXPECTED.values()
                                        if seen.candidate_id == detail["candidate_id"]))  # fmt: skip


@pytest.mark.parametrize("content_type", [AVRO, "application/avro"])
def test_real_avro_files_posted_as_the_body_are_stored_and_a_second_time_are_duplicates(observatory, content_type):
    tenant, users = observatory
    client = api_client(tenant, users["admin"])
    for name in FILES:
        response = client.post("/api/v1/alerts/", (REAL / name).read_bytes(), content_type=content_type)
        assert response.status_code == 201, (name, response.json())
        answer = response.json()
        assert (answer["stored"], answer["duplicates"], answer["refused"]) == (1, 0, []), name
        detail = client.get(f"/api/v1/alerts/{answer['ids'][0]}/").json()
        assert_seen_in_api(detail, EXPECTED[name])
        assert (detail["source"], detail["origin"]) == ("rest", "test key")
    again = client.post("/api/v1/alerts/", (REAL / FILES[0]).read_bytes(), content_type=content_type)
    assert (again.status_code, again.json()["stored"], again.json()["duplicates"]) == (200, 0, 1)
    with tenant_context(tenant):
        assert Alert.objects.count() == len(FILES)


def test_an_avro_body_of_several_packets_is_answered_per_packet(observatory):
    tenant, users = observatory
    name = "ztf-3.3-ZTF17aaajnnn.avro"
    with (REAL / name).open("rb") as avro:
        reader = fastavro.reader(avro)
        schema, (packet,) = reader.writer_schema, list(reader)
    later = {**packet, "candid": packet["candid"] + 1}
    off_the_sky = {**packet, "candid": packet["candid"] + 2, "candidate": {**packet["candidate"], "dec": 95.0}}
    body = io.BytesIO()
    fastavro.writer(body, schema, [packet, later, off_the_sky])
    response = api_client(tenant, users["admin"]).post("/api/v1/alerts/", body.getvalue(), content_type=AVRO)
    assert response.status_code == 201, response.json()
    answer = response.json()
    assert (answer["stored"], answer["duplicates"], len(answer["ids"])) == (2, 0, 2)
    (refused,) = answer["refused"]
    assert refused["index"] == 2 and "ra/dec: (179.6402013, 95.0) is not a position on the sky" in refused["reason"]


def _avro_file(name, packets):
    """A real file's packet ``packets`` times over, as one container."""
    with (REAL / name).open("rb") as avro:
        reader = fastavro.reader(avro)
        schema, (packet,) = reader.writer_schema, list(reader)
    body = io.BytesIO()
    fastavro.writer(body, schema, [packet] * packets)
    return body.getvalue()


BAD_BODIES = {
    "empty": (b"", "the body is empty: send an Avro container file"),
    "not Avro": (b"SIMPLE  =                    T" + bytes(2850), "it is not an Avro file: it starts b'SIMP'"),
    "cut short": ((REAL / FILES[-1]).read_bytes()[:-5000], "it is cut short after its header: the file ends part"),
    "header cut short": ((REAL / FILES[-1]).read_bytes()[:600], "its header cannot be read: cut short or corrupt"),
    "schema-registry framed": (b"\0\0\0\0\x07" + bytes(300), "(a schema registry's framing: Avro without its schema"),
    "JSON labelled Avro": (b'{"objectId": "ZTF17aaajnnn"}', """it is not an Avro file: it starts b'{"ob'"""),
}


@pytest.mark.parametrize("kind", BAD_BODIES)
def test_an_avro_body_that_is_empty_not_avro_or_broken_is_a_problem_and_stores_nothing(observatory, kind):
    tenant, users = observatory
    body, reason = BAD_BODIES[kind]
    response = api_client(tenant, users["admin"]).post("/api/v1/alerts/", body, content_type=AVRO)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400 and reason in problem["detail"], problem["detail"]
    with tenant_context(tenant):
        assert not Alert.objects.exists() and not DeadLetter.objects.exists(), "nothing stored"


def test_an_avro_body_of_more_packets_than_a_batch_is_refused_whole(observatory):
    tenant, users = observatory
    response = api_client(tenant, users["admin"]).post("/api/v1/alerts/", _avro_file(FILES[0], 1001),
                                                       content_type=AVRO)  # fmt: skip
    assert response.status_code == 400
    assert response.json()["detail"] == "packets: send 1 to 1,000 packets a request, got more; nothing was stored"
    with tenant_context(tenant):
        assert not Alert.objects.exists()


def ingest_all(tenant):
    alerts = {}
    for name in FILES:
        with (REAL / name).open("rb") as avro:
            (alerts[name],) = ingest_avro(tenant, avro, origin=name).alerts
    return alerts


def test_real_alerts_are_classified_and_one_without_stamps_is_a_refusal_of_the_real_bogus_model(observatory):
    tenant, users = observatory
    real_bogus, light_curve = serve_untrained(tenant, users["admin"])
    alerts = ingest_all(tenant)
    stamped = [name for name in FILES if EXPECTED[name].stamp_px]
    assert classify_new_alerts(tenant, [alert.pk for alert in alerts.values()]) == {
        "real-bogus": len(stamped), "light-curve": len(FILES)}  # fmt: skip
    answers = {(answer.alert_id, answer.version_id): answer for answer in AlertClassification.objects.all()}
    for name, alert in alerts.items():
        said = answers[(alert.pk, real_bogus.pk)]
        if name in stamped:  # ZTF's 63 px gzipped stamps and Rubin's 30 px plain multi-extension cutouts
            assert said.label in ("real", "bogus") and not said.refusal, (name, said.refusal)
        else:
            assert (said.label, said.refusal) == ("", "no stamps")
        assert answers[(alert.pk, light_curve.pk)].label in light_curve.model.class_names


def test_a_real_avro_body_is_classified_by_the_gpu_worker_moments_after_it_is_posted(workers, committed_tenant_factory):
    tenant, users = committed_tenant_factory(sites=[])
    with tenant_context(tenant):
        serve_untrained(tenant, users["admin"])
    name = "rubin-7.4-58804293150441527-negative.avro"
    response = api_client(tenant, users["admin"]).post("/api/v1/alerts/", (REAL / name).read_bytes(),
                                                       content_type=AVRO)  # fmt: skip
    (alert_id,) = response.json()["ids"]
    wait_published(tenant, [alert_id])
    with tenant_context(tenant):
        said = dict(AlertClassification.objects.filter(alert_id=alert_id).values_list("version__model__name", "label"))
    assert set(said) == {"real-bogus", "light-curve"} and said["real-bogus"] in ("real", "bogus")


def test_a_replayed_folder_of_real_files_is_ingested(observatory):
    tenant, _ = observatory
    stream = AlertStream.objects.create(tenant=tenant, name="real", kind="replay", folder=str(REAL), rate_per_s=100)
    progress = run_stream(stream, seconds=30, max_alerts=len(FILES))
    assert (progress.stored, progress.duplicates, progress.refused) == (len(FILES), 0, 0)
    stored = {alert.alert_object.object_id: alert for alert in Alert.objects.select_related("alert_object")}
    assert set(stored) == {seen.object_id for seen in EXPECTED.values()}
    for name in FILES:
        alert = stored[EXPECTED[name].object_id]
        assert alert.origin == f"real:{name}" and alert.positive is EXPECTED[name].positive
    assert not DeadLetter.objects.exists()


def test_the_ingest_alerts_command_takes_files_and_folders_and_lists_what_it_refused(observatory, tmp_path, capsys):
    tenant, _ = observatory
    night = tmp_path / "night"
    shutil.copytree(REAL, night / "real")
    (night / "empty.avro").write_bytes(b"")
    (night / "stamp.avro").write_bytes(b"SIMPLE  =                    T" + bytes(2850))
    (night / "cut.avro").write_bytes((REAL / FILES[-1]).read_bytes()[:-5000])
    off_the_sky = tmp_path / "off-the-sky.avro"
    with (REAL / "ztf-3.3-ZTF17aaajnnn.avro").open("rb") as avro:
        reader = fastavro.reader(avro)
        schema, (packet,) = reader.writer_schema, list(reader)
    with off_the_sky.open("wb") as avro:
        fastavro.writer(avro, schema, [{**packet, "candid": 1, "candidate": {**packet["candidate"], "ra": -1.0}}])
    call_command("ingest_alerts", tenant.slug, str(night), str(off_the_sky))
    lines = capsys.readouterr().out.splitlines()
    for name in FILES:
        assert f"stored    {night / 'real' / name}: 1 stored, 0 duplicates, 0 refused" in lines
    assert "refused   empty.avro: it is empty: an Avro container file starts with 'Obj\\x01' and a schema; " \
           "nothing of it was stored" in lines  # fmt: skip
    assert any(line.startswith("refused   stamp.avro: it is not an Avro file: it starts b'SIMP'") for line in lines)
    assert any(line.startswith("refused   cut.avro: it is cut short after its header") for line in lines)
    assert f"refused   {off_the_sky}: 0 stored, 0 duplicates, 1 refused" in lines
    assert any("packet 0: ra/dec: (-1.0, 52.0297203) is not a position on the sky" in line for line in lines)
    assert lines[-1] == "10 files: 6 alerts stored, 0 duplicates, 1 packets refused, 3 files unreadable."
    assert Alert.objects.count() == len(FILES)
    assert DeadLetter.objects.count() == 4, "one for each bad file and one for the bad packet"


def test_the_panel_marks_a_negative_detection_and_its_light_curve_draws_negative_history_apart(client, observatory):
    tenant, users = observatory
    alerts = ingest_all(tenant)
    client.force_login(users["admin"])
    negative = alerts["ztf-3.2-ZTF17aaacxxf-negative.avro"]
    panel = client.get(f"/t/{tenant.slug}/alerts/{negative.pk}/").text
    assert "negative detection (fainter than the template)" in panel
    figure = json.loads(html.unescape(re.search(r'data-figure="([^"]*)"', panel).group(1)))
    traces = {trace["name"]: trace for trace in figure["data"]}
    assert set(traces) == {
        "g",
        "g negative (fainter than the template)",
        "g upper limit",
        "r negative (fainter than the template)",
        "r upper limit",
    }, "19 negative detections and 3 positive in g, none in r"
    assert (
        len(traces["g negative (fainter than the template)"]["x"])
        + len(traces["r negative (fainter than the template)"]["x"])
        == 20
    ), "19 earlier negatives and the alert itself"
    negative_r = traces["r negative (fainter than the template)"]
    assert traces["g"]["mode"] == "markers+lines" and negative_r["mode"] == "markers", "negatives are not joined"
    assert negative_r["marker"]["symbol"] == "circle-open"
    assert negative_r["customdata"][-1] == "2019-01-10 06:15:30", "each point's hover gives its UTC date"
    assert figure["layout"]["xaxis"]["exponentformat"] == "none", "whole MJDs on the axis, not '61k'"
    positive = client.get(f"/t/{tenant.slug}/alerts/{alerts['ztf-3.3-ZTF17aaajnnn.avro'].pk}/").text
    assert "negative detection" not in positive.split('id="light-curve"')[0]
    stamp = client.get(f"/t/{tenant.slug}/alerts/{alerts['rubin-9.0-169298432598474839-negative.avro'].pk}/science.png")
    assert stamp.status_code == 200 and stamp.content.startswith(b"\x89PNG"), "Rubin's plain FITS cutouts are shown"
    stampless = alerts["rubin-9.0-169298432598474840-negative-no-cutouts.avro"]
    bare = client.get(f"/t/{tenant.slug}/alerts/{stampless.pk}/").text
    assert "The packet carried no stamps" in bare and "science stamp" not in bare


def test_history_stored_before_the_sign_was_kept_reads_as_positive(observatory):
    tenant, users = observatory
    alert = ingest_all(tenant)["ztf-3.2-ZTF17aaacxxf-negative.avro"]
    old = [{key: value for key, value in entry.items() if key != "positive"} for entry in alert.history]
    Alert.objects.filter(pk=alert.pk).update(history=old)
    detail = api_client(tenant, users["admin"]).get(f"/api/v1/alerts/{alert.pk}/").json()
    assert all(entry["positive"] is True for entry in detail["history"] if "magnitude" in entry)
    assert sum("limit" in entry and "positive" not in entry for entry in detail["history"]) == 6


def test_the_documented_batch_of_real_packets_fits_the_alerts_api_body_limit(settings, observatory):
    """1,000 packets (the API's documented maximum) of the largest real shape, as JSON with base64
    stamps, fit the body limit, which is still a bound: past it the API answers 413 stating it."""
    largest = max(len(json.dumps(as_json(record), default=str)) for name in FILES for record in records(name))
    assert 1000 * largest < settings.ALERTS_API_MAX_BODY_BYTES <= 512 * 2**20
    tenant, users = observatory
    client = api_client(tenant, users["admin"])
    batch = [as_json(record) for name in FILES for record in records(name)] * 5  # repeats are duplicates
    assert len(json.dumps(batch, default=str)) > 2.5 * 2**20  # past Django's limit for other bodies
    assert client.post("/api/v1/alerts/", batch, format="json").status_code == 201
    settings.ALERTS_API_MAX_BODY_BYTES = 100_000
    refused = client.post("/api/v1/alerts/", batch, format="json")
    assert (refused.status_code, refused["Content-Type"]) == (413, "application/problem+json")
    assert "at most 100,000" in refused.json()["detail"]
