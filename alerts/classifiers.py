"""Classifying alerts: a real-bogus network on the stamp triplet and a light-curve network on
the detections, each a registered version run through ``mlmodels.runtime``, answers stored
per (alert, version) so that running a version again replaces its answer.

Alerts arrive a few at a time and someone is waiting for them, so there is no read-ahead
machinery here as for images: one batch, one forward pass, one upsert. Each task is the
registry's classification subject (``settings.CLASSIFICATION_SUBJECTS``), so promoting a
model catches it up on the alerts it has not seen.
"""

from abc import abstractmethod
from datetime import timedelta

import numpy as np
from django.utils import timezone

from mlmodels.services import production_versions
from mlmodels.subjects import ClassificationSubject, subject_for
from portal.plugins import plugins
from portal.progress import finish_job

from .features import AlertInputError, alert_points, light_curve, stamp_triplet
from .feed import announce_scores
from .models import Alert, AlertClassification

BACKFILL_DAYS = 2
# The alert networks are small and a batch is a few dozen alerts: on the CPU a second torch
# thread costs more in hand-offs than it saves, and takes a core from the web server that
# is taking the next alerts in (2 cores: 6-7 ms of CPU an alert with one thread, 13-17 with two).
THREADS = 1


class AlertSubject(ClassificationSubject):
    """Alerts, as one kind of network reads them."""

    noun, backfill_chunk = "alerts", 500
    backfill_scope = f"the last {BACKFILL_DAYS} days' alerts"

    @abstractmethod
    def inputs(self, alert, size):
        """What the network reads of one alert (see features); AlertInputError if it cannot."""

    def classify(self, version, ids):
        return classify_alerts(version, list(Alert.objects.filter(pk__in=ids).order_by("pk")))

    def backfill(self, job, version):
        """The tenant's alerts of the last BACKFILL_DAYS that ``version`` has not seen: the night
        a new model was promoted in gets its answers too (older alerts keep the answers of the
        models of their day). They are not published again (filters ran on arrival), but the
        dashboards showing them are sent the new answers."""
        since = timezone.now() - timedelta(days=BACKFILL_DAYS)
        seen = AlertClassification.objects.filter(version=version).values("alert_id")
        waiting = Alert.objects.filter(tenant=job.tenant, received_at__gte=since).exclude(pk__in=seen)
        ids = list(waiting.order_by("pk").values_list("pk", flat=True))

        def classify_chunk(chunk):
            classified = self.classify(version, chunk)
            announce_scores(job.tenant, chunk)
            return classified

        classified = self.classify_in_chunks(job, ids, classify_chunk)
        refused = len(ids) - classified
        message = f"{version.model.name} v{version.number}: {classified:,} alerts of the last {BACKFILL_DAYS} days"
        message += " classified" + (f", {refused:,} refused (the reasons are in their panels)" if refused else "")
        finish_job(job, {"classified": classified, "refused": refused}, message)
        return classified


class StampTriplets(AlertSubject):
    """Real or bogus, from the science, template and difference stamps."""

    def inputs(self, alert, size):
        return stamp_triplet(alert.science_stamp, alert.template_stamp, alert.difference_stamp, size=size)


class LightCurves(AlertSubject):
    """What kind of object, from the detections and upper limits before the alert and its own."""

    def inputs(self, alert, size):
        points = alert_points(alert.history, mjd=alert.mjd, band=alert.band, magnitude=alert.magnitude,
                              magnitude_error=alert.magnitude_error)  # fmt: skip
        return light_curve(points, length=size)


def classify_alerts(version, alerts):
    """Classify ``alerts`` with ``version`` and store the answers (on a worker); returns how
    many were classified."""
    from mlmodels import runtime  # torch: only on the workers

    network, config = runtime.loaded(version, runtime.folded)
    names, size = config["label_names"], int(config["input_spec"]["size"])
    subject = subject_for(version.model.task)
    readable, batch, answers = [], [], []
    for alert in alerts:
        try:
            batch.append(subject.inputs(alert, size))
            readable.append(alert)
        except AlertInputError as refusal:
            answers.append(AlertClassification(tenant_id=alert.tenant_id, alert=alert, version=version,
                                               refusal=str(refusal)[:300]))  # fmt: skip
    if batch:
        with runtime.threads(THREADS):
            probabilities, _ = runtime.predict(network, np.stack(batch), classes=len(names))
        for alert, row in zip(readable, probabilities):
            answers.append(AlertClassification(
                tenant_id=alert.tenant_id, alert=alert, version=version, label=names[int(row.argmax())],
                probabilities={name: round(float(p), 5) for name, p in zip(names, row)},
            ))  # fmt: skip
    AlertClassification.objects.bulk_create(
        answers, update_conflicts=True, unique_fields=["version", "alert"],
        update_fields=["label", "probabilities", "refusal", "created_at"],
    )  # fmt: skip
    return len(readable)


def alert_tasks():
    """The registry's tasks whose models classify alerts (real-bogus, light curve, any added)."""
    return [task for task, subject in plugins("CLASSIFICATION_SUBJECTS").items() if isinstance(subject, AlertSubject)]


def serving_versions(tenant):
    """Every version that classifies ``tenant``'s new alerts: each alert task's production ones."""
    return [version for task in alert_tasks() for version in production_versions(tenant, task)]


def classify_new_alerts(tenant, ids):
    """Run every version serving ``tenant`` on its alerts ``ids`` (on a worker); returns
    {model name: alerts classified}."""
    alerts = list(Alert.objects.filter(tenant=tenant, pk__in=ids).order_by("pk"))
    return {version.model.name: classify_alerts(version, alerts) for version in serving_versions(tenant)}
