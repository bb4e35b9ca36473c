"""Whether a generated set of galaxies looks like real ones: the quality report every
generated set gets before anyone may train on it, and the gate it must pass.

Each figure is set beside the same figure for a second set of real galaxies of the same
size (real against real): two real samples already differ by chance, so a generated set is
judged by how much further it is than that, not against zero. The report holds

- per band, the distributions of magnitude, half-light radius and ellipticity, and the
  colours between bands, each with its Wasserstein distance (in units of the real galaxies'
  spread, so statistics add up) and Cohen's d; their sum is the *synthetic galaxy
  distance*;
- the Fréchet distance between the registry encoder's features of the two sets (FID's
  recipe, on a network that knows galaxies);
- the nearest-neighbour distance from each generated galaxy to the generator's training
  galaxies, against real galaxies' own: a generator that copies its training set is
  closer than real galaxies ever are.

numpy and scipy only: the report is drawn on pages by the web process.
"""

import numpy as np
from scipy import linalg, stats

from .normalisation import asinh_sky

# The smallest spread a statistic is measured in: what photometry and a cutout's pixels can tell
# apart. A class whose real galaxies all share one colour to 0.02 mag would otherwise make a
# generated set 0.1 mag off look five standard deviations wrong.
RESOLUTION = {"magnitude": 0.05, "colour": 0.05, "half_light_radius": 0.1, "ellipticity": 0.02}


def galaxy_statistics(cubes, bands, zero_point):
    """{name: (N,) values} for cutouts (N, bands, H, W) in sky-subtracted counts: per band the
    magnitude (``zero_point`` − 2.5 log₁₀ flux), the half-light radius in pixels about the
    light-weighted centre, and the ellipticity 1 − b/a from the second moments; and the
    colour of each pair of neighbouring bands."""
    cubes = np.asarray(cubes, dtype=np.float64)
    count, _, height, width = cubes.shape
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    values = {}
    for index, band in enumerate(bands):
        planes = cubes[:, index]
        positive = np.clip(planes, 0, None)  # the centre of the light, not of the noise's dips
        weight = positive.sum((1, 2)).clip(min=1e-9)
        cy = (positive * y).sum((1, 2)) / weight
        cx = (positive * x).sum((1, 2)) / weight
        dy, dx = y[None] - cy[:, None, None], x[None] - cx[:, None, None]
        flux = planes.sum((1, 2))
        values[f"magnitude_{band}"] = zero_point - 2.5 * np.log10(flux.clip(min=1e-3))
        radius = values[f"half_light_radius_{band}"] = _half_light_radius(planes, np.hypot(dx, dy), flux)
        values[f"ellipticity_{band}"] = _ellipticity(planes, dx, dy, radius)
    for first, second in zip(bands, bands[1:]):
        values[f"colour_{first}-{second}"] = values[f"magnitude_{first}"] - values[f"magnitude_{second}"]
    return values


def _half_light_radius(planes, radius, flux):
    """The radius whose disc holds half the cutout's flux (growth curve over pixels by radius)."""
    flat_radius = radius.reshape(len(planes), -1)
    order = np.argsort(flat_radius, axis=1)
    grown = np.cumsum(np.take_along_axis(planes.reshape(len(planes), -1), order, axis=1), axis=1)
    reached = np.argmax(grown >= 0.5 * flux.clip(min=1e-9)[:, None], axis=1)
    return np.take_along_axis(flat_radius, order, axis=1)[np.arange(len(planes)), reached]


def _ellipticity(planes, dx, dy, radius):
    """1 − b/a from second moments under a Gaussian window as wide as the half-light radius: the
    window keeps the sky's noise, which is round, from pulling every galaxy rounder."""
    window = np.exp(-(dx**2 + dy**2) / (2 * radius.clip(min=1)[:, None, None] ** 2))
    weighted = planes * window
    weight = weighted.sum((1, 2)).clip(min=1e-9)
    xx = (weighted * dx * dx).sum((1, 2)) / weight
    yy = (weighted * dy * dy).sum((1, 2)) / weight
    xy = (weighted * dx * dy).sum((1, 2)) / weight
    spread = np.sqrt(((xx - yy) / 2) ** 2 + xy**2)
    major, minor = (xx + yy) / 2 + spread, ((xx + yy) / 2 - spread).clip(min=0)
    return 1 - np.sqrt(minor / major.clip(min=1e-12))


def cohens_d(sample, reference, floor=0.0):
    """Difference of means in units of the pooled standard deviation (at least ``floor``)."""
    pooled = max(float(np.sqrt((np.var(sample, ddof=1) + np.var(reference, ddof=1)) / 2)), floor)
    return float((np.mean(sample) - np.mean(reference)) / pooled) if pooled > 0 else 0.0


def compare_statistics(generated, comparison, reference):
    """Per statistic: the Wasserstein distance of the generated set and of the real comparison
    set from the real reference, both over the reference's standard deviation (never below the
    statistic's ``RESOLUTION``), and their Cohen's d. Returns (rows, synthetic galaxy distance,
    real-vs-real distance)."""
    rows = {}
    for name, real in reference.items():
        floor = RESOLUTION[name.rsplit("_", 1)[0]]  # "colour_g-r" -> "colour"
        spread = max(float(np.std(real)), floor)
        rows[name] = {
            "distance": float(stats.wasserstein_distance(generated[name], real)) / spread,
            "baseline_distance": float(stats.wasserstein_distance(comparison[name], real)) / spread,
            "cohens_d": cohens_d(generated[name], real, floor),
            "baseline_cohens_d": cohens_d(comparison[name], real, floor),
        }
    return rows, sum(row["distance"] for row in rows.values()), sum(row["baseline_distance"] for row in rows.values())


def frechet_distance(features, reference):
    """‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½) between two sets of feature vectors (Heusel et al. 2017)."""
    features, reference = np.asarray(features, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    mean_difference = features.mean(0) - reference.mean(0)
    first, second = np.cov(features, rowvar=False), np.cov(reference, rowvar=False)
    root = linalg.sqrtm(first @ second)
    if np.iscomplexobj(root):
        root = root.real  # numerical noise of a nearly singular product
    return float(mean_difference @ mean_difference + np.trace(first + second - 2 * root))


def frechet_figures(generated, comparison, reference):
    """The Fréchet distances of generated and real comparison features from the reference's, and their ratio."""
    distances = {"generated": frechet_distance(generated, reference), "real": frechet_distance(comparison, reference)}
    return {**distances, "ratio": distances["generated"] / max(distances["real"], 1e-9)}


def nearest_distances(images, training):
    """Each image's root-mean-square pixel distance to its nearest training image."""
    images = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    training = np.asarray(training, dtype=np.float32).reshape(len(training), -1)
    squared = (images**2).sum(1)[:, None] + (training**2).sum(1)[None] - 2 * images @ training.T
    return np.sqrt(squared.min(1).clip(min=0) / images.shape[1])


def histograms(generated, comparison, reference, bins=20):
    """{statistic: {"edges", "generated", "real", "real_comparison"}}: shares per bin on common edges."""
    drawn = {}
    for name, real in reference.items():
        every = np.concatenate([generated[name], comparison[name], real])
        low, high = np.percentile(every, [1, 99])
        edges = np.linspace(low, high if high > low else low + 1, bins + 1)
        drawn[name] = {"edges": edges.round(4).tolist(),
                       **{key: (np.histogram(np.clip(values[name], low, high), edges)[0] / len(values[name])).round(4)
                          .tolist() for key, values in (("generated", generated), ("real", reference),
                                                        ("real_comparison", comparison))}}  # fmt: skip
    return drawn


def report(counts, scaled, reference, comparison, training, *, bands, zero_point, band_noise, frechet):
    """The whole report of a generated set: ``counts`` (N, bands, H, W) in counts and the same in
    the generator's scale (``scaled``), against ``reference`` real galaxies of the class, beside
    ``comparison`` (as many other real ones), with ``training`` (the generator's training galaxies
    of the class, in its scale) for the memorisation check; ``frechet`` as ``frechet_figures``
    gives it, or the reason it was not measured."""
    measured = [galaxy_statistics(cubes, bands, zero_point) for cubes in (counts, comparison, reference)]
    rows, distance, baseline = compare_statistics(*measured)
    nearest = {"generated": float(np.median(nearest_distances(scaled, training))),
               "real": float(np.median(nearest_distances(asinh_sky(comparison, band_noise), training)))}  # fmt: skip
    return {
        "sizes": {"generated": len(counts), "real_reference": len(reference), "real_comparison": len(comparison),
                  "training_galaxies_of_the_class": len(training)},
        "statistics": rows,
        "synthetic_galaxy_distance": {"generated": distance, "real": baseline, "ratio": distance / max(baseline, 1e-9)},
        "frechet_distance": frechet,
        "nearest_training_distance": nearest,
        "histograms": histograms(*measured),
    }  # fmt: skip


def gate(report, thresholds):
    """(passed, [reasons it failed]) of a report under ``thresholds`` (settings.GENERATION_GATE):
    the synthetic galaxy distance and the Fréchet distance each at most ``distance_ratio`` ×
    real-vs-real; no statistic's mean off by more than ``cohens_d`` standard deviations (a sum
    over many statistics can hide one that is badly off: all galaxies a magnitude too bright);
    and the generated galaxies no closer to their nearest training galaxy than
    ``memorisation_ratio`` × real galaxies are."""
    reasons = []
    for name, row in report["statistics"].items():
        if abs(row["cohens_d"]) > thresholds["cohens_d"]:
            reasons.append(f"{name.replace('_', ' ')} is off by {row['cohens_d']:+.2f} standard deviations (Cohen's d; "
                           f"real against real {row['baseline_cohens_d']:+.2f})")  # fmt: skip
    limit = thresholds["distance_ratio"]
    named = (("synthetic_galaxy_distance", "synthetic galaxy distance"), ("frechet_distance", "Fréchet distance"))
    for key, name in named:
        figure = report.get(key) or {}
        if "generated" not in figure:
            continue  # not measured (no encoder to read the galaxies), and said so in the report
        if figure["generated"] > limit * figure["real"]:
            reasons.append(f"{name} {figure['generated']:.3f} is more than {limit:g}× real against real "
                           f"({figure['real']:.3f})")  # fmt: skip
    memorisation = report["nearest_training_distance"]
    if memorisation["generated"] < thresholds["memorisation_ratio"] * memorisation["real"]:
        reasons.append(f"generated galaxies lie {memorisation['generated']:.3f} from their nearest training galaxy "
                       f"(median), real ones {memorisation['real']:.3f}: it copies its training set")  # fmt: skip
    return not reasons, reasons
