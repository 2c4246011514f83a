"""NSP-reparameterised weights and the NDI layers built on them.

- :class:`NSPConfig`: how a layer's synapses are parameterised and pruned
  (NSP, or the baselines STDS, Grad R, magnitude pruning, dense) on one code path.
- :class:`NSPWeight`: one weight tensor held as spine parameters ``theta`` with
  per-output-channel ``a`` and the thresholds ``d1`` / ``d2``.
- :class:`NSPLayer`: the base of every layer below: NSP weights, bias, role, and
  the forward pass that projects the input and adds the NDI term when present.
- :class:`NSPLinear`, :class:`NSPConv2d`: plain layers whose weight is an NSPWeight.
- :class:`NDILinear`, :class:`NDIConv2d`: ``I = Wx + b + (Wx) * (Vx)`` with W and V
  both NSP; ``ndi=False`` gives the plain layer.

Every layer accepts ordinary batches and time-first ``(T, B, ...)`` tensors.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nspdi_rl.functional import nsp_weight_unchecked, stacked_ndi_current

__all__ = [
    "A_DISTRIBUTIONS",
    "DEFAULT_READING",
    "LAYER_ROLES",
    "PRUNING_METHODS",
    "Reading",
    "NDIConv2d",
    "NDILinear",
    "NSPConfig",
    "NSPConv2d",
    "NSPLayer",
    "NSPLinear",
    "NSPWeight",
    "ORIGINAL_READING",
    "reuse_effective_weights",
]

PRUNING_METHODS = ("nsp", "stds", "gradr", "magnitude", "dense")
A_DISTRIBUTIONS = ("lognormal", "uniform", "constant")
#: which threshold the pruning controller moves: ``d1`` (the transition threshold,
#: every survivor's weight shrinks by ``a d1``) or ``d2`` (the cut on the effective
#: weight ``|a (|theta| - d1)|``; survivors keep their whole weight)
READINGS = ("d1", "d2")
#: ``theta`` at init: ``w_over_a`` (the effective weight starts at the initial draw
#: ``w``) or ``w`` (``theta`` is the draw itself, so ``a`` is a real gain from the start)
THETA_INITS = ("w_over_a", "w")
#: the gradient of pruned (silent) synapses: ``straight_through`` (they keep
#: learning and can regrow), ``exact`` (none), or ``until_reached`` (straight-through
#: until the schedule reaches its target or the mask is frozen, exact after)
PRUNED_GRADS = ("straight_through", "exact", "until_reached")


def _option(accepted: tuple[Any, ...], help: str, labels: tuple[str, str] = ("", "")) -> Any:
    """A :class:`Reading` field's metadata: its accepted values, its help text (the
    runners' flag), and for a switch the labels of off and on (reports, trial names)."""
    return {"accepted": accepted, "help": help, "labels": labels}


@dataclass(frozen=True)
class Reading:
    """NSP's reading options: the one place they are written. The runners' flags
    (:func:`runtime.cli.runner_parser`: ``--reading``, ``--theta-init``,
    ``--pruned-grad``, ``--learnable-a``), the experiment grids' axes, their trials'
    command lines and the report's labels are made from these fields and their metadata.

    :param reading: which threshold the pruning controller moves, one of :data:`READINGS`.
    :param theta_init: ``theta`` at init, one of :data:`THETA_INITS`.
    :param pruned_grad: the gradient of pruned synapses, one of :data:`PRUNED_GRADS`.
    :param learnable_a: train the per-channel ``a`` (held as ``log a``).

    Its defaults are NSP's own (:data:`DEFAULT_READING`).
    """

    reading: str = field(
        default="d2",
        metadata=_option(
            READINGS,
            "which NSP threshold drives sparsity: d1 (every survivor shrinks by a*d1) or d2 "
            "(a cut on |a(|theta| - d1)|; survivors keep their weight)",
        ),
    )
    theta_init: str = field(
        default="w_over_a",
        metadata=_option(
            THETA_INITS,
            "NSP's theta at init: w_over_a (the weight starts at the initial draw) or w "
            "(a scales the draw from the start)",
        ),
    )
    pruned_grad: str = field(
        default="exact",
        metadata=_option(
            PRUNED_GRADS,
            "gradient of pruned synapses: straight_through (they may regrow), exact (none), "
            "or straight_through until the target is reached",
        ),
    )
    learnable_a: bool = field(
        default=True,
        metadata=_option(
            (False, True), "train NSP's a (kept positive as log a)", ("fixed_a", "learnable_a")
        ),
    )

    def __post_init__(self) -> None:
        for option in fields(self):
            value = getattr(self, option.name)
            accepted = option.metadata["accepted"]
            if value not in accepted or type(value) is not type(accepted[0]):
                raise ValueError(f"unknown {option.name} {value!r}; accepted: {accepted}")

    @staticmethod
    def names() -> tuple[str, ...]:
        """The options' names, in the order the flags are listed."""
        return tuple(option.name for option in fields(Reading))

    @staticmethod
    def flag(name: str) -> str:
        """The runners' flag of option ``name`` (``--theta-init``)."""
        return "--" + name.replace("_", "-")

    @staticmethod
    def label(name: str, value: Any) -> str:
        """How reports name a value of option ``name`` (a switch by its labels)."""
        if not isinstance(value, bool):
            return str(value)
        option = next(o for o in fields(Reading) if o.name == name)
        return str(option.metadata["labels"][value])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def argv(self) -> list[str]:
        """The options as the runners' command line spells them."""
        argv: list[str] = []
        for name, value in self.to_dict().items():
            if isinstance(value, bool):
                argv.append(self.flag(name) if value else "--no-" + self.flag(name)[2:])
            else:
                argv += [self.flag(name), str(value)]
        return argv


#: NSP's reading unless told otherwise: the winner of the screening of readings
#: (``experiments/grids/screen-*.yaml``, ``docs/screen.md``)
DEFAULT_READING = Reading()
#: how the first release read NSP, and what the baselines are defined with (STDS and
#: Grad R: the d1 shift and straight-through gradients for pruned synapses)
ORIGINAL_READING = Reading(reading="d1", pruned_grad="straight_through", learnable_a=False)


@dataclass(frozen=True)
class NSPConfig:
    """How synapses are parameterised and pruned.

    :param method: ``nsp`` (``sign(theta) * relu(a (|theta| - d1))`` with
        heterogeneous ``a`` and the ``d2`` cut), ``stds`` (the same map with
        ``a = 1``, ``d2 = 0``), ``gradr`` (fixed signs, ``s * relu(theta - d1)``),
        ``magnitude`` (``theta * [|theta| > d1]``), ``dense`` (``w = theta``).
    :param a_dist: distribution of the per-output-channel ``a`` at init
        (``lognormal``, ``uniform``, ``constant``); only used by ``nsp``.
    :param a_mean: mean of ``a`` (> 0). Default 1.0.
    :param a_std: standard deviation of ``a`` (>= 0; ignored for ``constant``).
        Default 0.5. ``uniform`` needs ``a_std * sqrt(3) < a_mean`` to stay positive.
    :param learnable_a: train ``a`` (held as ``log a``, so it stays positive; nsp only).
    :param reading: which threshold the pruning controller moves, one of
        :data:`READINGS`: ``d1`` or ``d2`` (nsp only); the other one stays at its value
        below.
    :param d1: the transition threshold's fixed value under ``reading="d2"`` (>= 0).
        Default 0.
    :param d2: pruning cut on the effective weight, ``|w| < d2 -> 0`` (>= 0), fixed under
        ``reading="d1"``; nsp only. Default 0.
    :param theta_init: ``w_over_a`` or ``w``, see :data:`THETA_INITS` (nsp only).
    :param pruned_grad: gradient of silent synapses, one of :data:`PRUNED_GRADS`
        (``magnitude`` and ``dense`` ignore it).

    ``learnable_a``, ``reading``, ``theta_init`` and ``pruned_grad`` left at None take
    the method's own: :data:`DEFAULT_READING` for nsp, :data:`ORIGINAL_READING` (STDS's
    and Grad R's definitions) for the others. A built config always holds real values.
    """

    method: str = "nsp"
    a_dist: str = "lognormal"
    a_mean: float = 1.0
    a_std: float = 0.5
    learnable_a: bool | None = None
    reading: str | None = None
    d1: float = 0.0
    d2: float = 0.0
    theta_init: str | None = None
    pruned_grad: str | None = None

    def __post_init__(self) -> None:
        if self.method not in PRUNING_METHODS:
            raise ValueError(f"unknown pruning method {self.method!r}; accepted: {PRUNING_METHODS}")
        own = DEFAULT_READING if self.method == "nsp" else ORIGINAL_READING
        for name, value in own.to_dict().items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)  # frozen: filled once, here
        if self.a_dist not in A_DISTRIBUTIONS:
            raise ValueError(f"unknown a distribution {self.a_dist!r}; accepted: {A_DISTRIBUTIONS}")
        if not (math.isfinite(self.a_mean) and self.a_mean > 0):
            raise ValueError(f"a_mean must be positive, got {self.a_mean}")
        if not (math.isfinite(self.a_std) and self.a_std >= 0):
            raise ValueError(f"a_std must be >= 0, got {self.a_std}")
        if self.a_dist == "uniform" and self.a_std * math.sqrt(3.0) >= self.a_mean:
            raise ValueError(
                f"uniform a with a_mean={self.a_mean} and a_std={self.a_std} would draw "
                f"non-positive values; need a_std * sqrt(3) < a_mean"
            )
        for name in ("d1", "d2"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be >= 0, got {value}")
        self.reading_options()  # checks the reading options' values
        if self.method != "nsp":
            for name, value in (("reading", "d2"), ("theta_init", "w"), ("learnable_a", True)):
                if getattr(self, name) == value:
                    raise ValueError(
                        f"{name}={value!r} is an NSP reading; method is {self.method!r}"
                    )

    def reading_options(self) -> Reading:
        """The reading options this config runs (checked when made)."""
        return Reading(**{name: getattr(self, name) for name in Reading.names()})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NSPConfig:
        """The config from its fields. A dict saved before the readings existed (it has
        ``straight_through: true / false``, later ``pruned_grad``) reads as it ran:
        ``straight_through`` / ``exact``, and :data:`ORIGINAL_READING` for the rest."""
        data = dict(data)
        if "straight_through" in data:
            legacy = data.pop("straight_through")
            data.setdefault("pruned_grad", "straight_through" if legacy else "exact")
            for name, value in ORIGINAL_READING.to_dict().items():
                data.setdefault(name, value)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown NSPConfig keys {unknown}; accepted: {sorted(known)}")
        return cls(**data)


def _draw_a(n: int, config: NSPConfig, generator: torch.Generator | None) -> torch.Tensor:
    if config.method != "nsp" or config.a_dist == "constant" or config.a_std == 0:
        value = config.a_mean if config.method == "nsp" else 1.0
        return torch.full((n,), float(value))
    if config.a_dist == "lognormal":
        # parameters of the underlying normal that give the requested mean and std
        sigma2 = math.log1p((config.a_std / config.a_mean) ** 2)
        mu = math.log(config.a_mean) - sigma2 / 2.0
        return torch.exp(mu + math.sqrt(sigma2) * torch.randn(n, generator=generator))
    half = config.a_std * math.sqrt(3.0)
    return config.a_mean - half + 2.0 * half * torch.rand(n, generator=generator)


class NSPWeight(nn.Module):
    """One weight tensor under NSP (or a baseline): ``forward()`` returns the effective weight.

    :param initial: the weight the layer would have without NSP (e.g. a Kaiming
        draw); ``theta`` is set so that the effective weight starts equal to it
        (``theta = w / a`` per channel; for Grad R, ``theta = |w|`` with fixed signs).
    :param config: the :class:`NSPConfig`.
    :param generator: random generator for drawing ``a``.
    """

    d1: torch.Tensor
    d2: torch.Tensor
    reached: torch.Tensor
    fixed_sign: torch.Tensor | None
    frozen_mask: torch.Tensor | None

    def __init__(
        self,
        initial: torch.Tensor,
        config: NSPConfig | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        config = config or NSPConfig()
        self.config = config
        n_out = initial.shape[0]
        a = _draw_a(n_out, config, generator).to(initial.dtype)
        self.log_a = nn.Parameter(a.log(), requires_grad=bool(config.learnable_a))
        if config.method == "gradr":
            self.register_buffer(
                "fixed_sign", torch.where(initial >= 0, 1.0, -1.0).to(initial.dtype)
            )
            theta = initial.abs()
        else:
            self.register_buffer("fixed_sign", None)
            theta = initial
            if config.theta_init == "w_over_a":
                theta = initial / a.reshape((-1,) + (1,) * (initial.dim() - 1))
        self.theta = nn.Parameter(theta.detach().clone())
        nsp = config.method == "nsp"
        # the threshold the controller does not move stays at the config's value
        d1 = config.d1 if nsp and config.reading == "d2" else 0.0
        d2 = config.d2 if nsp and config.reading == "d1" else 0.0
        self.register_buffer("d1", torch.tensor(float(d1), dtype=initial.dtype))
        self.register_buffer("d2", torch.tensor(float(d2), dtype=initial.dtype))
        # set once the schedule reached its target: ends the "until_reached" gradient
        self.register_buffer("reached", torch.zeros((), dtype=torch.bool))
        self.register_buffer("frozen_mask", None)
        # the effective weight of the last call without autograd, and what it was made of
        self._cached: tuple[tuple[int, ...], torch.Tensor] | None = None
        #: reuse the effective weight without autograd (see :func:`reuse_effective_weights`)
        self.reuse_effective = True

    @property
    def a(self) -> torch.Tensor:
        """The per-output-channel state-transition ratio (always positive)."""
        # the clamp keeps exp() away from 0 and inf however far training pushes log a
        return self.log_a.clamp(-20.0, 20.0).exp()

    @property
    def shape(self) -> torch.Size:
        return self.theta.shape

    def numel(self) -> int:
        return self.theta.numel()

    def forward(self) -> torch.Tensor:
        """The effective weight ``w``.

        Without autograd (rollouts, evaluation) it is computed once per change of
        ``theta``, ``a``, ``d1``, ``d2`` or the frozen mask and then reused: between
        two optimiser steps a policy runs many times on the same weights. Treat the
        returned tensor as read-only.
        """
        if torch.is_grad_enabled() or torch.is_inference_mode_enabled() or not self.reuse_effective:
            return self._effective()
        key = self._state_key()
        if self._cached is None or self._cached[0] != key:
            # a tuple, so that nn.Module does not register a Parameter (dense: theta) here
            self._cached = (key, self._effective())
        return self._cached[1]

    def _state_key(self) -> tuple[int, ...]:
        """Changes whenever the effective weight may: tensors' in-place version counters,
        and their storage (``.to()``, ``.data = ...``, a new frozen mask)."""
        # straight from the module's dicts: called on every rollout step, and
        # nn.Module's attribute lookup costs more than the rest of the key
        params, buffers = self._parameters, self._buffers
        theta, log_a = params["theta"], params["log_a"]
        d1, d2, mask = buffers["d1"], buffers["d2"], buffers["frozen_mask"]
        assert theta is not None and log_a is not None and d1 is not None and d2 is not None
        return (
            theta._version, theta.data_ptr(), log_a._version, log_a.data_ptr(),
            d1._version, d1.data_ptr(), d2._version, d2.data_ptr(),
            -1 if mask is None else mask._version, -1 if mask is None else mask.data_ptr(),
        )  # fmt: skip

    def _effective(self) -> torch.Tensor:
        method = self.config.method
        w: torch.Tensor
        if method == "dense":
            w = self.theta
        elif method == "magnitude":
            w = self.theta * (self.theta.abs() > self.d1)
        else:
            # a > 0, d1 >= 0, d2 >= 0 and the shapes hold by construction
            w = nsp_weight_unchecked(
                self.theta,
                self.a,
                float(self.d1),
                float(self.d2),
                self.straight_through,
                self.fixed_sign,
            )
        if self.frozen_mask is not None:
            w = w * self.frozen_mask
        return w

    @property
    def reading(self) -> str:
        """The threshold the controller moves (``d1`` for every method but NSP)."""
        reading = self.config.reading
        assert reading is not None  # NSPConfig fills it
        return reading

    @property
    def straight_through(self) -> bool:
        """Whether silent synapses get gradient now (see :data:`PRUNED_GRADS`)."""
        grad = self.config.pruned_grad
        return grad == "straight_through" or (grad == "until_reached" and not bool(self.reached))

    def prune_scores(self) -> torch.Tensor:
        """A score per synapse such that the synapse is active iff ``score > threshold``,
        the threshold being the one :attr:`reading` names.

        Under the ``d1`` reading the score is ``|theta|`` (less ``d2 / a`` when a cut is
        set); under ``d2`` it is the effective weight before the cut,
        ``relu(a (|theta| - d1))``, computed as the forward pass computes it.
        The target-sparsity controller sets the threshold to a quantile of these.
        """
        with torch.no_grad():
            if self.config.method == "gradr":
                return self.theta.detach().clone()
            score = self.theta.detach().abs()
            a = self.a.detach().reshape((-1,) + (1,) * (score.dim() - 1))
            if self.reading == "d2":
                return torch.relu(a * (score - float(self.d1)))
            if self.config.method == "nsp" and float(self.d2) > 0:
                score = score - float(self.d2) / a
            return score

    def set_d1(self, value: float) -> None:
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"d1 must be >= 0, got {value}")
        self.d1.fill_(value)

    def set_d2(self, value: float) -> None:
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"d2 must be >= 0, got {value}")
        self.d2.fill_(value)

    def set_threshold(self, score: float) -> None:
        """Silence exactly the synapses whose :meth:`prune_scores` are ``<= score``.

        ``d1`` takes ``score`` (a synapse lives iff ``|theta| - d1 > 0``); ``d2`` takes
        the next representable value above it, as the cut keeps ``|w| >= d2`` (so does
        ``d1`` when a fixed ``d2`` cut is set: the synapse at ``score`` keeps ``|w| = d2``).
        """
        if not (math.isfinite(score) and score >= 0):
            raise ValueError(f"the pruning threshold must be >= 0, got {score}")
        value = torch.tensor(score, dtype=self.d1.dtype)
        above = torch.nextafter(value, torch.tensor(math.inf, dtype=value.dtype))
        if self.reading == "d2":
            self.d2.copy_(above)
        elif float(self.d2) > 0:
            # with a cut, the synapse whose score is exactly d1 keeps |w| = d2 and lives
            self.d1.copy_(above)
        else:
            self.d1.copy_(value)

    def mark_reached(self) -> None:
        """The schedule reached its target: an ``until_reached`` gradient turns exact."""
        self.reached.fill_(True)

    @torch.no_grad()
    def mask(self) -> torch.Tensor:
        """Boolean tensor of the active (non-zero) synapses."""
        return self.forward() != 0

    @torch.no_grad()
    def freeze(self) -> None:
        """Remove the silent synapses for good: they stay zero whatever theta does."""
        self.frozen_mask = (self.forward() != 0).to(self.theta.dtype)
        self.mark_reached()

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        # a frozen mask saved with the model needs a slot to load into
        key = prefix + "frozen_mask"
        if key in state_dict and self.frozen_mask is None:
            self.frozen_mask = torch.empty_like(self.theta)
        self._load_reached(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.theta.shape)}, method={self.config.method}"

    def _load_reached(self, state_dict: dict[str, Any], prefix: str) -> None:
        # weights saved before the "reached" flag existed: not reached yet, unless frozen
        key = prefix + "reached"
        if key not in state_dict:
            state_dict[key] = torch.tensor(prefix + "frozen_mask" in state_dict)


def _kaiming_uniform(
    shape: tuple[int, ...], fan_in: int, gain_scale: float, generator: torch.Generator | None
) -> torch.Tensor:
    # nn.Linear / nn.Conv2d's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    bound = gain_scale / math.sqrt(fan_in)
    return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * bound


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_v_init_scale(value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"v_init_scale must be >= 0, got {value}")


LAYER_ROLES = ("hidden", "readout")


class NSPLayer(nn.Module, ABC):
    """What the dense and conv NSP layers share: the weight ``w`` (an :class:`NSPWeight`),
    the optional dendritic weight ``v``, the bias, and the forward pass
    ``I = Wx + b``, or ``I = Wx + b + (Wx) * (Vx)`` when ``v`` is present.

    A subclass says how an input is projected (:meth:`project`) and where its
    output channels lie; it calls ``NSPLayer.__init__`` with its weight shape.

    :param weight_shape: shape of ``W`` (and ``V``), output channels first.
    :param fan_in: inputs per output unit, for the default init.
    :param bias: learn an additive bias.
    :param nsp: the :class:`NSPConfig` (default: NSP with lognormal ``a``).
    :param weight_scale: multiplies the default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` init.
    :param generator: random generator for the init.
    :param role: ``hidden`` (pruned, counted in the model's sparsity) or ``readout``
        (the output layer: not pruned and reported apart unless asked for). Default ``hidden``.
    :param constant_input_steps: the time steps one call stands for. A network whose
        input is the same at every step calls its first layer once, with one step's
        input, and gives it ``T`` here, so SynOps count that call T times. Default 1.
    """

    role: str
    constant_input_steps: int
    nsp: NSPConfig
    w: NSPWeight
    v: NSPWeight | None
    bias: nn.Parameter | None

    def __init__(
        self,
        weight_shape: tuple[int, ...],
        fan_in: int,
        bias: bool,
        nsp: NSPConfig | None,
        weight_scale: float,
        generator: torch.Generator | None,
        role: str = "hidden",
        constant_input_steps: int = 1,
    ) -> None:
        super().__init__()
        if role not in LAYER_ROLES:
            raise ValueError(f"unknown layer role {role!r}; accepted: {LAYER_ROLES}")
        self.role = role
        self.constant_input_steps = _check_positive_int(
            "constant_input_steps", constant_input_steps
        )
        self.nsp = nsp or NSPConfig()
        self.w = NSPWeight(
            _kaiming_uniform(weight_shape, fan_in, weight_scale, generator), self.nsp, generator
        )
        self.bias = (
            nn.Parameter(_kaiming_uniform((weight_shape[0],), fan_in, 1.0, generator))
            if bias
            else None
        )
        self.v = None
        self._stacked: tuple[torch.Tensor, torch.Tensor, tuple[int, int], torch.Tensor] | None = (
            None
        )

    def _init_v(self, v_init_scale: float, generator: torch.Generator | None) -> None:
        """Add the dendritic weight ``V``, shaped like ``W`` (``v_init_scale`` checked)."""
        shape = tuple(self.w.shape)
        # V starts small: the layer starts close to linear (docs/method.md, a project choice)
        self.v = NSPWeight(
            _kaiming_uniform(shape, math.prod(shape[1:]), v_init_scale, generator),
            self.nsp,
            generator,
        )

    def nsp_weights(self) -> list[NSPWeight]:
        """``[W]``, or ``[W, V]`` for a layer with the dendritic term."""
        return [self.w] if self.v is None else [self.w, self.v]

    @abstractmethod
    def project(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``x`` through the layer's linear map with ``weight`` in place of ``W``, no bias.

        ``weight`` may stack several tensors of ``W``'s shape on the output dim.
        """

    @abstractmethod
    def _channel_dim(self, x: torch.Tensor) -> int:
        """The output channels' dim of :meth:`project` for input ``x``."""

    def _bias(self) -> torch.Tensor | None:
        return self.bias

    def stacked_weight(self) -> torch.Tensor:
        """The effective ``W``, with the effective ``V`` stacked under it (output dim) in
        a layer with the dendritic term: the weight of :meth:`forward`'s one matmul.

        Without autograd it is reused while ``W`` and ``V`` are (see
        :meth:`NSPWeight.forward`); treat it as read-only.
        """
        w = self.w()
        if self.v is None:
            return w
        v = self.v()
        if (
            torch.is_grad_enabled()
            or torch.is_inference_mode_enabled()
            or not (self.w.reuse_effective and self.v.reuse_effective)
        ):
            return torch.cat([w, v])
        # NSPWeight returns the same tensor while its weight holds, but for a dense
        # weight that tensor is theta itself, which the optimiser changes in place:
        # the cache holds both tensors (so that their ids stay theirs) and their versions
        versions = (w._version, v._version)
        cached = self._stacked
        if cached is None or cached[0] is not w or cached[1] is not v or cached[2] != versions:
            cached = self._stacked = (w, v, versions, torch.cat([w, v]))
        return cached[3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self._bias()
        if self.v is None:
            wx = self.project(x, self.w())
            return wx if b is None else wx + b
        # W and V share the input: one matmul / convolution over the stacked weights
        # instead of two (same arithmetic per output element)
        y = self.project(x, self.stacked_weight())
        return stacked_ndi_current(y, self._channel_dim(x), b)


class NSPLinear(NSPLayer):
    """Dense layer ``y = W x + b`` whose ``W`` is an :class:`NSPWeight`.

    :param in_features: input size.
    :param out_features: output size.
    :param bias: learn an additive bias. Default True.
    :param nsp: the :class:`NSPConfig` (default: NSP with lognormal ``a``).
    :param weight_scale: multiplies the default ``U(-1/sqrt(in), 1/sqrt(in))`` init.
    :param generator: random generator for the init.
    :param role: ``hidden`` or ``readout``, as in :class:`NSPLayer`. Default ``hidden``.
    :param constant_input_steps: time steps one call stands for, as in :class:`NSPLayer`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        nsp: NSPConfig | None = None,
        weight_scale: float = 1.0,
        generator: torch.Generator | None = None,
        role: str = "hidden",
        constant_input_steps: int = 1,
    ) -> None:
        _check_positive_int("in_features", in_features)
        _check_positive_int("out_features", out_features)
        super().__init__(
            (out_features, in_features),
            in_features,
            bias,
            nsp,
            weight_scale,
            generator,
            role,
            constant_input_steps,
        )
        self.in_features = in_features
        self.out_features = out_features

    def project(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"{type(self).__name__} expects {self.in_features} input features, "
                f"got input of shape {tuple(x.shape)}"
            )
        return F.linear(x, weight)

    def _channel_dim(self, x: torch.Tensor) -> int:
        return -1


class NSPConv2d(NSPLayer):
    """2-D convolution whose kernel is an :class:`NSPWeight`.

    Accepts ``(N, C, H, W)`` and time-first ``(T, B, C, H, W)`` inputs.

    :param in_channels: input channels.
    :param out_channels: output channels.
    :param kernel_size: square kernel size.
    :param stride: stride. Default 1.
    :param padding: zero padding. Default 0.
    Other parameters as :class:`NSPLinear`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        nsp: NSPConfig | None = None,
        weight_scale: float = 1.0,
        generator: torch.Generator | None = None,
        role: str = "hidden",
        constant_input_steps: int = 1,
    ) -> None:
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("out_channels", out_channels)
        _check_positive_int("kernel_size", kernel_size)
        _check_positive_int("stride", stride)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an int >= 0, got {padding!r}")
        super().__init__(
            (out_channels, in_channels, kernel_size, kernel_size),
            in_channels * kernel_size * kernel_size,
            bias,
            nsp,
            weight_scale,
            generator,
            role,
            constant_input_steps,
        )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding

    def project(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        if x.dim() not in (4, 5) or x.shape[-3] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects (N, {self.in_channels}, H, W) or "
                f"(T, B, {self.in_channels}, H, W) input, got shape {tuple(x.shape)}"
            )
        if x.dim() == 5:
            t, b = x.shape[:2]
            y = F.conv2d(x.reshape(t * b, *x.shape[2:]), weight, None, self.stride, self.padding)
            return y.reshape(t, b, *y.shape[1:])
        return F.conv2d(x, weight, None, self.stride, self.padding)

    def _channel_dim(self, x: torch.Tensor) -> int:
        return x.dim() - 3

    def _bias(self) -> torch.Tensor | None:
        return None if self.bias is None else self.bias.reshape(-1, 1, 1)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )


class NDILinear(NSPLinear):
    """Dense layer with nonlinear dendritic integration: ``I = Wx + b + (Wx) * (Vx)``.

    :param ndi: include the dendritic product term (False gives :class:`NSPLinear`).
    :param v_init_scale: V's init relative to W's (small: starts near linear). Default 0.1.
    Other parameters as :class:`NSPLinear`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        ndi: bool = True,
        nsp: NSPConfig | None = None,
        v_init_scale: float = 0.1,
        weight_scale: float = 1.0,
        generator: torch.Generator | None = None,
        role: str = "hidden",
        constant_input_steps: int = 1,
    ) -> None:
        _check_v_init_scale(v_init_scale)
        super().__init__(
            in_features,
            out_features,
            bias,
            nsp,
            weight_scale,
            generator,
            role,
            constant_input_steps,
        )
        self.ndi = bool(ndi)
        if self.ndi:
            self._init_v(v_init_scale, generator)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, ndi={self.ndi}"


class NDIConv2d(NSPConv2d):
    """Convolution with nonlinear dendritic integration: two parallel convolutions of the
    same geometry, ``I = conv(x, W) + b + conv(x, W) * conv(x, V)``.

    :param ndi: include the dendritic product term (False gives :class:`NSPConv2d`).
    :param v_init_scale: V's init relative to W's. Default 0.1.
    Other parameters as :class:`NSPConv2d`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        ndi: bool = True,
        nsp: NSPConfig | None = None,
        v_init_scale: float = 0.1,
        weight_scale: float = 1.0,
        generator: torch.Generator | None = None,
        role: str = "hidden",
        constant_input_steps: int = 1,
    ) -> None:
        _check_v_init_scale(v_init_scale)
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            bias,
            nsp,
            weight_scale,
            generator,
            role,
            constant_input_steps,
        )
        self.ndi = bool(ndi)
        if self.ndi:
            self._init_v(v_init_scale, generator)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", ndi={self.ndi}"


def reuse_effective_weights(module: nn.Module, reuse: bool) -> int:
    """Whether the NSP weights inside ``module`` reuse their effective weight without
    autograd (the default) or compute it at every call.

    Reuse is keyed on the parameters' in-place version counters and storage. A write
    through ``.data`` changes neither: Stable-Baselines3's ``polyak_update`` updates
    DQN's and SAC's target networks that way, so a target network that reused its
    effective weights would keep those of its first call. Turn reuse off there.

    :return: the number of NSP weights set.
    :raises ValueError: for a ``module`` that is no ``nn.Module`` or a ``reuse`` that is
        no bool.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(reuse, bool):
        raise ValueError(f"reuse must be True or False, got {reuse!r}")
    weights = [m for m in module.modules() if isinstance(m, NSPWeight)]
    for weight in weights:
        weight.reuse_effective = reuse
        weight._cached = None
    return len(weights)
