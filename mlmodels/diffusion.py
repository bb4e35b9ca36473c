"""Class-conditional denoising diffusion for galaxy cutouts (DDPM, Ho et al. 2020): a small
U-Net with self-attention, told the timestep and the class, trained to predict the velocity
of the noising under a cosine schedule (Nichol & Dhariwal 2021; v-prediction, Salimans & Ho
2022), the nearly clean steps weighted down as in Min-SNR-γ (Hang et al. 2023), half of the
steps drawn where a galaxy's layout is decided, every class drawn equally often. The class is
dropped from one training example in ten so the same network also predicts without it, which
is what classifier-free guidance (Ho & Salimans 2022) mixes at sampling time. Sampling is DDIM
(Song et al. 2021): deterministic, in a few tens of steps instead of a thousand.

Images are given in a fixed, invertible scale (``normalisation.asinh_sky``) — asinh of
counts over each band's sky noise — not the per-cutout scale classifiers see, so a generated
cutout turns back into counts with magnitudes, colours and sizes to be judged against real
galaxies (``generation_quality``). The network learns them in a basis of its own
(``band_basis``): the bands' mean, and the differences between bands amplified, so colours are
decided as surely as shapes.

Only worker code imports this module (torch).
"""

import copy
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional

TIMESTEPS = 1000
UNCONDITIONAL_EVERY = 10  # one training example in this many learns without its class
EMA_DECAY = 0.995
MIN_SNR_GAMMA = 5.0
X0_RANGE = (-1.0, 3.0)  # where the fixed asinh scale puts sky (≈0) and the brightest cores (≈2.7)
LAYOUT_STEPS = (400, 850)  # where a galaxy's layout is decided: ᾱ from 0.65 down to 0.05
GUIDED_STEPS = LAYOUT_STEPS  # where classifier-free guidance is applied (``sample``)
COLOUR_GAIN = 3.0  # how much a generator amplifies the differences between bands (``band_basis``)


def cosine_alpha_bars(timesteps=TIMESTEPS, offset=0.008):
    """ᾱ_t, the share of signal left at step t, for t = 0 … timesteps-1 (Nichol & Dhariwal eq. 17)."""
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + offset) / (1 + offset) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0).float()


def band_basis(channels, colour_gain):
    """The (channels × channels) mixing a network learns images in: first the bands' mean, then the
    differences between them (the rows of a Helmert matrix, orthonormal), those × ``colour_gain``.

    Why: in the bands themselves the network's errors are independent from band to band, and
    colour is the difference of two of them. Learnt so, a generator's merger colours came out
    1.3–1.5× as spread as real ones' and were most of a failing set's distance. Amplified, a
    colour stands out of the noise at noisier steps and the same error in it costs its colour
    ``colour_gain`` × less: ×3 brings both colour spreads to within 15% of real (g − r 0.081
    mag against 0.086, r − z 0.065 against 0.075) and the sky's noise closer to real. One band
    has no colour: its basis is 1."""
    rows = [torch.full((channels,), 1 / math.sqrt(channels), dtype=torch.float64)]
    for index in range(1, channels):
        row = torch.zeros(channels, dtype=torch.float64)
        row[:index], row[index] = 1.0, -float(index)
        rows.append(colour_gain * row / math.sqrt(index * (index + 1)))
    return torch.stack(rows).float()


def _sinusoid(t, dimensions):
    half = dimensions // 2
    frequencies = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], 1)


class _Residual(nn.Module):
    """Two convolutions, with the timestep and class embedding as a scale and shift between them."""

    def __init__(self, inputs, outputs, embedding, dropout=0.1):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, inputs), nn.Conv2d(inputs, outputs, 3, padding=1)
        self.condition = nn.Linear(embedding, 2 * outputs)
        self.norm2, self.conv2 = nn.GroupNorm(8, outputs), nn.Conv2d(outputs, outputs, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(inputs, outputs, 1) if inputs != outputs else nn.Identity()

    def forward(self, x, embedded):
        h = self.conv1(functional.silu(self.norm1(x)))
        scale, shift = self.condition(functional.silu(embedded))[:, :, None, None].chunk(2, 1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(self.dropout(functional.silu(h)))


class _Attention(nn.Module):
    """Self-attention over the pixels of a coarse level: a galaxy's arms and its companion are
    further apart than convolutions reach."""

    def __init__(self, channels, heads=4):
        super().__init__()
        self.norm = nn.GroupNorm(8, channels)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x):
        batch, channels, height, width = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)
        attended, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return x + attended.transpose(1, 2).reshape(batch, channels, height, width)


class GalaxyUNet(nn.Module):
    """v-prediction U-Net: ``forward(images (B, C, H, W), t (B,) long, classes (B,) long)``; class
    ``num_classes`` means "no class" (the unconditional branch of guidance). Each level halves
    the image; levels whose side is at most ``attention_below`` pixels also attend. Its images
    are in its own ``band_basis`` (``to_learnt``, ``from_learnt``); the basis is saved with the
    weights, so a version samples in the basis it learnt in."""

    def __init__(self, num_classes, in_chans, *, width=32, multipliers=(1, 2, 2), attention_below=8, colour_gain=1.0):
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        self.register_buffer("basis", band_basis(in_chans, colour_gain))
        embedding = 4 * width
        self.width, self.attention_below = width, attention_below
        self.time = nn.Sequential(nn.Linear(width, embedding), nn.SiLU(), nn.Linear(embedding, embedding))
        self.label = nn.Embedding(num_classes + 1, embedding)
        self.stem = nn.Conv2d(in_chans, width, 3, padding=1)
        channels = [width * m for m in multipliers]
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        previous = width
        for outputs in channels:
            self.down.append(nn.ModuleList([_Residual(previous, outputs, embedding),
                                            _Residual(outputs, outputs, embedding)]))  # fmt: skip
            previous = outputs
        self.middle = nn.ModuleList([_Residual(previous, previous, embedding), _Attention(previous),
                                     _Residual(previous, previous, embedding)])  # fmt: skip
        for outputs in reversed(channels):
            self.up.append(nn.ModuleList([_Residual(previous + outputs, outputs, embedding),
                                          _Residual(outputs + outputs, outputs, embedding)]))  # fmt: skip
            previous = outputs
        self.attend = nn.ModuleDict({str(c): _Attention(c) for c in set(channels)})
        self.head = nn.Sequential(nn.GroupNorm(8, previous), nn.SiLU(), nn.Conv2d(previous, in_chans, 3, padding=1))

    def forward(self, x, t, classes):
        embedded = self.time(_sinusoid(t, self.width)) + self.label(classes)
        h = self.stem(x)
        skips = []
        for level, (first, second) in enumerate(self.down):
            h = first(h, embedded)
            skips.append(h)
            h = self._attend(second(h, embedded))
            skips.append(h)
            if level < len(self.down) - 1:
                h = functional.avg_pool2d(h, 2)
        first, attention, second = self.middle
        h = second(attention(first(h, embedded)), embedded)
        for level, (first, second) in enumerate(self.up):
            h = first(torch.cat([h, skips.pop()], 1), embedded)
            h = self._attend(second(torch.cat([h, skips.pop()], 1), embedded))
            if level < len(self.up) - 1:
                h = functional.interpolate(h, scale_factor=2, mode="nearest")
        return self.head(h)

    def _attend(self, h):
        return self.attend[str(h.shape[1])](h) if h.shape[-1] <= self.attention_below else h

    def to_learnt(self, images):
        """Images (B, C, H, W) in the bands' scale into the basis the network learns in."""
        return torch.einsum("ij,bjhw->bihw", self.basis, images)

    def from_learnt(self, images):
        """The network's images back in the bands' scale."""
        return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(self.basis), images)


def galaxy_unet(num_classes, in_chans):
    """The registry's galaxy generator: 16 → 32 → 64 channels over three levels, attention at 8 px
    and below (0.8 M weights), colours amplified ``COLOUR_GAIN`` ×. Narrow at full resolution,
    where the work is: 71 training images a second on two CPU cores at 32 px, against 40 for
    32 → 64 → 64."""
    return GalaxyUNet(num_classes, in_chans, width=16, multipliers=(1, 2, 4), colour_gain=COLOUR_GAIN)


def noised(images, t, noise, alpha_bars):
    """x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε: the forward process in one step."""
    a = alpha_bars.to(images.device)[t][:, None, None, None]
    return a.sqrt() * images + (1 - a).sqrt() * noise


def velocity(images, t, noise, alpha_bars):
    """v = √ᾱ_t ε − √(1-ᾱ_t) x_0, what the network predicts (Salimans & Ho 2022): unlike ε, it stays
    informative at the noisiest steps, where a galaxy's shape and colour are decided."""
    a = alpha_bars.to(images.device)[t][:, None, None, None]
    return a.sqrt() * noise - (1 - a).sqrt() * images


def training_steps(count, timesteps, generator=None, layout_share=0.0):
    """The steps ``count`` training examples are noised to: ``layout_share`` of them drawn from
    ``LAYOUT_STEPS``, where a galaxy's layout is decided (signal-to-noise 1.8 down to 0.06), the
    rest from every step. Below that range the galaxy is already placed and only its light is
    refined; above it nothing is yet visible. Drawn evenly, a generator's merger came out with its
    second nucleus too close to the first, too round (ellipticity d −0.8), however long it trained
    (2.6× real against real after 24 epochs, 2.55× after 48); with half of the draws there its
    roundness falls with every update (d −0.6 after 2,000, −0.3 after 4,000). An inpainter, whose
    layout the unmasked pixels give, draws evenly, from the same random stream as before this was added."""
    everywhere = torch.randint(0, timesteps, (count,), generator=generator)
    if not layout_share:
        return everywhere
    layout = torch.randint(LAYOUT_STEPS[0], LAYOUT_STEPS[1] + 1, (count,), generator=generator)
    return torch.where(torch.rand(count, generator=generator) < layout_share, layout, everywhere)


def denoising_loss(model, images, classes, alpha_bars, generator=None, layout_share=0.0):
    """How far the predicted velocity is from the true one at a step ``training_steps`` draws, with
    the class withheld from one example in ``UNCONDITIONAL_EVERY``; each step weighted as
    ``_weighted_errors`` says."""
    batch = len(images)
    t = training_steps(batch, len(alpha_bars), generator, layout_share).to(images.device)
    noise = torch.randn(images.shape, generator=generator).to(images.device)
    dropped = torch.rand(batch, generator=generator).to(images.device) < 1 / UNCONDITIONAL_EVERY
    classes = torch.where(dropped, torch.full_like(classes, model.num_classes), classes)
    return _weighted_errors(model, images, classes, t, noise, alpha_bars).mean()


def _weighted_errors(model, images, classes, t, noise, alpha_bars):
    """Each example's squared velocity error at its step, in the network's own basis, weighted
    min(1, γ / (SNR + 1)): the nearly clean steps, whose noise a galaxy's own sky noise hides,
    stop pulling against the noisy ones (the clean half of Min-SNR-γ, Hang et al. 2023). Its
    other half, weight SNR / (SNR + 1), would starve the noisiest steps, where a galaxy's
    brightness and size are decided: with it a short training made every class's galaxies a
    magnitude too faint."""
    images = model.to_learnt(images)
    predicted = model(noised(images, t, noise, alpha_bars), t, classes)
    errors = (predicted - velocity(images, t, noise, alpha_bars)).pow(2).mean((1, 2, 3))
    snr = alpha_bars.to(images.device)[t] / (1 - alpha_bars.to(images.device)[t])
    return errors * (MIN_SNR_GAMMA / (snr + 1)).clamp(max=1.0)


def train_diffusion(training_set, *, architecture, epochs, batch_size=64, learning_rate=2e-3, seed=0, on_epoch=None,
                    rivals=None, validation_fraction=0.1, class_shares=None, layout_share=0.0):  # fmt: skip
    """Train a generator on a ``training.TrainingSet`` whose images are in ``asinh_sky``'s scale;
    returns (network, metrics). The validation loss is the denoising loss on held-out galaxies at
    the same steps and noise every epoch, so epochs — and ``rivals`` (name -> network, say the
    version in production), scored on the same galaxies — compare. The weights kept are the
    exponential moving average of the training weights, which sample cleaner than any one step's.

    Each epoch draws as many training galaxies as there are, every class equally often
    (``class_order``): in survey proportions the rare class, the one a generator is wanted
    for, would get 3% of the updates to its class embedding. ``class_shares`` (class index ->
    share of the draws) changes that: a generator trained for one class draws it in most of
    them, since a class's shapes come with the number of times it is seen and on a CPU the
    minutes are few. ``layout_share`` of the training steps are drawn where a galaxy's layout is
    decided (``training_steps``)."""
    from .runtime import build_network, device

    images, labels, class_names = training_set.images, training_set.labels, training_set.class_names
    torch.manual_seed(seed)
    target = device()
    order = np.random.default_rng(seed).permutation(len(images))
    held = max(1, int(len(images) * validation_fraction))
    validation, train = order[:held], order[held:]
    model = build_network(architecture, num_classes=len(class_names), in_chans=images.shape[1]).to(target)
    averaged = copy.deepcopy(model).eval().requires_grad_(False)
    alpha_bars = cosine_alpha_bars().to(target)
    tensors, classes = torch.from_numpy(images), torch.from_numpy(labels).long()
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    steps = epochs * math.ceil(len(train) / batch_size)
    labels_of_train = labels[train]
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=learning_rate, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(seed)
    history, step = [], 0
    for epoch in range(1, epochs + 1):
        model.train()
        losses = []
        drawn = class_order(train, labels_of_train, np.random.default_rng([seed, epoch]), class_shares)
        for start in range(0, len(drawn), batch_size):
            chosen = torch.from_numpy(drawn[start : start + batch_size])
            batch = _flipped(tensors[chosen], generator).to(target)
            loss = denoising_loss(model, batch, classes[chosen].to(target), alpha_bars, generator, layout_share)
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
            step += 1
            decay = min(EMA_DECAY, (1 + step) / (10 + step))  # short runs: the first steps' weights fade fast
            with torch.no_grad():
                for kept, live in zip(averaged.parameters(), model.parameters()):
                    kept.lerp_(live, 1 - decay)
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)),
               "val_loss": validation_loss(averaged, tensors[validation], classes[validation], alpha_bars)}  # fmt: skip
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    counts = np.bincount(labels, minlength=len(class_names))
    held_out = (tensors[validation], classes[validation], alpha_bars)
    metrics = {"history": history, "val_loss": history[-1]["val_loss"],
               "examples_per_class": {name: int(count) for name, count in zip(class_names, counts)},
               **({"class_shares": {class_names[index]: share for index, share in class_shares.items()}}
                  if class_shares else {}),
               "rivals": {name: {"val_loss": validation_loss(rival.to(target).eval(), *held_out)}
                          for name, rival in (rivals or {}).items()},
               "split": {"train": int(len(train)), "validation": int(held)}, "batch_size": batch_size}  # fmt: skip
    return averaged, metrics


def class_order(indices, labels, rng, shares=None):
    """``len(indices)`` of ``indices`` drawn with replacement, shuffled: each class (``labels``,
    one per index) as often as any other, or as ``shares`` (class -> share of the draws) says,
    over the classes present."""
    present, counts = np.unique(labels, return_counts=True)
    weights = {label: shares.get(int(label), 0.0) if shares else 1.0 for label in present}
    total = sum(weights.values())
    share = {label: weights[label] / (total * count) for label, count in zip(present, counts)}
    return rng.choice(indices, size=len(indices), p=[share[label] for label in labels])


def _flipped(batch, generator):
    """A random quarter-turn and flip: a galaxy has no up on the sky."""
    turns = int(torch.randint(0, 4, (), generator=generator))
    batch = torch.rot90(batch, turns, dims=(-2, -1))
    return torch.flip(batch, dims=(-1,)) if torch.rand((), generator=generator) < 0.5 else batch


def validation_loss(model, images, classes, alpha_bars, seed=12345):
    """The training loss on held-out images, at the same steps and noise each time it is asked."""
    generator = torch.Generator().manual_seed(seed)
    target = alpha_bars.device
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(images), 128):
            batch = images[start : start + 128]
            t = torch.randint(0, len(alpha_bars), (len(batch),), generator=generator)
            noise = torch.randn(batch.shape, generator=generator)
            total += float(_weighted_errors(model, batch.to(target), classes[start : start + 128].to(target),
                                            t.to(target), noise.to(target), alpha_bars).sum())  # fmt: skip
    return total / len(images)


def ddim_steps(steps, timesteps=TIMESTEPS):
    """The ``steps`` timesteps DDIM visits, from the noisiest down to 0, evenly spaced."""
    return torch.linspace(timesteps - 1, 0, steps).round().long()


@torch.inference_mode()
def sample(model, classes, seeds, *, size, steps=50, guidance=1.0):
    """DDIM samples (η = 0) of ``classes`` (a LongTensor), in the bands' scale. Image i starts
    from the noise of ``seeds[i]``, so any one of a set can be made again alone, on any device.
    Each step's clean estimate is held to ``X0_RANGE`` in the bands, not in the network's basis.

    Guidance, v = v(∅) + w (v(class) − v(∅)), is applied only at the steps where a galaxy's
    layout is decided (``GUIDED_STEPS``, a limited guidance interval: Kynkäänniemi et al. 2024);
    the other steps take the class's own prediction. There it makes mergers less round: guidance
    3 brought the demo generator's mergers from 1.47× to 1.36× real against real (mean of 24 sets
    of 64; the worst from 2.09× to 1.87×, its ellipticity d from −0.50 to −0.42), and 1.46× to
    1.36× for a second training seed (worst 2.12× to 1.70×). Applied at every step it also
    pulled sizes and colours away from real ones (guidance 2: 2.77×, against 2.64× at 1, on an
    earlier generator). A guided step runs the conditional and unconditional predictions in one
    forward pass of twice the batch."""
    target = next(model.parameters()).device
    alpha_bars = cosine_alpha_bars().to(target)
    shape = (model.in_chans, size, size)
    x = torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(int(seed))) for seed in seeds])
    x = x.to(target)
    count = len(classes)
    both = torch.cat([classes.to(target), torch.full((count,), model.num_classes, device=target)])
    visits = ddim_steps(steps, len(alpha_bars))
    for index, t in enumerate(visits):
        v = _guided(model, x, t, both, guidance_at(t, guidance))
        a = alpha_bars[t]
        x0 = model.to_learnt(model.from_learnt(a.sqrt() * x - (1 - a).sqrt() * v).clamp(*X0_RANGE))
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        following = alpha_bars[visits[index + 1]] if index + 1 < len(visits) else torch.tensor(1.0, device=target)
        x = following.sqrt() * x0 + (1 - following).sqrt() * eps
    return model.from_learnt(x)


def guidance_at(t, guidance):
    """The guidance ``sample`` applies at timestep ``t``: ``guidance`` within ``GUIDED_STEPS``, else 1
    (the class's own prediction, one forward pass)."""
    return guidance if GUIDED_STEPS[0] <= int(t) <= GUIDED_STEPS[1] else 1.0


def _guided(model, x, t, both, guidance):
    """The guided velocity; at guidance 1 that is the conditional prediction alone, one pass of the batch."""
    count = len(x)
    if guidance == 1.0:
        return model(x, torch.full((count,), int(t), device=x.device, dtype=torch.long), both[:count])
    steps = torch.full((2 * count,), int(t), device=x.device, dtype=torch.long)
    conditional, unconditional = model(torch.cat([x, x]), steps, both).chunk(2)
    return unconditional + guidance * (conditional - unconditional)
