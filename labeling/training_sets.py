"""Volunteers' votes as a training set: the registry finds this source by dotted path
(``settings.TRAINING_SET_SOURCES["vote_fractions"]``) and a training names one of the
project's vote exports, so the version it makes can always say which votes it learnt from.

Each galaxy of the export is read from its stored g/r/z cube and prepared exactly as the
gpu workers prepare an image they classify (``inference.prepare``): a model learns on what it
will later be shown. Its outputs are the export's ``question_answer`` columns."""

import csv
import io

import numpy as np

from mlmodels.training_sets import StoredTrainingSets
from observations.models import TargetImage

from .exports import vote_columns
from .models import VoteExport
from .workflows import decals_tree


class VolunteerVotes(StoredTrainingSets):
    noun, generator = "galaxies", "labeling.exports"
    classes = tuple(vote_columns(decals_tree()))  # a project's own tree gives its own (classes_for)
    input_spec = {"size": 64, "bands": ["g", "r", "z"], "normalisation": "asinh-noise"}

    def datasets(self, tenant):
        exports = VoteExport.objects.filter(tenant=tenant).select_related("project").order_by("-created_at")
        return [(export.pk, f"{export.project.name} votes v{export.number} ({export.galaxies:,} galaxies)")
                for export in exports]  # fmt: skip

    def classes_for(self, dataset):
        if dataset is None:
            return self.classes
        export = _export(dataset)
        return vote_columns(export.workflow.tree) if export is not None else []

    def describe(self, count, dataset):
        export = _export(dataset)
        held = min(count, export.galaxies) if export is not None else count
        return f"{held:,} galaxies of {export} (volunteers' votes)" if export is not None else f"{held:,} galaxies"

    def load(self, dataset, *, size, limit, seed):
        from mlmodels.inference import Refused, prepare
        from mlmodels.training import TrainingRefused, TrainingSet
        from observations.fits import ImageError, read_cube

        export = _export(dataset)
        if export is None:
            raise TrainingRefused(f"there is no vote export {dataset} in this observatory")
        columns = vote_columns(export.workflow.tree)
        with export.file.open("rb") as stored:
            rows = list(csv.DictReader(io.TextIOWrapper(stored, encoding="utf-8", newline="")))
        if len(rows) > limit:
            chosen = np.random.default_rng(seed).choice(len(rows), size=limit, replace=False)
            rows = [rows[index] for index in sorted(chosen)]
        images = TargetImage.objects.in_bulk([int(row["image_id"]) for row in rows])
        spec = {**self.input_spec, "size": size}
        cubes, votes, galaxies, skipped = [], [], [], []
        for row in rows:
            image = images.get(int(row["image_id"]))
            try:
                if image is None:
                    raise ImageError("the image is no longer stored")
                with image.file.open("rb") as stored:
                    cube, bands, _ = read_cube(stored.read())
                cubes.append(prepare(cube, bands, spec))
            except (ImageError, Refused, OSError) as error:
                skipped.append(f"{row['target']}: {error}")
                continue
            votes.append([float(row[column]) for column in columns])
            galaxies.append(image.target_id)
        if not cubes:
            raise TrainingRefused(f"none of the {len(rows)} galaxies of {export} could be read: {skipped[0]}")
        summary = (
            f"{len(cubes):,} galaxies of {export.project.name} votes v{export.number} "
            f"({export.classifications:,} classifications by {export.volunteers:,} volunteers), {size}² px"
        )
        if skipped:
            summary += f"; {len(skipped)} left out ({skipped[0]}{' …' if len(skipped) > 1 else ''})"
        # Each galaxy is its own source: a target's images stay on one side of the split.
        return TrainingSet(np.stack(cubes), None, np.array(galaxies), columns, summary,
                           votes=np.array(votes, dtype=np.float32))  # fmt: skip


def _export(dataset):
    return VoteExport.objects.select_related("project", "workflow").filter(pk=dataset).first()
