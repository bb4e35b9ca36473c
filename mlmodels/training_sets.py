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
from .synthetic_galaxies import KINDS


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

    @abstractmethod
    def build(self, count, *, seed, size):
        """A ``training.TrainingSet`` of ``count`` examples, ``size`` their side or length (on a worker)."""

    def classes_for(self, dataset):
        """The outputs a model must have to learn from ``dataset`` (generators: their classes)."""
        return self.classes

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


def source_for(task):
    """The task's TrainingSetSource, or None when nothing makes examples for it."""
    return plugin("TRAINING_SET_SOURCES", task)
