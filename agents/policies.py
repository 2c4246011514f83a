"""SB3 policies whose networks are NDI spiking networks from :mod:`nspdi_rl`.

Every network runs T spiking steps per environment step from a fresh neuron
state (``SpikingNetwork`` is stateless per call), and its leaky-integrator
readout produces the policy's output directly: action logits or Gaussian
means (PPO / A2C), Q-values (DQN), the latent of the squashed Gaussian and the
Q-value (SAC). Pass the network's settings as ``policy_kwargs=dict(spiking=...)``:
a :class:`SpikingOptions`, or a mapping of any :class:`~nspdi_rl.network.SpikingNetConfig`
field except ``input_shape`` and ``n_outputs`` (``nsp`` and ``lif`` as mappings).

- :class:`SpikingActorCriticPolicy` (alias ``"SpikingMlpPolicy"`` for PPO and A2C)
- :class:`SpikingDQNPolicy` (alias ``"SpikingMlpPolicy"`` for DQN)
- :class:`SpikingSACPolicy` (alias ``"SpikingMlpPolicy"`` for SAC)
- :class:`SpikingTQCPolicy` (alias ``"SpikingMlpPolicy"`` for sb3_contrib's TQC)

Each has ``spiking_networks()`` (every spiking network by name),
``actor_network()`` (the one that acts) and ``measure(observations)``
(sparsity, connectivity, SynOps and energy per environment step).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib.tqc.policies import Actor as TQCActor
from sb3_contrib.tqc.policies import TQCPolicy
from stable_baselines3.common.policies import ActorCriticPolicy, ContinuousCritic
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    create_mlp,
)
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from stable_baselines3.sac.policies import Actor, SACPolicy
from torch import nn

from nspdi_rl.inference import forward_together
from nspdi_rl.layers import reuse_effective_weights
from nspdi_rl.metrics import SynOpsCounter, connectivity_per_layer, sparsity
from nspdi_rl.network import Encoder, SpikingNetConfig, SpikingNetwork, build_network

__all__ = [
    "DEFAULT_SPIKING",
    "PopulationFeatures",
    "CRITICS",
    "SpikingActorCriticPolicy",
    "SpikingDQNPolicy",
    "SpikingOptions",
    "SpikingSACPolicy",
    "SpikingTQCPolicy",
    "input_bounds",
    "spiking_config",
]

# One place for the agents' network defaults (the SpikingNetConfig defaults otherwise):
# population coding gives each observed value several receptive fields, which
# separates nearby positions far better than one direct current does, and a
# softer surrogate (alpha 20 instead of Norse's 100) passes gradient to more neurons.
DEFAULT_SPIKING: dict[str, Any] = {
    "hidden": (128,),
    "time_steps": 8,
    "encoder": "population",
    "population_size": 12,
    "lif": {"alpha": 20.0},
}


#: the critics a spiking actor learns with: ``spiking``, a network like the actor's and
#: pruned with it, or ``mlp``, SB3's MLP on the same features: a training aid that the
#: agent leaves behind (PopSAN's deep critic), so that only the actor is spiking and
#: pruned
CRITICS = ("spiking", "mlp")


def _check_critic(critic: Any) -> str:
    if critic not in CRITICS:
        raise ValueError(f"unknown critic {critic!r}; accepted: {list(CRITICS)}")
    return str(critic)


def input_bounds(*input_spaces: spaces.Space) -> tuple[float, float] | None:
    """The smallest and largest value the concatenated Box spaces can take (None if
    unbounded); a Dict space counts as its Boxes."""
    flat: list[spaces.Space] = []
    for space in input_spaces:
        flat += list(space.spaces.values()) if isinstance(space, spaces.Dict) else [space]
    lows, highs = [], []
    for space in flat:
        if not isinstance(space, spaces.Box):
            return None
        lows.append(float(np.min(space.low)))
        highs.append(float(np.max(space.high)))
    low, high = min(lows), max(highs)
    return (low, high) if np.isfinite(low) and np.isfinite(high) and low < high else None


@dataclass(frozen=True, eq=False)
class SpikingOptions:
    """The options of a spiking policy's networks, checked once, when made.

    Any :class:`~nspdi_rl.network.SpikingNetConfig` field except ``input_shape`` and
    ``n_outputs``, which the policy sets from its spaces (``nsp`` and ``lif`` as
    mappings of their fields), over :data:`DEFAULT_SPIKING`. :attr:`network` is the
    config they describe, with one input and one output standing in for the sizes;
    :meth:`config` gives a network's own. The ``rate`` and ``population`` encoders take
    their value range from the observation space unless ``input_low`` / ``input_high``
    are given.

    :param given: the options as written: a run records them so (:meth:`to_dict`),
        and a trial's identity hashes that record.
    :raises ValueError: naming the option that is unknown, set by the spaces, or out
        of range.
    """

    given: dict[str, Any] = field(default_factory=dict)
    network: SpikingNetConfig = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.given, dict):
            raise ValueError(f"the spiking options must be a mapping, got {self.given!r}")
        for key in ("input_shape", "n_outputs"):
            if key in self.given:
                raise ValueError(
                    f"spiking option {key!r} is set by the policy from the spaces; remove it"
                )
        known = {f.name for f in fields(SpikingNetConfig)} - {"input_shape", "n_outputs"}
        unknown = sorted(set(self.given) - known)
        if unknown:
            raise ValueError(f"unknown spiking option {unknown[0]!r}; accepted: {sorted(known)}")
        if self.given.get("conv_channels"):
            raise ValueError("spiking option 'conv_channels': the policies' networks are dense")
        stand_in = {"input_shape": (1,), "n_outputs": 1}
        network = SpikingNetConfig.from_dict({**stand_in, **DEFAULT_SPIKING, **self.given})
        object.__setattr__(self, "network", network)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpikingOptions) and self.given == other.given

    __hash__ = None  # type: ignore[assignment]  # as the mapping it holds

    @classmethod
    def of(cls, value: SpikingOptions | dict[str, Any] | None) -> SpikingOptions:
        """``value`` as options: a mapping (or None, the defaults) is checked."""
        return value if isinstance(value, SpikingOptions) else cls(dict(value or {}))

    @property
    def input_range(self) -> tuple[float, float] | None:
        """The encoders' value range where the options set one (else the space's)."""
        if "input_low" not in self.given:
            return None
        return self.network.input_low, self.network.input_high

    def config(
        self, n_inputs: int, n_outputs: int, bounds: tuple[float, float] | None = None
    ) -> SpikingNetConfig:
        """The config of one network with ``n_inputs`` inputs and ``n_outputs`` outputs.

        :param bounds: the input's value range, used by the ``rate`` and ``population``
            encoders unless the options set ``input_low`` / ``input_high``.
        :raises ValueError: when such an encoder is left without a range.
        """
        sizes: dict[str, Any] = {"input_shape": (n_inputs,), "n_outputs": n_outputs}
        encoder = self.network.encoder
        if encoder in ("rate", "population") and self.input_range is None:
            if bounds is None:
                raise ValueError(
                    f"the {encoder!r} encoder needs bounded inputs: this space is "
                    "unbounded, so set spiking input_low / input_high or use encoder='direct'"
                )
            sizes["input_low"], sizes["input_high"] = bounds
        return replace(self.network, **sizes)

    def to_dict(self) -> dict[str, Any]:
        """The options as given (a copy)."""
        return copy.deepcopy(self.given)


def spiking_config(
    n_inputs: int,
    n_outputs: int,
    spiking: SpikingOptions | dict[str, Any] | None,
    bounds: tuple[float, float] | None = None,
) -> SpikingNetConfig:
    """The network config for one policy network from the ``spiking`` options
    (:meth:`SpikingOptions.config`)."""
    return SpikingOptions.of(spiking).config(n_inputs, n_outputs, bounds)


class PopulationFeatures(BaseFeaturesExtractor):
    """SB3's MLP policies fed the spiking policies' input code: the observation (a Dict's
    Boxes flattened and joined in key order, as ``CombinedExtractor`` and the spiking
    policies join them) with ``size`` Gaussian receptive fields per value over
    ``[low, high]`` (:class:`nspdi_rl.network.Encoder`'s population code).

    :param size: receptive fields per value (>= 2).
    :param low, high: the range the fields cover (``low < high``).
    """

    def __init__(self, observation_space: spaces.Space, size: int, low: float, high: float):
        boxes = (
            list(observation_space.spaces.values())
            if isinstance(observation_space, spaces.Dict)
            else [observation_space]
        )
        if not all(isinstance(box, spaces.Box) for box in boxes):
            raise ValueError(f"population coding takes Box observations, got {observation_space}")
        n_values = sum(int(np.prod(box.shape)) for box in boxes)
        super().__init__(observation_space, n_values * size)
        self.encoder = Encoder("population", 1, low, high, size)
        self.keys = (
            list(observation_space.spaces) if isinstance(observation_space, spaces.Dict) else None
        )

    def forward(self, observations: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        if isinstance(observations, dict):
            assert self.keys is not None
            x = torch.cat([observations[k].flatten(1) for k in self.keys], dim=1)
        else:
            x = observations.flatten(1)
        return self.encoder.encode_static(x)


def _action_dim(space: spaces.Space) -> int:
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    if isinstance(space, spaces.MultiBinary):
        return int(np.prod(space.shape))
    raise ValueError(
        f"unsupported action space {space}; accepted: Discrete, Box, MultiDiscrete, MultiBinary"
    )


class _SpikingOptions:
    """Keeps the ``spiking`` options of an SB3 policy or network, and saves them with it.

    They are set before SB3's constructor runs, because that constructor builds
    the networks.
    """

    def __init__(
        self, *args: Any, spiking: SpikingOptions | dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        self.spiking = SpikingOptions.of(spiking)
        super().__init__(*args, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data["spiking"] = self.spiking.to_dict()  # saved as a mapping: any version reads it
        return data


class _SpikingMixin(_SpikingOptions):
    """What every spiking policy shares: Dict observations read as their Boxes
    concatenated in key order (SB3's ``CombinedExtractor``, as its ``MultiInputPolicy``
    does), and the metrics."""

    def __init__(self, observation_space: spaces.Space, *args: Any, **kwargs: Any) -> None:
        if isinstance(observation_space, spaces.Dict):
            kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, *args, **kwargs)

    def spiking_networks(self) -> dict[str, SpikingNetwork]:
        raise NotImplementedError

    def actor_network(self) -> SpikingNetwork:
        raise NotImplementedError

    def _actor_input(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def measure(self, observations: np.ndarray) -> dict[str, Any]:
        """Sparsity and connectivity of the acting network, and its SynOps and energy per
        environment step averaged over ``observations`` (a batch of observations)."""
        obs_tensor, _ = self.obs_to_tensor(observations)  # type: ignore[attr-defined]
        net = self.actor_network()
        with SynOpsCounter(net) as counter:
            net(self._actor_input(obs_tensor))
        networks = self.spiking_networks()
        return {
            "sparsity": sparsity(net),
            "connectivity_per_layer": connectivity_per_layer(net),
            "synops_per_step": counter.synops_per_sample,
            "energy_per_step_pj": counter.energy_per_sample_pj,
            "sparsity_per_network": {name: sparsity(n) for name, n in networks.items()},
        }


class SpikingActorCriticExtractor(nn.Module):
    """The networks in SB3's ``mlp_extractor`` slot: a spiking actor whose output is the
    action logits / means (``latent_dim_pi`` = action dim), and a critic whose output is
    the value (``latent_dim_vf`` = 1): spiking, or SB3's MLP (``critic="mlp"``: hidden
    widths ``vf_arch``, tanh, as SB3's own value network)."""

    def __init__(
        self,
        features_dim: int,
        action_dim: int,
        spiking: SpikingOptions | dict[str, Any] | None,
        bounds: tuple[float, float] | None = None,
        critic: str = "spiking",
        vf_arch: tuple[int, ...] = (64, 64),
    ) -> None:
        super().__init__()
        self.latent_dim_pi = action_dim
        self.latent_dim_vf = 1
        options = SpikingOptions.of(spiking)
        self.policy_net = build_network(options.config(features_dim, action_dim, bounds))
        self.value_net: nn.Module
        if _check_critic(critic) == "mlp":
            self.value_net = nn.Sequential(*create_mlp(features_dim, 1, list(vf_arch), nn.Tanh))
        else:
            self.value_net = build_network(options.config(features_dim, 1, bounds))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if torch.is_grad_enabled() or not isinstance(self.value_net, SpikingNetwork):
            # training: two separate calls measured faster (the shared loop's concatenated
            # backward costs more than the second loop saves)
            return self.forward_actor(features), self.forward_critic(features)
        # rollouts: actor and critic share each LIF time loop, exactly as two calls
        # would compute them (about 20 % faster per call here)
        latent_pi, latent_vf = forward_together([self.policy_net, self.value_net], features)
        return latent_pi, latent_vf

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.policy_net(features)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.value_net(features)


class SpikingActorCriticPolicy(_SpikingMixin, ActorCriticPolicy):
    """Actor-critic policy (PPO, A2C) with a spiking NDI actor and a spiking or MLP
    critic.

    :param spiking: :class:`~nspdi_rl.network.SpikingNetConfig` fields for the spiking
        networks.
    :param critic: one of :data:`CRITICS`; ``mlp`` is SB3's value network (``net_arch``'s
        ``vf`` widths, default 64-64 tanh, SB3's orthogonal init) on the same features,
        and only the actor is spiking and pruned.
    Other parameters as SB3's ``ActorCriticPolicy`` (the actor's ``net_arch`` and
    ``activation_fn`` are unused: the spiking network is set by ``spiking``).
    """

    def __init__(self, *args: Any, critic: str = "spiking", **kwargs: Any) -> None:
        self.critic_kind = _check_critic(critic)
        # SB3's orthogonal init targets nn.Linear; NSP layers keep their own init
        kwargs.setdefault("ortho_init", False)
        super().__init__(*args, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["critic"] = self.critic_kind
        return data

    def _build_mlp_extractor(self) -> None:
        arch = self.net_arch
        vf = arch.get("vf", [64, 64]) if isinstance(arch, dict) else list(arch or [64, 64])
        self.mlp_extractor = SpikingActorCriticExtractor(
            self.features_dim,
            _action_dim(self.action_space),
            self.spiking,
            input_bounds(self.observation_space),
            critic=self.critic_kind,
            vf_arch=tuple(vf),
        )

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        # the readouts already give logits / means and the value
        self.action_net = nn.Identity()
        self.value_net = nn.Identity()
        if self.critic_kind == "mlp":  # SB3's init of its value network
            layers = [m for m in self.mlp_extractor.value_net if isinstance(m, nn.Linear)]
            for layer in layers:
                self.init_weights(layer, gain=1.0 if layer is layers[-1] else np.sqrt(2))
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def spiking_networks(self) -> dict[str, SpikingNetwork]:
        nets = {"actor": self.mlp_extractor.policy_net}
        if isinstance(self.mlp_extractor.value_net, SpikingNetwork):
            nets["critic"] = self.mlp_extractor.value_net
        return nets

    def actor_network(self) -> SpikingNetwork:
        return self.mlp_extractor.policy_net

    def _actor_input(self, obs: torch.Tensor) -> torch.Tensor:
        features = self.extract_features(obs, self.pi_features_extractor)
        assert isinstance(features, torch.Tensor)
        return features


class SpikingQNetwork(_SpikingOptions, QNetwork):
    """DQN's Q-network as a spiking NDI network (one Q-value per action from the readout)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.q_net = build_network(
            self.spiking.config(
                self.features_dim,
                _action_dim(self.action_space),
                input_bounds(self.observation_space),
            )
        )


class SpikingDQNPolicy(_SpikingMixin, DQNPolicy):
    """DQN policy whose online and target Q-networks are spiking NDI networks.

    :param spiking: :class:`~nspdi_rl.network.SpikingNetConfig` fields.
    """

    def make_q_net(self) -> SpikingQNetwork:
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return SpikingQNetwork(spiking=self.spiking, **net_args).to(self.device)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        # SB3 updates the target through .data, which the weights' reuse cannot see
        reuse_effective_weights(self.q_net_target, False)

    def spiking_networks(self) -> dict[str, SpikingNetwork]:
        return {"q_net": self.q_net.q_net, "q_net_target": self.q_net_target.q_net}  # type: ignore[dict-item]

    def actor_network(self) -> SpikingNetwork:
        return self.q_net.q_net  # type: ignore[return-value]

    def _actor_input(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q_net.extract_features(obs, self.q_net.features_extractor)  # type: ignore[return-value]


class _SpikingLatentActor(_SpikingOptions):
    """A squashed-Gaussian actor (SAC's, and TQC's, which is the same) whose latent is a
    spiking NDI network's readout; the Gaussian heads stay linear (they are SAC's
    squashing parameterisation, reported apart like readouts)."""

    features_dim: int
    net_arch: list[int]
    observation_space: spaces.Space

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        latent_dim = self.net_arch[-1] if self.net_arch else self.features_dim
        self.latent_pi = build_network(
            self.spiking.config(self.features_dim, latent_dim, input_bounds(self.observation_space))
        )


class SpikingSACActor(_SpikingLatentActor, Actor):
    """SAC's actor with a spiking latent."""


class SpikingTQCActor(_SpikingLatentActor, TQCActor):
    """TQC's actor with a spiking latent."""


class _ActionGradientCritic(ContinuousCritic):
    """SAC's critics, computing no parameter gradients for the actor's loss.

    SAC calls the critics twice with gradients on: on the replay actions for their own
    loss, and on the actor's actions (which carry gradients) for the actor's loss,
    whose gradient SB3 then also takes with respect to every critic weight, only to
    clear it before the critics' next step. In that second call the weights are held
    without gradients here, so the backward pass forms the actions' gradient alone:
    the same updates, one weight-gradient matmul fewer per critic layer.
    """

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if not (torch.is_grad_enabled() and actions.requires_grad):
            return self.critic_forward(obs, actions)
        held = [p for p in self.parameters() if p.requires_grad]
        try:
            for p in held:
                p.requires_grad_(False)
            return self.critic_forward(obs, actions)
        finally:
            for p in held:
                p.requires_grad_(True)

    def critic_forward(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The Q-values (SB3's ``ContinuousCritic.forward``)."""
        return super().forward(obs, actions)


class SpikingContinuousCritic(_SpikingOptions, _ActionGradientCritic):
    """SAC's Q-networks as spiking NDI networks over ``(features, action)``.

    SAC hands the critics actions in ``[-1, 1]`` (SB3 rescales them from the action
    space). They are mapped onto the encoder's whole input range, which the
    observations set: the action then has as many receptive fields as an
    observation, not the few of ``[-1, 1]`` inside, say, ``[-5, 5]``.
    """

    def __init__(self, *args: Any, features_dim: int, **kwargs: Any) -> None:
        super().__init__(*args, features_dim=features_dim, **kwargs)
        action_dim = _action_dim(self.action_space)
        bounds = input_bounds(self.observation_space, self.action_space)
        self.q_networks = []
        for idx in range(self.n_critics):
            q_net = build_network(self.spiking.config(features_dim + action_dim, 1, bounds))
            self.add_module(f"qf{idx}", q_net)  # replaces SB3's MLP of the same name
            self.q_networks.append(q_net)
        config = self.q_networks[0].config
        if config.encoder in ("rate", "population"):
            low, high = config.input_low, config.input_high
            self.action_scale, self.action_offset = (high - low) / 2, (high + low) / 2
        else:  # direct currents: the actions as they are
            self.action_scale, self.action_offset = 1.0, 0.0
        self.action_range = (
            (config.input_low, config.input_high)
            if config.encoder in ("rate", "population")
            else None
        )

    def encoded_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Actions in ``[-1, 1]`` on the encoder's input range (the clamp absorbs the
        float32 rounding at the ends only: SAC's actions never leave ``[-1, 1]``)."""
        mapped = actions * self.action_scale + self.action_offset
        return mapped if self.action_range is None else mapped.clamp(*self.action_range)

    def critic_forward(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # SB3's ContinuousCritic.forward, but the critics share one call without autograd
        # (the target critics): the same Q-values as separate calls
        with torch.set_grad_enabled(not self.share_features_extractor):
            features = self.extract_features(obs, self.features_extractor)
        q_input = torch.cat([features, self.encoded_actions(actions)], dim=1)
        if torch.is_grad_enabled():
            return tuple(q_net(q_input) for q_net in self.q_networks)
        return tuple(forward_together(self.q_networks, q_input))  # type: ignore[arg-type]


#: SAC's critics: ``spiking`` (NDI networks, pruned with the actor) or ``mlp`` (SB3's
#: MLP critics, as PopSAN trains its spiking actor: the critics only serve training,
#: while the actor is what runs after it)


class _SpikingLatentActorPolicy(_SpikingMixin):
    """The acting network of a policy whose actor is a :class:`_SpikingLatentActor`."""

    actor: Any

    def actor_network(self) -> SpikingNetwork:
        return self.actor.latent_pi

    def _actor_input(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor.extract_features(obs, self.actor.features_extractor)


class SpikingSACPolicy(_SpikingLatentActorPolicy, SACPolicy):
    """SAC policy with a spiking actor latent, and spiking or MLP critics.

    :param spiking: :class:`~nspdi_rl.network.SpikingNetConfig` fields for every spiking
        network.
    :param critic: one of :data:`CRITICS`; ``mlp`` uses SB3's critics (``net_arch``)
        on the same features, and only the actor is spiking and pruned.
    """

    def __init__(self, *args: Any, critic: str = "spiking", **kwargs: Any) -> None:
        self.critic_kind = _check_critic(critic)
        super().__init__(*args, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["critic"] = self.critic_kind
        return data

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        # SB3 updates the target critics through .data, which the weights' reuse
        # cannot see
        reuse_effective_weights(self.critic_target, False)

    def make_actor(self, features_extractor: Any = None) -> SpikingSACActor:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return SpikingSACActor(spiking=self.spiking, **actor_kwargs).to(self.device)

    def make_critic(self, features_extractor: Any = None) -> ContinuousCritic:
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        if self.critic_kind == "mlp":  # SB3's MLP critics
            return _ActionGradientCritic(**critic_kwargs).to(self.device)
        return SpikingContinuousCritic(spiking=self.spiking, **critic_kwargs).to(self.device)

    def spiking_networks(self) -> dict[str, SpikingNetwork]:
        nets: dict[str, SpikingNetwork] = {"actor": self.actor_network()}
        if self.critic_kind == "mlp":
            return nets
        for i, q in enumerate(self.critic.q_networks):
            nets[f"critic{i}"] = q  # type: ignore[assignment]
        for i, q in enumerate(self.critic_target.q_networks):
            nets[f"critic_target{i}"] = q  # type: ignore[assignment]
        return nets


class SpikingTQCPolicy(_SpikingLatentActorPolicy, TQCPolicy):
    """TQC policy (sb3_contrib: SAC with truncated mixtures of quantile critics) with a
    spiking actor latent and TQC's own MLP quantile critics: the actor alone is spiking
    and pruned, as SAC's with ``critic="mlp"``.

    :param spiking: the spiking actor's options (:class:`SpikingOptions` or a mapping).
    """

    def make_actor(self, features_extractor: Any = None) -> SpikingTQCActor:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return SpikingTQCActor(spiking=self.spiking, **actor_kwargs).to(self.device)

    def spiking_networks(self) -> dict[str, SpikingNetwork]:
        return {"actor": self.actor_network()}
