"""Plug-in points named by dotted path in settings, as TOM Toolkit names its brokers and
facilities: a new kind of a thing (a stream kind, a classification subject, a training-set
source) is a class behind its abstract base and a settings line, and no caller changes."""

import functools

from django.conf import settings
from django.utils.module_loading import import_string


def plugin(setting, key):
    """An instance of the class that ``settings.<setting>[key]`` names, or None when none is named."""
    path = getattr(settings, setting).get(key)
    return _instance(path) if path else None


def plugins(setting):
    """{key: instance} of every class ``settings.<setting>`` names."""
    return {key: _instance(path) for key, path in getattr(settings, setting).items()}


@functools.cache
def _instance(path):
    return import_string(path)()
