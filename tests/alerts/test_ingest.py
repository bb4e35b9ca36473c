"""Alert ingest as a broker, a replayed Avro file and a partner's pipeline feed it: stored once,
matched to targets on arrival, and every bad packet named in a dead letter while the rest go on."""

import base64
import copy
import gzip
import io
import json

import pytest
from astropy.io import fits

from alerts.avro import write_alerts
from alerts.models import Alert, AlertObject, AlertStream, DeadLetter, Source
from alerts.services import ingest_avro, ingest_packets
from alerts.streams import run_stream
from alerts.synthetic import make_alert
from observations.models import Target
from portal.tenancy import tenant_context
from tests.conftest import api_client


@pytest.fixture
def observatory(tenant_factory):
    tenant, users = tenant_factory(sites=[])
    with tenant_context(tenant):
        yield tenant, users


def ingest(tenant, *alerts, source=Source.STREAM):
    return ingest_packets(tenant, [alert.packet for alert in alerts], source=source, origin="ztf-test")


def test_an_alert_is_stored_with_its_detection_history_and_stamps_and_a_new_object_gets_a_transient_target(
    observatory,
):
    tenant, _ = observatory
    synthetic = make_alert(1, "sn_ia")
    result = ingest(tenant, synthetic)
    (alert,) = result.alerts
    candidate = synthetic.packet["candidate"]
    band = {1: "g", 2: "r"}[candidate["fid"]]
    assert (alert.candidate_id, alert.band) == (synthetic.packet["candid"], band)
    assert alert.magnitude == pytest.approx(candidate["magpsf"])
    assert alert.mjd == pytest.approx(candidate["jd"] - 2400000.5) and alert.observed_at.year in (2025, 2026)
    assert len(alert.history) == len(synthetic.packet["prv_candidates"]) > 5
    with fits.open(io.BytesIO(gzip.decompress(bytes(Alert.objects.get(pk=alert.pk).difference_stamp)))) as stamp:
        assert stamp[0].data.shape == (63, 63)
    target = alert.alert_object.target
    assert (target.name, target.kind, target.tags) == (synthetic.packet["objectId"], "transient", ["alert"])
    assert target.ra_deg == pytest.approx(candidate["ra"])


def test_alerts_near_known_targets_belong_to_the_nearest_and_one_further_out_does_not(observatory):
    tenant, _ = observatory
    host = Target.objects.create(tenant=tenant, name="NGC 4993", ra_deg=197.45, dec_deg=-23.38)
    Target.objects.create(tenant=tenant, name="NGC 4993 knot", ra_deg=197.45 - 0.5 / 3600, dec_deg=-23.38)
    m51 = Target.objects.create(tenant=tenant, name="M51", ra_deg=202.4696, dec_deg=47.1952)
    near = make_alert(2, "sn_ia", ra_deg=197.45 + 1.0 / 3600, dec_deg=-23.38)  # 0.9″ from the host, 1.4″ from the knot
    far = make_alert(3, "sn_ia", ra_deg=197.45, dec_deg=-23.38 + 3.0 / 3600)
    in_m51 = make_alert(4, "sn_ii", ra_deg=202.4696, dec_deg=47.1952 + 0.5 / 3600)
    ingest(tenant, near, far, in_m51)  # one batch: crossmatched together
    objects = {o.object_id: o for o in AlertObject.objects.select_related("target")}
    assert objects[near.packet["objectId"]].target == host
    assert objects[in_m51.packet["objectId"]].target == m51
    assert objects[far.packet["objectId"]].target.name == far.packet["objectId"]


def test_the_same_candidate_twice_is_stored_once_and_a_second_detection_extends_its_object(observatory):
    tenant, _ = observatory
    first = make_alert(4, "variable", object_id="ZTF26aaaaaaa", mjd=61010.0)
    later = make_alert(5, "variable", object_id="ZTF26aaaaaaa", mjd=61012.0, ra_deg=first.packet["candidate"]["ra"],
                       dec_deg=first.packet["candidate"]["dec"])  # fmt: skip
    assert (len(ingest(tenant, first, first).alerts), ingest(tenant, first).duplicates) == (1, 1)
    assert len(ingest(tenant, later).alerts) == 1
    alert_object = AlertObject.objects.get(object_id="ZTF26aaaaaaa")
    assert (alert_object.detections, alert_object.last_mjd) == (2, pytest.approx(61012.0))
    assert Alert.objects.count() == 2 and Target.objects.filter(name="ZTF26aaaaaaa").count() == 1


def _broken(field_path, value):
    def apply(packet):
        *parents, last = field_path
        node = packet
        for name in parents:
            node = node[name]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
        return packet

    return apply


DELETE = object()


@pytest.mark.parametrize("breakage, reason", [
    (_broken(["cutoutScience", "stampData"], b"not gzipped at all"),
     "cutoutScience: the stamp is neither gzipped nor a FITS file"),
    (_broken(["cutoutDifference", "stampData"], gzip.compress(b"just text")),
     "cutoutDifference: the stamp is gzipped but what it holds is not a FITS file"),
    (_broken(["cutoutTemplate", "stampData"], gzip.compress(b"SIMPLE  = " + bytes(8 * 2**20))),
     "cutoutTemplate: the stamp cannot be read: it inflates to more than 4,194,304 bytes.*gzip bomb"),
    (_broken(["cutoutTemplate", "stampData"], gzip.compress(b"SIMPLE  =                    T" + bytes(2850))[:-12]),
     "cutoutTemplate: the stamp cannot be read: the gzip stream is cut short"),
    (_broken(["candidate", "jd"], 2.4e12), "jd: 2400000000000.0 is after 2100"),
    (_broken(["candidate", "dec"], 95.0), r"ra/dec: \(.*, 95.0\) is not a position on the sky"),
    (_broken(["candidate", "ra"], float("nan")), "ra: a finite number is required"),
    (_broken(["candidate", "jd"], 61010.5), "jd: 61010.5 is before 1900; the time is a Julian date"),
    (_broken(["candidate", "fid"], 7), "fid: 7 is not a ZTF filter"),
    (_broken(["candidate", "sigmapsf"], -0.1), "is not a measured magnitude"),
    (_broken(["candid"], DELETE), "candid: a positive integer is required"),
    (_broken(["prv_candidates", 0, "jd"], "yesterday"), r"prv_candidates\[0\]: jd: a finite number"),
])  # fmt: skip
def test_a_bad_packet_becomes_a_dead_letter_naming_the_problem_and_the_rest_are_stored(observatory, breakage, reason):
    tenant, _ = observatory
    good, bad = make_alert(6, "agn"), make_alert(7, "sn_ii")
    bad_packet = breakage(copy.deepcopy(bad.packet))
    result = ingest_packets(tenant, [bad_packet, good.packet], source=Source.STREAM, origin="ztf-test")
    assert [alert.candidate_id for alert in result.alerts] == [good.packet["candid"]]
    ((index, said),) = result.refused
    assert index == 0
    letter = DeadLetter.objects.get()
    assert letter.reason == said and letter.origin == "ztf-test" and letter.source == "stream"
    assert pytest.importorskip("re").search(reason, said), said
    assert bad.packet["objectId"].encode() in bytes(letter.payload) or "objectId" not in bad_packet
    assert not AlertObject.objects.filter(object_id=bad.packet["objectId"]).exists(), "nothing half-written"


def test_an_avro_file_is_ingested_and_one_broken_part_way_stores_nothing_and_says_where_it_broke(observatory):
    tenant, _ = observatory
    alerts = [make_alert(10 + n) for n in range(6)]
    buffer = io.BytesIO()
    write_alerts(buffer, [alert.packet for alert in alerts])
    result = ingest_avro(tenant, io.BytesIO(buffer.getvalue()), origin="night.avro")
    assert len(result.alerts) == 6 and not result.refused and not result.unreadable
    cut = io.BytesIO()
    write_alerts(cut, [make_alert(20 + n).packet for n in range(3)])
    data = cut.getvalue()
    result = ingest_avro(tenant, io.BytesIO(data[: len(data) - 200]), origin="cut.avro")
    assert not result.alerts and result.unreadable.startswith("cut.avro: it is cut short after record 2")
    assert result.unreadable.endswith("nothing of it was stored")
    assert Alert.objects.count() == 6, "the two whole packets before the break are not stored either"
    assert DeadLetter.objects.get(origin="cut.avro").reason == result.unreadable


def as_json(packet):
    """A packet as a partner's pipeline sends it over REST: stamps in base64."""
    packet = copy.deepcopy(packet)
    for field in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
        packet[field]["stampData"] = base64.b64encode(packet[field]["stampData"]).decode()
    return packet


def test_a_partner_posts_alerts_lists_them_and_reads_one_with_its_stamps(observatory):
    tenant, users = observatory
    client = api_client(tenant, users["admin"])
    first, second = make_alert(30, "sn_ia"), make_alert(31, "bogus")
    broken = as_json(make_alert(32).packet)
    broken["candidate"]["dec"] = -91
    response = client.post("/api/v1/alerts/", [as_json(first.packet), as_json(second.packet), broken], format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["stored"] == 2 and body["refused"][0]["index"] == 2 and "not a position" in body["refused"][0]["reason"]
    again = client.post("/api/v1/alerts/", as_json(first.packet), format="json")
    assert (again.status_code, again.json()["duplicates"]) == (200, 1)
    oldest, newest = body["ids"]
    caught_up = client.get(f"/api/v1/alerts/?after={oldest}").json()["results"]
    assert [alert["id"] for alert in caught_up] == [newest]
    listed = client.get("/api/v1/alerts/").json()["results"]
    assert [alert["id"] for alert in listed] == [newest, oldest]
    detail = client.get(f"/api/v1/alerts/{oldest}/").json()
    assert detail["object_id"] == first.packet["objectId"] and detail["target"]["name"] == first.packet["objectId"]
    stamp = gzip.decompress(base64.b64decode(detail["stamps"]["science"]))
    assert fits.Header.fromstring(stamp[:2880])["NAXIS1"] == 63


def test_an_api_request_of_only_bad_packets_is_a_problem_naming_them_and_read_only_keys_cannot_post(observatory):
    tenant, users = observatory
    broken = as_json(make_alert(33).packet)
    broken["cutoutScience"]["stampData"] = "%%%"
    response = api_client(tenant, users["admin"]).post("/api/v1/alerts/", broken, format="json")
    assert response.status_code == 400 and "cutoutScience: stampData is not base64" in response.json()["detail"]
    reader = api_client(tenant, users["admin"], scope="read")
    assert reader.post("/api/v1/alerts/", as_json(make_alert(34).packet), format="json").status_code == 403
    assert reader.get("/api/v1/alerts/?after=x").json()["detail"] == "after: an integer is required, got 'x'"


def _spoiled(alert, where, field, value):
    packet = as_json(alert.packet)
    (packet["candidate"] if where == "candidate" else packet)[field] = value
    return packet


def test_a_posted_list_keeps_its_good_packets_and_each_bad_one_is_a_dead_letter_naming_its_field(observatory):
    tenant, users = observatory
    client = api_client(tenant, users["admin"])
    client.raise_request_exception = False
    good = [make_alert(40, "sn_ia"), make_alert(41, "agn")]
    bad = [_spoiled(make_alert(42), "packet", "candid", 2**63),
           _spoiled(make_alert(43), "packet", "objectId", "ZTF\0x"),
           _spoiled(make_alert(44), "candidate", "jd", 1e300),
           _spoiled(make_alert(45), "candidate", "band", "r\0")]  # fmt: skip
    response = client.post("/api/v1/alerts/", [as_json(good[0].packet), *bad, as_json(good[1].packet)], format="json")
    assert response.status_code == 201, response.content[:300]
    statuses = [(packet["index"], packet["status"]) for packet in response.json()["packets"]]
    assert statuses == [(0, "stored"), (1, "refused"), (2, "refused"), (3, "refused"), (4, "refused"), (5, "stored")]
    with tenant_context(tenant):  # the request ended the test's
        reasons = sorted(letter.reason.split(":")[0] for letter in DeadLetter.objects.all())
        assert reasons == ["band", "candid", "jd", "objectId"]
        assert sorted(Alert.objects.values_list("candidate_id", flat=True)) == sorted(a.packet["candid"] for a in good)
        stored_objects = {alert.packet["objectId"] for alert in good}
        assert set(AlertObject.objects.values_list("object_id", flat=True)) == stored_objects, "nothing else written"
        assert set(Target.objects.values_list("name", flat=True)) == stored_objects


def test_a_packet_the_database_refuses_is_a_dead_letter_and_the_rest_of_its_batch_is_stored(observatory, monkeypatch):
    """The checks' safety net: a packet that passes them but not PostgreSQL (here, a check
    taken away) is refused alone, as a dead letter, whatever the source."""
    tenant, _ = observatory
    monkeypatch.setattr("alerts.packets.ZtfPacket._band", staticmethod(lambda candidate: candidate.get("band", "g")))
    good, spoiled = make_alert(50), make_alert(51)
    spoiled.packet["candidate"]["band"] = "r\0"
    result = ingest_packets(tenant, [good.packet, spoiled.packet, make_alert(52).packet], source=Source.STREAM)
    assert [outcome[1] for outcome in result.outcomes] == ["stored", "refused", "stored"]
    (letter,) = DeadLetter.objects.all()
    assert letter.candidate_id == spoiled.packet["candid"] and "could not be stored" in letter.reason
    assert Alert.objects.count() == 2 and not AlertObject.objects.filter(object_id=spoiled.packet["objectId"]).exists()


def test_a_replayed_stream_goes_on_past_a_bad_packet(observatory, tmp_path):
    tenant, _ = observatory
    packets = [make_alert(60).packet, make_alert(61).packet, make_alert(62).packet]
    packets[1]["objectId"] = "ZTF26\0nul"
    with (tmp_path / "night.avro").open("wb") as avro:
        write_alerts(avro, packets)
    stream = AlertStream.objects.create(tenant=tenant, name="replay", kind="replay", folder=str(tmp_path),
                                        rate_per_s=1000)  # fmt: skip
    progress = run_stream(stream, max_alerts=3, seconds=30)
    assert (progress.stored, progress.refused) == (2, 1)
    assert DeadLetter.objects.get().reason.startswith("objectId:")


def test_a_posted_list_is_stored_as_it_is_read_and_one_cut_short_or_too_long_stores_nothing(observatory):
    """Packets are read from the body one by one (a web process never holds a whole body of a
    thousand packets): a list longer than the reading's megabyte is stored whole, and one that
    is cut short, holds more than 1,000 packets or a packet of too many values stores nothing,
    dead letters included, and says which."""
    tenant, users = observatory
    client = api_client(tenant, users["admin"])
    packets = [as_json(make_alert(60 + n).packet) for n in range(30)]
    body = json.dumps(packets).encode()
    assert len(body) > 2**20
    cut = client.post("/api/v1/alerts/", body[: len(body) - 1000], content_type="application/json")
    assert cut.status_code == 400 and "cut short" in cut.json()["detail"]
    too_many = client.post("/api/v1/alerts/", b"[" + b",".join([b"{}"] * 1001) + b"]", content_type="application/json")
    assert too_many.status_code == 400
    assert too_many.json()["detail"] == "packets: send 1 to 1,000 packets a request, got more; nothing was stored"
    swollen = json.dumps([packets[0], {"candidate": [[]] * 300_000}]).encode()
    refused = client.post("/api/v1/alerts/", swollen, content_type="application/json")
    assert refused.status_code == 400 and refused.json()["detail"] == "item 1 holds more than 200,000 values"
    with tenant_context(tenant):  # each request ends the test's
        assert not Alert.objects.exists() and not DeadLetter.objects.exists()
    whole = client.post("/api/v1/alerts/", body, content_type="application/json")
    assert whole.status_code == 201 and whole.json()["stored"] == 30
    with tenant_context(tenant):
        assert Alert.objects.count() == 30
