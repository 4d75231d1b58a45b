"""Python's cyclic garbage collector, paused through ``evalkit run``'s start-up in its own process.

Start-up builds ~60,000 objects that live as long as the process (modules, classes, pydantic's
validators): the collector runs ~80 young and ~8 middle collections over them before the first
request (~12 ms of CPU), and later one full collection that walks them all again (12-30 ms, during
the run or after the last answer). None of it frees anything worth the time: at the end of
start-up ~600 objects are garbage.

:func:`pause_for_start_up` turns the collector off when ``evalkit run`` starts (unless something
turned it off already). :func:`end_start_up_pause`, called as the run begins its calls, moves every
object alive into the collector's permanent generation (:func:`gc.freeze`: never walked again) and
turns it back on, so the run's own garbage is collected as before. Only the console script's
process pauses: ``main(argv)`` in a test or another program leaves its collector alone.
"""

from __future__ import annotations

import gc

_paused = False


def pause_for_start_up() -> None:
    """Turn the collector off until :func:`end_start_up_pause` (a no-op if it is off already)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def end_start_up_pause() -> None:
    """Freeze what start-up built and turn the collector back on, if :func:`pause_for_start_up` paused it."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
