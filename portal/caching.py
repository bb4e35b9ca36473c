"""What a web process may keep in memory for a few seconds instead of asking PostgreSQL on
every request: things read by every request and changed by a person now and then."""

import functools
import time


def kept_for(seconds):
    """Keep a function's answers (not None) per arguments for ``seconds`` in this process; a
    change reaches every process within that time. ``function.forget()`` drops them all (the
    process that made the change need not wait)."""

    def decorate(function):
        kept = {}

        @functools.wraps(function)
        def remembered(*args):
            hit = kept.get(args)
            if hit is not None and time.monotonic() - hit[1] < seconds:
                return hit[0]
            answer = function(*args)
            if answer is not None:
                kept[args] = (answer, time.monotonic())
            return answer

        remembered.forget = kept.clear
        return remembered

    return decorate
