"""Running a registered version on the ``gpu`` workers over what it classifies — target
images (morphology: class probabilities, and the encoder's pooled features as the
embedding, from one forward pass) or frames (quality class and defect flags).

The network runs in a thread of its own (torch releases the GIL) while the worker's main
thread reads and prepares the next batch and stores the last one's answers: the network is
not kept waiting on files or the database. On CUDA several threads
read the files (the cores are free), batches are pinned and copied asynchronously, and the
network runs channels-last under bf16 autocast, compiled. A DataLoader's worker processes
are not an option: Celery's prefork children are daemons and may not start processes of
their own.

Answers go to the database by binary COPY (see ``_upsert``); reading a plain FITS image
skips astropy's HDU machinery (observations.fits). Measured with benchmarks/inference.py.

Only worker code imports this module (torch).
"""

import functools
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from astropy.io import fits
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from pgvector.psycopg.vector import register_vector_info
from psycopg import sql
from psycopg.types import TypeInfo
from psycopg.types.json import Jsonb
from torch.nn import functional

from observations.fits import ImageError, read_cube

from . import vote_fractions
from .frame_quality import frame_planes
from .galaxy_zoo import vote_groups
from .models import Embedding, Prediction
from .normalisation import asinh_normalise
from .runtime import device, loaded, split_outputs
from .signals import predictions_stored
from .similarity import ensure_embedding_index

MAX_ENLARGEMENT = 4


class Refused(ValueError):
    """Something this version cannot classify; the message says why and is stored as its answer."""


class Outputs(torch.nn.Module):
    """Class probabilities, flag probabilities and pooled features of one forward pass: what a
    prediction and an embedding are made of. timm splits every network into features,
    pooling and classifier; the classifier's first outputs are the classes, the rest flags.
    A vote-fraction model's outputs are each question's predicted vote fractions instead
    (``groups``: its questions' output indices), and it has no flags."""

    def __init__(self, network, classes, groups=None):
        super().__init__()
        self.network, self.classes, self.groups = network, classes, groups

    def forward(self, batch):
        pooled = self.network.forward_head(self.network.forward_features(batch), pre_logits=True)
        logits = self.network.get_classifier()(pooled).float()
        if self.groups is not None:
            return vote_fractions.fractions(logits, self.groups), logits[:, :0], pooled.float()
        return (*split_outputs(logits, self.classes), pooled.float())


def _as_runner(network, config):
    """A network as ``classify`` runs it: its outputs split, on the device, compiled on CUDA."""
    runner = Outputs(network, len(config["label_names"]), vote_groups(config))
    runner = runner.eval().to(device(), memory_format=torch.channels_last)
    if device().type == "cuda":
        return torch.compile(runner)
    torch.set_num_threads(settings.INFERENCE_THREADS)
    return runner


def runner_for(version):
    """(runner, config) of ``version``, kept for the next batch (see runtime.loaded)."""
    return loaded(version, _as_runner)


def prepare(cube, bands, input_spec):
    """The cube as the network wants it: ``resized``, then asinh-normalised."""
    return asinh_normalise(resized(cube, bands, input_spec)[None])[0]


def resized(cube, bands, input_spec):
    """The cube in the network's pixels, not yet normalised: the model's bands in its order,
    NaNs filled with their band's median, cropped square, resized to its size. What cannot be
    made so is Refused with the reason."""
    wanted, size = list(input_spec["bands"]), int(input_spec["size"])
    missing = [band for band in wanted if band not in bands]
    if missing:
        raise Refused(f"the model needs bands {', '.join(wanted)}; this image has {', '.join(bands)}")
    cube = cube[[bands.index(band) for band in wanted]]
    bad = ~np.isfinite(cube)
    if bad.any():
        if bad.mean() > 0.5:
            raise Refused(f"{bad.mean():.0%} of the pixels are NaN or infinite")
        cube = cube.copy()
        for band, plane, mask in zip(wanted, cube, bad):
            if mask.all():
                raise Refused(f"band {band} has no finite pixel")
            plane[mask] = np.median(plane[~mask])
    height, width = cube.shape[1:]
    side = min(height, width)
    if side * MAX_ENLARGEMENT < size:
        raise Refused(f"{width}×{height} px is too small: the model looks at {size} px and enlarges at most "
                      f"{MAX_ENLARGEMENT}×")  # fmt: skip
    top, left = (height - side) // 2, (width - side) // 2
    cube = cube[:, top : top + side, left : left + side]
    if side != size:
        scaled = functional.interpolate(torch.from_numpy(np.ascontiguousarray(cube))[None], size=(size, size),
                                        mode="bilinear", antialias=side > size, align_corners=False)  # fmt: skip
        cube = scaled[0].numpy()
    return cube


def prepare_frame(data, hdu_index, input_spec):
    """A frame's FITS bytes as the frame-quality network wants them (see frame_quality)."""
    with fits.open(io.BytesIO(data)) as hdul:
        image = hdul[hdu_index].data
    try:
        return frame_planes(image, int(input_spec["size"]))
    except ValueError as error:
        raise Refused(str(error)) from error


def prepare_image(data, input_spec):
    """A target image's FITS bytes as a morphology network wants them (see ``prepare``)."""
    cube, bands, _ = read_cube(data)
    return prepare(cube, bands, input_spec)


def _load(instance, subject, input_spec):
    """(prepared array, "") or (None, why not) for one image or frame."""
    try:
        with instance.file.open("rb") as stored:
            data = stored.read()
        return subject.prepare(instance, data, input_spec), ""
    except (ImageError, Refused) as error:
        return None, str(error)
    except OSError as error:
        return None, f"the stored file cannot be read ({error})"


def forward(runner, batch):
    """(class probabilities, flag probabilities, pooled features) as numpy for a prepared
    (N, bands, H, W) float32 batch."""
    target = device()
    tensor = torch.from_numpy(batch)
    if target.type == "cuda":
        tensor = tensor.pin_memory().to(target, non_blocking=True)
    tensor = tensor.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast(target.type, dtype=torch.bfloat16, enabled=target.type == "cuda"):
        outputs = runner(tensor)
    return tuple(output.cpu().numpy() for output in outputs)


def classify(version, subject, instances, *, batch_size=None, on_batch=None, index=True):
    """Classify ``instances`` of ``subject`` (a subjects.RegistrySubject: target images with
    their target, embedded too, or frames) with ``version``; answers replace the version's
    earlier ones for the same instances. ``on_batch(done)`` follows the progress.
    ``index=False`` leaves the version's HNSW index to be built after a backfill (once, in
    bulk: about ten times cheaper than growing it row by row). Returns how many were classified (refusals excluded)."""
    runner, config = runner_for(version)
    batch_size = batch_size or settings.INFERENCE_BATCH_SIZE
    instances = list(instances)
    chunks = [instances[start : start + batch_size] for start in range(0, len(instances), batch_size)]
    load = functools.partial(_load, subject=subject, input_spec=config["input_spec"])
    # On CUDA the cores are free to read (the GPU runs the network): files are read and
    # prepared by several threads (file reads and numpy release the GIL).
    readers = settings.INFERENCE_THREADS if device().type == "cuda" else 1
    classified = done = 0
    with ThreadPoolExecutor(readers, thread_name_prefix="inference-read") as reading:
        read = lambda chunk: list(reading.map(load, chunk)) if readers > 1 else list(map(load, chunk))  # noqa: E731
        for chunk, loaded, ready, outputs in _answers(runner, chunks, read):
            store(version, config, subject, chunk, loaded, ready, *outputs, index=index)
            classified += len(ready)
            done += len(chunk)
            if on_batch is not None:
                on_batch(done)
    return classified


def _answers(runner, chunks, read):
    """(chunk, read(chunk), positions ready, network outputs) for each chunk, the network
    running in a thread of its own (torch releases the GIL): while the caller stores one
    chunk's answers the network works on the next, and the one after is read meanwhile."""
    threads = torch.get_num_threads()  # torch's setting is per thread: the network's thread takes the worker's
    with ThreadPoolExecutor(1, thread_name_prefix="inference", initializer=torch.set_num_threads,
                            initargs=(threads,)) as network:  # fmt: skip
        pending = None
        for chunk in chunks:
            loaded = read(chunk)
            ready = [position for position, (array, _) in enumerate(loaded) if array is not None]
            running = network.submit(forward, runner, np.stack([loaded[p][0] for p in ready])) if ready else None
            if pending is not None:
                yield _finished(*pending)
            pending = chunk, loaded, ready, running
        if pending is not None:
            yield _finished(*pending)


def _finished(chunk, loaded, ready, running):
    return chunk, loaded, ready, running.result() if running is not None else (None, None, None)


def store(version, config, subject, chunk, loaded, ready, probabilities, flags, pooled, *, index=True):
    """Write one batch's answers (and the embeddings of the images classified) in one transaction."""
    rows = {position: row for row, position in enumerate(ready)}
    kind = subject.field
    class_names, flag_names = config["label_names"], config.get("flag_names", [])
    # The label is the most probable class; a vote model's, the first question's most voted answer.
    groups = vote_groups(config)
    labelled = np.array(groups[0][1] if groups else range(len(class_names)))
    now = timezone.now()
    predictions, embeddings = [], []
    for position, instance in enumerate(chunk):
        if position not in rows:
            predictions.append((instance.tenant_id, version.pk, instance.pk, "", None, Jsonb({}), Jsonb({}),
                                loaded[position][1][:300], now))  # fmt: skip
            continue
        row = rows[position]
        best = int(labelled[probabilities[row, labelled].argmax()])
        predictions.append((
            instance.tenant_id, version.pk, instance.pk, class_names[best], float(probabilities[row, best]),
            Jsonb({name: round(float(p), 5) for name, p in zip(class_names, probabilities[row])}),
            Jsonb({name: round(float(p), 5) for name, p in zip(flag_names, flags[row])}), "", now,
        ))  # fmt: skip
        if subject.embeds:
            embeddings.append((instance.tenant_id, version.pk, instance.pk, instance.target_id,
                               instance.target.visibility, class_names[best], instance.site_id,
                               pooled[row]))  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        _upsert(cursor.cursor, Prediction, _prediction_columns(kind), predictions, ("version_id", f"{kind}_id"))
        if embeddings:
            register_vector_info(cursor.cursor, TypeInfo.fetch(cursor.cursor.connection, "vector"))
            _upsert(cursor.cursor, Embedding, EMBEDDING_COLUMNS, embeddings, ("version_id", "image_id"))
    if embeddings and index:
        ensure_embedding_index(version, len(embeddings[0][-1]))
    if ready:
        predictions_stored.send(Prediction, version=version, field=kind, ids=[chunk[position].pk for position in ready])


def _prediction_columns(kind):
    return (("tenant_id", "int8"), ("version_id", "int8"), (f"{kind}_id", "int8"), ("label", "text"),
            ("confidence", "float8"), ("probabilities", "jsonb"), ("flags", "jsonb"), ("refusal", "text"),
            ("created_at", "timestamptz"))  # fmt: skip


EMBEDDING_COLUMNS = (("tenant_id", "int8"), ("version_id", "int8"), ("image_id", "int8"), ("target_id", "int8"),
                     ("visibility", "text"), ("label", "text"), ("site_id", "int8"), ("vector", "vector"))  # fmt: skip


def _upsert(cursor, model, columns, rows, key):
    """INSERT … ON CONFLICT (key) DO UPDATE of ``rows`` (tuples in ``columns`` order), sent by
    binary COPY into a temporary table: four times less work on both sides than a VALUES list
    built from model instances (measured on a backfill). COPY cannot write into the table
    itself: PostgreSQL refuses COPY FROM on tables under row-level security; the INSERT from
    the temporary table is checked by the policies as any other. The temporary table is made
    and emptied inside the transaction, so a pooled connection never sees another's rows."""
    table, staging = model._meta.db_table, f"staging_{model._meta.db_table}"
    names = sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns)
    cursor.execute(sql.SQL("CREATE TEMPORARY TABLE IF NOT EXISTS {} AS SELECT {} FROM {} WITH NO DATA").format(
        sql.Identifier(staging), names, sql.Identifier(table)))  # fmt: skip
    with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(staging), names)) as copy:
        copy.set_types([kind for _, kind in columns])
        for row in rows:
            copy.write_row(row)
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name)) for name, _ in columns if name not in key
    )
    cursor.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) DO UPDATE SET {}").format(
        sql.Identifier(table), names, names, sql.Identifier(staging),
        sql.SQL(", ").join(sql.Identifier(name) for name in key), updates))  # fmt: skip
    cursor.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(staging)))
