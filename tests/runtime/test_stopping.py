"""SIGTERM as Ctrl-C: raised once, then ignored, and the old handlers restored; held
signals take effect after the guarded section."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from runtime.stopping import interrupt_on_sigterm, interrupts_held


@pytest.fixture(autouse=True)
def python_sigint():
    """Python's own SIGINT handler during each test, as in a terminal: a process
    started in the background by a non-interactive shell inherits SIGINT ignored,
    and interrupt_on_sigterm rightly leaves an ignored SIGINT alone."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _wait_for_the_handler(seconds: float = 10.0) -> None:
    """Give a signal sent to this process time to reach its Python handler.

    Not ``signal.pause()``: the kernel may deliver a process-directed signal to any
    thread (earlier tests leave torch and logging threads behind), and then a main
    thread in ``pause()`` never wakes. The handler runs in the main thread between
    two of these short sleeps wherever the signal landed.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
    pytest.fail(f"the signal's handler did not run within {seconds} s")


def test_sigterm_raises_keyboard_interrupt_once_and_handlers_come_back() -> None:
    before_term, before_int = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    saved = False
    with pytest.raises(KeyboardInterrupt), interrupt_on_sigterm():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            _wait_for_the_handler()  # the handler raises first
        except KeyboardInterrupt:
            # the "checkpoint" code: a forwarded second SIGTERM must not cut it
            os.kill(os.getpid(), signal.SIGTERM)
            saved = True
            raise
    assert saved
    assert signal.getsignal(signal.SIGTERM) is before_term
    assert signal.getsignal(signal.SIGINT) is before_int


def test_sigterm_after_ctrl_c_is_ignored_but_a_second_ctrl_c_is_not() -> None:
    with interrupt_on_sigterm():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            _wait_for_the_handler()
        os.kill(os.getpid(), signal.SIGTERM)  # ignored: already stopping
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            _wait_for_the_handler()


def test_outside_the_main_thread_it_changes_nothing() -> None:
    seen = []

    def body() -> None:
        with interrupt_on_sigterm():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [signal.getsignal(signal.SIGTERM)]


def test_held_signals_take_effect_when_the_block_ends() -> None:
    with interrupt_on_sigterm():
        for signum in (signal.SIGTERM, signal.SIGINT):
            done = False
            with pytest.raises(KeyboardInterrupt), interrupts_held():
                os.kill(os.getpid(), signum)
                time.sleep(0.01)  # a handler would have run by now
                done = True
            assert done  # the held section ran to its end first
    with interrupts_held():
        pass  # no signal: nothing raised


def test_a_default_sigterm_is_not_held() -> None:
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("the test runner handles SIGTERM itself")
    with interrupts_held():
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
