"""Stable-Baselines3 agents whose policies are NDI spiking networks pruned online by NSP.

Importing this package registers the policies under the name
``"SpikingMlpPolicy"`` for PPO, A2C, DQN, SAC and sb3_contrib's TQC (so
``PPO("SpikingMlpPolicy", env)`` and RL Zoo hyperparameter files can name them) and
lets SB3 unpickle saved spiking models.
"""

from sb3_contrib import TQC
from stable_baselines3 import A2C, DQN, PPO, SAC

from agents.callbacks import NSPPruningCallback
from agents.policies import (
    SpikingActorCriticPolicy,
    SpikingDQNPolicy,
    SpikingSACPolicy,
    SpikingTQCPolicy,
)

for _algo, _policy in (
    (PPO, SpikingActorCriticPolicy),
    (A2C, SpikingActorCriticPolicy),
    (DQN, SpikingDQNPolicy),
    (SAC, SpikingSACPolicy),
    (TQC, SpikingTQCPolicy),
):
    _algo.policy_aliases["SpikingMlpPolicy"] = _policy

SpikingMlpPolicy = SpikingActorCriticPolicy

__all__ = [
    "NSPPruningCallback",
    "SpikingActorCriticPolicy",
    "SpikingDQNPolicy",
    "SpikingMlpPolicy",
    "SpikingSACPolicy",
    "SpikingTQCPolicy",
]
