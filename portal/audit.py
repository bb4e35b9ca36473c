"""The audit log's one door: the services that change members, keys, models and equipment
record here who did it, from where, and what each field was before and after.

An entry is written in the transaction of the change it records, so a change that rolls back
leaves no entry and a committed one always has its entry; ``record`` refuses to run outside a
transaction. The rows are append-only in the database (``portal.rls.APPEND_ONLY_TABLES``).
"""

import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from . import tenancy
from .models import Action, AuditEntry, Where
from .throttling import client_address

# Models whose edits in the admin and through the API are recorded, by label, as the kind their
# actions name (``site.changed`` …): portal names other apps' models without importing them.
KINDS = {
    "portal.site": "site",
    "portal.telescope": "telescope",
    "portal.instrument": "instrument",
    "portal.filter": "filter",
    "portal.headerrule": "header_rule",
    "portal.apikey": "api_key",
    "mlmodels.mlmodel": "model",
    "alerts.alertstream": "alert_stream",
}
# Fields a change of which is not the admin's doing (counters, timestamps) or whose value must
# not be copied into a log that admins read (secrets).
UNRECORDED = {"tenant", "key_hash", "webhook_secret", "received", "last_received_at", "last_error", "last_error_at",
              "last_used_at", "created_at"}  # fmt: skip
SECRET_WORDS = ("password", "secret", "token")


@dataclass(frozen=True)
class Origin:
    """Who made a change, and through what: a page, the API (with which key), the admin, a
    command or a worker task."""

    via: str
    actor: object = None
    address: str | None = None
    api_key_prefix: str = ""


SYSTEM = Origin(Where.SYSTEM)


def origin(request):
    """The origin of a change a page, an API call or the admin makes for ``request``."""
    key = getattr(request, "auth", None)  # an API key, or a signed-in browser's grant (portal.api_auth)
    if key is not None:
        via = Where.API
    elif request.resolver_match is not None and request.resolver_match.namespace == "admin":
        via = Where.ADMIN
    else:
        via = Where.PAGE
    user = request.user if request.user.is_authenticated else None
    return Origin(via, user, _ip(client_address(request)), getattr(key, "prefix", ""))


def _ip(address):
    try:
        return str(ipaddress.ip_address(address))
    except (TypeError, ValueError):
        return None  # a proxy's header that names no address: recorded as unknown, not refused


def record(tenant, action, subject, origin, *, label=None, changes=None, **facts):
    """Write one entry: ``subject`` (a model instance) was ``action``-ed in ``tenant`` by
    ``origin``; ``changes`` is ``{field: [before, after]}``, ``facts`` anything else worth
    keeping (JSON values). The subject's kind is the action's; its label is ``str(subject)``
    unless given, kept as text so the entry outlives the subject."""
    action = Action(action)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"audit.record({action}) outside a transaction: wrap the change and its entry in one")
    # A list, not an object: JSONB keeps no key order, and the page lists fields as the model does.
    details = {"changes": [[field, *values] for field, values in changes.items()], **facts} if changes else facts
    actor = origin.actor
    entry = AuditEntry(tenant=tenant, action=action, actor=actor, actor_name=actor.get_username() if actor else "",
                       subject_type=action.split(".")[0], subject_id="" if subject.pk is None else str(subject.pk),
                       subject_label=(str(subject) if label is None else label)[:200], details=_json(details),
                       via=origin.via, address=origin.address, api_key_prefix=origin.api_key_prefix)  # fmt: skip
    if tenancy.current_tenant() == tenant:
        entry.save()
    else:
        with tenancy.tenant_context(tenant):  # e.g. a public model's owner, promoted from a command
            entry.save()
    return entry


def _json(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def kind_of(instance):
    """The audited kind of ``instance``'s model, or None when its edits are not recorded."""
    return KINDS.get(instance._meta.label_lower)


def snapshot(instance):
    """The fields of ``instance`` an entry shows before and after, as JSON values (a related
    row by its name, as the admin shows it; a secret as "•••")."""
    values = {}
    for field in instance._meta.concrete_fields:
        if field.primary_key or field.name in UNRECORDED:
            continue
        if field.is_relation:
            related = getattr(instance, field.name)
            values[field.name] = None if related is None else str(related)
        else:
            values[field.name] = _masked(field.name, field.value_from_object(instance))
    return _json(values)


def _masked(name, value):
    if any(word in name.lower() for word in SECRET_WORDS):
        return "•••" if value else value
    if isinstance(value, dict):  # e.g. an alert stream's librdkafka options, sasl.password among them
        return {key: _masked(key, item) for key, item in value.items()}
    return value


def stored(instance):
    """The snapshot of ``instance`` as its row stands in the database (before a form or a
    serializer's changes are saved), or None for a new or unaudited instance."""
    if instance.pk is None or kind_of(instance) is None:
        return None
    row = type(instance)._default_manager.filter(pk=instance.pk).first()
    return None if row is None else snapshot(row)


def record_edit(instance, before, origin, *, deleted=False):
    """Record that an audited ``instance`` was created (``before`` None), changed (from the
    ``before`` snapshot) or is about to be ``deleted``; an edit that changed nothing, or of an
    unaudited model, records nothing. Call it before the delete: the snapshot reads the row."""
    kind = kind_of(instance)
    if kind is None:
        return None
    if deleted:
        before, after, verb = snapshot(instance), {}, "deleted"
    else:
        after, verb = snapshot(instance), "created" if before is None else "changed"
    changed = {name: [(before or {}).get(name), after.get(name)] for name in {**(before or {}), **after}
               if (before or {}).get(name) != after.get(name)}  # fmt: skip
    if verb == "changed" and not changed:
        return None
    return record(instance.tenant, f"{kind}.{verb}", instance, origin, changes=changed)


def entries(tenant, *, action="", actor="", since=None, until=None):
    """The tenant's entries, newest first: ``action`` a kind (``member``) or one action
    (``member.added``), ``actor`` a user id or "system", ``since``/``until`` UTC dates (both
    days included)."""
    found = AuditEntry.objects.filter(tenant=tenant)
    if action:
        found = found.filter(action=action) if "." in action else found.filter(action__startswith=f"{action}.")
    if actor == "system":
        found = found.filter(actor__isnull=True)
    elif actor:
        found = found.filter(actor_id=int(actor))
    if since:
        found = found.filter(at__gte=datetime.combine(since, time.min, tzinfo=UTC))
    if until:
        found = found.filter(at__lt=datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC))
    return found


def actors(tenant):
    """(value, name) of everyone with an entry in ``tenant``, for the page's person filter;
    users since deleted are listed under the name they had."""
    people = (AuditEntry.objects.filter(tenant=tenant, actor__isnull=False).order_by("actor_name", "actor_id")
              .values_list("actor_id", "actor_name").distinct())  # fmt: skip
    return [("system", "system (commands and tasks)"), *((str(pk), name) for pk, name in people)]
