"""What observations tells the apps above it (they connect in their ``AppConfig.ready()``):
observations never imports them, so a new consumer of frames or images — a classifier, a
scheduler linking frames to the requests that asked for them — changes nothing here. The
sender may still be inside the transaction storing the things: a receiver that queues work
for a worker does so once it commits (``transaction.on_commit``)."""

from django.dispatch import Signal

# A frame was stored: sent with ``tenant``, ``frame`` and ``run``, a dict that lasts one ingest
# run (a folder, an upload's files) for receivers to keep what they look up once a run.
frame_ingested = Signal()
# Target images were stored (or were already there): sent with ``tenant`` and ``images``.
images_added = Signal()
