"""Where a task's labelled examples come from: one source per task, named by dotted path in
``settings.TRAINING_SET_SOURCES``. Today every source is a synthetic generator (the labels
the project can make until volunteers' labels arrive); the app that knows a kind of data
owns its source (alerts build theirs from synthetic packets), so adding one changes no caller.

Sources are read by pages and the web process (names, classes, what a model is shaped as);
only ``build`` runs on the workers, and only it imports torch."""

from abc import ABC, abstractmethod

from portal.plugins import plugin

from .frame_quality import FLAGS, PLANES, QUALITY_CLASSES
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

    @abstractmethod
    def build(self, count, *, seed, size):
        """A ``training.TrainingSet`` of ``count`` examples, ``size`` their side or length (on a worker)."""


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


def source_for(task):
    """The task's TrainingSetSource, or None when nothing makes examples for it."""
    return plugin("TRAINING_SET_SOURCES", task)
