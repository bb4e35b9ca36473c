"""The alert classifiers' labelled examples, drawn from synthetic alert packets (the labels
the project can make until real ones arrive): the registry finds these sources by dotted path
(``settings.TRAINING_SET_SOURCES``), as it finds its own. The sets are built on the workers
that train (``mlmodels.training``, torch)."""

from functools import partial

import numpy as np

from mlmodels.training_sets import TrainingSetSource

from .features import ALERT_CLASSES, REAL_BOGUS_CLASSES, SEQUENCE_FEATURES, alert_points, light_curve, stamp_triplet
from .packets import STAMPS, read_packet
from .synthetic import make_alerts


class SyntheticStampTriplets(TrainingSetSource):
    noun, classes, generator = "alerts", REAL_BOGUS_CLASSES, "alerts.synthetic"
    input_spec = {"size": 63, "bands": list(STAMPS), "normalisation": "asinh-noise"}
    architecture = "module:mlmodels.networks.real_bogus_cnn_slim"

    def build(self, count, *, seed, size):
        return real_bogus_training_set(count, seed=seed, size=size)


class SyntheticLightCurves(TrainingSetSource):
    noun, classes, generator = "light curves", ALERT_CLASSES, "alerts.synthetic"
    input_spec = {"size": 32, "bands": list(SEQUENCE_FEATURES),
                  "normalisation": "magnitudes relative to the median detection"}  # fmt: skip
    architecture = "module:mlmodels.networks.light_curve_gru"
    learning_rate = 5e-3

    def build(self, count, *, seed, size):
        return light_curve_training_set(count, seed=seed, size=size)


def real_bogus_training_set(count, *, seed=0, size=63):
    """Synthetic alerts' stamp triplets, half real (supernovae, variables, AGN), half bogus
    (cosmic rays, bad subtractions, satellites); each alert is its own source."""
    from mlmodels.training import TrainingSet

    real = [kind for kind in ALERT_CLASSES if kind != "bogus"]
    alerts = make_alerts(count, seed=seed, kinds=[*real, *["bogus"] * len(real)])
    images = np.stack([stamp_triplet(*(alert.packet[field]["stampData"] for field in STAMPS.values()), size=size)
                       for alert in alerts])  # fmt: skip
    labels = np.array([int(alert.real) for alert in alerts])
    summary = f"{count:,} synthetic alerts (seed {seed}), {size}² px science/template/difference stamps"
    return TrainingSet(images, labels, np.arange(count), list(REAL_BOGUS_CLASSES), summary)


def light_curve_training_set(count, *, seed=0, size=32):
    """Synthetic alerts' light curves (the history each packet carries and its detection),
    one class each in turn; magnitudes jittered within their errors while training."""
    from mlmodels.training import TrainingSet, jitter_magnitudes

    alerts = make_alerts(count, seed=seed)
    sequences = []
    for alert in alerts:
        packet = read_packet(alert.packet)
        sequences.append(light_curve(alert_points(packet.history, mjd=packet.mjd, band=packet.band,
                                                  magnitude=packet.magnitude,
                                                  magnitude_error=packet.magnitude_error), length=size))  # fmt: skip
    labels = np.array([ALERT_CLASSES.index(alert.kind) for alert in alerts])
    summary = f"{count:,} synthetic light curves (seed {seed}), up to {size} points, g and r"
    augment = partial(jitter_magnitudes, magnitude_row=SEQUENCE_FEATURES.index("magnitude_offset"),
                      error_row=SEQUENCE_FEATURES.index("magnitude_error"))  # fmt: skip
    return TrainingSet(np.stack(sequences), labels, np.arange(count), list(ALERT_CLASSES), summary, augment=augment)
