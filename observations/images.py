"""Colour images of targets: FITS cubes (band, y, x) kept with a colour PNG for pages; the
apps above hear of each (``signals.images_added``: the morphology models classify them)."""

import hashlib

from django.core.files.base import ContentFile
from django.db import transaction

from .fits import read_cube
from .models import TargetImage
from .rendering import colour_png
from .signals import images_added


def add_target_images(tenant, items, *, site=None):
    """Store (target, FITS bytes, source) items as the targets' colour images, all or none,
    and say so (``images_added``). An image a target already has is not stored
    twice. Returns the images, new and already there, in the order given."""
    images, stored = [], []
    try:
        with transaction.atomic():
            for target, data, source in items:
                cube, bands, scale = read_cube(data)
                digest = hashlib.sha256(data).hexdigest()
                image = TargetImage.objects.filter(target=target, sha256=digest).first()
                if image is None:
                    image = TargetImage(tenant=tenant, target=target, sha256=digest, bands=bands, site=site,
                                        width_px=cube.shape[2], height_px=cube.shape[1], pixel_scale_arcsec=scale,
                                        source=source)  # fmt: skip
                    image.file.save("image.fits", ContentFile(data), save=False)
                    stored.append(image.file)
                    image.preview.save("image.png", ContentFile(colour_png(cube)), save=False)
                    stored.append(image.preview)
                    image.save()
                images.append(image)
            images_added.send(TargetImage, tenant=tenant, images=images)
    except BaseException:
        for file in stored:
            file.storage.delete(file.name)
        raise
    return images
