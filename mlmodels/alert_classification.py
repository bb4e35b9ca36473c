"""Classifying alerts on the ``gpu`` workers: a real-bogus network on the stamp triplet and a
light-curve network on the detections, each a registered version, answers stored per
(alert, version) so that running a version again replaces its answer.

Alerts arrive a few at a time and someone is waiting for them, so there is no read-ahead
machinery here as for images: one batch, one forward pass, one upsert.

Only worker code imports this module (torch).
"""

import functools
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from alerts.models import AlertClassification

from .alert_features import AlertInputError, alert_points, light_curve, stamp_triplet
from .models import MLModel, ModelVersion
from .training import device, predict, registered_network

# The alert networks are small and a batch is a few dozen alerts: on the CPU a second torch
# thread costs more in hand-offs than it saves, and takes a core from the web server that
# is taking the next alerts in (2 cores: 6-7 ms of CPU an alert with one thread, 13-17 with two).
ALERT_THREADS = 1


@contextmanager
def _threads(count):
    """torch's CPU threads for one block (image inference sets its own)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@functools.lru_cache(maxsize=8)
def _network(version_pk, sha256):
    """The version's network on this worker's device, kept for the next batch."""
    network, config = registered_network(ModelVersion.objects.get(pk=version_pk))
    return for_inference(network.eval()).to(device()), config


def for_inference(network):
    """The same answers, sooner: each batch norm folded into the convolution before it, and
    weights stored channels-last, which oneDNN's CPU convolutions run fastest (the real-bogus
    CNN goes from ~2.5 to ~1.2 ms an alert on one thread). Only for a network in eval mode:
    folding fixes the running statistics."""
    for sequence in [module for module in network.modules() if isinstance(module, nn.Sequential)]:
        for index in range(len(sequence) - 1):
            convolution, norm = sequence[index], sequence[index + 1]
            if isinstance(convolution, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                sequence[index], sequence[index + 1] = fuse_conv_bn_eval(convolution, norm), nn.Identity()
    return network.to(memory_format=torch.channels_last)


def network_for(version):
    return _network(version.pk, version.sha256)


def inputs_for(task, alert, size):
    """What a network of ``task`` reads of one alert (see alert_features)."""
    if task == MLModel.Task.REAL_BOGUS:
        return stamp_triplet(alert.science_stamp, alert.template_stamp, alert.difference_stamp, size=size)
    points = alert_points(alert.history, mjd=alert.mjd, band=alert.band, magnitude=alert.magnitude,
                          magnitude_error=alert.magnitude_error)  # fmt: skip
    return light_curve(points, length=size)


def classify_alerts(version, alerts):
    """Classify ``alerts`` with ``version`` and store the answers; returns how many were classified."""
    network, config = network_for(version)
    names, size = config["label_names"], int(config["input_spec"]["size"])
    readable, batch, answers = [], [], []
    for alert in alerts:
        try:
            batch.append(inputs_for(version.model.task, alert, size))
            readable.append(alert)
        except AlertInputError as refusal:
            answers.append(AlertClassification(tenant_id=alert.tenant_id, alert=alert, version=version,
                                               refusal=str(refusal)[:300]))  # fmt: skip
    if batch:
        with _threads(ALERT_THREADS):
            probabilities, _ = predict(network, np.stack(batch), classes=len(names))
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
