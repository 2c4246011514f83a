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
constant), NSP's readings ``reading`` (d1, d2), ``theta_init`` (w_over_a, w),
``pruned_grad`` (straight_through, exact, until_reached), ``learnable_a`` and ``d1``;
``condition``, names from :data:`CONDITIONS` that each fix the method and its readings
(``magnitude_gain``, the ablation's steps); and ``options``, a mapping of runner
options (as on the command line, without dashes) to lists of values, crossed like the
rest (a tuning grid: ``options: {prune-end: [0.5, 0.8]}``). What a sub-grid leaves out
takes the defaults (:data:`AXES`; NSP's readings default to the method's own). Trials
that several sub-grids share (NSP at 0.9 appears in most claims) run once.

Every trial's command line is checked by its runner's own parser and option checks
before anything runs, and the runner resolves it into the settings the run will
record (its preset, per-dataset or per-env defaults, ``--config`` and the command
line). Those settings name the trial's folder (:attr:`Trial.key`): a changed default
makes the trial run again.
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

from nspdi_rl.layers import A_DISTRIBUTIONS, PRUNING_METHODS, NSPConfig, Reading
from runtime.cli import UsageError
from runtime.compat import ADDED_OPTIONS, FORMER_GRID_DEFAULTS, RENAMED_GRID_KEYS

__all__ = [
    "AXES",
    "CONDITIONS",
    "MODULES",
    "TASKS",
    "Grid",
    "GridError",
    "Trial",
    "load_grid",
    "resolve",
]

#: each task's runner; each has ``main(argv)`` and ``check(argv) -> settings``
MODULES = {"maze": "agents.train_maze", "speech": "tasks.speech.cli", "vision": "tasks.vision.cli"}
TASKS = tuple(MODULES)
#: the NSP options a grid may set, which the runners take as flags
READING_KEYS = tuple(ADDED_OPTIONS)
#: sub-grid keys and their defaults
AXES: dict[str, Any] = {
    "pruning": "nsp",
    "target_sparsity": 0.9,
    "ndi": True,
    "a_dist": "lognormal",
    # the reading options; None: the pruning method's own (NSPConfig fills them: NSP's
    # default reading, or what the baselines are defined with)
    **dict.fromkeys(Reading.names()),
    "d1": 0.0,
    "condition": "",
}
#: named conditions: each fixes the pruning method and NSP's options (the rest of a
#: trial comes from the other axes). ``magnitude_gain`` is what NSP's default reading
#: reduces to with constant a: w = a * theta (d1 = 0) cut at a quantile of |w|, with a
#: learnable per-channel gain a (from 1) and no gradient for cut synapses. The ``nsp_*``
#: names are the ablation's steps, all run with NSP's configuration: magnitude pruning's
#: map (``nsp_fixed_constant_a``), plus a learnable gain (``nsp_constant_a``, the map of
#: ``magnitude_gain``), plus its lognormal start (NSP), and NSP one part changed.
CONDITIONS: dict[str, dict[str, Any]] = {
    "magnitude_gain": {"pruning": "nsp", "a_dist": "constant", "learnable_a": True},
    "nsp_constant_a": {"pruning": "nsp", "a_dist": "constant", "learnable_a": True},
    "nsp_fixed_a": {"pruning": "nsp", "a_dist": "lognormal", "learnable_a": False},
    "nsp_fixed_constant_a": {"pruning": "nsp", "a_dist": "constant", "learnable_a": False},
    "nsp_d1_shift": {"pruning": "nsp", "a_dist": "lognormal", "d1": 0.01},
    "nsp_d1_reading": {"pruning": "nsp", "a_dist": "lognormal", "reading": "d1"},
    "nsp_straight_through": {
        "pruning": "nsp",
        "a_dist": "lognormal",
        "pruned_grad": "straight_through",
    },
}
TOP_KEYS = frozenset({"name", "task", "args", "seeds", "experiments"})
# options the experiment runner sets itself
RESERVED = frozenset({"output", "resume", "seed", "threads", "no-progress", "target-sparsity",
                      "pruning", "no-ndi", "a-dist", "d1",
                      *(Reading.flag(name)[2:] for name in Reading.names())})  # fmt: skip


class GridError(Exception):
    """A grid file that cannot run: reported as one line before any trial starts."""


def _canonical(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples as lists), so that settings compare equal
    before and after a round trip through a file."""
    return json.loads(json.dumps(value, sort_keys=True, default=list))


@dataclass(frozen=True)
class Trial:
    """One run of a task runner.

    :param task: ``maze``, ``speech`` or ``vision``.
    :param args: the runner's fixed options (option name without dashes -> value).
    :param pruning: pruning method, the runner's ``--pruning`` (``dense`` runs unpruned).
    :param target_sparsity: final sparsity (0 for ``dense``).
    :param ndi: NDI on.
    :param a_dist: distribution of NSP's ``a`` (only meaningful for ``nsp``).
    :param reading, theta_init, pruned_grad, learnable_a, d1: the runner's ``--reading``,
        ``--theta-init``, ``--pruned-grad``, ``--learnable-a`` and ``--d1``.
    :param seed: the runner's ``--seed``.
    :param condition: the :data:`CONDITIONS` name the trial was made from, or "".
    :param options: runner options a sub-grid crosses (a tuning grid), after ``args``.
    :param settings: what the runner resolves the command line into (JSON text;
        :func:`resolve` fills it): names the trial's folder.
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
    d1: float = ADDED_OPTIONS["d1"]
    condition: str = ""
    options: tuple[tuple[str, Any], ...] = ()
    settings: str = field(default="", compare=False)
    experiments: tuple[str, ...] = field(default=(), compare=False)

    def _added(self) -> dict[str, Any]:
        """The NSP options whose value differs from what runs did before they existed."""
        return {k: getattr(self, k) for k, v in ADDED_OPTIONS.items() if getattr(self, k) != v}

    @property
    def resolved(self) -> dict[str, Any]:
        """The settings the runner resolved the trial into (:func:`resolve`)."""
        if not self.settings:
            raise GridError(f"trial {self.stem} has not been resolved by its runner")
        return dict(json.loads(self.settings))

    @property
    def key(self) -> str:
        """The task and every setting the run resolves to, hashed: names its folder, so
        that a changed default (a preset, a per-env or per-dataset default, ...) makes
        the trial run again."""
        text = json.dumps({"task": self.task, "settings": self.resolved}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    @property
    def stem(self) -> str:
        """The name without the key: the same grid point under any defaults."""
        ndi = "ndi" if self.ndi else "nondi"
        options = "".join(f"-{k}{_flat(v)}" for k, v in self.options)
        if self.condition:
            head = f"{self.task}-{self.condition}"
            tail = f"-{self.target_sparsity:g}-{ndi}"
        else:
            # folder names spell a learnable a "learna" (trial folders exist so named)
            added = "".join(
                f"-{'learna' if k == 'learnable_a' else f'd1={v:g}' if k == 'd1' else v}"
                for k, v in self._added().items()
            )
            head = f"{self.task}-{self.pruning}{added}"
            tail = f"-{self.target_sparsity:g}-{ndi}-{self.a_dist}"
        return f"{head}{tail}{options}-seed{self.seed}"

    @property
    def name(self) -> str:
        return f"{self.stem}-{self.key}"

    def argv(self) -> list[str]:
        """The runner's command line, without ``--output`` and the run-time options."""
        argv: list[str] = []
        for name, value in (*self.args, *self.options):
            if value is True:
                argv.append(f"--{name}")
            elif value is not False and value is not None:
                values = value if isinstance(value, (list, tuple)) else [value]
                argv += [f"--{name}", *(str(v) for v in values)]
        argv += ["--seed", str(self.seed), "--target-sparsity", str(self.target_sparsity)]
        argv += ["--pruning", self.pruning, "--a-dist", self.a_dist]
        argv += Reading(**{name: getattr(self, name) for name in Reading.names()}).argv()
        if self.d1:
            argv += ["--d1", str(self.d1)]
        if not self.ndi:
            argv.append("--no-ndi")
        return argv

    def point(self) -> dict[str, Any]:
        """The grid point (everything a grid file says about the trial), as JSON gives
        it back: what a trial folder written under other defaults is matched by."""
        return point_of({**asdict(self), "args": dict(self.args), "options": dict(self.options)})

    def to_dict(self) -> dict[str, Any]:
        out = {**asdict(self), "args": dict(self.args), "options": dict(self.options)}
        out["settings"] = self.resolved if self.settings else None
        return {**out, "name": self.name, "argv": self.argv()}


def _flat(value: Any) -> str:
    """An option's value in a folder name: list items joined by ``x``, a path's
    separators as ``_`` (a ``/`` would nest the trial's folder)."""
    text = "x".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return text.replace("/", "_")


def point_of(saved: dict[str, Any]) -> dict[str, Any]:
    """The grid point of a ``trial.json`` (of any version: options a trial was written
    before take what runs did then)."""
    spec = {k: saved.get(k, v) for k, v in ADDED_OPTIONS.items()}
    spec |= {k: saved.get(k) for k in ("task", "target_sparsity", "ndi", "a_dist", "seed")}
    spec["pruning"] = saved.get("pruning", saved.get("method"))
    spec |= {"condition": saved.get("condition", ""), "options": saved.get("options") or {}}
    spec["args"] = {**FORMER_GRID_DEFAULTS.get(str(spec["task"]), {}), **(saved.get("args") or {})}
    return _canonical(spec)


@dataclass(frozen=True)
class Grid:
    """The trials of one or more grid files, each trial once."""

    names: tuple[str, ...]
    trials: tuple[Trial, ...]

    def only(self, subs: Sequence[str]) -> Grid:
        """The trials in any of the sub-grids ``subs`` (``SUB`` or ``GRID/SUB``), in
        the same order; an unknown name is refused with the names there are."""
        known = {s for t in self.trials for s in t.experiments}
        known |= {s.split("/", 1)[1] for s in known}
        unknown = [s for s in subs if s not in known]
        if unknown:
            raise GridError(f"--only: no sub-grid {unknown[0]!r}; accepted: {sorted(known)}")
        wanted = set(subs)
        kept = tuple(
            t
            for t in self.trials
            if any(s in wanted or s.split("/", 1)[1] in wanted for s in t.experiments)
        )
        return Grid(self.names, kept)


def _check_value(where: str, key: str, value: Any) -> Any:
    if key == "pruning" and value not in PRUNING_METHODS:
        raise GridError(f"{where}: unknown pruning {value!r}; accepted: {PRUNING_METHODS}")
    if key == "condition" and value not in CONDITIONS:
        raise GridError(f"{where}: unknown condition {value!r}; accepted: {sorted(CONDITIONS)}")
    if key == "a_dist" and value not in A_DISTRIBUTIONS:
        raise GridError(f"{where}: unknown a_dist {value!r}; accepted: {A_DISTRIBUTIONS}")
    if key in Reading.names():
        try:
            Reading(**{key: value})
        except ValueError as err:
            raise GridError(f"{where}: {err}") from None
    if key == "ndi" and not isinstance(value, bool):
        raise GridError(f"{where}: {key} takes true or false, got {value!r}")
    if key == "target_sparsity":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise GridError(f"{where}: target_sparsity must be in [0, 1), got {value!r}")
        return float(value)
    if key == "d1":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise GridError(f"{where}: d1 must be a number >= 0, got {value!r}")
        return float(value)
    return value


def _options(where: str, spec: Any) -> list[tuple[tuple[str, Any], ...]]:
    """Every combination of a sub-grid's ``options`` (runner option -> list of values)."""
    if spec is None:
        return [()]
    if not isinstance(spec, dict) or not spec:
        raise GridError(f"{where}.options maps runner options to lists of values")
    names = sorted(spec)
    for name in names:
        if not isinstance(name, str) or name.startswith("-"):
            raise GridError(f"{where}.options: {name!r} is not an option name without dashes")
        if name in RESERVED:
            raise GridError(f"{where}.options may not set {name!r}: the grid and the runner set it")
    lists = [
        [tuple(v) if isinstance(v, list) else v for v in spec[n]]
        if isinstance(spec[n], list)
        else [spec[n]]
        for n in names
    ]
    if any(not values for values in lists):
        raise GridError(f"{where}.options: an option lists no values (an empty grid)")
    return [tuple(zip(names, values, strict=True)) for values in itertools.product(*lists)]


def _sub_grid(where: str, spec: Any) -> list[dict[str, Any]]:
    if not isinstance(spec, dict) or not spec:
        raise GridError(f"{where}: a sub-grid maps keys among {sorted(AXES)} to lists")
    for old, new in RENAMED_GRID_KEYS.items():
        if old in spec:
            raise GridError(f"{where}: key {old!r} is now {new!r} (the runners' --{new})")
    spec = dict(spec)
    options = _options(where, spec.pop("options", None))
    unknown = sorted(set(spec) - set(AXES))
    if unknown:
        raise GridError(
            f"{where}: unknown key {unknown[0]!r}; accepted: {sorted([*AXES, 'options'])}"
        )
    if "condition" in spec and set(spec) & {"pruning", *READING_KEYS}:
        raise GridError(f"{where}: a condition fixes pruning and NSP's options; list them apart")
    axes = {}
    for key, values in spec.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise GridError(f"{where}: {key} lists no values (an empty grid)")
        axes[key] = [_check_value(where, key, v) for v in values]
    combos = []
    for values in itertools.product(*axes.values()):
        point = {**AXES, **dict(zip(axes, values, strict=True))}
        point |= CONDITIONS.get(point["condition"], {})
        if point["pruning"] == "dense":
            point["target_sparsity"] = 0.0  # an unpruned run is the same at every target
        if point["pruning"] != "nsp":
            # NSP's readings mean nothing to the baselines: crossing them runs each once
            point |= {k: AXES[k] for k in ("reading", "theta_init", "learnable_a", "d1")}
            if point["pruning"] in ("dense", "magnitude"):
                point["pruned_grad"] = AXES["pruned_grad"]
        try:
            config = NSPConfig(method=point["pruning"], **{k: point[k] for k in READING_KEYS})
        except ValueError as err:
            raise GridError(f"{where}: {err}") from None
        point |= {k: getattr(config, k) for k in READING_KEYS}  # what the trial runs
        for option in options:
            combo = {**point, "options": option}
            if combo not in combos:
                combos.append(combo)
    return combos


def resolve(trial: Trial) -> Trial:
    """The trial with the settings its runner resolves its command line into, after the
    runner's own parser and option checks.

    :raises GridError: naming the bad option.
    """
    try:
        settings = importlib.import_module(MODULES[trial.task]).check(trial.argv())
    except (UsageError, ValueError) as error:
        raise GridError(f"{trial.task} trial: {error}") from None
    return replace(trial, settings=json.dumps(_canonical(settings), sort_keys=True))


def _read(path: Path) -> dict[str, Any]:
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise GridError(f"grid file {path} does not exist") from None
    except IsADirectoryError:
        raise GridError(f"grid file {path} is a folder, not a file") from None
    except OSError as err:
        raise GridError(f"grid file {path} cannot be read: {err.strerror}") from None
    except UnicodeDecodeError:
        raise GridError(f"grid file {path} is not text (a YAML file is expected)") from None
    except yaml.YAMLError as err:
        raise GridError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(spec, dict):
        raise GridError(f"{path}: a grid file is a mapping with keys {sorted(TOP_KEYS)}")
    unknown = sorted(set(spec) - TOP_KEYS)
    if unknown:
        raise GridError(f"{path}: unknown key {unknown[0]!r}; accepted: {sorted(TOP_KEYS)}")
    return spec


def load_grid(paths: Sequence[str | Path]) -> Grid:
    """Read grid files into their trials (shared trials once), each checked and resolved
    by its runner (:func:`resolve`).

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
                if set(dict(point["options"])) & set(args):
                    clash = sorted(set(dict(point["options"])) & set(args))[0]
                    raise GridError(f"{path}: experiments.{sub} crosses {clash!r}, which args fix")
                for seed in seeds:
                    trial = Trial(task=task, args=fixed, seed=seed, **point)
                    trials.setdefault(trial, []).append(f"{name}/{sub}")
    # seed-major: a study stopped half-way has every setting at the first seeds
    built = sorted(
        (replace(t, experiments=tuple(subs)) for t, subs in trials.items()), key=lambda t: t.seed
    )
    return Grid(tuple(names), tuple(resolve(t) for t in built))
