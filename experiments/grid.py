"""Experiment grids: a YAML file names a task, its fixed options and named
sub-grids; every combination of a sub-grid's lists, for every seed, is a trial.

A grid file::

    name: speech                      # names the study section in the report
    task: speech                      # maze, speech or vision
    args:                             # the runner's options, fixed for every trial
      dataset: speechcommands
      data-dir: data/kws
      epochs: 10
    seeds: [0, 1, 2]
    experiments:                      # named sub-grids
      sparsity:
        target_sparsity: [0, 0.5, 0.8, 0.9, 0.95, 0.98]
      ndi:
        target_sparsity: [0.9]
        ndi: [true, false]

A sub-grid may list ``pruning`` (dense, magnitude, gradr, stds, nsp: the runners'
``--pruning``), ``target_sparsity``, ``ndi``, ``a_dist`` (lognormal, uniform,
constant) and NSP's readings ``reading`` (d1, d2), ``theta_init`` (w_over_a, w),
``pruned_grad`` (straight_through, exact, until_reached) and ``learnable_a``;
what it leaves out takes the defaults (:data:`AXES`; NSP's readings default to the
method's own). Trials
that several sub-grids share (NSP at 0.9 appears in most claims) run once.
Every trial's command line is checked by its runner's own parser and option
checks before anything runs.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from nspdi_rl.cli import ADDED_OPTIONS, UsageError
from nspdi_rl.layers import (
    A_DISTRIBUTIONS,
    PRUNED_GRADS,
    PRUNING_METHODS,
    READINGS,
    THETA_INITS,
    NSPConfig,
)

__all__ = ["AXES", "MODULES", "TASKS", "Grid", "GridError", "Trial", "load_grid"]

#: each task's runner; each has ``main(argv)`` and ``check(argv)``
MODULES = {"maze": "agents.train_maze", "speech": "tasks.speech.cli", "vision": "tasks.vision.cli"}
TASKS = tuple(MODULES)
#: sub-grid keys and their defaults
AXES: dict[str, Any] = {
    "pruning": "nsp",
    "target_sparsity": 0.9,
    "ndi": True,
    "a_dist": "lognormal",
    # None: the pruning method's own (NSPConfig fills them: NSP's default reading, or
    # what the baselines are defined with)
    "reading": None,
    "theta_init": None,
    "pruned_grad": None,
    "learnable_a": None,
}
TOP_KEYS = frozenset({"name", "task", "args", "seeds", "experiments"})
# options the experiment runner sets itself
RESERVED = frozenset({"output", "resume", "seed", "threads", "no-progress", "target-sparsity",
                      "pruning", "no-ndi", "a-dist", "reading", "theta-init", "pruned-grad",
                      "learnable-a"})  # fmt: skip
#: runner options set to what the runner defaulted to when the first studies ran (and
#: then left out of the grid files): left out of a trial's key, so that those trials
#: keep their folders and results now that the grid files spell them out
FORMER_DEFAULTS: dict[str, dict[str, Any]] = {"maze": {"env": "nspdi/GridMaze-v0"}}
# keys of earlier grid files, refused with what replaced them
RENAMED_KEYS = {"method": "pruning"}


class GridError(Exception):
    """A grid file that cannot run: reported as one line before any trial starts."""


@dataclass(frozen=True)
class Trial:
    """One run of a task runner.

    :param task: ``maze``, ``speech`` or ``vision``.
    :param args: the runner's fixed options (option name without dashes -> value).
    :param pruning: pruning method, the runner's ``--pruning`` (``dense`` runs unpruned).
    :param target_sparsity: final sparsity (0 for ``dense``).
    :param ndi: NDI on.
    :param a_dist: distribution of NSP's ``a`` (only meaningful for ``nsp``).
    :param reading, theta_init, pruned_grad, learnable_a: the runner's ``--reading``,
        ``--theta-init``, ``--pruned-grad`` and ``--learnable-a``.
    :param seed: the runner's ``--seed``.
    :param experiments: the sub-grids that contain this trial (``grid/sub-grid``).
    """

    task: str
    args: tuple[tuple[str, Any], ...]
    pruning: str
    target_sparsity: float
    ndi: bool
    a_dist: str
    seed: int
    reading: str = ADDED_OPTIONS["reading"]
    theta_init: str = ADDED_OPTIONS["theta_init"]
    pruned_grad: str = ADDED_OPTIONS["pruned_grad"]
    learnable_a: bool = ADDED_OPTIONS["learnable_a"]
    experiments: tuple[str, ...] = field(default=(), compare=False)

    def _added(self) -> dict[str, Any]:
        """The options added since the first study whose value differs from what
        runs did before them."""
        return {k: getattr(self, k) for k, v in ADDED_OPTIONS.items() if getattr(self, k) != v}

    @property
    def key(self) -> str:
        """Everything that makes the trial's result, hashed: names its folder.

        Options added since the first study count only where they change what a
        trial runs, so a trial that sets them as runs did before keeps its key; so do
        runner options set to what the runner defaulted to then
        (:data:`FORMER_DEFAULTS`).
        """
        spec = {k: v for k, v in asdict(self).items() if k not in ("experiments", *ADDED_OPTIONS)}
        former = FORMER_DEFAULTS.get(self.task, {})
        spec["args"] = tuple(a for a in self.args if a[0] not in former or former[a[0]] != a[1])
        spec |= self._added()
        text = json.dumps(spec, sort_keys=True, default=list)
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    @property
    def name(self) -> str:
        ndi = "ndi" if self.ndi else "nondi"
        added = "".join(
            f"-{'learna' if k == 'learnable_a' else v}" for k, v in self._added().items()
        )
        return (
            f"{self.task}-{self.pruning}{added}-{self.target_sparsity:g}-{ndi}-{self.a_dist}"
            f"-seed{self.seed}-{self.key}"
        )

    def argv(self) -> list[str]:
        """The runner's command line, without ``--output`` and the run-time options."""
        argv: list[str] = []
        for name, value in self.args:
            if value is True:
                argv.append(f"--{name}")
            elif value is not False and value is not None:
                values = value if isinstance(value, (list, tuple)) else [value]
                argv += [f"--{name}", *(str(v) for v in values)]
        argv += ["--seed", str(self.seed), "--target-sparsity", str(self.target_sparsity)]
        argv += ["--pruning", self.pruning, "--a-dist", self.a_dist]
        argv += ["--reading", self.reading, "--theta-init", self.theta_init]
        argv += ["--pruned-grad", self.pruned_grad]
        argv.append("--learnable-a" if self.learnable_a else "--no-learnable-a")
        if not self.ndi:
            argv.append("--no-ndi")
        return argv

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "args": dict(self.args), "name": self.name, "argv": self.argv()}


@dataclass(frozen=True)
class Grid:
    """The trials of one or more grid files, each trial once."""

    names: tuple[str, ...]
    trials: tuple[Trial, ...]


def _check_value(where: str, key: str, value: Any) -> Any:
    if key == "pruning" and value not in PRUNING_METHODS:
        raise GridError(f"{where}: unknown pruning {value!r}; accepted: {PRUNING_METHODS}")
    if key == "a_dist" and value not in A_DISTRIBUTIONS:
        raise GridError(f"{where}: unknown a_dist {value!r}; accepted: {A_DISTRIBUTIONS}")
    for name, accepted in (
        ("reading", READINGS),
        ("theta_init", THETA_INITS),
        ("pruned_grad", PRUNED_GRADS),
    ):
        if key == name and value not in accepted:
            raise GridError(f"{where}: unknown {name} {value!r}; accepted: {accepted}")
    if key in ("ndi", "learnable_a") and not isinstance(value, bool):
        raise GridError(f"{where}: {key} takes true or false, got {value!r}")
    if key == "target_sparsity":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise GridError(f"{where}: target_sparsity must be in [0, 1), got {value!r}")
        return float(value)
    return value


def _sub_grid(where: str, spec: Any) -> list[dict[str, Any]]:
    if not isinstance(spec, dict) or not spec:
        raise GridError(f"{where}: a sub-grid maps keys among {sorted(AXES)} to lists")
    for old, new in RENAMED_KEYS.items():
        if old in spec:
            raise GridError(f"{where}: key {old!r} is now {new!r} (the runners' --{new})")
    unknown = sorted(set(spec) - set(AXES))
    if unknown:
        raise GridError(f"{where}: unknown key {unknown[0]!r}; accepted: {sorted(AXES)}")
    axes = {}
    for key, values in spec.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise GridError(f"{where}: {key} lists no values (an empty grid)")
        axes[key] = [_check_value(where, key, v) for v in values]
    combos = []
    for values in itertools.product(*axes.values()):
        point = {**AXES, **dict(zip(axes, values, strict=True))}
        if point["pruning"] == "dense":
            point["target_sparsity"] = 0.0  # an unpruned run is the same at every target
        if point["pruning"] != "nsp":
            # NSP's readings mean nothing to the baselines: crossing them runs each once
            point |= {k: AXES[k] for k in ("reading", "theta_init", "learnable_a")}
            if point["pruning"] in ("dense", "magnitude"):
                point["pruned_grad"] = AXES["pruned_grad"]
        try:
            config = NSPConfig(method=point["pruning"], **{k: point[k] for k in ADDED_OPTIONS})
        except ValueError as err:
            raise GridError(f"{where}: {err}") from None
        point |= {k: getattr(config, k) for k in ADDED_OPTIONS}  # what the trial runs
        if point not in combos:
            combos.append(point)
    return combos


def check_trial(trial: Trial) -> None:
    """Run the runner's own parser and option checks on the trial's command line."""
    try:
        importlib.import_module(MODULES[trial.task]).check(trial.argv())
    except (UsageError, ValueError) as error:
        raise GridError(f"{trial.task} trial: {error}") from None


def _read(path: Path) -> dict[str, Any]:
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise GridError(f"grid file {path} does not exist") from None
    except yaml.YAMLError as err:
        raise GridError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(spec, dict):
        raise GridError(f"{path}: a grid file is a mapping with keys {sorted(TOP_KEYS)}")
    unknown = sorted(set(spec) - TOP_KEYS)
    if unknown:
        raise GridError(f"{path}: unknown key {unknown[0]!r}; accepted: {sorted(TOP_KEYS)}")
    return spec


def load_grid(paths: Sequence[str | Path], check: bool = True) -> Grid:
    """Read grid files into their trials (shared trials once), checked.

    :param check: also run every trial's command line through its runner's checks.
    :raises GridError: naming the file, the sub-grid and the bad value.
    """
    if not paths:
        raise GridError("no grid file given")
    names: list[str] = []
    trials: dict[Trial, list[str]] = {}
    for raw in paths:
        path = Path(raw)
        spec = _read(path)
        name = str(spec.get("name", path.stem))
        if name in names:
            raise GridError(f"{path}: grid name {name!r} is used twice")
        names.append(name)
        task = spec.get("task")
        if task not in TASKS:
            raise GridError(f"{path}: unknown task {task!r}; accepted: {TASKS}")
        args = spec.get("args") or {}
        if not isinstance(args, dict):
            raise GridError(f"{path}: args maps runner options to values")
        reserved = sorted(RESERVED & set(args))
        if reserved:
            raise GridError(
                f"{path}: args may not set {reserved[0]!r}: the grid and the runner set it"
            )
        seeds = spec.get("seeds", [0])
        seeds = seeds if isinstance(seeds, list) else [seeds]
        if not seeds or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
            raise GridError(f"{path}: seeds must be a non-empty list of integers, got {seeds!r}")
        experiments = spec.get("experiments")
        if not isinstance(experiments, dict) or not experiments:
            raise GridError(f"{path}: no experiments (an empty grid)")
        fixed = tuple(
            sorted((str(k), tuple(v) if isinstance(v, list) else v) for k, v in args.items())
        )
        for sub, sub_spec in experiments.items():
            for point in _sub_grid(f"{path}: experiments.{sub}", sub_spec):
                for seed in seeds:
                    trial = Trial(task=task, args=fixed, seed=seed, **point)
                    trials.setdefault(trial, []).append(f"{name}/{sub}")
    # seed-major: a study stopped half-way has every setting at the first seeds
    built = tuple(
        sorted(
            (replace(t, experiments=tuple(subs)) for t, subs in trials.items()),
            key=lambda t: t.seed,
        )
    )
    if check:
        checked: set[Trial] = set()
        for trial in built:
            # seeds share a command line up to --seed: check each shape once
            shape = replace(trial, seed=0, experiments=())
            if shape not in checked:
                check_trial(trial)
                checked.add(shape)
    return Grid(tuple(names), built)
