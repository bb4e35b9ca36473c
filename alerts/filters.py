"""Alert filters: an astronomer's standing question ("real-bogus above 0.8, a supernova, brighter
than 19, within 5° of this field"), stored as structured conditions, checked when saved, and
asked of every classified alert.

Conditions are a JSON object; every key is optional and they all must hold:

    min_real_bogus         P(real) from the real-bogus model, 0–1
    classes                the light-curve class is one of these
    min_class_probability  ... with at least this probability, 0–1
    brighter_than          magnitude below this
    fainter_than           magnitude above this
    bands                  detected in one of these bands
    cone                   {"ra_deg", "dec_deg", "radius_deg"}: within this circle
    targets                the alert belongs to one of these target ids (a target list)
    known_targets_only     true: only alerts on targets the observatory already had
    max_age_days           first detected (in the packet's history) at most this many days before
    observed_after         observed at or after this UTC time (ISO 8601)
    observed_before        observed before this UTC time

A filter that can never match (brighter than 17 yet fainter than 19, an empty class list)
is refused, with the reason, instead of lying silent.
"""

import datetime
import math

from astropy import units as u
from astropy.coordinates import Angle, SkyCoord, angular_separation

from observations.models import Target
from portal.parameters import BIGINT_MAX

from .features import ALERT_CLASSES, CLASS_NAMES

BANDS = ("u", "g", "r", "i", "z", "y")
KNOWN = {"min_real_bogus", "classes", "min_class_probability", "brighter_than", "fainter_than", "bands", "cone",
         "targets", "known_targets_only", "max_age_days", "observed_after", "observed_before"}  # fmt: skip


class FilterInvalid(ValueError):
    """Conditions that cannot be used; the message names the condition and why."""


def clean_conditions(conditions):
    """The conditions, checked and normalised, or FilterInvalid."""
    if not isinstance(conditions, dict):
        raise FilterInvalid("conditions must be an object of condition: value")
    unknown = sorted(set(conditions) - KNOWN)
    if unknown:
        raise FilterInvalid(f"unknown condition {unknown[0]!r}; known: {', '.join(sorted(KNOWN))}")
    clean = {}
    for name in ("min_real_bogus", "min_class_probability"):
        if conditions.get(name) is not None:
            clean[name] = _number(conditions, name, low=0, high=1)
    for name in ("brighter_than", "fainter_than"):
        if conditions.get(name) is not None:
            clean[name] = _number(conditions, name, low=-5, high=35)
    if "brighter_than" in clean and "fainter_than" in clean and clean["fainter_than"] >= clean["brighter_than"]:
        raise FilterInvalid(f"brighter than {clean['brighter_than']} and fainter than {clean['fainter_than']} can "
                            "never both hold: nothing would ever match")  # fmt: skip
    if "classes" in conditions:
        clean["classes"] = _choices(conditions, "classes", ALERT_CLASSES)
    if "min_class_probability" in clean and "classes" not in clean:
        raise FilterInvalid("min_class_probability needs classes: the probability of which class?")
    if "bands" in conditions:
        clean["bands"] = _choices(conditions, "bands", BANDS)
    if conditions.get("cone") is not None:
        clean["cone"] = _cone(conditions["cone"])
    if "targets" in conditions:
        targets = conditions["targets"]
        ids = targets if isinstance(targets, list) else []
        if not ids or not all(type(t) is int and 0 < t <= BIGINT_MAX for t in ids):
            raise FilterInvalid("targets: a non-empty list of target ids is required")
        clean["targets"] = sorted(set(targets))
    if conditions.get("known_targets_only"):
        clean["known_targets_only"] = True
    if conditions.get("max_age_days") is not None:
        clean["max_age_days"] = _number(conditions, "max_age_days", low=0, high=36500)
    for name in ("observed_after", "observed_before"):
        if conditions.get(name) is not None:
            clean[name] = _time(conditions, name)
    if "observed_after" in clean and "observed_before" in clean and clean["observed_after"] >= clean["observed_before"]:
        raise FilterInvalid(f"observed after {clean['observed_after']} and before {clean['observed_before']}: that "
                            "window is empty, nothing would ever match")  # fmt: skip
    return clean


def check_targets(conditions, tenant):
    """Refuse target ids that are not the tenant's: row-level security would hide the other
    tenant's target anyway, but a filter that names one silently never matches."""
    wanted = set(conditions.get("targets", ()))
    found = set(Target.objects.filter(tenant=tenant, pk__in=wanted).values_list("pk", flat=True))
    if wanted - found:
        raise FilterInvalid(f"targets: no target of this observatory has the id {min(wanted - found)}")


def matches(conditions, alert, scores):
    """Whether ``alert`` meets every condition. ``scores`` is what the classifiers said:
    {"real": P(real) or None, "label": light-curve class or None, "probabilities": {...}}."""
    if "min_real_bogus" in conditions:
        if scores.get("real") is None or scores["real"] < conditions["min_real_bogus"]:
            return False
    if "classes" in conditions:
        if scores.get("label") not in conditions["classes"]:
            return False
        if scores.get("probabilities", {}).get(scores["label"], 0) < conditions.get("min_class_probability", 0):
            return False
    if "brighter_than" in conditions and not alert.magnitude < conditions["brighter_than"]:
        return False
    if "fainter_than" in conditions and not alert.magnitude > conditions["fainter_than"]:
        return False
    if "bands" in conditions and alert.band not in conditions["bands"]:
        return False
    if "cone" in conditions and _separation_deg(alert, conditions["cone"]) > conditions["cone"]["radius_deg"]:
        return False
    target = alert.alert_object.target_id
    if "targets" in conditions and target not in conditions["targets"]:
        return False
    if conditions.get("known_targets_only") and (target is None or "alert" in alert.alert_object.target.tags):
        return False
    if "max_age_days" in conditions and alert.mjd - _first_detection(alert) > conditions["max_age_days"]:
        return False
    if "observed_after" in conditions and alert.observed_at < parse_utc(conditions["observed_after"]):
        return False
    if "observed_before" in conditions and alert.observed_at >= parse_utc(conditions["observed_before"]):
        return False
    return True


def _first_detection(alert):
    """MJD of the object's first detection the packet knows of (upper limits do not count)."""
    return min([point["mjd"] for point in alert.history if point.get("magnitude") is not None] + [alert.mjd])


def _number(conditions, name, *, low, high):
    value = conditions[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FilterInvalid(f"{name}: a number is required, got {value!r}")
    if not low <= value <= high:
        raise FilterInvalid(f"{name}: {value} is outside {low}–{high}")
    return float(value)


def _choices(conditions, name, known):
    values = conditions[name]
    if not isinstance(values, list) or not values:
        raise FilterInvalid(f"{name}: a non-empty list is required (an empty one would match nothing)")
    unknown = [value for value in values if value not in known]
    if unknown:
        raise FilterInvalid(f"{name}: {unknown[0]!r} is not one of {', '.join(known)}")
    return sorted(set(values))


def parse_utc(text):
    """An ISO 8601 time as an aware UTC datetime (UTC when it names no zone); ValueError if not a time."""
    when = datetime.datetime.fromisoformat(text)
    return when.replace(tzinfo=datetime.UTC) if when.tzinfo is None else when.astimezone(datetime.UTC)


def _time(conditions, name):
    """A time as stored in the conditions: ISO 8601 in UTC, with its offset."""
    value = conditions[name]
    try:
        return parse_utc(value).isoformat()
    except (ValueError, TypeError) as error:
        raise FilterInvalid(f"{name}: {value!r} is not a time (give ISO 8601 UTC, e.g. 2026-12-01T20:00:00)") from error


def _cone(cone):
    if not isinstance(cone, dict) or set(cone) != {"ra_deg", "dec_deg", "radius_deg"}:
        raise FilterInvalid("cone: give ra_deg, dec_deg and radius_deg")
    ra, dec = _number(cone, "ra_deg", low=0, high=360), _number(cone, "dec_deg", low=-90, high=90)
    radius = _number(cone, "radius_deg", low=0, high=180)
    if radius == 0:
        raise FilterInvalid("cone: a radius of 0° can match nothing")
    return {"ra_deg": ra, "dec_deg": dec, "radius_deg": radius}


def _separation_deg(alert, cone):
    return math.degrees(angular_separation(*map(math.radians, (cone["ra_deg"], cone["dec_deg"], alert.ra_deg,
                                                               alert.dec_deg))))  # fmt: skip


def in_words(conditions, *, target_names=None, centre_name=None):
    """Clean conditions as an astronomer would say them ("real-bogus ≥ 0.8, class is SN Ia,
    brighter than 18.5 mag, within 5′ of M51"): what pages show of a filter, where the stored
    JSON would have to be read key by key. ``target_names`` maps target ids to names;
    ``centre_name`` names what lies at the cone's centre, if anything does."""
    target_names = target_names or {}
    said = []
    if "min_real_bogus" in conditions:
        said.append(f"real-bogus ≥ {conditions['min_real_bogus']:g}")
    if "classes" in conditions:
        classes = _either([CLASS_NAMES.get(name, name) for name in conditions["classes"]])
        probability = conditions.get("min_class_probability")
        said.append(f"class is {classes}" + ("" if probability is None else f" with probability ≥ {probability:g}"))
    if "brighter_than" in conditions:
        said.append(f"brighter than {conditions['brighter_than']:g} mag")
    if "fainter_than" in conditions:
        said.append(f"fainter than {conditions['fainter_than']:g} mag")
    if "bands" in conditions:
        said.append(f"in band {_either(conditions['bands'])}")
    if "cone" in conditions:
        cone = conditions["cone"]
        centre = SkyCoord(cone["ra_deg"] * u.deg, cone["dec_deg"] * u.deg)
        where = centre.to_string("hmsdms", sep=":", precision=1)
        said.append(f"within {_angle(cone['radius_deg'])} of {f'{centre_name} ({where})' if centre_name else where}")
    if "targets" in conditions:
        names = [target_names.get(pk, f"#{pk} (deleted)") for pk in conditions["targets"]]
        said.append(f"on target{'s' if len(names) > 1 else ''} {_either(names)}")
    if conditions.get("known_targets_only"):
        said.append("only on targets the observatory already had")
    if "max_age_days" in conditions:
        said.append(f"first detected ≤ {conditions['max_age_days']:g} days before")
    if "observed_after" in conditions:
        said.append(f"observed from {_when(conditions['observed_after'])}")
    if "observed_before" in conditions:
        said.append(f"observed before {_when(conditions['observed_before'])}")
    return ", ".join(said) or "every alert"


def _either(names):
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _angle(degrees):
    """A radius in the unit people give it in: 5″, 5′, 2.5°."""
    angle = Angle(degrees, u.deg)
    for unit, mark in ((u.deg, "°"), (u.arcmin, "′"), (u.arcsec, "″")):
        if angle.to_value(unit) >= 1 or unit == u.arcsec:
            return f"{float(f'{angle.to_value(unit):.3g}'):g}{mark}"


def _when(text):
    return parse_utc(text).strftime("%Y-%m-%d %H:%M UTC")
