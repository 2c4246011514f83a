"""Threshold schedules and the pruner that drives every NSP weight of a model.

Two modes share one schedule shape ``f(progress)`` in [0, 1]:

- ``threshold``: ``d1 = final * f(progress)`` (STDS's schedule; with ``final``
  set to the paper's ``d2`` this is the "d2 is the final d1" reading);
- ``target_sparsity``: the controller sets ``d1`` at every update so that the
  realised sparsity is ``final * f(progress)``, exactly up to ties.

Shapes: ``constant`` (f = 1), ``linear``, ``sine`` (STDS:
``(1 + sin(pi (p - 1/2))) / 2``) and ``cubic`` (Zhu & Gupta 2017:
``1 - (1 - p)^3``), with ``p`` the progress rescaled to ``[start, end]``.

:class:`Pruner` moves the thresholds to a given progress; :class:`PruningDriver`
runs it over one training run counted in steps (when to update, when to freeze
the mask, what a resumed run needs), for every training loop alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from numbers import Integral
from typing import Any

import torch
from torch import nn

from nspdi_rl.layers import NSPLayer, NSPWeight
from nspdi_rl.network import SpikingNetwork

__all__ = [
    "FREEZE_CHOICES",
    "PRUNING_MODES",
    "SCHEDULE_SHAPES",
    "Pruner",
    "PruningDriver",
    "PruningSchedule",
    "schedule_fraction",
]

SCHEDULE_SHAPES = ("constant", "linear", "sine", "cubic")
PRUNING_MODES = ("threshold", "target_sparsity")
SCOPES = ("layer", "network", "global")
# when the mask is fixed: at the end of training, or once the schedule reaches its final value
FREEZE_CHOICES = ("end", "reached")


def schedule_fraction(shape: str, progress: float, start: float = 0.0, end: float = 1.0) -> float:
    """The schedule's fraction of its final value at ``progress`` in [0, 1]."""
    if shape not in SCHEDULE_SHAPES:
        raise ValueError(f"unknown schedule {shape!r}; accepted: {SCHEDULE_SHAPES}")
    if not (math.isfinite(progress) and 0.0 <= progress <= 1.0):
        raise ValueError(f"progress must be in [0, 1], got {progress}")
    if shape == "constant":
        return 1.0
    if progress <= start:
        return 0.0
    if progress >= end:
        return 1.0
    p = (progress - start) / (end - start)
    if shape == "linear":
        return p
    if shape == "sine":
        return (1.0 + math.sin(math.pi * (p - 0.5))) / 2.0
    return 1.0 - (1.0 - p) ** 3


@dataclass(frozen=True)
class PruningSchedule:
    """What the pruner does over training.

    :param mode: ``target_sparsity`` (default) or ``threshold``.
    :param final: final sparsity in [0, 1) (target mode) or final ``d1`` >= 0 (threshold mode).
    :param shape: ``constant``, ``linear``, ``sine`` or ``cubic``. Default ``cubic``.
    :param start: progress at which the schedule leaves 0. Default 0.0.
    :param end: progress at which it reaches ``final``. Default 0.8 (fine-tune after).
    :param scope: ``layer`` (each weight tensor reaches the target), ``network`` (one
        threshold over the pooled scores of each spiking network, so each network
        reaches it) or ``global`` (one threshold over the pooled scores of every pruned
        tensor of the model). The last two are the same for a model that is one network;
        an agent's actor and critics differ. Default ``layer``.
    """

    mode: str = "target_sparsity"
    final: float = 0.9
    shape: str = "cubic"
    start: float = 0.0
    end: float = 0.8
    scope: str = "layer"

    def __post_init__(self) -> None:
        if self.mode not in PRUNING_MODES:
            raise ValueError(f"unknown pruning mode {self.mode!r}; accepted: {PRUNING_MODES}")
        if self.shape not in SCHEDULE_SHAPES:
            raise ValueError(f"unknown schedule {self.shape!r}; accepted: {SCHEDULE_SHAPES}")
        if self.scope not in SCOPES:
            raise ValueError(f"unknown pruning scope {self.scope!r}; accepted: {SCOPES}")
        if self.mode == "target_sparsity" and not (0.0 <= self.final < 1.0):
            raise ValueError(f"target sparsity must be in [0, 1), got {self.final}")
        if self.mode == "threshold" and not (math.isfinite(self.final) and self.final >= 0):
            raise ValueError(f"final threshold d1 must be >= 0, got {self.final}")
        if not (0.0 <= self.start < self.end <= 1.0):
            raise ValueError(
                "schedule start/end must satisfy 0 <= start < end <= 1, "
                f"got start={self.start} end={self.end}"
            )

    def value(self, progress: float) -> float:
        """Target sparsity (or d1) at ``progress``."""
        return self.final * schedule_fraction(self.shape, progress, self.start, self.end)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count(fraction: float, n: int) -> int:
    # round up (bar float noise): the realised sparsity is never below the target
    return min(n, math.ceil(fraction * n - 1e-9))


def _kth_smallest(scores: torch.Tensor, k: int) -> float:
    if k <= 0:
        return 0.0
    flat = scores.reshape(-1)
    # in the scores' own precision: a d2 cut placed just above this value must
    # separate the same synapses the forward pass sees
    if flat.dtype not in (torch.float32, torch.float64):
        flat = flat.float()
    return float(torch.kthvalue(flat, k).values)


def _layer_targets(scores: list[torch.Tensor], target: float) -> list[float]:
    """Per-tensor sparsities whose weight-count average is ``target``.

    Every tensor gets ``target`` unless the ``d2`` cut already silences more of it
    than that at ``d1 = 0`` (its floor); the others then take up the difference
    so that the model as a whole still lands on ``target``.
    """
    sizes = [s.numel() for s in scores]
    floors = [float((s <= 0).sum()) / n for s, n in zip(scores, sizes, strict=True)]
    fixed: set[int] = set()
    share = target
    while True:
        free = [i for i in range(len(scores)) if i not in fixed]
        if not free:
            return floors
        budget = target * sum(sizes) - sum(floors[i] * sizes[i] for i in fixed)
        share = min(1.0, max(0.0, budget / sum(sizes[i] for i in free)))
        newly = {i for i in free if floors[i] > share}
        if not newly:
            return [floors[i] if i in fixed else share for i in range(len(scores))]
        fixed |= newly


def _network_groups(model: nn.Module, weights: list[NSPWeight]) -> list[list[NSPWeight]]:
    """``weights`` grouped by the outermost :class:`SpikingNetwork` holding them, in
    their order; weights outside every network form one group of their own."""
    owner: dict[int, int] = {}
    networks = [m for m in model.modules() if isinstance(m, SpikingNetwork)]
    for index, network in enumerate(networks):  # outer networks come before inner ones
        for w in network.modules():
            if isinstance(w, NSPWeight):
                owner.setdefault(id(w), index)
    groups: dict[int, list[NSPWeight]] = {}
    for w in weights:
        groups.setdefault(owner.get(id(w), -1), []).append(w)
    return list(groups.values())


def _pooled_threshold(weights: list[NSPWeight], target: float) -> None:
    """One threshold over the pooled scores of ``weights`` so that they reach ``target``."""
    if not weights:
        return
    readings = {w.reading for w in weights}
    if len(readings) > 1:
        raise ValueError(
            "a pooled threshold needs one reading for every weight; this model "
            f"mixes {sorted(readings)} (use scope='layer')"
        )
    pooled = torch.cat([w.prune_scores().reshape(-1) for w in weights])
    threshold = max(0.0, _kth_smallest(pooled, _count(target, pooled.numel())))
    for w in weights:
        w.set_threshold(threshold)


class Pruner:
    """Applies a :class:`PruningSchedule` to the NSP weights of a model.

    Call :meth:`step` with the training progress (0 to 1) at every update; it
    sets ``d1`` on every pruned weight and returns the target of this step.

    :param model: any module holding NSP layers.
    :param schedule: the schedule.
    :param include_readout: also prune layers whose ``role`` is ``readout``. Default False.
    """

    def __init__(
        self, model: nn.Module, schedule: PruningSchedule, include_readout: bool = False
    ) -> None:
        self.schedule = schedule
        self.include_readout = include_readout
        self.weights: list[NSPWeight] = list(pruned_weights(model, include_readout))
        # what the thresholds move: the weights of a dense layer are never cut
        self._cut = [w for w in self.weights if w.config.method != "dense"]
        self._networks = _network_groups(model, self._cut)
        self.progress = 0.0
        self.frozen = False
        if not self.weights:
            raise ValueError(f"model {type(model).__name__} has no NSP weights to prune")

    @torch.no_grad()
    def step(self, progress: float) -> float:
        if self.frozen:
            return self.schedule.value(self.progress)
        if not (math.isfinite(progress) and 0.0 <= progress <= 1.0):
            raise ValueError(f"progress must be in [0, 1], got {progress}")
        self.progress = float(progress)
        target = self.schedule.value(progress)
        weights = self._cut
        if progress >= self.schedule.end:
            for w in weights:
                w.mark_reached()
        if self.schedule.mode == "threshold":
            for w in weights:
                w.set_d1(target) if w.reading == "d1" else w.set_d2(target)
            return target
        if self.schedule.scope == "layer":
            scores = [w.prune_scores() for w in weights]
            for w, s, t in zip(weights, scores, _layer_targets(scores, target), strict=True):
                w.set_threshold(max(0.0, _kth_smallest(s, _count(t, s.numel()))))
        else:
            groups = [weights] if self.schedule.scope == "global" else self._networks
            for group in groups:
                _pooled_threshold(group, target)
        return target

    def freeze(self) -> None:
        """Fix the final mask: silent synapses stay silent from now on."""
        for w in self.weights:
            w.freeze()
        self.frozen = True

    def state_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule.to_dict(),
            "progress": self.progress,
            "frozen": self.frozen,
            "include_readout": self.include_readout,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        schedule = PruningSchedule(**state["schedule"])
        if schedule != self.schedule:
            raise ValueError(
                f"pruner state was saved for {schedule}, this pruner runs {self.schedule}"
            )
        self.progress = float(state["progress"])
        self.frozen = bool(state["frozen"])


class PruningDriver:
    """Runs a :class:`Pruner` over one training run counted in steps.

    Every training loop calls :meth:`update` with its step count before each
    update of the weights and :meth:`finish` when training ends; the driver turns
    steps into progress (``step / total_steps``, at most 1), freezes the mask at
    the moment ``freeze_mask`` asks for, and lands on the final target at the end.
    Its :meth:`state_dict` holds what a resumed run needs besides the weights (the
    frozen masks travel with those).

    :param model: any module holding NSP layers.
    :param schedule: the pruning schedule.
    :param total_steps: the run's full length in steps (> 0), the same across resumes.
    :param freeze_mask: ``end`` (default: silent synapses may regrow until training
        ends) or ``reached`` (the mask is fixed as soon as progress reaches
        ``schedule.end``, and only the surviving synapses train from then on).
    :param include_readout: also prune layers whose ``role`` is ``readout``. Default False.
    """

    def __init__(
        self,
        model: nn.Module,
        schedule: PruningSchedule,
        total_steps: int,
        freeze_mask: str = "end",
        include_readout: bool = False,
    ) -> None:
        if not isinstance(schedule, PruningSchedule):
            raise TypeError(f"schedule must be a PruningSchedule, got {type(schedule).__name__}")
        if (
            isinstance(total_steps, bool)
            or not isinstance(total_steps, Integral)
            or total_steps <= 0
        ):
            raise ValueError(f"total_steps must be a positive int, got {total_steps!r}")
        if freeze_mask not in FREEZE_CHOICES:
            raise ValueError(f"unknown freeze_mask {freeze_mask!r}; accepted: {FREEZE_CHOICES}")
        self.pruner: Pruner = Pruner(model, schedule, include_readout=include_readout)
        self.total_steps: int = int(total_steps)
        self.freeze_mask: str = freeze_mask

    @property
    def schedule(self) -> PruningSchedule:
        """The schedule the pruner follows."""
        return self.pruner.schedule

    @property
    def frozen(self) -> bool:
        """Whether the mask is fixed (no further update changes it)."""
        return self.pruner.frozen

    @property
    def target(self) -> float:
        """The schedule's value (target sparsity, or ``d1``) at the last update."""
        return self.schedule.value(self.pruner.progress)

    def progress(self, step: int) -> float:
        """Training progress in [0, 1] after ``step`` steps (runs may overshoot their length)."""
        if isinstance(step, bool) or not isinstance(step, Integral) or step < 0:
            raise ValueError(f"step must be an int >= 0, got {step!r}")
        return min(1.0, int(step) / self.total_steps)

    def update(self, step: int) -> float:
        """Move the thresholds to ``step`` (freezing the mask if it is due); return the target.

        Once the mask is frozen this changes nothing.
        """
        progress = self.progress(step)
        if self.frozen:
            return self.target
        target = self.pruner.step(progress)
        if self.freeze_mask == "reached" and progress >= self.schedule.end:
            self.pruner.freeze()
        return target

    def finish(self) -> float:
        """End of training: land on the final target and freeze the mask (unless frozen)."""
        if not self.frozen:
            # a run too short to reach schedule.end still ends at its final value
            self.pruner.step(1.0)
            self.pruner.freeze()
        return self.target

    def state_dict(self) -> dict[str, Any]:
        """The pruner's state (schedule, progress, frozen, include_readout), ``total_steps``
        and ``freeze_mask``."""
        return {
            **self.pruner.state_dict(),
            "total_steps": self.total_steps,
            "freeze_mask": self.freeze_mask,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state``; load the model's weights (with their masks) first.

        A bare :class:`Pruner` state, as runs saved before this driver existed, is
        accepted: its run length and freeze rule are taken to be this driver's.

        :raises ValueError: when ``state`` belongs to another run (schedule, length,
            freeze rule or readout pruning differ) or lacks a key.
        """
        if not isinstance(state, Mapping):
            raise ValueError(f"pruning state must be a mapping, got {type(state).__name__}")
        missing = [
            k for k in ("schedule", "progress", "frozen", "include_readout") if k not in state
        ]
        if missing:
            raise ValueError(f"pruning state lacks {missing}; it has {sorted(state)}")
        saved_steps = int(state.get("total_steps", self.total_steps))
        if saved_steps != self.total_steps:
            raise ValueError(f"saved run was {saved_steps} steps long, this one {self.total_steps}")
        saved_freeze = state.get("freeze_mask", self.freeze_mask)
        if saved_freeze != self.freeze_mask:
            raise ValueError(
                f"saved run froze the mask at {saved_freeze!r}, this one at {self.freeze_mask!r}"
            )
        if bool(state["include_readout"]) != self.pruner.include_readout:
            raise ValueError(
                f"saved run had include_readout={bool(state['include_readout'])}, "
                f"this one {self.pruner.include_readout}"
            )
        self.pruner.load_state_dict(dict(state))
        if self.frozen:
            for w in self.pruner.weights:
                if w.frozen_mask is None:  # weights saved without their mask
                    w.freeze()


def pruned_weights(model: nn.Module, include_readout: bool = False) -> Iterable[NSPWeight]:
    """The NSP weights of ``model`` that pruning applies to."""
    for module in model.modules():
        if isinstance(module, NSPLayer) and (include_readout or module.role != "readout"):
            yield from module.nsp_weights()
