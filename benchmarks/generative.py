"""Generative models: how real the galaxies a diffusion model makes are, and how fast it makes them.

The generator (``mlmodels.diffusion.galaxy_unet``) is trained as the registry trains one for
the rare class (``focus``: mergers in 90% of the draws), on synthetic galaxies in survey
proportions (``mlmodels.training_sets.SurveyGalaxies``: mergers are 3%), then asked for a set of
mergers with DDIM (50 steps, guidance 3 where a galaxy's layout is decided).

Figures:
- the set's synthetic galaxy distance (Wasserstein distances of magnitude, colour, half-light
  radius and ellipticity per band, in units of the real galaxies' spread, summed) and its
  Fréchet distance on the features of a morphology network trained as the registry trains
  one, each against real mergers, beside the same figure for a second real set of the same
  size (real against real), in the same run; the largest |Cohen's d| of any statistic; the
  generated galaxies' distance to their nearest training galaxy against real ones'
  (memorisation); whether the set passes the portal's quality gate (``GENERATION_GATE``);
- DDIM sampling throughput in galaxies a second against the floor: the bare U-Net forward
  passes sampling needs (one pass of the batch a step, two at a guided step), timed alone on
  the same inputs.

Inpainting (``--only inpainting``): an inpainter is trained as the registry trains one, on
patches of clean synthetic frames (``mlmodels.training_sets.CleanFramePatches``), and repairs
synthetic frames spoilt by a satellite trail (``observations.synthetic``, whose noiseless twin
is the truth) as the portal repairs a frame flagged for one: the mask it finds
(``defect_masks.flagged_mask``), the trail's pixels kept less its modelled light
(``defect_masks.under_trails``), the stars the mask reaches fitted with the frame's profile
(``star_fitting.fitted_stars``), its default sampler (RePaint, 25 steps, 4 resampling rounds,
the mean of 4 fills). Figures, each beside four baselines on the same masks in the same run:
the repair without the star fits (the trail's pixels kept, the network smoothing their noise),
RePaint guessing every masked pixel, Gaussian-kernel interpolation from the pixels round the
mask (``astropy.convolution.interpolate_replace_nans``), and the same frame before the trail
came (its own noise: what any repair that only keeps the data can at best give back; a fit of
the stars' profile does better, as it knows their shape):
- the fraction of masked pixels whose true light is above 3σ of the sky that are within 10% of
  it (the goal: at least 90%), overall and among those whose star has its peak under the mask
  too (nothing of its core is left beside the trail to continue);
- the same for the 3″ aperture flux of the stars the mask reaches, against their true flux;
- the median error of the repaired sky pixels, in σ;
- pixels repaired a second.

Augmentation (with the generation figures): the portal's augmentation experiment
(``mlmodels.augmentation.experiment_sets``) on the generated mergers, whether or not they pass
the gate: a morphology network of the generator's 32 px trained as the registry trains one on
the generator's own training galaxies, without and with the set on its training side only, both
tested on the same 100 held-out real galaxies of each class. Figures: merger recall without
(the baseline) and with the set, and the gain in points; and, as the ceiling a perfect generator
would reach, the same training with as many held-out *real* mergers added instead.

Goals (issue 23): both distances within 2× real against real; sampling at least 80% of the
floor; rare-class recall up by at least 5 points; at least 90% of bright repaired pixels within
10%.

    python benchmarks/generative.py [--quick] [--only generation|inpainting]

``--quick``: 600 galaxies for 3 epochs, 32 generated, a morphology encoder of 600 galaxies for
2 epochs, the experiment's classifiers for 3; an inpainter of 640 patches for 2 epochs
repairing 2 frames. Else the demo's generator (``mlmodels.demo.DEMO_MODELS``: 3,000 galaxies for
48 epochs), 64 generated, the encoder 3,000 for 15 epochs, the classifiers for 10; the demo's
inpainter (3,000 patches for 6 epochs) repairing 6 frames.
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

GOALS = {"distance_ratio": 2.0, "fraction_of_floor": 0.8, "rare_recall_gain_points": 5.0,
         "bright_pixels_within_10_percent": 0.9}  # fmt: skip
RARE = "merger"
BATCH = 32


def train_generator(galaxies, epochs):
    """(network, its training set, training seconds) as the registry trains a generator for the rare class."""
    from mlmodels.training_sets import SurveyGalaxies

    source = SurveyGalaxies()
    data = source.build(galaxies, seed=0, size=source.input_spec["size"])
    started = time.perf_counter()
    network, _ = source.train(data, architecture=source.architecture, epochs=epochs, seed=0, on_epoch=None,
                              rivals=None, focus=data.class_names.index(RARE))  # fmt: skip
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


def rare_recall(added, learnt, size, epochs):
    """The rare class's held-out recall of a classifier trained without and with ``added`` (counts of
    the rare class), as the portal's augmentation experiment trains them."""
    from mlmodels.augmentation import experiment_sets
    from mlmodels.training import train_classifier
    from mlmodels.training_sets import SurveyGalaxies, SyntheticGalaxies

    sets = experiment_sets(SurveyGalaxies(), learnt=learnt, size=size, class_name=RARE, added=added, seed=0,
                           origin="the generator", added_name="the benchmark's set")  # fmt: skip
    source = SyntheticGalaxies()
    return [train_classifier(data, architecture=source.architecture, epochs=epochs, seed=0,
                             learning_rate=source.learning_rate)[1]["per_class"][RARE]["recall"]
            for data in sets]  # fmt: skip


def generate(network, count, class_index, size):
    """(galaxies in the generator's scale, seconds), in batches as a worker makes a set."""
    import torch

    from mlmodels.diffusion import sample
    from mlmodels.generation import DEFAULT_GUIDANCE, DEFAULT_STEPS

    made, started = [], time.perf_counter()
    for start in range(0, count, BATCH):
        seeds = range(start, min(start + BATCH, count))
        classes = torch.full((len(seeds),), class_index, dtype=torch.long)
        made.append(sample(network, classes, seeds, size=size, steps=DEFAULT_STEPS, guidance=DEFAULT_GUIDANCE).numpy())
    return np.concatenate(made), time.perf_counter() - started


def forward_floor(network, count, size):
    """Seconds of the forward passes DDIM needs for ``count`` galaxies, and nothing else: one pass
    of the batch a step, of twice the batch at a guided step (``diffusion.guidance_at``)."""
    import torch

    from mlmodels.diffusion import ddim_steps, guidance_at
    from mlmodels.generation import DEFAULT_GUIDANCE, DEFAULT_STEPS

    visits = ddim_steps(DEFAULT_STEPS)
    widths = [1 if guidance_at(t, DEFAULT_GUIDANCE) == 1.0 else 2 for t in visits]
    x = torch.randn(2 * BATCH, network.in_chans, size, size)
    classes = torch.zeros(2 * BATCH, dtype=torch.long)
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, count, BATCH):
            for t, width in zip(visits, widths):
                batch = width * min(BATCH, count - start)
                network(x[:batch], torch.full((batch,), int(t), dtype=torch.long), classes[:batch])
    return time.perf_counter() - started


def spoilt_frames(count):
    """(spoilt, truth, sky σ) of ``count`` 256 px synthetic frames crossed by a satellite trail: the
    truth is the same frame's noiseless twin without the trail."""
    from observations.defect_masks import sky_and_noise
    from observations.synthetic import make_frame

    frames = []
    for seed in range(count):
        field = {"ra_deg": 10 + seed, "dec_deg": 20, "width": 256, "height": 256, "seed": 1000 + seed, "n_stars": 80,
                 "seeing_fwhm_arcsec": 1.2 + 0.2 * seed}  # fmt: skip
        spoilt = make_frame(**field, defects=("satellite",)).data
        clean = make_frame(**field).data
        frames.append((spoilt, make_frame(**field, noise=False).data, clean, sky_and_noise(clean)))
    return frames


def inpainting_figures(quick):
    """(figures, baseline, ratio) of the portal's repair against guessing every masked pixel (RePaint
    alone, and Gaussian-kernel interpolation) on the same masks."""
    from astropy.convolution import Gaussian2DKernel, interpolate_replace_nans
    from scipy import ndimage

    from mlmodels.inpainting import repair_image
    from mlmodels.training_sets import CleanFramePatches
    from observations.defect_masks import flagged_mask, under_trails
    from observations.photometry import measure
    from observations.star_fitting import fitted_stars

    patches, epochs, frames = (640, 2, 2) if quick else (*demo_training("frame-inpainting"), 6)
    source = CleanFramePatches()
    size = source.input_spec["size"]
    started = time.perf_counter()
    network, _ = source.train(source.build(patches, seed=0, size=size), architecture=source.architecture,
                              epochs=epochs, seed=0, on_epoch=None, rivals=None)  # fmt: skip
    network.eval()
    training_seconds = time.perf_counter() - started
    names = ("repair", "repair_without_star_fits", "repaint_guessing", "interpolation", "untrailed_frame")
    bright, stars, sky_errors = ({name: [] for name in names} for _ in range(3))
    hidden_peak = []  # per bright masked pixel: is its star's peak under the mask too?
    masked, kept, fitted, repair_seconds = 0, 0, 0, 0.0
    for spoilt, truth, clean, (sky, noise) in spoilt_frames(frames):
        mask, _, hidden = flagged_mask(spoilt, ["satellite"])  # as a repair of a frame flagged for a trail
        masked += int(mask.sum())
        started = time.perf_counter()
        beneath = under_trails(spoilt, mask, hidden)
        profiled = fitted_stars(spoilt, mask, beneath=beneath)
        repaired, _ = repair_image(network, spoilt, mask, beneath=beneath, stars=profiled, size=size, seed=0)
        repair_seconds += time.perf_counter() - started
        kept, fitted = kept + int(np.isfinite(beneath[0]).sum()), fitted + profiled.count
        filled = {
            "repair": repaired,
            "repair_without_star_fits": repair_image(network, spoilt, mask, beneath=beneath, size=size, seed=0)[0],
            "repaint_guessing": repair_image(network, spoilt, mask, size=size, seed=0)[0],
            "interpolation": interpolate_replace_nans(np.where(mask, np.nan, spoilt), Gaussian2DKernel(2.0)),
            "untrailed_frame": clean,
        }  # fmt: skip
        light = truth - sky
        lit, dark = mask & (light > 3 * noise), mask & (light < noise)
        hidden_peak += list(_peak_hidden(light > 3 * noise, light, mask)[lit])
        peaks = np.argwhere((ndimage.maximum_filter(light, 5) == light) & (light > 20 * noise)
                            & ndimage.binary_dilation(mask, iterations=6))  # fmt: skip
        options = {"pixel_scale_arcsec": 0.389, "exptime_s": 120.0, "gain": None, "zero_point_mag": None}
        for name, image in filled.items():
            bright[name] += list(np.abs(image[lit] - truth[lit]) / light[lit])
            sky_errors[name] += list(np.abs(image[dark] - truth[dark]) / noise)
            for y, x in peaks:
                before = measure(truth, float(x), float(y), **options)["flux_adu"]
                stars[name].append(abs(measure(image, float(x), float(y), **options)["flux_adu"] - before) / before)
    within = {name: float(np.mean(np.array(errors) <= 0.1)) for name, errors in bright.items()}
    hidden_peak = np.array(hidden_peak, dtype=bool)
    within_hidden = {name: round(float(np.mean(np.array(errors)[hidden_peak] <= 0.1)), 3)
                     for name, errors in bright.items()}  # fmt: skip
    stars_within = {name: round(float(np.mean(np.array(errors) <= 0.1)), 3) for name, errors in stars.items()}
    median_star = {name: round(float(np.median(errors)), 4) for name, errors in stars.items()}
    median_sky = {name: round(float(np.median(errors)), 3) for name, errors in sky_errors.items()}
    figures = {
        "inpainting_patches": patches, "inpainting_epochs": epochs,
        "inpainting_training_seconds": round(training_seconds, 1),
        "frames": frames, "masked_pixels": masked, "kept_under_trail": kept, "stars_fitted": fitted,
        "bright_masked_pixels": len(bright["repair"]), "stars_reached": len(stars["repair"]),
        "sampler": {"name": "repaint", "steps": 25, "resample": 4, "samples": 4},
        "bright_pixels_within_10_percent": round(within["repair"], 3),
        "bright_pixels_of_hidden_stars": round(float(hidden_peak.mean()), 3),
        "bright_pixels_of_hidden_stars_within_10_percent": within_hidden["repair"],
        "star_fluxes_within_10_percent": stars_within["repair"], "median_star_flux_error": median_star["repair"],
        "median_sky_error_sigma": median_sky["repair"],
        "pixels_repaired_per_s": round(masked / repair_seconds, 1),
    }  # fmt: skip
    baseline = {
        f"{name}_{figure}": values[name]
        for name in names[1:]
        for figure, values in (("bright_pixels_within_10_percent", {k: round(v, 3) for k, v in within.items()}),
                               ("bright_pixels_of_hidden_stars_within_10_percent", within_hidden),
                               ("star_fluxes_within_10_percent", stars_within), ("median_star_flux_error", median_star),
                               ("median_sky_error_sigma", median_sky))
    }  # fmt: skip
    return figures, baseline, {
        "bright_pixels_within_10_percent_over_repair_without_star_fits": round(
            within["repair"] / max(within["repair_without_star_fits"], 1e-9), 3),
        "bright_pixels_within_10_percent_over_repaint_guessing": round(
            within["repair"] / max(within["repaint_guessing"], 1e-9), 2),
        "bright_pixels_within_10_percent_over_untrailed_frame": round(
            within["repair"] / max(within["untrailed_frame"], 1e-9), 3),
    }  # fmt: skip


def _peak_hidden(bright, light, mask):
    """Per pixel: whether the brightest pixel of its island of light (``bright``, connected) lies under
    the mask: a star whose peak the trail hides has nothing of its core left beside the trail to
    be continued from, only what its pixels under the trail still hold."""
    from scipy import ndimage

    islands, count = ndimage.label(bright)
    if not count:
        return np.zeros_like(mask, dtype=bool)
    peaks = ndimage.maximum_position(light, islands, index=np.arange(1, count + 1))
    hidden = np.array([False] + [bool(mask[peak]) for peak in peaks])
    return hidden[islands]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke size (minutes)")
    parser.add_argument("--only", choices=["generation", "inpainting"], help="one half of the figures")
    args = parser.parse_args()
    figures, baseline, ratio = {}, {}, {}
    with embedded_portal("arrayscope-generative-"):  # the registry's training code reads Django's settings
        if args.only != "inpainting":
            figures, baseline, ratio = generation_figures(args.quick)
        if args.only != "generation":
            for collected, more in zip((figures, baseline, ratio), inpainting_figures(args.quick)):
                collected.update(more)
    figures["goals"] = GOALS
    figures["within_goals"] = bool(
        ratio.get("synthetic_galaxy_distance_over_real", 0) <= GOALS["distance_ratio"]
        and ratio.get("frechet_distance_over_real", 0) <= GOALS["distance_ratio"]
        and ratio.get("sampling_fraction_of_floor", 1) >= GOALS["fraction_of_floor"]
        and figures.get("rare_recall_gain_points", GOALS["rare_recall_gain_points"]) >= GOALS["rare_recall_gain_points"]
        and figures.get("bright_pixels_within_10_percent", 1) >= GOALS["bright_pixels_within_10_percent"]
    )
    print(json.dumps({"benchmark": "generative", "machine": machine(), "figures": figures, "baseline": baseline,
                      "ratio": ratio}))  # fmt: skip


def demo_training(name):
    """(examples, epochs) the demo trains its model ``name`` with: what a new user's portal holds."""
    from mlmodels.demo import DEMO_MODELS

    return next((examples, epochs) for model, _, examples, epochs, _ in DEMO_MODELS if model == name)


def generation_figures(quick):
    """(figures, baseline, ratio) of a generator's rare-class set against real galaxies, and its sampling speed."""
    from django.conf import settings

    galaxies, epochs, count, encoder_galaxies, encoder_epochs, classifier_epochs = (600, 3, 32, 600, 2, 3) if quick \
        else (*demo_training("galaxy-diffusion"), 64, 3000, 15, 10)  # fmt: skip
    from mlmodels.diffusion import GUIDED_STEPS
    from mlmodels.generation import DEFAULT_GUIDANCE, DEFAULT_STEPS, REFERENCE_GALAXIES, encoded
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
    passed, reasons = gate(judged, settings.GENERATION_GATE)
    learnt = {"count": galaxies, "seed": 0}
    without, with_set = rare_recall(counts, learnt, size, classifier_epochs)
    _, with_real = rare_recall(source.examples_of(RARE, count, seed=50_000, size=size), learnt, size, classifier_epochs)
    distance, frechet = judged["synthetic_galaxy_distance"], judged["frechet_distance"]
    worst = max(judged["statistics"].items(), key=lambda item: abs(item[1]["cohens_d"]))
    figures = {
        "training_galaxies": galaxies, "epochs": epochs, "training_seconds": round(training_seconds, 1),
        "rare_class": RARE, "rare_training_galaxies": int(len(training)), "generated": count,
        "sampler": {"name": "ddim", "steps": DEFAULT_STEPS, "guidance": DEFAULT_GUIDANCE,
                    "guided_steps": list(GUIDED_STEPS)},
        "synthetic_galaxy_distance": round(distance["generated"], 4),
        "frechet_distance": round(frechet["generated"], 3),
        "encoder_accuracy": round(encoder_accuracy, 4),
        "largest_cohens_d": {"statistic": worst[0], "d": round(worst[1]["cohens_d"], 3)},
        "nearest_training_distance": round(judged["nearest_training_distance"]["generated"], 4),
        "gate_passed": passed, "gate_reasons": reasons,
        "galaxies_per_s": round(count / sampling_seconds, 2),
        "per_statistic_distance": {name: round(row["distance"], 3) for name, row in judged["statistics"].items()},
        "classifier_epochs": classifier_epochs, "rare_recall_with_set": round(with_set, 3),
        "rare_recall_gain_points": round(100 * (with_set - without), 1),
        "rare_recall_with_as_many_real": round(with_real, 3),
    }  # fmt: skip
    baseline = {
        "real_vs_real_synthetic_galaxy_distance": round(distance["real"], 4),
        "real_vs_real_frechet_distance": round(frechet["real"], 3),
        "real_nearest_training_distance": round(judged["nearest_training_distance"]["real"], 4),
        "floor_galaxies_per_s": round(count / floor_seconds, 2),
        "rare_recall_without_set": round(without, 3),
    }  # fmt: skip
    ratio = {
        "synthetic_galaxy_distance_over_real": round(distance["ratio"], 3),
        "frechet_distance_over_real": round(frechet["ratio"], 3),
        "sampling_fraction_of_floor": round(floor_seconds / sampling_seconds, 3),
        "rare_recall_with_over_without": round(with_set / max(without, 1e-9), 3),
    }  # fmt: skip
    return figures, baseline, ratio


if __name__ == "__main__":
    main()
