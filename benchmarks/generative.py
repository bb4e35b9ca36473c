"""Generative models: how real the galaxies a diffusion model makes are, and how fast it makes them.

The generator (``mlmodels.diffusion.galaxy_unet``) is trained as the registry trains one, on
synthetic galaxies in survey proportions (``mlmodels.training_sets.SurveyGalaxies``: mergers
are 3%), then asked for a set of the rare class, mergers, with DDIM (50 steps, guidance 2).

Figures:
- the set's synthetic galaxy distance (Wasserstein distances of magnitude, colour, half-light
  radius and ellipticity per band, in units of the real galaxies' spread, summed) and its
  Fréchet distance on the features of a morphology network trained as the registry trains
  one, each against real mergers, beside the same figure for a second real set of the same
  size (real against real), in the same run; the largest |Cohen's d| of any statistic; the
  generated galaxies' distance to their nearest training galaxy against real ones'
  (memorisation); whether the set passes the portal's quality gate (``GENERATION_GATE``);
- DDIM sampling throughput in galaxies a second against the floor: the bare U-Net forward
  passes sampling needs (one pass of twice the batch per step: guided and unguided), timed
  alone on the same inputs.

Goals (issue 23): both distances within 2× real against real; sampling at least 80% of the
floor. Rare-class recall with and without augmentation, and inpainting, are not measured yet.

    python benchmarks/generative.py [--quick]

``--quick``: 600 galaxies for 3 epochs, 32 generated, a morphology encoder of 600 galaxies for
2 epochs; else 3,000 galaxies for 30 epochs, 64 generated, the encoder 3,000 for 15 epochs.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from embedded_portal import embedded_portal, machine  # noqa: E402

GOALS = {"distance_ratio": 2.0, "fraction_of_floor": 0.8}
RARE = "merger"
STEPS, GUIDANCE, BATCH = 50, 2.0, 32


def train_generator(galaxies, epochs):
    """(network, its training set, training seconds) as the registry trains a generator."""
    from mlmodels.diffusion import train_diffusion
    from mlmodels.training_sets import SurveyGalaxies

    source = SurveyGalaxies()
    data = source.build(galaxies, seed=0, size=source.input_spec["size"])
    started = time.perf_counter()
    network, _ = train_diffusion(data, architecture=source.architecture, epochs=epochs, seed=0)
    return network.eval(), data, time.perf_counter() - started


def train_encoder(galaxies, epochs):
    """A morphology network trained as the registry trains one: whose features the Fréchet distance reads."""
    from mlmodels.training import galaxy_training_set, train_classifier
    from mlmodels.training_sets import SyntheticGalaxies

    source = SyntheticGalaxies()
    network, metrics = train_classifier(galaxy_training_set(galaxies, seed=0, size=source.input_spec["size"]),
                                        architecture=source.architecture, epochs=epochs,
                                        learning_rate=source.learning_rate)  # fmt: skip
    return network.eval().cpu(), source.input_spec, metrics["accuracy"]


def generate(network, count, class_index, size):
    """(galaxies in the generator's scale, seconds), in batches as a worker makes a set."""
    import torch

    from mlmodels.diffusion import sample

    made, started = [], time.perf_counter()
    for start in range(0, count, BATCH):
        seeds = range(start, min(start + BATCH, count))
        classes = torch.full((len(seeds),), class_index, dtype=torch.long)
        made.append(sample(network, classes, seeds, size=size, steps=STEPS, guidance=GUIDANCE).numpy())
    return np.concatenate(made), time.perf_counter() - started


def forward_floor(network, count, size):
    """Seconds of the forward passes DDIM needs for ``count`` galaxies, and nothing else."""
    import torch

    x = torch.randn(2 * BATCH, network.in_chans, size, size)
    classes = torch.zeros(2 * BATCH, dtype=torch.long)
    batches = [min(BATCH, count - start) for start in range(0, count, BATCH)]
    started = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            for step in range(STEPS):
                network(x[: 2 * batch], torch.full((2 * batch,), 999 - step, dtype=torch.long), classes[: 2 * batch])
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke size (minutes)")
    args = parser.parse_args()
    galaxies, epochs, count, encoder_galaxies, encoder_epochs = (600, 3, 32, 600, 2) if args.quick else \
        (3000, 30, 64, 3000, 15)  # fmt: skip
    with embedded_portal("arrayscope-generative-"):  # the registry's training code reads Django's settings
        from mlmodels.generation import REFERENCE_GALAXIES, encoded
        from mlmodels.generation_quality import frechet_figures, gate, report
        from mlmodels.normalisation import from_asinh_sky
        from mlmodels.synthetic_galaxies import BANDS, KINDS, SKY_NOISE, ZERO_POINT
        from mlmodels.training_sets import SurveyGalaxies

        source = SurveyGalaxies()
        size = source.input_spec["size"]
        network, data, training_seconds = train_generator(galaxies, epochs)
        encoder, encoder_spec, encoder_accuracy = train_encoder(encoder_galaxies, encoder_epochs)
        scaled, sampling_seconds = generate(network, count, KINDS.index(RARE), size)
        floor_seconds = forward_floor(network, count, size)
        counts = from_asinh_sky(scaled, SKY_NOISE)
        real = source.examples_of(RARE, REFERENCE_GALAXIES + count, seed=0, size=size)
        reference, comparison = real[:REFERENCE_GALAXIES], real[REFERENCE_GALAXIES:]
        features = [encoded(encoder, encoder_spec, list(BANDS), cubes) for cubes in (counts, comparison, reference)]
        training = data.images[data.labels == KINDS.index(RARE)]
        judged = report(counts, scaled, reference, comparison, training, bands=list(BANDS), zero_point=ZERO_POINT,
                        band_noise=SKY_NOISE, frechet=frechet_figures(*features))  # fmt: skip
        from django.conf import settings

        passed, reasons = gate(judged, settings.GENERATION_GATE)
    distance, frechet = judged["synthetic_galaxy_distance"], judged["frechet_distance"]
    worst = max(judged["statistics"].items(), key=lambda item: abs(item[1]["cohens_d"]))
    figures = {
        "training_galaxies": galaxies, "epochs": epochs, "training_seconds": round(training_seconds, 1),
        "rare_class": RARE, "rare_training_galaxies": int(len(training)), "generated": count,
        "sampler": {"name": "ddim", "steps": STEPS, "guidance": GUIDANCE},
        "synthetic_galaxy_distance": round(distance["generated"], 4),
        "frechet_distance": round(frechet["generated"], 3),
        "encoder_accuracy": round(encoder_accuracy, 4),
        "largest_cohens_d": {"statistic": worst[0], "d": round(worst[1]["cohens_d"], 3)},
        "nearest_training_distance": round(judged["nearest_training_distance"]["generated"], 4),
        "gate_passed": passed, "gate_reasons": reasons,
        "galaxies_per_s": round(count / sampling_seconds, 2),
        "per_statistic_distance": {name: round(row["distance"], 3) for name, row in judged["statistics"].items()},
    }  # fmt: skip
    baseline = {
        "real_vs_real_synthetic_galaxy_distance": round(distance["real"], 4),
        "real_vs_real_frechet_distance": round(frechet["real"], 3),
        "real_nearest_training_distance": round(judged["nearest_training_distance"]["real"], 4),
        "floor_galaxies_per_s": round(count / floor_seconds, 2),
    }  # fmt: skip
    ratio = {
        "synthetic_galaxy_distance_over_real": round(distance["ratio"], 3),
        "frechet_distance_over_real": round(frechet["ratio"], 3),
        "sampling_fraction_of_floor": round(floor_seconds / sampling_seconds, 3),
    }  # fmt: skip
    figures["goals"] = GOALS
    figures["within_goals"] = bool(
        ratio["synthetic_galaxy_distance_over_real"] <= GOALS["distance_ratio"]
        and ratio["frechet_distance_over_real"] <= GOALS["distance_ratio"]
        and ratio["sampling_fraction_of_floor"] >= GOALS["fraction_of_floor"]
    )
    print(json.dumps({"benchmark": "generative", "machine": machine(), "figures": figures, "baseline": baseline,
                      "ratio": ratio}))  # fmt: skip


if __name__ == "__main__":
    main()
