"""How images are scaled before a network sees them, the same in training and inference.
numpy only: the web process may import it.
"""

import numpy as np


def asinh_normalise(images):
    """Scale each cutout by its own noise (robust, from the median absolute deviation per band)
    and compress with asinh: faint arms and bright cores both stay visible, across magnitudes."""
    flat = np.asarray(images, dtype=np.float32).reshape(images.shape[0], images.shape[1], -1)
    median = _median(flat)
    noise = 1.4826 * _median(np.abs(flat - median))
    return (np.arcsinh((flat - median) / np.maximum(noise, 1e-6)) / 3).reshape(images.shape).astype(np.float32)


def _median(flat):
    """np.median over the last axis, keeping it: the same numbers, ten times sooner. For an
    even count numpy partitions around both middle elements, which takes its slow path;
    one partition and the largest element below it give the same two."""
    count = flat.shape[-1]
    parted = np.partition(flat, count // 2, axis=-1)
    upper = parted[..., count // 2 : count // 2 + 1]
    if count % 2:
        return upper
    return (upper + parted[..., : count // 2].max(axis=-1, keepdims=True)) / 2


def asinh_sky(counts, band_noise):
    """Counts (N, bands, H, W) in a fixed scale, asinh(counts / each band's sky noise) / 3: the same
    for every cutout, so it can be undone (``from_asinh_sky``). What a generator learns and makes."""
    noise = np.asarray(band_noise, dtype=np.float32)[:, None, None]
    return np.arcsinh(np.asarray(counts, dtype=np.float32) / noise) / 3


def from_asinh_sky(scaled, band_noise):
    """Counts back from ``asinh_sky``'s scale: generated galaxies as a survey's cutouts hold them."""
    noise = np.asarray(band_noise, dtype=np.float32)[:, None, None]
    return np.sinh(3 * np.asarray(scaled, dtype=np.float32)) * noise
