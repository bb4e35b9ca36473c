"""Multi-site image fusion: how deep, how true and how fast, against its limits.

N synthetic frames of one field (``observations.synthetic``: the same stars for every site,
through each frame's seeing, zero point, sky and exposure) from three sites that differ in
depth, seeing, pixel scale and zero point, with a faint source of known brightness at the
centre (no star within 15″ of it) and cosmic rays in a third of the frames, fused by ``observations.fusion.fuse``
onto one grid (bilinear, then exact areas).

Figures:
- signal-to-noise of the source in the fused image, with the noise measured, not computed:
  the scatter (robust: median absolute deviation) of the same aperture's sum at 300 blank
  places of the image (resampling correlates
  neighbouring pixels, which a per-pixel error map does not see). Against the theoretical limit
  of the same frames, √Σ SNRᵢ² (each frame's SNR measured the same way, on it alone resampled
  to the grid), and against the best single frame;
- the flux recovered in a 5″ aperture against the truth, on a brighter source (18 mag, SNR in
  the hundreds: a 1% claim needs it) 20″ from the faint one, in the first draw of the noise and
  averaged over five;
- each site's zero point tied by the stars the frames share (``observations.calibration``),
  anchored on the frames' own with one site's written 0.25 mag off: the largest error per site;
- the fused light curve (``observations.light_curves``) of a source of known magnitude, every
  epoch measured from the three sites (3″ aperture photometry, ``observations.photometry``),
  their zero points tied per site and night on the frames' stars: the rms of the fused epochs
  against the truth, against the same epochs fused on the sites' own zero points (McDonald's
  written 0.25 mag off) and against the best single site's measurement of each epoch;
- learned fusion (``mlmodels.networks.SetFusionTransformer``) trained on synthetic multi-site
  sets (``mlmodels.multi_site``): held-out accuracy beside the best single site and the average
  of the sites, read by the same network's single-observation head on the same sets;
- with ``--registry-encoder``, the same transformer over the frozen pooled features of a
  morphology network trained as the registry trains one (the features of "similar galaxies"),
  on the same sets and split: what the per-observation encoder gains by learning with the fusion;
- co-add throughput in output megapixels a second (frames × grid pixels over the whole
  fusion's time) against ``reproject`` alone resampling the same frames onto the same grid
  the same way (the floor: what any resampling co-add must spend).

Goals (issue 22): at least 95% of the theoretical SNR, flux within 1%, zero points within
0.01 mag, at least half the floor. The light curve has no goal of its own: it is printed so the
calibration's effect on what an astronomer reads is seen in numbers.

    python benchmarks/fusion.py [--quick] [--registry-encoder]

``--quick``: 9 frames of 256² pixels onto a 60″ grid and 600 sets for 8 epochs; else 30 frames
of 512² onto 120″ and 1,500 sets for 12 epochs (the demo model's).
"""

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from astropy import units as u  # noqa: E402  (after the project is on the path, as the other benchmarks)
from astropy.coordinates import SkyCoord  # noqa: E402
from astropy.wcs import WCS  # noqa: E402
from embedded_portal import embedded_portal, machine  # noqa: E402

from observations.calibration import calibrate, measure_stars  # noqa: E402
from observations.fusion import FrameInput, fuse, grid_for  # noqa: E402
from observations.light_curves import fuse_light_curve  # noqa: E402
from observations.photometry import measure  # noqa: E402
from observations.synthetic import GAIN, make_frame, sky_field  # noqa: E402

RA, DEC = 150.0, 20.0
SOURCE_MAG = 21.0  # the faint source whose signal-to-noise is measured, at the centre
BRIGHT_MAG, BRIGHT_OFFSET_DEG = 18.0, 20 / 3600  # the one whose flux is, 20″ north: 1% needs SNR ≫ 100
APERTURE_ARCSEC = 5.0
GRID_SCALE_ARCSEC = 0.3
# site, pixel scale ″, seeing ″, zero point, sky ADU, exposure s
SITES = [("tfn", 0.389, 1.4, 25.0, 800, 120), ("elp", 0.389, 2.2, 24.7, 1200, 120), ("coj", 0.304, 1.8, 26.3, 1500, 60)]
REALISATIONS = 5  # of the noise, for the flux: one draw of an SNR-300 source is ±0.3%
GOALS = {
    "snr_fraction_of_theoretical": 0.95,
    "flux_error": 0.01,
    "fraction_of_reproject": 0.5,
    "zero_point_error_mag": 0.01,
}


def frames(count, size, stars, realisation=0):
    """The N frames; another ``realisation`` draws their noise (and cosmic rays) anew."""
    made = []
    for number in range(count):
        site, scale, seeing, zero_point, sky, exptime = SITES[number % 3]
        hdu = make_frame(ra_deg=RA + 0.002 * (number % 5 - 2), dec_deg=DEC + 0.002 * (number % 3 - 1), site=site,
                         pixel_scale_arcsec=scale, seeing_fwhm_arcsec=seeing, zero_point=zero_point, sky_adu=sky,
                         exptime_s=exptime, width=size, height=size, n_stars=0, seed=1000 + number + 100 * realisation,
                         stars=[*stars, (RA, DEC, SOURCE_MAG), (RA, DEC + BRIGHT_OFFSET_DEG, BRIGHT_MAG)],
                         defects=("cosmic_rays",) if number % 3 == 1 else ())  # fmt: skip
        made.append(FrameInput(id=number + 1, label=site, band="r", data=hdu.data, wcs=WCS(hdu.header),
                               exptime_s=exptime, zero_point=zero_point, gain=GAIN))  # fmt: skip
    return made


def aperture_sums(image, wcs, positions, radius_arcsec):
    """The aperture's sum at each (x, y) pixel position (pixels whose centres fall inside)."""
    radius = radius_arcsec / GRID_SCALE_ARCSEC
    reach = int(math.ceil(radius)) + 1
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    sums = []
    for x, y in positions:
        cx, cy = int(round(x)), int(round(y))
        inside = np.hypot(dx + cx - x, dy + cy - y) <= radius
        sums.append(float(image[cy - reach : cy + reach + 1, cx - reach : cx + reach + 1][inside].sum()))
    return np.array(sums)


def blank_positions(grid, stars, count, rng):
    """Aperture centres at least 8″ from every star, the source and the edges."""
    height, width = grid.shape
    margin = 8 / GRID_SCALE_ARCSEC
    sky = SkyCoord([s[0] for s in stars] + [RA, RA], [s[1] for s in stars] + [DEC, DEC + BRIGHT_OFFSET_DEG], unit=u.deg)
    sx, sy = grid.wcs.world_to_pixel(sky)
    chosen = []
    while len(chosen) < count:
        x, y = rng.uniform(margin, width - margin), rng.uniform(margin, height - margin)
        if np.all(np.hypot(sx - x, sy - y) > margin):
            chosen.append((x, y))
    return chosen


def measured_snr(science, grid, blanks, dec=DEC):
    """(flux in the aperture on the source at ``dec``, its SNR with the noise from blank apertures)."""
    centre = [float(value) for value in grid.wcs.world_to_pixel(SkyCoord(RA * u.deg, dec * u.deg))]
    flux = aperture_sums(science, grid.wcs, [centre], APERTURE_ARCSEC)[0]
    # Robust (the median absolute deviation): a cosmic ray in a blank aperture of one frame alone,
    # where nothing can reject it, is not the sky's noise the frame adds to the fusion.
    sums = aperture_sums(science, grid.wcs, blanks, APERTURE_ARCSEC)
    noise = 1.4826 * np.nanmedian(np.abs(sums - np.nanmedian(sums)))
    return flux, flux / noise


def zero_point_errors(inputs):
    """Calibration across sites: each frame's stars measured and tied, anchored on the frames'
    own zero points with McDonald's written 0.25 mag too bright (a site whose calibration is
    off); the largest error per site against the truth, and the stars it rested on."""
    stars = [measure_stars(frame.id, frame.label, frame.data, frame.wcs, frame.exptime_s, gain=frame.gain)
             for frame in inputs]  # fmt: skip
    own = {frame.id: frame.zero_point + (0.25 if frame.label == "elp" else 0.0) for frame in inputs}
    started = time.perf_counter()
    fitted = calibrate(stars, own)
    seconds = time.perf_counter() - started
    errors = {}
    for frame in inputs:
        if frame.id in fitted.zero_points:
            error = abs(fitted.zero_points[frame.id] - frame.zero_point)
            errors[frame.label] = max(errors.get(frame.label, 0.0), error)
    return {"largest_error_mag_by_site": {site: round(error, 4) for site, error in errors.items()},
            "frames_tied": len(fitted.zero_points), "stars_shared": fitted.star_count,
            "solve_seconds": round(seconds, 3), "own_zero_point_off_mag": {"elp": 0.25}}  # fmt: skip


def light_curve_errors(stars, epochs, size):
    """A source whose magnitude changes from epoch to epoch (a transient's rise and fall), each
    epoch observed from the three sites at their own depth and seeing; the fused light curve's
    rms against the truth, calibrated per site and night, and on the sites' own zero points."""
    truth = [16.5 + 0.04 * (epoch - epochs / 3) ** 2 for epoch in range(epochs)]
    stars = [star for star in stars if math.hypot(star[0] - RA, star[1] - DEC) * 3600 > 15]
    measured, field = [], []
    for epoch, magnitude in enumerate(truth):
        for number, (site, scale, seeing, zero_point, sky, exptime) in enumerate(SITES):
            hdu = make_frame(ra_deg=RA, dec_deg=DEC, site=site, pixel_scale_arcsec=scale, seeing_fwhm_arcsec=seeing,
                             zero_point=zero_point, sky_adu=sky, exptime_s=exptime, width=size, height=size,
                             n_stars=0, seed=5000 + 3 * epoch + number,
                             stars=[*stars, (RA, DEC, magnitude)])  # fmt: skip
            wcs = WCS(hdu.header)
            own = zero_point + (0.25 if site == "elp" else 0.0)  # McDonald's pipeline writes it 0.25 mag off
            x, y = (float(value) for value in wcs.world_to_pixel(SkyCoord(RA * u.deg, DEC * u.deg)))
            point = measure(hdu.data, x, y, pixel_scale_arcsec=scale, exptime_s=exptime, gain=GAIN, zero_point_mag=own)
            frame_id = len(field) + 1
            field.append(measure_stars(frame_id, site, hdu.data, wcs, exptime, gain=GAIN))
            mjd = 60000.0 + 2 * epoch + 7 * number / 24  # every other night, the sites 7 h apart
            measured.append((frame_id, epoch, site, own, point, mjd))
    fitted = calibrate(field, {each[0]: each[3] for each in measured},
                       {frame_id: (site, epoch) for frame_id, epoch, site, *_ in measured})  # fmt: skip

    def points(calibrated):
        for frame_id, _, site, own, point, mjd in measured:
            mag, error = point["mag"], point["mag_err"]
            if calibrated:
                mag += fitted.zero_points[frame_id] - own
                error = math.hypot(error, fitted.errors[frame_id])
            yield Measurement(mjd=mjd, mag=mag, mag_err=error, filter_name="r", site=Site(site))

    def rms(curve):
        return float(np.sqrt(np.mean([(e.mag - truth[i]) ** 2 for i, e in enumerate(curve.epochs)])))

    calibrated, raw = fuse_light_curve(list(points(True))), fuse_light_curve(list(points(False)))
    best = [min((each[4] for each in measured if each[1] == epoch), key=lambda point: point["mag_err"])
            for epoch in range(epochs)]  # fmt: skip
    return {"epochs": epochs, "rms_error_mag": round(rms(calibrated), 4),
            "rms_error_own_zero_points_mag": round(rms(raw), 4),
            "median_epoch_error_mag": round(float(np.median([e.mag_err for e in calibrated.epochs])), 4),
            "median_best_single_error_mag": round(float(np.median([p["mag_err"] for p in best])), 4)}  # fmt: skip


@dataclass
class Site:
    code: str


@dataclass
class Measurement:
    """One measurement as the fused light curve reads a Photometry row (uncalibrated: the
    benchmark passes calibrated magnitudes in ``mag``)."""

    mjd: float
    mag: float
    mag_err: float
    filter_name: str
    site: Site


def learned_fusion(count, epochs):
    """The set transformer trained as the registry trains it, and its rivals on its held-out sets."""
    from mlmodels.training import observation_set_training_set, train_classifier
    from mlmodels.training_sets import SyntheticObservationSets

    data = observation_set_training_set(count, seed=0, size=SyntheticObservationSets.input_spec["size"])
    started = time.perf_counter()
    _, metrics = train_classifier(data, architecture="module:mlmodels.networks.set_fusion_transformer",
                                  epochs=epochs, learning_rate=1e-3)  # fmt: skip
    return {"sets": count, "epochs": epochs, "held_out_sets": metrics["test_examples"],
            "training_seconds": round(time.perf_counter() - started, 1), **accuracies(metrics),
            "attention_on_spoilt": round(metrics.get("attention_on_spoilt", float("nan")), 3)}  # fmt: skip


def accuracies(metrics):
    """A learned-fusion test's held-out accuracy and its two rivals', on the same sets."""
    rivals = metrics["rivals"]
    return {"fused_accuracy": round(metrics["accuracy"], 4),
            "best_single_site_accuracy": round(rivals["best single site"]["accuracy"], 4),
            "averaging_accuracy": round(rivals["average of the sites"]["accuracy"], 4)}  # fmt: skip


def set_fusion_over_features(num_classes, in_chans):
    """The set transformer reading precomputed per-observation embeddings (``in_chans`` wide)
    instead of cutouts: its CNN encoder replaced by a normalised projection to its width."""
    from torch import nn

    from mlmodels.multi_site import FEATURES, SITES
    from mlmodels.networks import SetFusionTransformer

    network = SetFusionTransformer(num_classes, in_chans, sites=len(SITES), features=len(FEATURES))
    network.encoder = nn.Sequential(nn.LayerNorm(in_chans), nn.Linear(in_chans, 256))
    return network


def registry_encoder_fusion(count, epochs, galaxies, galaxy_epochs):
    """Learned fusion over a frozen morphology encoder: the morphology network trained as the
    registry trains one (``galaxies`` synthetic galaxies, ``galaxy_epochs``), each observation
    of the same sets as ``learned_fusion``'s made into the morphology network's input and
    encoded to its pooled features once, and the transformer trained over those."""
    import torch

    from mlmodels.inference import prepare
    from mlmodels.multi_site import observation_sets, packed
    from mlmodels.synthetic_galaxies import BANDS, KINDS
    from mlmodels.training import TrainingSet, galaxy_training_set, train_classifier
    from mlmodels.training_sets import SyntheticGalaxies, SyntheticObservationSets

    source = SyntheticGalaxies()
    morphology, morphology_metrics = train_classifier(
        galaxy_training_set(galaxies, seed=0, size=source.input_spec["size"]), architecture=source.architecture,
        epochs=galaxy_epochs, learning_rate=source.learning_rate)  # fmt: skip
    morphology = morphology.eval().cpu()
    sets = observation_sets(count, seed=0, size=SyntheticObservationSets.input_spec["size"])
    arrays = packed(sets)
    slots = [(row, column) for row, each in enumerate(sets) for column in range(len(each.observations))]
    inputs = np.stack([prepare(sets[row].observations[column].image, list(BANDS), source.input_spec)
                       for row, column in slots])  # fmt: skip
    with torch.inference_mode():
        pooled = np.concatenate([morphology.forward_head(morphology.forward_features(torch.from_numpy(chunk)),
                                                         pre_logits=True).numpy()
                                 for chunk in np.array_split(inputs, max(1, len(inputs) // 256))])  # fmt: skip
    embeddings = np.zeros((count, arrays["present"].shape[1], pooled.shape[1]), np.float32)
    for (row, column), vector in zip(slots, pooled):
        embeddings[row, column] = vector
    observations = {key: value for key, value in arrays.items() if key != "images"}
    frozen = TrainingSet(embeddings, np.array([KINDS.index(each.kind) for each in sets]), np.arange(count),
                         list(KINDS), "frozen morphology features", augment=lambda batch: batch,
                         observations=observations)  # fmt: skip
    _, metrics = train_classifier(frozen, architecture="module:__main__.set_fusion_over_features", epochs=epochs,
                                  learning_rate=1e-3)  # fmt: skip
    return {"morphology_galaxies": galaxies, "morphology_epochs": galaxy_epochs,
            "morphology_accuracy": round(morphology_metrics["accuracy"], 4), "feature_dims": int(pooled.shape[1]),
            **accuracies(metrics)}  # fmt: skip


def reproject_alone(inputs, grid, method):
    from reproject import reproject_exact, reproject_interp

    resample = reproject_interp if method == "interp" else reproject_exact
    started = time.perf_counter()
    for frame in inputs:
        resample((frame.data.astype(np.float64), frame.wcs), grid.wcs, shape_out=grid.shape)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="9 frames of 256² onto a 60″ grid")
    parser.add_argument("--registry-encoder", action="store_true",
                        help="also train learned fusion over a frozen morphology encoder (minutes more)")  # fmt: skip
    args = parser.parse_args()
    count, size, field = (9, 256, 60) if args.quick else (30, 512, 120)
    rng = np.random.default_rng(5)
    stars = [star for star in sky_field(RA, DEC, radius_arcsec=size * 0.389 * 0.7, count=size // 8, seed=7,
                                        magnitudes=(15, 20))
             if math.hypot((star[0] - RA) * math.cos(math.radians(DEC)), star[1] - DEC) * 3600 > 15]  # fmt: skip
    inputs = frames(count, size, stars)
    grid = grid_for(RA, DEC, size_arcsec=field, pixel_scale_arcsec=GRID_SCALE_ARCSEC, max_pixels=4096**2)
    blanks = blank_positions(grid, stars, 300, rng)
    truth = 10 ** (-0.4 * (BRIGHT_MAG - 25))

    figures, baseline, ratio = {"frames": count, "frame_pixels": size, "grid": list(grid.shape)}, {}, {}
    output_mpix = count * grid.shape[0] * grid.shape[1] / 1e6
    floors = {method: reproject_alone(inputs, grid, method) for method in ("interp", "exact")}
    for method, seconds in floors.items():
        baseline[f"reproject_{method}_mpix_per_s"] = round(output_mpix / seconds, 2)
    singles = [measured_snr(fuse([frame], band="r", grid=grid).science, grid, blanks)[1] for frame in inputs]
    theoretical = math.sqrt(sum(snr**2 for snr in singles))
    baseline["theoretical_snr"], baseline["best_single_snr"] = round(theoretical, 2), round(max(singles), 2)
    for method in ("interp", "exact"):
        started = time.perf_counter()
        fusion = fuse(inputs, band="r", grid=grid, method=method)
        seconds = time.perf_counter() - started
        _, snr = measured_snr(fusion.science, grid, blanks)
        flux, bright_snr = measured_snr(fusion.science, grid, blanks, DEC + BRIGHT_OFFSET_DEG)
        figures[method] = {"seconds": round(seconds, 2), "mpix_per_s": round(output_mpix / seconds, 2),
                           "snr": round(snr, 2), "flux_recovered": round(flux / truth, 4),
                           "flux_recovered_error": round(1 / bright_snr, 4),
                           "clipped_pixels": fusion.clipped_pixels}  # fmt: skip
        ratio[f"{method}_snr_fraction_of_theoretical"] = round(snr / theoretical, 3)
        ratio[f"{method}_snr_gain_over_best_single"] = round(snr / max(singles), 2)
        ratio[f"{method}_fraction_of_reproject"] = round(floors[method] / seconds, 2)
    recovered = [measured_snr(fuse(frames(count, size, stars, draw), band="r", grid=grid).science, grid, blanks,
                              DEC + BRIGHT_OFFSET_DEG)[0] / truth for draw in range(REALISATIONS)]  # fmt: skip
    figures["interp"]["flux_recovered_mean"] = round(float(np.mean(recovered)), 4)
    figures["interp"]["flux_recovered_mean_error"] = round(float(np.std(recovered) / math.sqrt(REALISATIONS)), 4)
    figures["zero_points"] = zero_point_errors(inputs)
    figures["light_curve"] = light_curve_errors(stars, 4 if args.quick else 10, 400)
    with embedded_portal("arrayscope-fusion-"):  # the registry's training code reads Django's settings
        figures["learned_fusion"] = learned_fusion(*((600, 8) if args.quick else (1500, 12)))
        if args.registry_encoder:
            figures["learned_fusion_registry_encoder"] = registry_encoder_fusion(
                *((600, 8, 600, 4) if args.quick else (1500, 12, 3000, 15)))  # fmt: skip
    learned = figures["learned_fusion"]
    if args.registry_encoder:
        frozen = figures["learned_fusion_registry_encoder"]["fused_accuracy"]
        baseline["registry_encoder_fused_accuracy"] = frozen
        ratio["learned_fusion_over_registry_encoder"] = round(learned["fused_accuracy"] / frozen, 3)
    for rival in ("best_single_site", "averaging"):
        baseline[f"{rival}_accuracy"] = learned[f"{rival}_accuracy"]
        ratio[f"learned_fusion_over_{rival}"] = round(learned["fused_accuracy"] / learned[f"{rival}_accuracy"], 3)
    figures["goals"] = GOALS
    figures["within_goals"] = bool(
        ratio["interp_snr_fraction_of_theoretical"] >= GOALS["snr_fraction_of_theoretical"]
        and abs(figures["interp"]["flux_recovered_mean"] - 1) <= GOALS["flux_error"]
        and ratio["interp_fraction_of_reproject"] >= GOALS["fraction_of_reproject"]
        and max(figures["zero_points"]["largest_error_mag_by_site"].values()) <= GOALS["zero_point_error_mag"]
    )
    print(json.dumps({"benchmark": "fusion", "machine": machine(), "figures": figures, "baseline": baseline,
                      "ratio": ratio}))  # fmt: skip


if __name__ == "__main__":
    main()
