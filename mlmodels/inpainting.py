"""Inpainting of frames: the masked pixels of a trail, hits or bad columns filled by masked
reverse diffusion (RePaint, Lugmayr et al. 2022) with a diffusion model of clean frame
patches, while every unmasked pixel stays exactly as it was.

At each step the unmasked pixels are the frame's own, noised to the step's level, and the
masked ones the network's continuation of them; the pair is noised back a step and denoised
again (``resample`` times) so the fill agrees with what surrounds it rather than only with
the noise it started from. Several fills from different noise are averaged: the mean is the
estimate of the pixels photometry wants, and their spread is stored as each repaired pixel's
uncertainty.

A frame is repaired in patches the network's size: the masked pixels of each patch's central
``core`` are written, so every filled pixel has at least (size − core) / 2 pixels of the frame
on each side to be continued from.

Only worker code imports this module (torch).
"""

import numpy as np
import torch

from observations.defect_masks import sky_and_noise
from observations.star_fitting import FittedStars

from .diffusion import cosine_alpha_bars, ddim_steps
from .normalisation import asinh_sky, from_asinh_sky

X0_RANGE = (-1.5, 4.0)  # the frame's asinh scale: sky noise within ±0.6, saturated cores near 3.5
CORE_FRACTION = 0.5


def frame_scale(image, mask):
    """(sky, noise) of the frame's unmasked pixels: what the fixed asinh scale is made from."""
    return sky_and_noise(np.where(mask, np.nan, image))


@torch.inference_mode()
def repaint(model, known, sigma, *, steps, resample, generator):
    """Fill the pixels of ``known`` (B, C, H, W, the network's scale) that ``sigma`` (B, 1, H, W)
    does not give exactly, by RePaint over ``steps`` strided DDPM steps with ``resample`` rounds
    each. ``sigma`` is each pixel's noise in that scale: 0 for a pixel to keep as it is, infinite
    for one to guess, between for one measured through a defect's extra noise (under a trail,
    less its light). Such a pixel is given while the steps are noisier than it, and the network
    denoises it from there. The steps' noise is coarse at its quiet end (25 steps go from 0.08
    to 0.006 in one), so a pixel measured to better than the last step it was given at was
    given with noise added to it: it comes back as the mean of the network's fill and its
    measurement, weighted by how much of that step's noise was added. The exact ones come back
    exactly as given. An inpainter learns one band, whose ``band_basis`` is 1: the frame's scale
    is the network's own."""
    target = known.device
    alpha_bars = cosine_alpha_bars().to(target)
    classes = torch.zeros(len(known), dtype=torch.long, device=target)
    x = _noise(known.shape, generator, target)
    visits = ddim_steps(steps, len(alpha_bars))
    quiet = alpha_bars[visits[1:]]
    levels = torch.cat([((1 - quiet) / quiet).sqrt().flip(0), torch.tensor([torch.inf], device=target)])
    given_at = levels[torch.searchsorted(levels[:-1].contiguous(), sigma.contiguous())]  # its last step's noise
    added = ((given_at**2 - sigma**2) / given_at**2).nan_to_num(0.0)  # the share of it added to the measurement
    for index, t in enumerate(visits):
        a = alpha_bars[t]
        following = alpha_bars[visits[index + 1]] if index + 1 < len(visits) else torch.tensor(1.0, device=target)
        sigma_step = ((1 - following) / (1 - a) * (1 - a / following)).clamp(min=0).sqrt()
        given_pixels = sigma <= ((1 - following) / following).sqrt()  # what the state after this step is as noisy as
        variance = torch.where(given_pixels, sigma, torch.zeros_like(sigma)) ** 2
        rounds = resample if index + 1 < len(visits) else 1  # the last step is not noised back: one round
        for round_ in range(rounds):
            v = model(x, torch.full((len(x),), int(t), device=target, dtype=torch.long), classes)
            x0 = (a.sqrt() * x - (1 - a).sqrt() * v).clamp(*X0_RANGE)
            eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
            filled = (following.sqrt() * x0 + (1 - following - sigma_step**2).clamp(min=0).sqrt() * eps
                      + sigma_step * _noise(x.shape, generator, target))  # fmt: skip
            given = following.sqrt() * known + (1 - following - following * variance).clamp(min=0).sqrt() * _noise(
                x.shape, generator, target)  # fmt: skip
            step_back = torch.where(given_pixels, given, filled)
            if round_ + 1 < rounds:
                back = a / following  # q(x_t | x_{t-1}) over the stride
                x = back.sqrt() * step_back + (1 - back).sqrt() * _noise(x.shape, generator, target)
        x = step_back
    return torch.where(sigma == 0, known, added * known + (1 - added) * x)


def _noise(shape, generator, target):
    return torch.randn(shape, generator=generator).to(target)


def patches_for(mask, size, core):
    """(patch top, patch left, tile top, tile left) of the patches whose ``core`` × ``core`` tiles
    cover every masked pixel: each patch is centred on its tile, or moved inside the frame at its edge."""
    height, width = mask.shape
    margin = (size - core) // 2
    patches = []
    for top in range(0, height, core):
        for left in range(0, width, core):
            if mask[top : top + core, left : left + core].any():
                patches.append((min(max(top - margin, 0), height - size), min(max(left - margin, 0), width - size),
                                top, left))  # fmt: skip
    return patches


def repair_image(network, image, mask, *, beneath=None, stars=None, size, steps=25, resample=4, samples=4, seed=0,
                 batch_size=32, on_batch=None):  # fmt: skip
    """(repaired, spread): ``image`` with its ``mask``ed pixels filled (the mean of ``samples``
    fills) and the fills' standard deviation there (0 elsewhere), both in the image's units.
    ``beneath``, (values, noise) in the image's units and NaN where nothing is known, gives what
    the frame still says of masked pixels (a trail's, less its light). ``stars``
    (``star_fitting.FittedStars``) are taken out of the frame before it is filled and put back
    after, so the network fills only the sky between them; the masked pixels their light decides
    are their fit's estimate, with its error as their spread. ``on_batch(done, total)`` after
    each batch of patches."""
    height, width = image.shape
    if min(height, width) < size:
        raise ValueError(f"a {width}×{height} px frame is smaller than the network's {size} px patches")
    device = next(network.parameters()).device
    original, stars = image, stars or FittedStars.none(image.shape)
    values, measured_noise = beneath if beneath is not None else (image, np.full(image.shape, np.nan))
    image, values = image - stars.light, np.where(stars.footprint, stars.estimate, values) - stars.light
    measured_noise = np.where(stars.footprint, 0, measured_noise)  # given as they are
    sky, noise = frame_scale(image, mask)
    measured = mask & np.isfinite(values) & np.isfinite(measured_noise)
    values = np.where(measured, values, np.where(mask | ~np.isfinite(image), sky, image)) - sky
    scaled = asinh_sky(values[None, None], [noise])[0, 0]
    # each pixel's noise in the network's scale: asinh(counts / noise) / 3 changes by 1 / (3 √(noise² + counts²))
    sigma = np.where(measured, measured_noise / (3 * np.sqrt(noise**2 + values**2)), np.where(mask, np.inf, 0))
    sigma = sigma.astype(np.float32)
    core = int(size * CORE_FRACTION)
    patches = patches_for(mask, size, core)
    fills = np.zeros((samples, height, width), dtype=np.float32)
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, len(patches), batch_size):
        chosen = patches[start : start + batch_size]
        known = np.stack([scaled[top : top + size, left : left + size] for top, left, *_ in chosen])[:, None]
        noises = np.stack([sigma[top : top + size, left : left + size] for top, left, *_ in chosen])[:, None]
        known = torch.from_numpy(np.repeat(known, samples, 0)).to(device)
        noises = torch.from_numpy(np.repeat(noises, samples, 0)).to(device)
        filled = repaint(network, known, noises, steps=steps, resample=resample, generator=generator)
        filled = filled.float().cpu().numpy().reshape(len(chosen), samples, size, size)
        for (top, left, tile_top, tile_left), patch in zip(chosen, filled):
            bottom, right = min(tile_top + core, height), min(tile_left + core, width)
            rows, columns = slice(tile_top - top, bottom - top), slice(tile_left - left, right - left)
            fills[:, tile_top:bottom, tile_left:right] = patch[:, rows, columns]
        if on_batch is not None:
            on_batch(min(start + batch_size, len(patches)), len(patches))
    counts = from_asinh_sky(fills[:, None], [noise])[:, 0] + sky
    repaired = np.where(stars.footprint, stars.estimate, counts.mean(0) + stars.light)
    spread = np.where(stars.footprint, stars.error, counts.std(0))
    return np.where(mask, repaired, original).astype(np.float32), np.where(mask, spread, 0).astype(np.float32)
