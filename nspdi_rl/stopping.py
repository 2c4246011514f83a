"""Stop long work cleanly on SIGTERM, as on Ctrl-C.

Batch schedulers, ``kill``, container runtimes and the experiment driver end a job
with SIGTERM. Inside :func:`interrupt_on_sigterm` that signal raises
:class:`KeyboardInterrupt` in the main thread, so the code that saves a checkpoint
on Ctrl-C runs for it too.

Once one interrupt (SIGINT or SIGTERM) has been raised, later SIGTERMs are ignored:
a driver that forwards SIGTERM to a run already stopping by Ctrl-C must not cut the
checkpoint it is writing. A second Ctrl-C still stops at once, as usual.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["interrupt_on_sigterm"]


@contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`KeyboardInterrupt` (once).

    Outside the main thread, where Python cannot set signal handlers, it does
    nothing. The previous handlers come back when the block ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        nonlocal raised
        if raised:
            return
        raised = True
        raise KeyboardInterrupt

    def on_int(_signum: int, _frame: FrameType | None) -> None:
        nonlocal raised
        raised = True
        raise KeyboardInterrupt

    previous_term = signal.signal(signal.SIGTERM, on_term)
    previous_int = signal.getsignal(signal.SIGINT)
    # an ignored SIGINT (a background job of a non-interactive shell) stays ignored
    own_int = previous_int is signal.default_int_handler
    if own_int:
        signal.signal(signal.SIGINT, on_int)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        if own_int:
            signal.signal(signal.SIGINT, previous_int)
