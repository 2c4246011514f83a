"""Stop long work cleanly on SIGTERM, as on Ctrl-C.

Batch schedulers, ``kill``, container runtimes and the experiment driver end a job
with SIGTERM. Inside :func:`interrupt_on_sigterm` that signal raises
:class:`KeyboardInterrupt` in the main thread, so the code that saves a checkpoint
on Ctrl-C runs for it too.

Once one interrupt (SIGINT or SIGTERM) has been raised, later SIGTERMs are ignored:
a driver that forwards SIGTERM to a run already stopping by Ctrl-C must not cut the
checkpoint it is writing. A second Ctrl-C still stops at once, as usual.

:func:`interrupts_held` guards a section that must not be cut (writing a
checkpoint between epochs): a Ctrl-C or SIGTERM that arrives inside it takes
effect when it ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["interrupt_on_sigterm", "interrupts_held"]


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


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then act on the first one.

    Only signals that Python code handles are held (a default or ignored SIGTERM
    keeps its behaviour). At the end the held signal goes to the handler that was
    in place before, which raises :class:`KeyboardInterrupt` (or, under
    :func:`interrupt_on_sigterm`, ignores a repeat). Outside the main thread it does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous: dict[int, Callable[[int, FrameType | None], Any]] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if callable(handler):
            previous[signum] = handler
            signal.signal(signum, lambda received, _frame: held.append(received))
    try:
        yield
    finally:
        for number, saved in previous.items():
            signal.signal(number, saved)
    if held:
        previous[held[0]](held[0], None)
