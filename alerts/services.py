"""Alert ingest: one path for every source (broker streams, Avro files, the REST API, later
the array's own difference imaging).

A batch of packets is read and checked one by one: a bad packet becomes a dead letter with
its reason and the rest carry on. The good ones are stored in one savepoint — the same
candidate twice is stored once — and each new object is matched on arrival to the
observatory's nearest target within the crossmatch radius, or becomes a new transient target.
"""

import json
import logging
from dataclasses import dataclass, field

import numpy as np
from astropy import units as u
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Case, F, When
from django.db.models.functions import Greatest, Lower

from observations.models import Target
from observations.services import nearest_targets
from observations.sky import healpix_index
from portal.sql import server_cursor

from . import runs
from .avro import AvroUnreadable, read_alerts
from .filters import matches
from .models import Alert, AlertClassification, AlertFilter, AlertObject, DeadLetter, PendingAlert, Source
from .packets import PacketRefused, observed_times, read_packet

logger = logging.getLogger(__name__)
DEAD_LETTER_BYTES = 64 * 1024
FILE_BATCH = 500


@dataclass
class IngestResult:
    alerts: list = field(default_factory=list)  # the Alerts stored now, in id order
    duplicates: int = 0
    refused: list = field(default_factory=list)  # (index in the batch, reason)
    unreadable: str = ""  # why a file was refused whole (ingest_avro)
    outcomes: list = field(default_factory=list)  # per packet, in batch order: (index, "stored", alert id),
    # (index, "duplicate", None) or (index, "refused", reason)

    def merge(self, other, offset):
        self.alerts += other.alerts
        self.duplicates += other.duplicates
        self.refused += [(index + offset, reason) for index, reason in other.refused]
        self.outcomes += [(index + offset, status, said) for index, status, said in other.outcomes]


# What storing a packet the checks let through can still fail with: a value PostgreSQL refuses
# (DataError), a constraint (IntegrityError), one psycopg cannot bind (OverflowError). Not the
# database being gone (OperationalError): that is no fault of the packet, and the caller retries.
STORE_FAULTS = (DataError, IntegrityError, ValueError, OverflowError)


def ingest_packets(tenant, records, *, source, origin=""):
    """Store a batch of ZTF-schema records (dicts) for ``tenant``; see the module docstring.

    Each packet is kept or refused on its own: the batch is stored in one savepoint, and should
    the database refuse it, packet by packet in a savepoint each, so a packet that passed the
    checks but not the database is a dead letter and the rest are stored whole."""
    packets, refused = [], []
    for index, record in enumerate(records):
        try:
            packets.append((index, read_packet(record)))
        except PacketRefused as refusal:
            refused.append((index, str(refusal)))
            _dead_letter(tenant, source, origin, str(refusal), record, refusal.candidate_id)
    stored, duplicates = {}, 0
    try:
        stored, duplicates = _store_retrying(tenant, [packet for _, packet in packets], source, origin)
    except STORE_FAULTS:
        logger.warning("a batch of %d alerts was refused by the database; storing them one by one", len(packets))
        for index, packet in packets:
            try:
                alone, twice = _store_retrying(tenant, [packet], source, origin)
            except STORE_FAULTS as fault:
                reason = f"the packet passed the checks but could not be stored: {_first_line(fault)}"
                refused.append((index, reason))
                _dead_letter(tenant, source, origin, reason, records[index], packet.candidate_id)
            else:
                stored.update(alone)
                duplicates += twice
    result = IngestResult(alerts=sorted(stored.values(), key=lambda alert: alert.pk), duplicates=duplicates,
                          refused=sorted(refused), outcomes=_outcomes(packets, stored, refused))  # fmt: skip
    if result.alerts:
        runs.classify_when_committed(tenant, [alert.pk for alert in result.alerts])
    return result


def _store_retrying(tenant, packets, source, origin):
    try:
        return _store(tenant, packets, source, origin)
    except IntegrityError:  # another worker stored some of these between our check and our insert
        return _store(tenant, packets, source, origin)


def _outcomes(packets, stored, refused):
    """Each packet's (index, status, alert id or reason), in batch order: of the same candidate
    twice in a batch, the first is the one stored."""
    outcomes, claimed = [(index, "refused", reason) for index, reason in refused], set()
    for index, packet in packets:
        if packet.candidate_id in stored and packet.candidate_id not in claimed:
            claimed.add(packet.candidate_id)
            outcomes.append((index, "stored", stored[packet.candidate_id].pk))
        elif all(index != refused_index for refused_index, _ in refused):
            outcomes.append((index, "duplicate", None))
    return sorted(outcomes)


def _first_line(fault):
    return str(fault).strip().splitlines()[0] if str(fault).strip() else type(fault).__name__


def ingest_avro(tenant, fileobj, *, source=Source.FILE, origin=""):
    """Store every packet of an Avro container, all or nothing: a file that is empty, not Avro,
    or breaks part way (cut short in transfer, corrupt) stores none of its packets and is one
    dead letter saying what is wrong with it (``unreadable``). In a readable file, bad packets
    are refused one by one and the rest stored."""
    try:
        return ingest_records(tenant, read_alerts(fileobj), source=source, origin=origin)
    except AvroUnreadable as error:
        reason = f"{origin or 'the file'}: {error}; nothing of it was stored"
        _dead_letter(tenant, source, origin, reason, None, None)
        return IngestResult(unreadable=reason)


class TooManyPackets(Exception):
    pass


def ingest_records(tenant, records, *, source, origin="", most=None):
    """Store packets as ``records`` yields them, FILE_BATCH at a time, so that memory holds one
    batch however many there are, in one transaction: should reading them fail part way (a
    file or body cut short or corrupt), or pass ``most`` (TooManyPackets), nothing of them is
    kept and the reader's error goes to the caller."""
    result, batch, offset = IngestResult(), [], 0
    with transaction.atomic():
        for record in records:
            batch.append(record)
            if most is not None and offset + len(batch) > most:
                raise TooManyPackets(f"more than {most:,} packets")
            if len(batch) == FILE_BATCH:
                result.merge(ingest_packets(tenant, batch, source=source, origin=origin), offset)
                offset, batch = offset + len(batch), []
        if batch:
            result.merge(ingest_packets(tenant, batch, source=source, origin=origin), offset)
    return result


def _store(tenant, packets, source, origin):
    """({candidate id: Alert stored now}, how many packets were duplicates), in one savepoint."""
    if not packets:
        return {}, 0
    with transaction.atomic():
        seen = set(Alert.objects.filter(tenant=tenant, candidate_id__in=[p.candidate_id for p in packets])
                   .order_by().values_list("candidate_id", flat=True))  # fmt: skip
        fresh = []
        for packet in packets:
            if packet.candidate_id not in seen:
                seen.add(packet.candidate_id)
                fresh.append(packet)
        detected = {}
        for packet in fresh:
            detected.setdefault(packet.object_id, []).append(packet.mjd)
        objects, created = _objects_for(tenant, fresh, detected)
        alerts = _insert_binding_on_server([
            Alert(tenant=tenant, alert_object=objects[p.object_id], candidate_id=p.candidate_id, source=source,
                  origin=origin[:200], ra_deg=p.ra_deg, dec_deg=p.dec_deg, observed_at=observed_at, mjd=p.mjd,
                  band=p.band, magnitude=p.magnitude, magnitude_error=p.magnitude_error, positive=p.positive,
                  broker_real_bogus=p.broker_real_bogus, history=p.history, science_stamp=p.stamps["science"],
                  template_stamp=p.stamps["template"], difference_stamp=p.stamps["difference"])
            for p, observed_at in zip(fresh, observed_times(fresh))
        ])  # fmt: skip
        for object_id, mjds in detected.items():
            if object_id in created:
                continue  # created with these detections counted
            AlertObject.objects.filter(pk=objects[object_id].pk).update(
                detections=F("detections") + len(mjds), last_mjd=Greatest(F("last_mjd"), max(mjds))
            )
    return {alert.candidate_id: alert for alert in alerts}, len(packets) - len(fresh)


def _insert_binding_on_server(alerts):
    """``bulk_create`` for new alerts, values bound on the server: Django binds on the client,
    escaping each alert's three stamps into the statement's text, which cost the web server
    more than the rest of storing the alert. The same statement queues each alert for the
    classifiers (a ``PendingAlert``). Fills in each alert's id, as bulk_create does."""
    if not alerts:
        return alerts
    fields = [field for field in Alert._meta.concrete_fields if not field.primary_key]
    rows = ", ".join([f"({', '.join(['%s'] * len(fields))})"] * len(alerts))
    statement = (f"WITH stored AS (INSERT INTO {Alert._meta.db_table} ({', '.join(field.column for field in fields)}) "
                 f"VALUES {rows} RETURNING id, tenant_id), "
                 f"queued AS (INSERT INTO {PendingAlert._meta.db_table} (alert_id, tenant_id) "
                 f"SELECT id, tenant_id FROM stored) "
                 f"SELECT id FROM stored")  # fmt: skip
    values = [field.get_db_prep_save(field.pre_save(alert, True), connection) for alert in alerts for field in fields]
    with server_cursor() as cursor:
        for alert, (pk,) in zip(alerts, cursor.execute(statement, values, prepare=False).fetchall()):
            alert.pk, alert._state.adding, alert._state.db = pk, False, connection.alias
    return alerts


def _objects_for(tenant, packets, detected):
    """(object_id -> AlertObject for the packets' objects, the ids of those created now):
    new ones are crossmatched and created together, with their ``detected`` mjds counted."""
    first = {}
    for packet in sorted(packets, key=lambda p: p.mjd):
        first.setdefault(packet.object_id, packet)
    objects = {o.object_id: o for o in AlertObject.objects.filter(tenant=tenant, object_id__in=list(first))}
    new = {object_id: packet for object_id, packet in first.items() if object_id not in objects}
    if new:
        targets = _crossmatch(tenant, new)
        objects.update((made.object_id, made) for made in AlertObject.objects.bulk_create(
            AlertObject(tenant=tenant, object_id=object_id, target=targets[object_id], ra_deg=packet.ra_deg,
                        dec_deg=packet.dec_deg, first_mjd=packet.mjd, last_mjd=max(detected[object_id]),
                        detections=len(detected[object_id]))
            for object_id, packet in new.items()
        ))  # fmt: skip
    return objects, set(new)


def _crossmatch(tenant, first_packets):
    """object_id -> target for new objects ({object_id: first packet}): the observatory's
    nearest target within the crossmatch radius, else the target already named after the
    object, else a new transient target so named (the new ones inserted together)."""
    radius = settings.ALERT_CROSSMATCH_RADIUS_ARCSEC * u.arcsec
    positions = [(packet.ra_deg, packet.dec_deg) for packet in first_packets.values()]
    targets = {object_id: target for object_id, target in zip(first_packets, nearest_targets(tenant, positions, radius))
               if target is not None}  # fmt: skip
    unmatched = [object_id for object_id in first_packets if object_id not in targets]
    if not unmatched:
        return targets
    named = {target.name.lower(): target for target in Target.objects.annotate(lower_name=Lower("name"))
             .filter(tenant=tenant, lower_name__in=[object_id.lower() for object_id in unmatched])}  # fmt: skip
    fresh = [object_id for object_id in unmatched if object_id.lower() not in named]
    pixels = healpix_index([first_packets[o].ra_deg for o in fresh], [first_packets[o].dec_deg for o in fresh])
    created = Target.objects.bulk_create(
        Target(tenant=tenant, name=object_id, ra_deg=first_packets[object_id].ra_deg, healpix=int(pixel),
               dec_deg=first_packets[object_id].dec_deg, kind=Target.Kind.TRANSIENT, tags=["alert"])
        for object_id, pixel in zip(fresh, np.atleast_1d(pixels))
    )  # fmt: skip
    targets.update((object_id, named[object_id.lower()]) for object_id in unmatched if object_id.lower() in named)
    targets.update((target.name, target) for target in created)
    return targets


def _dead_letter(tenant, source, origin, reason, record, candidate_id):
    """A refusal's reason may quote the packet (its field names), NUL and all; PostgreSQL text
    holds no NUL, so it is stored escaped: the packet itself is kept whole in ``payload``."""
    reason = reason.replace("\x00", "\\x00")
    DeadLetter.objects.create(tenant=tenant, source=source, origin=origin[:200], reason=reason,
                              candidate_id=candidate_id, payload=_payload(record))  # fmt: skip


def _payload(record):
    """The packet as received, for whoever debugs the stream: JSON where it can be (stamps as
    their size), its repr otherwise; at most 64 KiB."""
    if record is None:
        return b""

    def describe(value):
        return f"<{len(value)} bytes>" if isinstance(value, bytes | bytearray) else repr(value)

    try:
        text = json.dumps(record, default=describe)
    except (TypeError, ValueError):
        text = repr(record)
    return text.encode()[:DEAD_LETTER_BYTES]


def scores_by_alert(tenant, alert_ids):
    """{alert id: what the classifiers said of it, as filters read it}: P(real) from the
    real-bogus model and the class from the light-curve model; where several models serve,
    the observatory's own answers win, then the newest version's. Read as plain rows: a
    burst's classifications built as model instances cost the gpu worker more than
    classifying it. Every id has an entry; an alert no model answered has no scores."""
    scores = {alert_id: {"real": None, "label": None, "probabilities": {}} for alert_id in alert_ids}
    own_last = Case(When(version__tenant=tenant, then=1), default=0)
    answers = (AlertClassification.objects.filter(alert_id__in=alert_ids, refusal="").order_by(own_last, "version_id")
               .values_list("alert_id", "version__model__task", "label", "probabilities"))  # fmt: skip
    for alert_id, task, label, probabilities in answers:
        said = scores[alert_id]
        if task == "real_bogus":
            said["real"] = probabilities.get("real")
        elif task == "light_curve":
            said["label"], said["probabilities"] = label, probabilities
    return scores


def matching_filters(tenant, alerts, scores):
    """{alert: [the tenant's enabled filters it meets]} for ``alerts`` (with their objects and
    targets loaded), given ``scores_by_alert`` of them."""
    filters = list(AlertFilter.objects.filter(tenant=tenant, enabled=True))
    return {alert: [alert_filter for alert_filter in filters
                    if matches(alert_filter.conditions, alert, scores[alert.pk])]
            for alert in alerts}  # fmt: skip
