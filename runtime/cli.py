"""The command-line vocabulary every runner shares.

``python -m agents.train_maze``, ``python -m tasks.speech`` and ``python -m
tasks.vision`` (and the experiment grids that drive them) build their parsers
from :func:`runner_parser`, so one idea has one flag everywhere:

- the run: ``--output DIR``, ``--resume`` (continue the run in ``--output``),
  ``--seed``, ``--threads``, ``--no-progress``;
- pruning: ``--pruning {nsp,stds,gradr,magnitude,dense}``, ``--target-sparsity``,
  ``--schedule``, ``--prune-end``, ``--scope``, ``--freeze-mask``, ``--a-dist``,
  ``--no-ndi``;
- the network: ``--hidden``, ``--alpha``.

A runner's defaults for these are a :class:`Preset`, written once. Its run
folder holds ``run.json`` (:func:`prepare_run_dir` writes and reads it) and a
``summary.json`` whose common keys :func:`common_summary` makes. Bad input is
a :class:`UsageError`: one line, exit status 2 (:func:`exit_on_usage_error`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from nspdi_rl.layers import A_DISTRIBUTIONS, PRUNING_METHODS, NSPConfig, Reading
from nspdi_rl.pruning import FREEZE_CHOICES, SCHEDULE_SHAPES, SCOPES, PruningSchedule
from runtime.allocator import retain_freed_memory
from runtime.compat import ADDED_OPTIONS, reject_old_flags
from runtime.errors import UsageError

__all__ = [
    "FREEZE_CHOICES",
    "RUN_FILE",
    "RUN_FORMAT",
    "SUMMARY_KEYS",
    "HelpFormatter",
    "Preset",
    "UsageError",
    "check_folder_option",
    "check_shared_options",
    "common_summary",
    "exit_on_usage_error",
    "nsp_config",
    "parse_quietly",
    "prepare_run_dir",
    "SharedOptions",
    "read_json_file",
    "run_options",
    "runner_parser",
    "set_up_process",
    "write_run_file",
]

RUN_FILE = "run.json"
#: version of ``run.json``; files without one were written before the shared vocabulary
RUN_FORMAT = 2
#: the keys every runner's ``summary.json`` has, with the same meaning everywhere
SUMMARY_KEYS = (
    "score",
    "metric",
    "sparsity",
    "connectivity_per_layer",
    "synops_per_inference",
    "energy_per_inference_pj",
    "wall_time_s",
    "settings",
)
#: options that may differ between a run and its resumption
RUNTIME_OPTIONS = frozenset({"output", "resume", "threads", "no_progress"})


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each default, except None (the help text says what None means)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # store_true flags (default False) need no "(default: False)"; 0 is a real default
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


@dataclass(frozen=True)
class Preset:
    """A runner's defaults for the shared options: the one place each is written.

    :param hidden: hidden layer widths; None: per dataset (the runner fills it in).
    :param alpha: surrogate-gradient sharpness of the LIF neurons.
    :param pruning: pruning method, one of ``PRUNING_METHODS``. Default ``nsp``.
    :param target_sparsity, schedule, prune_end, scope: the :class:`PruningSchedule`
        fields ``final``, ``shape``, ``end`` and ``scope``; their defaults are its own.
    :param freeze_mask: ``end`` or ``reached``; None: the runner decides (per algorithm).
    :param a_dist: distribution of NSP's transition ratio ``a``. Default ``lognormal``.
    :param nsp_reading: NSP's reading options (:class:`~nspdi_rl.layers.Reading`); None
        (default): the pruning method's own, as NSPConfig fills them.
    :param d1: NSP's fixed transition threshold under the ``d2`` reading (NSPConfig's).
    :param threads: torch CPU threads; None: torch's default.
    """

    hidden: tuple[int, ...] | None
    alpha: float
    pruning: str = "nsp"
    target_sparsity: float = PruningSchedule.final
    schedule: str = PruningSchedule.shape
    prune_end: float = PruningSchedule.end
    scope: str = PruningSchedule.scope
    freeze_mask: str | None = "end"
    a_dist: str = NSPConfig.a_dist
    nsp_reading: Reading | None = None
    d1: float = NSPConfig.d1
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.hidden is not None and (not self.hidden or min(self.hidden) <= 0):
            raise ValueError(f"preset hidden widths must be positive, got {self.hidden}")
        if not (math.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"preset alpha must be > 0, got {self.alpha}")
        if self.pruning not in PRUNING_METHODS:
            raise ValueError(f"preset pruning {self.pruning!r}; accepted: {PRUNING_METHODS}")
        if self.freeze_mask not in (None, *FREEZE_CHOICES):
            raise ValueError(f"preset freeze_mask {self.freeze_mask!r}; accepted: {FREEZE_CHOICES}")
        if self.a_dist not in A_DISTRIBUTIONS:
            raise ValueError(f"preset a_dist {self.a_dist!r}; accepted: {A_DISTRIBUTIONS}")
        NSPConfig(method=self.pruning, a_dist=self.a_dist, d1=self.d1, **self.reading_kwargs())
        PruningSchedule(
            final=self.target_sparsity, shape=self.schedule, end=self.prune_end, scope=self.scope
        )

    def reading_kwargs(self) -> dict[str, Any]:
        """The reading options the preset sets (none: each method's own)."""
        return {} if self.nsp_reading is None else self.nsp_reading.to_dict()


def runner_parser(
    prog: str, description: str, preset: Preset, output_default: str
) -> argparse.ArgumentParser:
    """A parser with the shared options, defaults from ``preset``; the runner adds its own.

    :param output_default: what ``--output`` defaults to, for the help text.
    """
    p = argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter)
    _add_run_options(p.add_argument_group("run"), preset, output_default)
    prune = p.add_argument_group("pruning")
    _add_pruning_options(prune, preset)
    _add_reading_options(prune, preset)
    prune.add_argument("--no-ndi", action="store_true", help="drop the dendritic product term")
    _add_network_options(p.add_argument_group("network"), preset)
    return p


def _add_run_options(run: Any, preset: Preset, output_default: str) -> None:
    run.add_argument("--output", default=None, help=f"run folder (default: {output_default})")
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --output with its saved settings (options given again "
        "must agree with them)",
    )
    run.add_argument("--seed", type=int, default=0, help="seed of weights, data order and spikes")
    run.add_argument(
        "--threads",
        type=int,
        default=preset.threads,
        help="torch CPU threads" + ("" if preset.threads else " (default: torch's)"),
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _add_pruning_options(prune: Any, preset: Preset) -> None:
    prune.add_argument(
        "--pruning",
        default=preset.pruning,
        help=f"synapse parameterisation and pruning method, one of {PRUNING_METHODS} "
        "(dense: no pruning)",
    )
    prune.add_argument(
        "--target-sparsity",
        type=float,
        default=preset.target_sparsity,
        help="final sparsity of the hidden layers in [0, 1); 0 turns pruning off",
    )
    prune.add_argument(
        "--schedule", default=preset.schedule, help=f"sparsity schedule, one of {SCHEDULE_SHAPES}"
    )
    prune.add_argument(
        "--prune-end",
        type=float,
        default=preset.prune_end,
        help="fraction of training at which the target is reached (then fine-tuning)",
    )
    prune.add_argument(
        "--scope", default=preset.scope, help=f"pruning threshold scope, one of {SCOPES}"
    )
    prune.add_argument(
        "--freeze-mask",
        default=preset.freeze_mask,
        help=f"when the mask is fixed, one of {FREEZE_CHOICES}: at the end of training, or "
        "as soon as the target sparsity is reached"
        + ("" if preset.freeze_mask else " (default: per algorithm, see below)"),
    )
    prune.add_argument(
        "--a-dist",
        default=preset.a_dist,
        help=f"distribution of NSP's transition ratio a, one of {A_DISTRIBUTIONS} "
        "(constant = homogeneous)",
    )


def _add_reading_options(prune: Any, preset: Preset) -> None:
    """NSP's reading options, one flag per :class:`~nspdi_rl.layers.Reading` field (what
    NSP's default reduces to: docs/method.md); left at None, the method's own."""
    own, given = NSPConfig(), preset.reading_kwargs()  # NSP's own, for the help texts
    for option in fields(Reading):
        default = given.get(option.name)
        accepted = option.metadata["accepted"]
        if isinstance(accepted[0], bool):
            own_text = "on" if getattr(own, option.name) else "off"
            kwargs: dict[str, Any] = {"action": argparse.BooleanOptionalAction}
            help_text = option.metadata["help"]
        else:
            own_text, kwargs = getattr(own, option.name), {}
            help_text = f"{option.metadata['help']}; one of {accepted}"
        prune.add_argument(
            Reading.flag(option.name),
            default=default,
            help=help_text + _method_default(default, own_text),
            **kwargs,
        )
    prune.add_argument(
        "--d1",
        type=float,
        default=preset.d1,
        help="NSP's transition threshold d1, fixed under --reading d2 (every survivor's "
        "weight shrinks by a*d1); under --reading d1 the pruner moves it",
    )


def _add_network_options(net: Any, preset: Preset) -> None:
    per_dataset = " (default: per dataset)" if preset.hidden is None else ""
    net.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=None if preset.hidden is None else list(preset.hidden),
        help="hidden layer widths" + per_dataset,
    )
    net.add_argument(
        "--alpha", type=float, default=preset.alpha, help="surrogate-gradient sharpness"
    )


def _method_default(preset: Any, nsp: Any) -> str:
    """The help text's default for an NSP option the method fills when it is None."""
    if preset is not None:
        return ""
    return f" (default: {nsp} under --pruning nsp; the baselines' own otherwise)"


@dataclass(frozen=True)
class SharedOptions:
    """What the shared options describe, checked once (:func:`check_shared_options`).

    :param schedule: the pruning schedule (``--target-sparsity``, ``--schedule``,
        ``--prune-end``, ``--scope``).
    :param nsp: the synapse settings (``--pruning``, ``--a-dist``, the reading options,
        ``--d1``), with the method's own values where the options left them to it.
    """

    schedule: PruningSchedule
    nsp: NSPConfig


def check_shared_options(args: argparse.Namespace) -> SharedOptions:
    """Check the shared options that need no data, and fill the NSP options left to the
    pruning method (None) with its own, so ``run.json`` holds what the run does.

    :return: the schedule and synapse settings they describe, for the runner to use.
    :raises UsageError: naming the option.
    """
    if args.pruning not in PRUNING_METHODS:
        raise UsageError(f"unknown --pruning {args.pruning!r}; accepted: {PRUNING_METHODS}")
    if args.a_dist not in A_DISTRIBUTIONS:
        raise UsageError(f"unknown --a-dist {args.a_dist!r}; accepted: {A_DISTRIBUTIONS}")
    if args.freeze_mask is not None and args.freeze_mask not in FREEZE_CHOICES:
        raise UsageError(f"unknown --freeze-mask {args.freeze_mask!r}; accepted: {FREEZE_CHOICES}")
    if not (math.isfinite(args.alpha) and args.alpha > 0):
        raise UsageError(f"--alpha must be > 0, got {args.alpha}")
    if args.hidden is not None and (not args.hidden or any(h <= 0 for h in args.hidden)):
        raise UsageError(f"--hidden widths must be positive, got {args.hidden}")
    if args.threads is not None and args.threads <= 0:
        raise UsageError(f"--threads must be > 0, got {args.threads}")
    if args.resume and args.output is None:
        raise UsageError("--resume needs --output, the run folder to continue")
    schedule = _pruning_schedule(args)
    config = nsp_config(args)
    for name, value in config.reading_options().to_dict().items():
        setattr(args, name, value)
    return SharedOptions(schedule, config)


def _pruning_schedule(args: argparse.Namespace) -> PruningSchedule:
    """The :class:`PruningSchedule` the shared options describe.

    :raises UsageError: naming the bad option.
    """
    if not 0.0 <= args.target_sparsity < 1.0:
        raise UsageError(f"--target-sparsity must be in [0, 1), got {args.target_sparsity}")
    if args.schedule not in SCHEDULE_SHAPES:
        raise UsageError(f"unknown --schedule {args.schedule!r}; accepted: {SCHEDULE_SHAPES}")
    if args.scope not in SCOPES:
        raise UsageError(f"unknown --scope {args.scope!r}; accepted: {SCOPES}")
    if not 0.0 < args.prune_end <= 1.0:
        raise UsageError(f"--prune-end must be in (0, 1], got {args.prune_end}")
    return PruningSchedule(
        final=args.target_sparsity, shape=args.schedule, end=args.prune_end, scope=args.scope
    )


def nsp_config(args: argparse.Namespace) -> NSPConfig:
    """The synapse settings the shared options describe."""
    flags = ["--pruning", *map(Reading.flag, Reading.names()), "--d1"]
    try:
        config = NSPConfig(
            method=args.pruning,
            a_dist=args.a_dist,
            d1=args.d1,
            **{name: getattr(args, name) for name in Reading.names()},
        )
    except ValueError as err:
        raise UsageError(f"{err} ({', '.join(flags)})") from None
    if config.d1 > 0 and config.reading != "d2":
        raise UsageError(
            f"--d1 {config.d1:g} is a fixed threshold of NSP's d2 reading; under "
            f"--pruning {config.method} --reading {config.reading} the pruner sets d1"
        )
    return config


def set_up_process(args: argparse.Namespace) -> None:
    """Apply ``--threads`` (nothing when it is None), and keep freed memory for reuse
    (:func:`runtime.allocator.retain_freed_memory`: a training step of the larger
    networks otherwise page-faults on every fresh allocation)."""
    retain_freed_memory()
    if args.threads is not None:
        torch.set_num_threads(args.threads)


def check_folder_option(flag: str, value: str | os.PathLike[str] | None) -> None:
    """Refuse a folder option that names a file, lies below a file, or cannot be read,
    in one line naming the path (whether it must exist is the caller's to check).

    :raises UsageError: naming ``flag``, the path and what is wrong.
    """
    if value is None:
        return
    path = Path(value)
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"{flag} {path} is a file, not a folder")
        if not os.access(path, os.R_OK | os.X_OK):
            raise UsageError(f"{flag} {path} cannot be read (permission denied)")
        return
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise UsageError(f"{flag} {path}: {blocking} is a file, not a folder")


def read_json_file(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``. :raises UsageError: when it is missing or damaged."""
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise UsageError(f"{path} is damaged ({err}); it is not JSON") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is damaged: it holds a {type(data).__name__}, not an object")
    return data


def run_options(args: argparse.Namespace, runtime: Collection[str] = ()) -> dict[str, Any]:
    """The options that make the run (what may change on resumption left out)."""
    skip = RUNTIME_OPTIONS | set(runtime)
    return {k: v for k, v in sorted(vars(args).items()) if k not in skip}


def _resume_options(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    saved: Mapping[str, Any],
    run_dir: Path,
    runtime: Collection[str],
) -> None:
    """Take the saved options into ``args``; refuse options given again with other values.

    An option left at its default takes the saved value; one the command line sets
    must agree with it. An option the saved run does not know takes the value of
    :data:`ADDED_OPTIONS` (what the run did before the option existed), or else
    keeps the value given.
    """
    changed = []
    for key, given in run_options(args, runtime).items():
        if key in saved:
            value = saved[key]
        elif key in ADDED_OPTIONS:
            value = ADDED_OPTIONS[key]  # the run was started before the option existed
        else:
            continue
        if given != parser.get_default(key) and given != value:
            changed.append(f"--{key.replace('_', '-')} {value!r} -> {given!r}")
        setattr(args, key, value)
    if changed:
        raise UsageError(
            f"{run_dir} was started with other options ({', '.join(changed)}); "
            "drop them to continue it, or start a new run in another --output"
        )


def prepare_run_dir(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    default_name: str,
    legacy: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    runtime: Collection[str] = (),
) -> tuple[Path, dict[str, Any] | None]:
    """Check ``--output`` / ``--resume``; on resume, take the saved options into ``args``.

    Nothing is written here (:func:`write_run_file` does, once every check passed).

    :param default_name: the folder under ``runs/`` when ``--output`` is not given
        (a time stamp is appended).
    :param runtime: the runner's options, besides ``--output``, ``--resume``, ``--threads``
        and ``--no-progress``, that may change when a run is resumed.
    :param legacy: turns a ``run.json`` written before :data:`RUN_FORMAT` into the
        current form, or raises :class:`UsageError` saying what changed.
    :returns: the run folder, and on resume the saved ``run.json`` (else None).
    """
    if args.output is None:
        if args.resume:
            raise UsageError("--resume needs --output, the run folder to continue")
        return Path("runs") / f"{default_name}-{time.strftime('%Y%m%d-%H%M%S')}", None
    run_dir = Path(args.output)
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--output {run_dir} is a file, not a run folder")
    run_file = run_dir / RUN_FILE
    if not args.resume:
        if run_file.exists():
            raise UsageError(
                f"{run_dir} already holds a run; add --resume to continue it, or choose "
                "another --output"
            )
        return run_dir, None
    if not run_file.is_file():
        raise UsageError(f"nothing to resume in {run_dir}: no {RUN_FILE}, not a run folder")
    saved = read_json_file(run_file)
    if saved.get("format") != RUN_FORMAT:
        if legacy is None:
            raise UsageError(f"{run_file} has format {saved.get('format')!r}, not {RUN_FORMAT}")
        saved = legacy(saved)
    # an old run file may not say which runner wrote it (None): its options then tell
    if saved.get("runner") not in (None, parser.prog):
        raise UsageError(f"{run_dir} is a run of {saved.get('runner')}, not of {parser.prog}")
    _resume_options(args, parser, saved.get("options", {}), run_dir, runtime)
    return run_dir, saved


def write_run_file(
    run_dir: Path,
    args: argparse.Namespace,
    prog: str,
    runtime: Collection[str] = (),
    **extra: Any,
) -> dict[str, Any]:
    """Write ``run.json``: the runner, its options (run-time ones left out) and ``extra``."""
    from nspdi_rl.checkpoint import write_json  # checkpoint imports the network stack

    run_dir.mkdir(parents=True, exist_ok=True)
    options = run_options(args, runtime)
    record = {"format": RUN_FORMAT, "runner": prog, "options": options, **extra}
    write_json(record, run_dir / RUN_FILE)
    return record


def common_summary(
    *,
    metric: str,
    score: float,
    sparsity: float,
    connectivity_per_layer: Mapping[str, float],
    synops_per_inference: float,
    energy_per_inference_pj: float,
    wall_time_s: float,
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """The keys every ``summary.json`` has (:data:`SUMMARY_KEYS`), in that order.

    One inference is one forward pass of the network: a sample for the task
    runners, an environment step for the agents.

    :param metric: what ``score`` is (``accuracy``, ``success_rate``).
    """
    return {
        "score": float(score),
        "metric": metric,
        "sparsity": float(sparsity),
        "connectivity_per_layer": dict(connectivity_per_layer),
        "synops_per_inference": float(synops_per_inference),
        "energy_per_inference_pj": float(energy_per_inference_pj),
        "wall_time_s": round(float(wall_time_s), 1),
        "settings": dict(settings),
    }


def parse_quietly(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)`` with the old spellings refused; argparse's own
    error becomes a :class:`UsageError` carrying its message instead of an exit."""
    reject_old_flags(argv)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parser.parse_args(list(argv))
    except SystemExit:
        lines = err.getvalue().strip().splitlines()
        raise UsageError(lines[-1] if lines else f"bad options {list(argv)}") from None


def exit_on_usage_error(
    prog: str, main: Callable[[], int], also: tuple[type[Exception], ...] = ()
) -> int:
    """Run ``main``; a :class:`UsageError` (or one of ``also``) prints one line and gives 2."""
    caught: tuple[type[Exception], ...] = (UsageError, *also)
    try:
        return main()
    except caught as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
