"""Masks of the pixels a defect spoilt: a trail, cosmic-ray hits and bad columns are found where
they are and nowhere else (stars are not defects, on synthetic frames or a real Schmidt plate),
and a drawn mask is exactly what was drawn or refused naming the shape that is not one."""

import numpy as np
import pytest
from astropy.io import fits
from scipy import ndimage

from observations.defect_masks import (
    MaskRefused,
    bad_column_mask,
    check_mask,
    cosmic_ray_mask,
    drawn_mask,
    flagged_mask,
    sky_and_noise,
    trail_light,
    trail_mask,
)
from observations.synthetic import GAIN, make_frame
from tests.observations.test_real_files import REAL

FIELD = {"ra_deg": 10, "dec_deg": 20, "width": 384, "height": 384}


def _frames(seed, defect, **field):
    """(clean, spoilt, the defect's own light): one field with and without the defect; its light is
    told from the noiseless frames, as the two noisy ones' noise differs."""
    field = {**FIELD, "seed": seed, **field}
    clean, spoilt = (make_frame(**field, defects=defects).data for defects in ((), (defect,)))
    light = make_frame(**field, defects=(defect,), noise=False).data - make_frame(**field, noise=False).data
    return clean, spoilt, light


@pytest.mark.parametrize(
    "seed, seeing",
    [(0, 1.2), (1, 1.2), (2, 1.2), (3, 2.2), (4, 2.2), (5, 2.2)],
    ids=["good-seeing-0", "good-seeing-1", "good-seeing-2", "crowded-bad-seeing-3", "crowded-bad-seeing-4",
         "crowded-bad-seeing-5"],
)  # fmt: skip
def test_a_satellite_trail_is_masked_along_its_whole_length_and_no_wider_than_it_shows(seed, seeing):
    """In bad seeing a crowded field's stars blend into the trail's region, and into long chains
    of their own on a frame without one."""
    crowding = {"n_stars": 360} if seeing > 2 else {}
    clean, spoilt, light = _frames(seed, "satellite", seeing_fwhm_arcsec=seeing, **crowding)
    mask = trail_mask(spoilt)
    _, noise = sky_and_noise(clean)
    trail = light > 3 * noise
    assert mask[trail].mean() > 0.99, "every pixel the trail lifts above 3σ is masked"
    assert mask.sum() < 12 * np.hypot(384, 384), f"the band is as wide as a trail, not a slab ({mask.sum()} px)"
    assert not trail_mask(clean).any(), "a clean frame's stars are no trail"


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_two_satellites_trails_that_cross_are_both_masked_and_modelled(seed):
    """Trails that cross make one region of light: each line found is set aside and the rest searched again."""
    clean = make_frame(**FIELD, seed=50 + seed).data
    sky, noise = sky_and_noise(clean)
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0 : clean.shape[0], 0 : clean.shape[1]]
    trails = []
    for angle, offset, peak in zip(rng.uniform(0, np.pi, 2), (0.5, rng.uniform(0.35, 0.65)), (4000, 1500)):
        distance = (columns - 384 * offset) * np.sin(angle) - (rows - 384 * offset) * np.cos(angle)
        trails.append(peak * np.exp(-(distance**2) / 2))
    light = sum(trails)
    spoilt = clean + light + rng.normal(0, np.sqrt(light / GAIN))
    mask = trail_mask(spoilt)
    for trail in trails:
        assert mask[trail > 3 * noise].mean() > 0.99, "each trail is masked along its whole length"
    assert mask.sum() < 2 * 12 * np.hypot(384, 384), "two bands as wide as trails, not a slab"
    modelled, _ = trail_light(spoilt)
    error = np.median(np.abs(modelled - light)[mask]) / noise
    assert error < 0.5, f"the two trails' light is modelled {error:.2f}σ off"


@pytest.mark.parametrize("seeing, flaring", [(1.2, False), (2.2, False), (1.2, True)],
                         ids=["good-seeing", "bad-seeing", "flaring"])  # fmt: skip
def test_a_trails_light_is_modelled_to_within_the_noise_so_the_stars_it_crosses_keep_theirs(seeing, flaring):
    """A trail adds its light to the stars it crosses: less the model of it, its band's pixels are
    the sky and stars beneath, only noisier. A tumbling satellite flares and fades along it."""
    field = {**FIELD, "seed": 6, "seeing_fwhm_arcsec": seeing}
    clean, truth = make_frame(**field).data, make_frame(**field, noise=False).data
    trail = make_frame(**field, defects=("satellite",), noise=False).data - truth
    if flaring:
        trail *= np.linspace(0.3, 1.5, trail.shape[1])[None, :]
    spoilt = clean + trail + np.random.default_rng(0).normal(0, np.sqrt(trail / GAIN))  # the trail's photons
    light, scatter = trail_light(spoilt)
    sky, noise = sky_and_noise(clean)
    band = np.isfinite(scatter)
    assert np.array_equal(band, trail_mask(spoilt)) and not light[~band].any()
    error = np.median(np.abs(light - trail)[band]) / noise
    assert error < 0.5, f"the trail's light is modelled {error:.2f}σ off"
    starlit = band & (truth - sky > 20 * noise) & (trail > 10 * noise)  # stars the trail's light swamps
    assert starlit.sum() >= 10
    before, after = (
        np.median(np.abs(image - truth)[starlit] / (truth - sky)[starlit]) for image in (spoilt, spoilt - light)
    )
    assert before > 0.3 and after < 0.1, (
        f"the stars under the trail are {after:.0%} off less its light ({before:.0%} with it)"
    )


def test_a_real_satellites_streak_is_masked_along_its_length_and_its_light_taken_off_to_the_sky():
    """A real streak (a YSTAR-SAAO CCD frame) ends inside the frame, is knotty and wanders by a
    pixel about its line: the band follows it end to end no wider than a trail, and less its
    modelled light its middle is back at the sky."""
    image = fits.getdata(REAL / "ystar-saao-streak.fits.gz").astype(np.float32)
    mask = trail_mask(image)
    light, _ = trail_light(image)
    sky, noise = sky_and_noise(image)
    columns = np.nonzero(mask.any(axis=0))[0]
    assert columns.min() < 12 and 345 < columns.max() < 360, "from the frame's edge to where the streak ends"
    assert mask.sum() < 12 * 350 and not mask[:25].any() and not mask[80:].any()
    middle = mask & (light > 5 * noise)
    before, after = (np.median((image - sky)[middle]) / noise for image in (image, image - light))
    assert before > 5 and abs(after) < 0.5, f"the streak's middle is {before:.1f}σ above the sky, {after:.2f}σ less it"


def test_a_bright_stars_bleed_column_is_not_taken_for_a_trail():
    clean = make_frame(**FIELD, seed=3).data
    clean[150:190, 200] += 30_000  # a saturated star's charge run down its column: long, thin and short of the frame
    assert not trail_mask(clean).any()


@pytest.mark.parametrize("seed", [0, 1])
def test_cosmic_ray_hits_are_masked_and_stars_are_not(seed):
    clean, spoilt, light = _frames(seed, "cosmic_rays")
    hits = light > 2000
    mask = cosmic_ray_mask(spoilt, gain=GAIN)
    assert mask[hits].mean() > 0.95
    _, noise = sky_and_noise(clean)
    stars = (ndimage.maximum_filter(clean, 7) == clean) & (clean > np.median(clean) + 30 * noise)
    stars &= ~ndimage.binary_dilation(hits, iterations=4)  # a hit on a star is masked, as it should be
    assert stars.sum() > 5 and not mask[stars].any(), "no star's peak is taken for a hit"


def test_the_stars_of_a_real_undersampled_schmidt_plate_are_not_taken_for_hits():
    """The DSS's 1.7″ pixels make its stars nearly as sharp as hits: L.A.Cosmic's default fine-structure
    test takes their cores; the frame's own seeing keeps them."""
    plate = fits.getdata(REAL / "dss.14.29.56-62.41.05.fits.gz").astype(np.float32)
    sky, noise = sky_and_noise(plate)
    brightest = np.argsort((ndimage.maximum_filter(plate, 5) == plate).ravel() * plate.ravel())[-10:]
    mask = cosmic_ray_mask(plate, grow=0)
    assert not mask.ravel()[brightest].any()
    assert mask.mean() < 0.01, f"{mask.mean():.1%} of a plate of stars masked as hits"


def test_a_hot_column_is_masked_whole_and_alone():
    frame = make_frame(**FIELD, seed=4).data
    _, noise = sky_and_noise(frame)
    frame[:, 77] += 4 * noise
    mask = bad_column_mask(frame)
    assert mask[:, 77].all() and mask.sum() == frame.shape[0]
    flagged, found, hidden = flagged_mask(frame, ["cosmic_rays"], gain=GAIN)
    assert found["bad columns"] == 1 and flagged[:, 77].all() and hidden[:, 77].all()


def test_a_drawn_mask_is_what_was_drawn():
    mask = drawn_mask({"lines": [[10, 20, 90, 20, 5]], "boxes": [[40, 60, 49, 64]]}, (100, 120))
    assert mask[18:23, 10:91].all() and not mask[16, 50] and not mask[24, 50], "5 px wide about row 20"
    assert mask[60:65, 40:50].all() and mask[60:65, 40:50].sum() == 50
    assert not mask[:, 93:].any() and not mask[:, :8].any() and not mask[30:55].any(), "nothing else"


@pytest.mark.parametrize(("shapes", "reason"), [
    ({"circles": [[1, 2, 3]]}, "lines and boxes, not circles"),
    ({"lines": [[1, 2, 3]]}, "line 1 must be 5 numbers"),
    ({"lines": [[0, 0, 9, 9, 0]]}, "line 1 is 0 px wide"),
    ({"boxes": [[0, 0, "nine", 9]]}, "box 1 must be 4 numbers"),
    ({"boxes": [[0, 0, float("nan"), 9]]}, "box 1 has a number that is not finite"),
])  # fmt: skip
def test_a_drawn_shape_that_is_not_one_is_refused_by_name(shapes, reason):
    with pytest.raises(MaskRefused, match=reason):
        drawn_mask(shapes, (50, 50))


def test_a_mask_of_nothing_of_everything_or_of_too_much_is_refused():
    mask = np.zeros((40, 40), dtype=bool)
    with pytest.raises(MaskRefused, match="covers none of the frame"):
        check_mask(mask, 0.25)
    with pytest.raises(MaskRefused, match="covers the whole frame"):
        check_mask(~mask, 0.25)
    mask[:20] = True
    with pytest.raises(MaskRefused, match="covers 50% of the frame; .* at most 25%"):
        check_mask(mask, 0.25)
    mask[:] = False
    mask[3, 3] = True
    assert check_mask(mask, 0.25) is mask
