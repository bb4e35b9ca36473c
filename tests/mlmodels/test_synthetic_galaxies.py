"""Synthetic galaxies: each class looks like itself, and the simulated votes read like Galaxy Zoo's."""

import io

import numpy as np
import pytest
from astropy.io import fits

from mlmodels.galaxy_zoo import ANSWER_COUNT, DECALS_TREE, answer_columns, path_questions, vote_fractions
from mlmodels.generation_quality import galaxy_statistics
from mlmodels.synthetic_galaxies import KINDS, SKY_PER_PIXEL, VOLUNTEERS, ZERO_POINT, make_galaxies, make_galaxy


def test_the_decals_tree_has_ten_questions_and_thirty_four_answers():
    assert len(DECALS_TREE) == 10 and ANSWER_COUNT == 34 == len(answer_columns())
    assert path_questions({"smooth-or-featured": "smooth"}) == ["smooth-or-featured", "how-rounded", "merging"]
    assert path_questions({"smooth-or-featured": "featured-or-disk", "disk-edge-on": "no",
                           "has-spiral-arms": "yes"}) == [  # fmt: skip
        "smooth-or-featured", "disk-edge-on", "has-spiral-arms", "bar", "bulge-size", "spiral-winding",
        "spiral-arm-count", "merging",
    ]  # fmt: skip


def test_the_same_seed_makes_the_same_galaxy_and_another_seed_another():
    first, again, other = make_galaxy(7), make_galaxy(7), make_galaxy(8)
    assert first.kind == again.kind and np.array_equal(first.image, again.image) and first.votes == again.votes
    assert not np.array_equal(first.image, other.image)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_a_sky_subtracted_three_band_cutout(kind):
    galaxy = make_galaxy(3, kind, size=48)
    assert galaxy.image.shape == (3, 48, 48) and galaxy.image.dtype == np.float32
    assert np.isfinite(galaxy.image).all()
    corners = np.concatenate([galaxy.image[1, :5, :5].ravel(), galaxy.image[1, -5:, -5:].ravel()])
    assert abs(np.median(corners)) < 0.25 * SKY_PER_PIXEL[1], "the sky level is taken off"
    assert galaxy.image[1, 20:28, 20:28].mean() > 3 * corners.std(), "a galaxy in the middle"


def _axis_ratio(plane):
    """Light-weighted second moments of the bright pixels: minor over major axis."""
    weights = np.where(plane > np.percentile(plane, 90), plane, 0)
    y, x = np.indices(plane.shape)
    total = weights.sum()
    cx, cy = (weights * x).sum() / total, (weights * y).sum() / total
    cov = np.cov(np.stack([(x - cx).ravel(), (y - cy).ravel()]), aweights=weights.ravel())
    low, high = np.linalg.eigvalsh(cov)
    return np.sqrt(low / high)


def _colour(galaxy):
    """g over z flux in the galaxy's bright pixels: large for blue light, small for red."""
    bright = galaxy.image[1] > np.percentile(galaxy.image[1], 85)
    return galaxy.image[0][bright].sum() / galaxy.image[2][bright].sum()


def test_edge_on_disks_are_thin_and_ellipticals_red_irregulars_blue():
    edge_on = [_axis_ratio(make_galaxy(seed, "edge_on").image[1]) for seed in range(8)]
    spirals = [_axis_ratio(make_galaxy(seed, "spiral").image[1]) for seed in range(8)]
    assert np.median(edge_on) < 0.45 < np.median(spirals)
    red = [_colour(make_galaxy(seed, "elliptical")) for seed in range(8)]
    blue = [_colour(make_galaxy(seed, "irregular")) for seed in range(8)]
    assert max(red) < min(blue)


def test_galaxies_of_one_class_differ_in_colour_as_a_surveys_do_the_red_sequence_tightest():
    """Measured as a generated set's report measures them: g − r of the whole cutout."""
    spread = {}
    for kind in ("elliptical", "merger"):
        cutouts = np.stack([galaxy.image for galaxy in make_galaxies(120, kinds=(kind,), size=32)])
        spread[kind] = np.std(galaxy_statistics(cutouts, "grz", ZERO_POINT)["colour_g-r"])
    assert 0.03 < spread["elliptical"] < 0.06, "the red sequence: ~0.04 mag in DECaLS"
    assert spread["merger"] > 1.5 * spread["elliptical"]


def test_simulated_votes_follow_the_tree_and_mostly_agree_with_the_truth():
    galaxies = make_galaxies(60, seed=100)
    agree = 0
    for galaxy in galaxies:
        assert sum(galaxy.votes["smooth-or-featured"].values()) == VOLUNTEERS, "everyone answers the first question"
        for question, fractions in vote_fractions(galaxy.votes).items():
            assert sum(fractions.values()) == pytest.approx(1.0)
        first = galaxy.votes["smooth-or-featured"]
        agree += max(first, key=first.get) == galaxy.answers["smooth-or-featured"]
        if galaxy.answers["smooth-or-featured"] == "smooth":
            assert sum(galaxy.votes.get("disk-edge-on", {}).values()) < VOLUNTEERS / 2, "asked only of featured"
    assert agree >= 0.9 * len(galaxies)
    assert {galaxy.kind for galaxy in galaxies} == set(KINDS), "classes are balanced"


def test_a_galaxy_is_stored_as_a_labelled_fits_cube():
    galaxy = make_galaxy(5, "barred_spiral")
    with fits.open(io.BytesIO(galaxy.fits_bytes())) as hdul:
        assert hdul[0].data.shape == (3, 64, 64)
        assert hdul[0].header["GALKIND"] == "barred_spiral" and hdul[0].header["BANDS"] == "g,r,z"


def test_an_unknown_kind_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="choose from elliptical, spiral"):
        make_galaxy(1, "lenticular")
