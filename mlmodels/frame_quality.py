"""Frame quality: what a whole frame looks like to the network, and the labelled synthetic
frames the first frame-quality model learns from.

A frame is reduced to two planes of ``size``² pixels: the block mean (clouds, gradients,
donuts, trails) and how far each block's brightest pixel stands above the block's mean
(cosmic-ray hits, one or two pixels wide, vanish in a mean but stand far above it; a star
spreads its light over the block). Both are scaled by the frame's own noise and compressed
with asinh, so exposure time and sky brightness do not matter.

The quality is a judgement on what the frame is good for: *good* has no defect; *medium*
is usable away from a satellite trail or cosmic-ray hits (photometry of most targets is
fine); *bad* is spoilt everywhere (clouds take light unevenly, defocus spreads every star).
The defects themselves are flags, each with its own probability.
"""

import numpy as np

from observations.synthetic import DEFECTS, make_frame

QUALITY_CLASSES = ("good", "medium", "bad")
FLAGS = DEFECTS  # clouds, defocus, satellite, cosmic_rays
PLANES = ("mean", "peak")
SPOILING = {"clouds", "defocus"}


def quality_of(defects):
    """good / medium / bad for a frame with these defects."""
    if not defects:
        return "good"
    return "bad" if SPOILING & set(defects) else "medium"


def frame_planes(image, size):
    """(2, size, size) float32: block mean and block peak (max − mean) of the central square,
    noise-scaled."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"a frame is one 2-D image, not an array of shape {image.shape}")
    finite = np.isfinite(image)
    if finite.mean() < 0.5:
        raise ValueError(f"{1 - finite.mean():.0%} of the frame's pixels are NaN or infinite")
    height, width = image.shape
    side = min(height, width)
    if side < size:
        raise ValueError(f"a {width}×{height} px frame is smaller than the model's {size} px")
    factor = side // size
    top, left = (height - size * factor) // 2, (width - size * factor) // 2
    crop = image[top : top + size * factor, left : left + size * factor]
    sky = float(np.median(crop[np.isfinite(crop)]))
    crop = np.where(np.isfinite(crop), crop, sky).reshape(size, factor, size, factor)
    mean = crop.mean(axis=(1, 3))
    noise = 1.4826 * float(np.median(np.abs(mean - np.median(mean)))) or 1.0  # of a block mean
    planes = np.stack([(mean - sky) / noise, (crop.max(axis=(1, 3)) - mean) / (noise * factor)])
    return (np.arcsinh(planes) / 3).astype(np.float32)


def training_frames(count, *, seed=0, size=128):
    """(planes (N, 2, size, size), class index (N,), flags (N, 4)): synthetic frames with
    random defects, a third of them clean, two to four times the model's size (frames are
    binned by different factors); each frame is its own source."""
    rng = np.random.default_rng(seed)
    images, labels, flags = [], [], []
    for number in range(count):
        defects = () if rng.random() < 1 / 3 else tuple(d for d in DEFECTS if rng.random() < 0.35) or (
            DEFECTS[int(rng.integers(len(DEFECTS)))],
        )  # fmt: skip
        side = size * int(rng.integers(2, 5))
        frame = make_frame(ra_deg=rng.uniform(0, 360), dec_deg=rng.uniform(-60, 60), width=side, height=side,
                           n_stars=int(rng.integers(15, 60)), seeing_fwhm_arcsec=rng.uniform(1.0, 2.4),
                           sky_adu=rng.uniform(300, 2000), seed=seed * 100_003 + number, defects=defects)  # fmt: skip
        images.append(frame_planes(frame.data, size))
        labels.append(QUALITY_CLASSES.index(quality_of(defects)))
        flags.append([float(flag in defects) for flag in FLAGS])
    return np.stack(images), np.array(labels), np.array(flags, dtype=np.float32)
