"""Running trials: one subprocess per trial, on a local process pool or on Ray.

A trial runs its runner's command line (``python -m agents.train_maze``,
``tasks.speech`` or ``tasks.vision``) with one torch thread, its run folder at
``RUN_DIR/<trial name>/run``. When it ends well, its ``summary.json`` is copied
to ``RUN_DIR/<trial name>/summary.json`` beside ``trial.json`` (what was run):
those two small files are the trial's result, and a trial that has them is
skipped on the next run. A trial that fails or is killed is retried from its
last checkpoint (the runners' ``--resume``), up to ``retries`` times.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.grid import MODULES, GridError, Trial, point_of
from nspdi_rl.checkpoint import write_json
from runtime.stopping import interrupt_on_sigterm

__all__ = ["BACKENDS", "STALE_DIR", "Outcome", "pending", "reconcile", "run_trials"]

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("local", "ray")
USAGE_EXIT = 2  # the runners' exit status for bad input: retrying cannot help
# a runner stopped by Ctrl-C or SIGTERM (exit 130 once it saved its checkpoint), or
# killed by one of them before it could
STOPPED = (130, -signal.SIGINT, -signal.SIGTERM)
STOP_TIMEOUT_S = 120  # how long a stopping trial may take to save its checkpoint
#: where :func:`reconcile` moves the folders of trials run under other settings
STALE_DIR = "stale"


@dataclass(frozen=True)
class Outcome:
    """How a trial ended: ``summary`` when it finished, else ``error``."""

    trial: Trial
    summary: dict[str, Any] | None
    error: str | None
    wall_s: float
    attempts: int


class Children:
    """The trial subprocesses running now, so that a driver can stop them all cleanly.

    :meth:`stop` sends each SIGTERM (the runners save their checkpoint and exit) and
    keeps new ones from starting. Safe to use from several threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self.stopping = False

    def run(self, command: list[str], **popen: Any) -> int:
        """Run ``command`` to its end and return its exit status (``-SIGTERM`` if
        :meth:`stop` came first). A :class:`KeyboardInterrupt` here (Ctrl-C in the
        main thread, or Ray cancelling the task) stops the child cleanly, then goes on.
        """
        with self._lock:
            if self.stopping:
                return -signal.SIGTERM
            process = subprocess.Popen(command, **popen)
            self._running.add(process)
        try:
            while True:  # short waits: Ray's cancel is an exception raised between them
                try:
                    return process.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    continue
        except KeyboardInterrupt:
            _terminate(process)
            raise
        finally:
            with self._lock:
                self._running.discard(process)

    def stop(self) -> None:
        with self._lock:
            self.stopping = True
            running = list(self._running)
        _terminate(*running)


def _terminate(*processes: subprocess.Popen[bytes]) -> None:
    """SIGTERM to each, then wait for their checkpoints to be saved; SIGKILL to any
    still running after :data:`STOP_TIMEOUT_S`."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def trial_dir(run_dir: Path, trial: Trial) -> Path:
    return run_dir / trial.name


def pending(trials: Sequence[Trial], run_dir: Path) -> list[Trial]:
    """The trials without a ``summary.json`` in ``run_dir``."""
    return [t for t in trials if not (trial_dir(run_dir, t) / "summary.json").is_file()]


def _settings_of(folder: Path) -> dict[str, Any] | None:
    """The settings a finished trial folder ran with (its summary's), or None."""
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    settings = summary.get("settings") if isinstance(summary, dict) else None
    return settings if isinstance(settings, dict) else None


def _first_difference(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> str:
    """The first setting that differs, as ``name: old -> new``."""
    # a setting both sides have first: one only a newer version writes says less
    for key in sorted(set(old) | set(new), key=lambda k: (k not in old or k not in new, k)):
        a, b = old.get(key, "absent"), new.get(key, "absent")
        if isinstance(a, dict) and isinstance(b, dict):
            if a != b:
                return _first_difference(a, b, f"{prefix}{key}.")
        elif a != b:
            return f"{prefix}{key}: {a!r} -> {b!r}"
    return "none"


def reconcile(trials: Sequence[Trial], run_dir: Path, apply: bool = True) -> list[str]:
    """Match the folders in ``run_dir`` that hold a grid point of ``trials`` under
    another name (written by an earlier version, or under other defaults).

    A finished one that ran with exactly the settings the trial resolves to today is
    migrated: renamed to the trial's name, its ``trial.json`` rewritten. Any other is
    stale: moved to ``run_dir/stale/``, so that neither the run nor the report uses it,
    and the trial runs again. One line per folder says which and why.

    :param apply: False only says what it would do (``--dry-run``).
    """
    if not run_dir.is_dir():
        return []
    wanted: dict[str, Trial] = {}
    for trial in trials:
        wanted[json.dumps(trial.point(), sort_keys=True)] = trial
    names = {t.name for t in trials}
    lines = []
    for folder in sorted(p for p in run_dir.iterdir() if p.is_dir() and p.name not in names):
        try:
            saved = json.loads((folder / "trial.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue
        trial = wanted.get(json.dumps(point_of(saved), sort_keys=True))
        if trial is None:
            continue
        target = trial_dir(run_dir, trial)
        ran = _settings_of(folder)
        today = None if ran is None else _canonical_settings(ran, trial)
        if today is not None and today == trial.resolved:
            if (target / "summary.json").is_file():
                continue  # the trial has a result of its own already
            lines.append(f"{folder}: ran with today's settings; renamed to {target.name}")
            if apply:
                folder.rename(target)
                write_json(trial.to_dict(), target / "trial.json")
            continue
        why = (
            "unfinished, written by an earlier version"
            if ran is None
            else f"ran with other settings ({_first_difference(today or ran, trial.resolved)})"
        )
        stale = run_dir / STALE_DIR / folder.name
        lines.append(f"{folder}: {why}; moved to {stale}, the trial runs again")
        if apply:
            stale.parent.mkdir(exist_ok=True)
            folder.rename(stale)
    return lines


def _canonical_settings(ran: dict[str, Any], trial: Trial) -> dict[str, Any] | None:
    """A summary's settings as today's resolution spells them (the runner's
    ``canonical_settings``: fields added since take the values runs had before them);
    None when this version cannot read them."""
    runner = importlib.import_module(MODULES[trial.task])
    try:
        filled = runner.canonical_settings(ran)
    except (KeyError, TypeError, ValueError):
        return None
    return json.loads(json.dumps(filled, sort_keys=True, default=list))


def _command(trial: Trial, out: Path) -> list[str]:
    """The trial's command line; ``--resume`` once its run folder holds a run (a run
    stopped before its first checkpoint then starts again with its saved settings)."""
    module = MODULES[trial.task].removesuffix(".cli")
    argv = [sys.executable, "-m", module, *trial.argv(), "--output", str(out)]
    argv += ["--threads", "1", "--no-progress"]
    return [*argv, "--resume"] if (out / "run.json").is_file() else argv


def _collect(out: Path, folder: Path) -> dict[str, Any] | None:
    """Copy a finished run's ``summary.json`` beside ``trial.json``; None if unfinished."""
    if not (out / "summary.json").is_file():
        return None
    summary = json.loads((out / "summary.json").read_text())
    write_json(summary, folder / "summary.json")
    return summary


def execute(
    trial: Trial, folder: Path, retries: int, cwd: Path, children: Children | None = None
) -> Outcome:
    """Run one trial in ``folder`` (its run folder is ``folder/run``); retry from its
    checkpoint when it fails, up to ``retries`` times.

    :param cwd: where the runner starts, which relative paths in the grid (``data-dir``)
        are relative to.
    :param children: where the running subprocess is registered, so that a driver
        stopping from another thread can stop it (it saves its checkpoint first).
    """
    children = children or Children()
    folder.mkdir(parents=True, exist_ok=True)
    write_json(trial.to_dict(), folder / "trial.json")
    folder, out = folder.resolve(), folder.resolve() / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    error = None
    summary = _collect(out, folder)  # finished, but its result was not copied out
    if summary is not None:
        return Outcome(trial, summary, None, 0.0, 0)
    for attempt in range(1, retries + 2):
        with open(folder / "log.txt", "a") as log:
            log.write(f"--- attempt {attempt}\n")
            log.flush()
            code = children.run(
                _command(trial, out), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        summary = _collect(out, folder) if code == 0 else None
        if summary is not None:
            return Outcome(trial, summary, None, time.perf_counter() - start, attempt)
        lines = (folder / "log.txt").read_text().strip().splitlines()
        error = f"exit status {code}: {lines[-1] if lines else 'no output'}"
        if code == USAGE_EXIT or code in STOPPED or children.stopping:
            # bad input (retrying cannot help), or stopped on purpose
            return Outcome(trial, None, error, time.perf_counter() - start, attempt)
    return Outcome(trial, None, error, time.perf_counter() - start, retries + 1)


def _run_local(
    trials: Sequence[Trial],
    run_dir: Path,
    jobs: int,
    retries: int,
    report: Callable[[Outcome], None],
) -> list[Outcome]:
    outcomes = []
    children = Children()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures: set[Future[Outcome]] = {
            pool.submit(execute, t, trial_dir(run_dir, t), retries, Path.cwd(), children)
            for t in trials
        }
        try:
            while futures:
                finished, futures = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    outcomes.append(future.result())
                    report(outcomes[-1])
        except KeyboardInterrupt:
            # drop the queue; the running trials save their checkpoints and stop (a
            # Ctrl-C in a terminal reached them already: they ignore the SIGTERM)
            for future in futures:
                future.cancel()
            children.stop()
            raise
    return outcomes


def _ray_trial(trial: Trial, folder: str, cwd: str) -> dict[str, Any]:
    """Runs on a Ray worker: the trial in ``folder`` when the worker can write there
    (this machine, a shared file system), else in a scratch folder."""
    target = Path(folder)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        target = Path(tempfile.mkdtemp(prefix="nspdi-trial-"))
    # Ray's max_retries does the retrying; a relative data folder must sit at the same
    # path on the worker (a shared file system) or below its working directory
    where = Path(cwd) if Path(cwd).is_dir() else Path.cwd()
    # ray.cancel interrupts the main thread as a SIGINT would, which does nothing while
    # Python's own SIGINT handler is not in place (Ray's workers ignore SIGINT)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        outcome = execute(trial, target, retries=0, cwd=where)
    finally:
        signal.signal(signal.SIGINT, previous)
    if outcome.summary is None:
        raise RuntimeError(f"{trial.name} failed: {outcome.error}")
    return {"summary": outcome.summary, "wall_s": outcome.wall_s}


def check_ray_address(address: str | None) -> None:
    """Fail in one line, before anything runs, when a Ray head cannot be reached."""
    if address in (None, "auto", "local"):
        return
    assert address is not None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise GridError(f"--address {address!r} is not HOST:PORT (or 'auto')")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as err:
        raise GridError(f"cannot reach the Ray head at {address}: {err}") from None


def _run_ray(
    trials: Sequence[Trial],
    run_dir: Path,
    address: str | None,
    retries: int,
    report: Callable[[Outcome], None],
) -> list[Outcome]:
    try:
        import ray
    except ImportError:
        raise GridError(
            "the ray backend needs Ray: pip install 'nspdi-rl[ray]' (or pip install ray)"
        ) from None
    check_ray_address(address)
    try:
        if address in (None, "local"):
            ray.init(include_dashboard=False, logging_level="ERROR")
        else:
            ray.init(address=address, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise GridError(f"cannot connect to Ray at {address}: {err}") from None
    remote = ray.remote(num_cpus=1, max_retries=retries, retry_exceptions=True)(_ray_trial)
    outcomes = []
    start = time.perf_counter()
    futures: dict[Any, Trial] = {}
    # ray.init put in its own SIGTERM handler (it exits at once): a kill must stop the
    # trials cleanly, as Ctrl-C does
    with interrupt_on_sigterm():
        try:
            for t in trials:
                futures[remote.remote(t, str(trial_dir(run_dir, t).resolve()), str(Path.cwd()))] = t
            while futures:
                # short waits: a signal's Python handler runs only between them
                ready, _ = ray.wait(list(futures), num_returns=1, timeout=1.0)
                if not ready:
                    continue
                ref = ready[0]
                trial = futures.pop(ref)
                folder = trial_dir(run_dir, trial)
                folder.mkdir(parents=True, exist_ok=True)
                write_json(trial.to_dict(), folder / "trial.json")
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as err:
                    message = str(err).strip().splitlines()[-1]
                    wall = time.perf_counter() - start
                    outcome = Outcome(trial, None, message, wall, retries + 1)
                else:
                    write_json(result["summary"], folder / "summary.json")
                    outcome = Outcome(trial, result["summary"], None, result["wall_s"], 1)
                outcomes.append(outcome)
                report(outcome)
        except KeyboardInterrupt:
            # a running trial's task gets a KeyboardInterrupt: its runner saves and stops
            for ref in futures:
                ray.cancel(ref)
            ray.wait(list(futures), num_returns=len(futures), timeout=STOP_TIMEOUT_S)
            raise
        finally:
            ray.shutdown()
    return outcomes


def run_trials(
    trials: Sequence[Trial],
    run_dir: Path,
    backend: str = "local",
    jobs: int | None = None,
    retries: int = 1,
    address: str | None = None,
    report: Callable[[Outcome], None] = lambda _outcome: None,
) -> list[Outcome]:
    """Run ``trials`` (those not finished in ``run_dir``) and return their outcomes.

    :param backend: ``local`` (a pool of ``jobs`` processes, default: the CPU count)
        or ``ray`` (one CPU per trial, on the cluster at ``address``, or a local Ray
        instance when it is None).
    :param retries: how often a failed or killed trial is started again.
    :param report: called with each outcome as it comes.
    """
    if backend not in BACKENDS:
        raise GridError(f"unknown --backend {backend!r}; accepted: {BACKENDS}")
    if retries < 0:
        raise GridError(f"--retries must be >= 0, got {retries}")
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 0:
        raise GridError(f"--jobs must be > 0, got {jobs}")
    todo = pending(trials, run_dir)
    if not todo:
        return []
    run_dir.mkdir(parents=True, exist_ok=True)
    if backend == "ray":
        return _run_ray(todo, run_dir, address, retries, report)
    return _run_local(todo, run_dir, jobs, retries, report)
