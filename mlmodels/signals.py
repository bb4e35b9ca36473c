"""What the registry tells the apps above it (they connect in their ``AppConfig.ready``)."""

from django.dispatch import Signal

# Sent after a batch of a version's answers is committed: ``version``, ``field`` (what was
# classified: "image" or "frame") and ``ids`` of those classified. The labeling app re-ranks
# the galaxies whose model doubt moved (active learning follows each new production version).
predictions_stored = Signal()
