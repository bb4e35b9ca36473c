"""Where a task's labelled examples come from: one source per task, named by dotted path in
``settings.TRAINING_SET_SOURCES``. Most sources are synthetic generators (drawn fresh for
each training); a stored source reads one of the sets an app keeps (the labeling app's
exports of volunteers' votes). The app that knows a kind of data owns its source (alerts
build theirs from synthetic packets), so adding one changes no caller.

Sources are read by pages and the web process (names, classes, what a model is shaped as);
only ``build`` runs on the workers, and only it imports torch."""

from abc import ABC, abstractmethod

from portal.plugins import plugin

from .frame_quality import FLAGS, PLANES, QUALITY_CLASSES
from .multi_site import FEATURES, OBSERVATIONS, SITES
from .synthetic_galaxies import BANDS, KINDS, SKY_NOISE, ZERO_POINT

FOCUS_SHARE = 0.9  # of a focused generator's training draws, those of its class (``diffusion.class_order``)


class TrainingSetSource(ABC):
    """Labelled examples for one task, and the shape of a model that learns from them."""

    noun = ""  # what one example is, in messages: "galaxies"
    classes = ()
    flags = ()
    generator = ""  # the module that draws them, recorded with each version
    input_spec = {}
    architecture = "convnext_atto"  # what a new model is built as, unless told otherwise
    learning_rate = 2e-3

    stored = False  # whether the examples are read from a stored set (StoredTrainingSets) instead of drawn
    focusable = False  # whether a training may be for one of its classes (a generator's ``focus``)

    @abstractmethod
    def build(self, count, *, seed, size):
        """A ``training.TrainingSet`` of ``count`` examples, ``size`` their side or length (on a worker)."""

    def classes_for(self, dataset):
        """The outputs a model must have to learn from ``dataset`` (generators: their classes)."""
        return self.classes

    def train(self, data, *, architecture, epochs, seed, on_epoch, rivals):
        """(network, metrics) learnt from ``data`` (on a worker): a classifier, scored beside
        ``rivals`` (name -> network) on the same held-out examples."""
        from .training import train_classifier

        return train_classifier(data, architecture=architecture, epochs=epochs, seed=seed,
                                learning_rate=self.learning_rate, on_epoch=on_epoch, rivals=rivals)  # fmt: skip

    def describe(self, count, dataset):
        """What a training learns from, in its job's title."""
        return f"{count:,} synthetic {self.noun}"


class StoredTrainingSets(TrainingSetSource):
    """Examples kept by an app (an export of volunteers' votes, say): a training names one."""

    stored = True

    @abstractmethod
    def datasets(self, tenant):
        """(key, label) of the tenant's sets, newest first, for a form's choices."""

    @abstractmethod
    def load(self, dataset, *, size, limit, seed):
        """A ``training.TrainingSet`` of at most ``limit`` examples of ``dataset`` (on a worker);
        raises training.TrainingRefused naming what is wrong with it."""

    def build(self, count, *, seed, size):
        from .training import TrainingRefused

        raise TrainingRefused(f"these {self.noun} come from stored sets: choose which one to learn from")


class SyntheticGalaxies(TrainingSetSource):
    noun, classes, generator = "galaxies", KINDS, "mlmodels.synthetic_galaxies"
    input_spec = {"size": 64, "bands": ["g", "r", "z"], "normalisation": "asinh-noise"}

    def build(self, count, *, seed, size):
        from .training import galaxy_training_set

        return galaxy_training_set(count, seed=seed, size=size)


class SyntheticFrames(TrainingSetSource):
    noun, classes, flags, generator = "frames", QUALITY_CLASSES, FLAGS, "observations.synthetic"
    input_spec = {"size": 128, "bands": list(PLANES), "normalisation": "asinh-noise"}

    def build(self, count, *, seed, size):
        from .training import frame_training_set

        return frame_training_set(count, seed=seed, size=size)


class SyntheticObservationSets(TrainingSetSource):
    """Learned fusion's examples: one synthetic galaxy seen by 2–4 sites (mlmodels.multi_site)."""

    noun, classes, generator = "multi-site sets", KINDS, "mlmodels.multi_site"
    input_spec = {"size": 32, "bands": ["g", "r", "z"], "normalisation": "asinh-noise", "sites": list(SITES),
                  "conditions": list(FEATURES), "observations": OBSERVATIONS[1]}  # fmt: skip
    architecture = "module:mlmodels.networks.set_fusion_transformer"
    learning_rate = 1e-3

    def build(self, count, *, seed, size):
        from .training import observation_set_training_set

        return observation_set_training_set(count, seed=seed, size=size)


class DiffusionSource(TrainingSetSource):
    """Examples a diffusion model learns (``diffusion.train_diffusion``), in a fixed asinh scale of
    the sky's noise that what it makes can be turned back from."""

    architecture = "module:mlmodels.diffusion.galaxy_unet"
    layout_share = 0.0  # of the training steps drawn where the layout is decided (``diffusion.training_steps``)
    batch_size = 64

    def train(self, data, *, architecture, epochs, seed, on_epoch, rivals, focus=None):
        """As ``TrainingSetSource.train``; ``focus``, a class's index, is drawn in ``FOCUS_SHARE``
        of the examples and every other class alike in the rest."""
        from .diffusion import train_diffusion

        return train_diffusion(data, architecture=architecture, epochs=epochs, batch_size=self.batch_size, seed=seed,
                               on_epoch=on_epoch, rivals=rivals, layout_share=self.layout_share,
                               class_shares=focused_shares(len(data.class_names), focus))  # fmt: skip


def focused_shares(classes, focus):
    """{class index: share of the draws} of a generator trained for ``focus`` (None: every class alike)."""
    if focus is None or classes < 2:
        return None
    return {index: FOCUS_SHARE if index == focus else (1 - FOCUS_SHARE) / (classes - 1) for index in range(classes)}


class SurveyGalaxies(DiffusionSource):
    """A generator's examples: synthetic galaxies in the proportions a survey finds them, mergers
    rare (``synthetic_galaxies.SURVEY_MIX``), in the fixed asinh scale of the sky's noise that
    ``diffusion`` learns in. ``examples_of`` draws real galaxies of one class that no version
    learnt from, for quality reports."""

    noun, classes, generator = "galaxies in survey proportions", KINDS, "mlmodels.synthetic_galaxies"
    input_spec = {"size": 32, "bands": list(BANDS), "normalisation": "asinh-sky"}
    focusable = True
    layout_share = 0.5  # a generator places each galaxy itself: where a merger's second nucleus goes
    # Small batches: twice the updates an epoch for about the same time on a CPU, and a
    # generator's mergers get less round with every update it takes.
    batch_size = 32
    zero_point = ZERO_POINT
    band_noise = SKY_NOISE

    def build(self, count, *, seed, size):
        from .training import survey_galaxy_set

        return survey_galaxy_set(count, seed=seed, size=size, band_noise=self.band_noise)

    def labelled(self, count, *, seed, size, only=None):
        """(counts (N, bands, size, size), class indices): the galaxies ``build`` draws, as a
        survey's cutouts hold them (an augmentation experiment's real galaxies), or only those
        of the class ``only`` among them (a quality report's training galaxies)."""
        from .synthetic_galaxies import survey_galaxies

        return survey_galaxies(count, seed=seed, size=size, only=only)

    def examples_of(self, kind, count, *, seed, size):
        """(count, bands, size, size) counts of galaxies of ``kind``, none of them any version's
        training galaxy (their seeds start above every training set's); ``seed`` onwards, so two
        draws that must not share a galaxy take seeds ``count`` apart."""
        import numpy as np

        from .synthetic_galaxies import make_galaxies

        galaxies = make_galaxies(count, seed=1_000_000_000 + seed, size=size, kinds=(kind,))
        return np.stack([galaxy.image for galaxy in galaxies])


class CleanFramePatches(DiffusionSource):
    """An inpainting model's examples: patches of clean synthetic frames, each in its own frame's
    asinh scale of the sky's noise (``inpainting``): the model learns what sky and stars look like,
    and repairs continue them under a mask."""

    noun, classes, generator = "clean frame patches", ("clean",), "observations.synthetic"
    input_spec = {"size": 32, "bands": ["frame"], "normalisation": "asinh-frame-noise"}

    def build(self, count, *, seed, size):
        from .training import frame_patch_set

        return frame_patch_set(count, seed=seed, size=size)


def source_for(task):
    """The task's TrainingSetSource, or None when nothing makes examples for it."""
    return plugin("TRAINING_SET_SOURCES", task)
