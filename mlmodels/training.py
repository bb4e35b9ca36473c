"""Training an image classifier on labelled cutouts: a timm backbone from random weights,
rotation and flip augmentation, a split by source, early stopping, and the metrics the
registry keeps (accuracy, per-class precision and recall, confusion matrix, calibration).

Runs on the ``gpu`` workers (CUDA when present, else the CPU); only worker code imports it.
"""

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional

from . import vote_fractions
from .galaxy_zoo import question_groups
from .networks import fusion_loss
from .normalisation import asinh_normalise
from .runtime import build_network, device, logits_of, predict
from .synthetic_galaxies import KINDS

MIN_EXAMPLES_PER_CLASS = 10
MIN_VOTED_GALAXIES = 30


class TrainingRefused(ValueError):
    """A training run that would not mean anything; the message says why, before any work."""


def rotate_and_flip(batch):
    """A random quarter-turn and flip of the last two (pixel) dimensions: a galaxy (or a stamp)
    has no up or down on the sky, and a set's observations turn together."""
    batch = torch.rot90(batch, int(torch.randint(0, 4, ())), dims=(-2, -1))
    return torch.flip(batch, dims=(-1,)) if torch.rand(()) < 0.5 else batch


def jitter_magnitudes(batch, *, magnitude_row, error_row):
    """Light curves drawn again within their error bars: the same object, observed again."""
    batch = batch.clone()
    batch[:, magnitude_row] += torch.randn_like(batch[:, magnitude_row]) * batch[:, error_row]
    return batch


@dataclass
class TrainingSet:
    images: np.ndarray  # (N, channels, H, W) images or (N, features, length) sequences, float32, normalised
    labels: np.ndarray | None  # (N,) class index; None for a set of vote counts
    groups: np.ndarray  # (N,) source id: examples of one source stay on one side of the split
    class_names: list
    summary: str
    flags: np.ndarray | None = None  # (N, F) 0/1: yes/no findings learnt beside the class
    flag_names: list = field(default_factory=list)
    augment: object = rotate_and_flip  # batch -> batch, on every training step
    votes: np.ndarray | None = None  # (N, answers) volunteers' vote counts, columns ``question_answer`` (class_names)
    # Sets of observations (learned fusion): images are (N, K, channels, H, W) and these say each
    # slot's site, conditions and whether it holds one, and the truth it is judged by (mlmodels.multi_site.packed).
    observations: dict | None = None
    # What the version's config.json must say for its inputs to be read as these were (a generator's band noise).
    config: dict = field(default_factory=dict)
    # (N,) 0 train, 1 validation, 2 test: a split fixed by the caller (an experiment comparing two trainings on the
    # same held-out examples) instead of ``split_by_source``'s.
    sides: np.ndarray | None = None


def galaxy_training_set(count, *, seed=0, size=64):
    """Labelled synthetic galaxies, classes balanced; each galaxy is its own source."""
    from .synthetic_galaxies import make_galaxies

    galaxies = make_galaxies(count, seed=seed, size=size)
    images = asinh_normalise(np.stack([galaxy.image for galaxy in galaxies]))
    labels = np.array([KINDS.index(galaxy.kind) for galaxy in galaxies])
    summary = f"{count:,} synthetic galaxies (seeds {seed}–{seed + count - 1}), {size}² px, g r z"
    return TrainingSet(images, labels, np.arange(count), list(KINDS), summary)


def survey_galaxy_set(count, *, seed=0, size=32, band_noise):
    """Synthetic galaxies in survey proportions (``SURVEY_MIX``), for a generator: in the fixed
    scale of ``band_noise`` it learns and generates in (``normalisation.asinh_sky``), which the
    version's config keeps so its galaxies turn back into counts."""
    from .normalisation import asinh_sky
    from .synthetic_galaxies import survey_galaxies

    counts, labels = survey_galaxies(count, seed=seed, size=size)
    images = asinh_sky(counts, band_noise).astype(np.float32)
    mix = ", ".join(f"{np.sum(labels == index)} {name}" for index, name in enumerate(KINDS))
    summary = f"{count:,} synthetic galaxies in survey proportions (seeds {seed}–{seed + count - 1}: {mix}), {size}² px"
    return TrainingSet(images, labels, np.arange(count), list(KINDS), summary, config={"band_noise": list(band_noise)})


def frame_training_set(count, *, seed=0, size=128):
    """Synthetic frames with random defects: quality class and one flag per defect."""
    from .frame_quality import FLAGS, QUALITY_CLASSES, training_frames

    images, labels, flags = training_frames(count, seed=seed, size=size)
    summary = f"{count:,} synthetic frames (seed {seed}), binned to {size}² px, mean and peak planes"
    return TrainingSet(images, labels, np.arange(count), list(QUALITY_CLASSES), summary, flags, list(FLAGS))


def frame_patch_set(count, *, seed=0, size=32, per_frame=16):
    """Patches of clean synthetic frames, for an inpainting model, each in its frame's fixed asinh
    scale (as ``inpainting.repair_image`` scales a frame to repair): half centred near a star, which
    is what a trail hides that matters, half anywhere. The frames vary in seeing, pixel scale, sky
    and crowding; the patches of one frame are one source."""
    from scipy import ndimage

    from observations.defect_masks import sky_and_noise
    from observations.synthetic import make_frame

    from .normalisation import asinh_sky

    rng = np.random.default_rng(seed)
    patches, groups, side = [], [], 6 * size
    for number in range(math.ceil(count / per_frame)):
        frame = make_frame(ra_deg=rng.uniform(0, 360), dec_deg=rng.uniform(-60, 60), width=side, height=side,
                           n_stars=int(rng.integers(10, 80)), seeing_fwhm_arcsec=rng.uniform(0.9, 2.6),
                           pixel_scale_arcsec=rng.uniform(0.25, 0.6), sky_adu=rng.uniform(100, 3000),
                           seed=seed * 100_003 + number).data  # fmt: skip
        sky, noise = sky_and_noise(frame)
        scaled = asinh_sky((frame - sky)[None, None], [noise])[0, 0]
        peaks = np.argwhere((frame == ndimage.maximum_filter(frame, 5)) & (frame > sky + 10 * noise))
        for index in range(per_frame):
            if index % 2 and len(peaks):
                centre = peaks[rng.integers(len(peaks))] + rng.integers(-size // 4, size // 4 + 1, 2)
            else:
                centre = rng.integers(0, side, 2)
            top, left = (int(np.clip(c - size // 2, 0, side - size)) for c in centre)
            patches.append(scaled[top : top + size, left : left + size])
            groups.append(number)
    images = np.stack(patches[:count])[:, None].astype(np.float32)
    summary = (f"{count:,} patches of {math.ceil(count / per_frame):,} clean synthetic frames (seed {seed}), "
               f"{size}² px, half of them on stars")  # fmt: skip
    return TrainingSet(images, np.zeros(count, dtype=np.int64), np.array(groups[:count]), ["clean"], summary)


def observation_set_training_set(count, *, seed=0, size=32):
    """Synthetic multi-site sets of one galaxy each, classes balanced; each set is its own source."""
    from .multi_site import SITES, observation_sets, packed

    sets = observation_sets(count, seed=seed, size=size)
    arrays = packed(sets)
    labels = np.array([KINDS.index(each.kind) for each in sets])
    seen = int(arrays["present"].sum())
    summary = (f"{count:,} synthetic multi-site sets (seeds {seed}–{seed + count - 1}), {seen:,} observations from "
               f"{', '.join(SITES)}, {size}² px, g r z")  # fmt: skip
    return TrainingSet(arrays.pop("images"), labels, np.arange(count), list(KINDS), summary,
                       observations=arrays)  # fmt: skip


def check_labels(labels, class_names, minimum=MIN_EXAMPLES_PER_CLASS):
    counts = np.bincount(labels, minlength=len(class_names))
    short = [f"{name} has {count}" for name, count in zip(class_names, counts) if count < minimum]
    if short:
        raise TrainingRefused(f"too few labelled examples: {', '.join(short)}; at least {minimum} per class are needed")


def split_by_source(groups, *, seed=0, fractions=(0.7, 0.15, 0.15)):
    """Train / validation / test indices; every example of a source lands on the same side."""
    sources = np.unique(groups)
    np.random.default_rng(seed).shuffle(sources)
    cut_train = int(round(fractions[0] * len(sources)))
    cut_val = cut_train + int(round(fractions[1] * len(sources)))
    sides = (sources[:cut_train], sources[cut_train:cut_val], sources[cut_val:])
    return tuple(np.flatnonzero(np.isin(groups, side)) for side in sides)


def flag_metrics(probabilities, truth, flag_names):
    """Per flag: precision, recall and support at probability 0.5."""
    scores = {}
    for index, name in enumerate(flag_names):
        raised, true = probabilities[:, index] >= 0.5, truth[:, index] >= 0.5
        hits = int((raised & true).sum())
        scores[name] = {"precision": hits / int(raised.sum()) if raised.any() else 0.0,
                        "recall": hits / int(true.sum()) if true.any() else 0.0,
                        "support": int(true.sum())}  # fmt: skip
    return scores


def classification_metrics(probabilities, labels, class_names, bins=15):
    """Accuracy, per-class precision/recall, confusion matrix (true × predicted) and the
    expected calibration error (how far confidence is from accuracy, over confidence bins)."""
    predicted = probabilities.argmax(1)
    count = len(class_names)
    matrix = np.zeros((count, count), dtype=int)
    np.add.at(matrix, (labels, predicted), 1)
    per_class = {}
    for index, name in enumerate(class_names):
        called, true = matrix[:, index].sum(), matrix[index].sum()
        hits = matrix[index, index]
        per_class[name] = {"precision": float(hits / called) if called else 0.0,
                           "recall": float(hits / true) if true else 0.0, "support": int(true)}  # fmt: skip
    confidence = probabilities.max(1)
    correct = predicted == labels
    edges = np.linspace(0, 1, bins + 1)
    calibration = sum(
        abs(correct[in_bin].mean() - confidence[in_bin].mean()) * in_bin.mean()
        for low, high in zip(edges[:-1], edges[1:])
        if (in_bin := (confidence > low) & (confidence <= high)).any()
    )
    return {"accuracy": float(correct.mean()), "per_class": per_class, "confusion_matrix": matrix.tolist(),
            "expected_calibration_error": float(calibration), "test_examples": int(len(labels))}  # fmt: skip


class _Objective:
    """What a training run learns: how a batch is fed to the network (``forward``) and scored."""

    def __init__(self, training_set, train):
        self.set, self.train = training_set, train
        self.images = torch.from_numpy(training_set.images)
        self.in_chans = training_set.images.shape[1]

    def forward(self, model, chosen, target):
        return model(self.set.augment(self.images[chosen]).to(target))

    def probe(self, model, target):
        """One example through the network: one whose shapes do not fit fails here, not mid-training."""
        with torch.no_grad():
            model.eval()(self.images[:1].to(target))


class _Classes(_Objective):
    """Learning labels: cross-entropy over the classes, and a yes/no loss per flag beside them."""

    def __init__(self, training_set, train):
        super().__init__(training_set, train)
        self.classes = len(training_set.class_names)
        self.outputs = self.classes + len(training_set.flag_names)
        self.labels = torch.from_numpy(training_set.labels).long()
        self.flags = torch.from_numpy(training_set.flags).float() if training_set.flag_names else None

    def check(self):
        check_labels(self.set.labels, self.set.class_names)
        check_labels(self.set.labels[self.train], self.set.class_names, minimum=max(2, MIN_EXAMPLES_PER_CLASS // 2))

    def loss(self, logits, chosen):
        loss = functional.cross_entropy(logits[:, : self.classes], self.labels[chosen].to(logits.device))
        if self.flags is not None:
            flags = self.flags[chosen].to(logits.device)
            loss = loss + functional.binary_cross_entropy_with_logits(logits[:, self.classes :], flags)
        return loss

    def validate(self, model, indices):
        """(validation loss, validation accuracy)."""
        probabilities, flag_probabilities = predict(model, self.set.images[indices], classes=self.classes)
        chosen = torch.from_numpy(indices)
        loss = float(functional.nll_loss(torch.log(torch.from_numpy(probabilities) + 1e-9), self.labels[chosen]))
        if self.flags is not None:
            raised = torch.from_numpy(flag_probabilities).clamp(1e-6, 1 - 1e-6)
            loss += float(functional.binary_cross_entropy(raised, self.flags[chosen]))
        return loss, float((probabilities.argmax(1) == self.set.labels[indices]).mean())

    def test(self, model, indices):
        probabilities, flag_probabilities = predict(model, self.set.images[indices], classes=self.classes)
        metrics = classification_metrics(probabilities, self.set.labels[indices], self.set.class_names)
        if self.flags is not None:
            metrics["flags"] = flag_metrics(flag_probabilities, self.set.flags[indices], self.set.flag_names)
        return metrics


class _Votes(_Objective):
    """Learning volunteers' vote counts per question (see vote_fractions); the accuracy
    reported is the first question's most-voted answer."""

    def __init__(self, training_set, train):
        super().__init__(training_set, train)
        self.outputs = len(training_set.class_names)
        self.groups = question_groups(training_set.class_names)
        self.counts = torch.from_numpy(training_set.votes).float()

    def check(self):
        for side, indices in (("the whole set", np.arange(len(self.set.votes))), ("the training split", self.train)):
            voted = int((self.set.votes[indices].sum(1) > 0).sum())
            if voted < MIN_VOTED_GALAXIES * (1 if side == "the whole set" else 0.5):
                raise TrainingRefused(f"too few galaxies with votes in {side}: {voted}; at least "
                                      f"{MIN_VOTED_GALAXIES} are needed (split 70/15/15)")  # fmt: skip

    def loss(self, logits, chosen):
        return vote_fractions.dirichlet_multinomial_loss(logits, self.counts[chosen].to(logits.device), self.groups)

    def validate(self, model, indices):
        logits = logits_of(model, self.set.images[indices])
        loss = float(vote_fractions.dirichlet_multinomial_loss(logits, self.counts[indices], self.groups))
        predicted = vote_fractions.fractions(logits, self.groups).numpy()
        return loss, vote_fractions.vote_metrics(predicted, self.set.votes[indices], self.set.class_names)["accuracy"]

    def test(self, model, indices):
        predicted = vote_fractions.fractions(logits_of(model, self.set.images[indices]), self.groups).numpy()
        counts, columns = self.set.votes[indices], self.set.class_names
        metrics = vote_fractions.vote_metrics(predicted, counts, columns)
        average = vote_fractions.mean_shares(self.set.votes[self.train], self.groups)
        return vote_fractions.against_the_average_galaxy(metrics, counts, columns, average)


class _Sets(_Objective):
    """Learning one class from a set of observations (learned fusion, ``networks.fusion_loss``).
    Tested beside its two rivals on the same held-out sets, from the same network's
    single-observation head: the best single site (the observation with the sharpest seeing
    that is not spoilt, else the sharpest) and the average of the observations' probabilities."""

    def __init__(self, training_set, train):
        super().__init__(training_set, train)
        self.outputs = len(training_set.class_names)
        self.in_chans = training_set.images.shape[2]
        self.labels = torch.from_numpy(training_set.labels).long()
        self.sites, self.conditions, self.present = (torch.from_numpy(training_set.observations[key])
                                                     for key in ("sites", "conditions", "present"))  # fmt: skip

    def check(self):
        check_labels(self.set.labels, self.set.class_names)

    def forward(self, model, chosen, target, augment=True):
        images = self.set.augment(self.images[chosen]) if augment else self.images[chosen]
        return model(images.to(target), self.sites[chosen].to(target), self.conditions[chosen].to(target),
                     self.present[chosen].to(target))  # fmt: skip

    def probe(self, model, target):
        with torch.no_grad():
            self.forward(model.eval(), torch.arange(1), target, augment=False)

    def loss(self, outputs, chosen):
        device_of = outputs["logits"].device
        return fusion_loss(outputs, self.labels[chosen].to(device_of), self.present[chosen].to(device_of))

    def _outputs(self, model, indices, batch_size=128):
        model.eval()
        target = next(model.parameters()).device
        batches = []
        with torch.inference_mode():
            for start in range(0, len(indices), batch_size):
                chosen = torch.from_numpy(indices[start : start + batch_size])
                batches.append({key: value.float().cpu() for key, value in
                                self.forward(model, chosen, target, augment=False).items()})  # fmt: skip
        return {key: torch.cat([batch[key] for batch in batches]) for key in batches[0]}

    def validate(self, model, indices):
        outputs = self._outputs(model, indices)
        labels = self.labels[torch.from_numpy(indices)]
        loss = float(functional.cross_entropy(outputs["logits"], labels))
        return loss, float((outputs["logits"].argmax(1) == labels).float().mean())

    def test(self, model, indices):
        outputs = self._outputs(model, indices)
        chosen = torch.from_numpy(indices)
        labels, present = self.set.labels[indices], self.present[chosen]
        seeing, spoilt = (torch.from_numpy(self.set.observations[key][indices]) for key in ("seeing", "spoilt"))
        metrics = classification_metrics(functional.softmax(outputs["logits"], 1).numpy(), labels,
                                         self.set.class_names)  # fmt: skip
        single = functional.softmax(outputs["single"], 2) * present[..., None]
        # Sharpest seeing first, a spoilt observation only when there is nothing else; empty slots never.
        sharpest = seeing + 100 * spoilt + 1000 * (~present)
        best = single[torch.arange(len(indices)), sharpest.argmin(1)]
        average = single.sum(1) / present.sum(1, keepdim=True)
        metrics["baselines"] = {
            "best single site": _headline(classification_metrics(best.numpy(), labels, self.set.class_names)),
            "average of the sites": _headline(classification_metrics(average.numpy(), labels, self.set.class_names)),
        }  # fmt: skip
        spoilt &= present
        fair = present.sum(1, keepdim=True).float().reciprocal().expand_as(present)  # equal trust: 1 / observations
        attention = outputs["attention"]
        if spoilt.any():
            metrics["attention_on_spoilt"] = float((attention[spoilt] / fair[spoilt]).mean())  # below 1: trusted less
        return metrics


def train_classifier(training_set, *, architecture, epochs=15, batch_size=64, learning_rate=2e-3, patience=4, seed=0,
                     on_epoch=None, rivals=None):  # fmt: skip
    """Train, keep the weights of the best validation epoch, and measure them on the test split:
    a classifier on labels (and flags), or a vote-fraction model on vote counts when the set
    carries ``votes``.

    Returns (model, metrics) where metrics hold the test scores and the per-epoch history;
    ``on_epoch(row)`` is called after every epoch (for live progress). ``rivals`` (name ->
    network with the same outputs, say the version in production) are scored on the same
    held-out examples, under ``metrics["rivals"]``: the only fair comparison of two versions.
    """
    if training_set.sides is None:
        train, val, test = split_by_source(training_set.groups, seed=seed)
    else:
        train, val, test = (np.flatnonzero(training_set.sides == side) for side in range(3))
    kind = _Sets if training_set.observations is not None else _Votes if training_set.votes is not None else _Classes
    objective = kind(training_set, train)
    objective.check()
    torch.manual_seed(seed)
    target = device()
    model = build_network(architecture, num_classes=objective.outputs, in_chans=objective.in_chans).to(target)
    try:  # a network whose strides outgrow the cutout fails here, with a reason, not mid-training
        objective.probe(model, target)
    except RuntimeError as error:
        shape = "×".join(str(side) for side in training_set.images.shape[1:])
        raise TrainingRefused(f"{architecture} cannot take inputs of {shape}: {error}") from error
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=learning_rate, epochs=epochs,
                                                   steps_per_epoch=math.ceil(len(train) / batch_size))  # fmt: skip
    generator = torch.Generator().manual_seed(seed)
    history, best, best_loss, waited = [], None, math.inf, 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.from_numpy(train)[torch.randperm(len(train), generator=generator)]
        losses = []
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            loss = objective.loss(objective.forward(model, chosen, target), chosen)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
        val_loss, val_accuracy = objective.validate(model, val)
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": val_loss,
               "val_accuracy": val_accuracy}  # fmt: skip
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        if val_loss < best_loss - 1e-4:
            best, best_loss, waited = copy.deepcopy(model.state_dict()), val_loss, 0
        else:
            waited += 1
            if waited >= patience:
                break
    model.load_state_dict(best)
    metrics = objective.test(model, test)
    metrics["rivals"] = metrics.pop("baselines", {}) | {name: _headline(objective.test(rival.to(target), test))
                                                         for name, rival in (rivals or {}).items()}  # fmt: skip
    metrics.update(history=history, best_epoch=min(history, key=lambda r: r["val_loss"])["epoch"],
                   split={"train": int(len(train)), "validation": int(len(val)), "test": int(len(test))})  # fmt: skip
    return model, metrics


def _headline(metrics):
    return {key: metrics[key] for key in ("accuracy", "mean_fraction_error", "expected_calibration_error")
            if metrics.get(key) is not None}  # fmt: skip


def weights_of(model):
    """The model's weights as numpy arrays, for the registry."""
    return {name: tensor.detach().cpu().numpy() for name, tensor in model.state_dict().items()}
