"""SB3 callbacks that prune a spiking policy online with NSP."""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from nspdi_rl.pruning import Pruner, PruningDriver, PruningSchedule
from runtime.compat import pruning_callback_state_v1

__all__ = ["NSPPruningCallback"]


class NSPPruningCallback(BaseCallback):
    """Advances the NSP threshold schedule with training progress and logs the pruning.

    Progress is ``num_timesteps / total_timesteps``. The controller runs at the
    end of every rollout of an on-policy algorithm and every ``update_every``
    environment steps of an off-policy one (whose rollouts are a step or a few); at
    the end of training it lands on the final target and freezes the mask (silent
    synapses are removed for good). A
    :class:`~nspdi_rl.pruning.PruningDriver` does this, as in the task runners.

    Logged to the SB3 logger (TensorBoard / CSV) under ``nsp/``: the target,
    the global sparsity of the acting network and of every spiking network, each
    layer's connectivity, SynOps and energy per environment step.

    :param schedule: the pruning schedule (target sparsity or threshold), or its fields
        as a mapping (as RL Zoo's ``callback:`` hyperparameter passes them).
    :param total_timesteps: the run's full length (kept across ``--resume``).
    :param include_readout: prune the readout layers too. Default False.
    :param update_every: env steps between controller updates (and measurements) for
        off-policy algorithms. Default 256.
    :param freeze_at_end: freeze the final mask when training ends. Default True.
    :param freeze_when_reached: freeze the mask as soon as the schedule reaches its
        final value (progress >= ``schedule.end``) and train only the surviving
        synapses from then on. Default False (silent synapses may regrow until the end).
    """

    def __init__(
        self,
        schedule: PruningSchedule,
        total_timesteps: int,
        include_readout: bool = False,
        update_every: int = 256,
        freeze_at_end: bool = True,
        freeze_when_reached: bool = False,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if total_timesteps <= 0:
            raise ValueError(f"total_timesteps must be > 0, got {total_timesteps}")
        if update_every <= 0:
            raise ValueError(f"update_every must be > 0, got {update_every}")
        self.schedule = (
            schedule if isinstance(schedule, PruningSchedule) else PruningSchedule(**schedule)
        )
        self.total_timesteps = int(total_timesteps)
        self.include_readout = include_readout
        self.update_every = update_every
        self.freeze_at_end = freeze_at_end
        self.freeze_when_reached = freeze_when_reached
        self.driver: PruningDriver | None = None
        self._pending_state: dict[str, Any] | None = None
        self._last_update = 0

    def _init_callback(self) -> None:
        if not hasattr(self.model.policy, "spiking_networks"):
            raise ValueError(
                f"NSPPruningCallback needs a spiking policy, got {type(self.model.policy).__name__}"
            )
        self.driver = PruningDriver(
            self.model.policy,
            self.schedule,
            self.total_timesteps,
            freeze_mask="reached" if self.freeze_when_reached else "end",
            include_readout=self.include_readout,
        )
        # on-policy algorithms update at the end of each rollout; off-policy ones every step
        self._off_policy = not hasattr(self.model, "rollout_buffer")
        if self._pending_state is not None:
            self.driver.load_state_dict(self._pending_state)
        self.update()

    @property
    def pruner(self) -> Pruner | None:
        """The pruner of the policy (None until training starts)."""
        return None if self.driver is None else self.driver.pruner

    @property
    def progress(self) -> float:
        return min(1.0, self.num_timesteps / self.total_timesteps)

    def update(self) -> float:
        """Run the controller at the current progress; return its target."""
        assert self.driver is not None
        self._last_update = self.num_timesteps
        return self.driver.update(self.num_timesteps)

    def _on_step(self) -> bool:
        if self._off_policy and self.num_timesteps - self._last_update >= self.update_every:
            self._update_and_log()
        return True

    def _on_rollout_end(self) -> None:
        # an off-policy rollout is one step (SAC) or a few: the controller (a threshold
        # search over every pruned weight, ~0.12 ms) and the measurement (a forward pass
        # with SynOps hooks) at each would cost as much as a tenth of SAC's whole step;
        # they run every update_every steps instead (_on_step)
        if not self._off_policy:
            self._update_and_log()

    def _update_and_log(self) -> None:
        self.logger.record("nsp/target", self.update())
        self.log_metrics()

    def _on_training_end(self) -> None:
        assert self.driver is not None
        # learn() may be called in pieces: only the piece that completes the run ends it
        if (
            self.freeze_at_end
            and self.num_timesteps >= self.total_timesteps
            and not self.driver.frozen
        ):
            self.driver.finish()
            self.log_metrics()

    def log_metrics(self) -> dict[str, Any]:
        """Record sparsity, connectivity, SynOps and energy of the current policy."""
        obs = self._observation_batch()
        metrics = self.model.policy.measure(obs)
        self.logger.record("nsp/sparsity", metrics["sparsity"])
        for name, value in metrics["sparsity_per_network"].items():
            self.logger.record(f"nsp/sparsity_{name}", value)
        for name, value in metrics["connectivity_per_layer"].items():
            self.logger.record(f"nsp/connectivity/{name}", value)
        self.logger.record("nsp/synops_per_step", metrics["synops_per_step"])
        self.logger.record("nsp/energy_per_step_pj", metrics["energy_per_step_pj"])
        return metrics

    def _observation_batch(self) -> np.ndarray | dict[str, np.ndarray]:
        """The envs' latest observations as the policy saw them (normalised where the run
        normalises), or samples of the observation space before the first step."""
        last = getattr(self.model, "_last_obs", None)
        if isinstance(last, (np.ndarray, dict)):
            return last
        samples = [self.model.observation_space.sample() for _ in range(8)]
        if isinstance(samples[0], dict):
            return {k: np.stack([s[k] for s in samples]) for k in samples[0]}
        return np.stack(samples)

    def state_dict(self) -> dict[str, Any]:
        """What ``--resume`` needs: the driver's state (schedule position, whether the
        mask is frozen, the run's length in ``total_steps`` and its ``freeze_mask``)."""
        assert self.driver is not None
        return self.driver.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the position before training restarts (applied when the callback starts).

        Also reads the states written before :class:`~nspdi_rl.pruning.PruningDriver`
        (``total_timesteps`` in place of ``total_steps``, no ``freeze_mask``).

        :raises ValueError: when the state belongs to a run of another length.
        """
        state = pruning_callback_state_v1(state)  # earlier states (runtime.compat)
        saved = state.get("total_steps")
        if saved is None or int(saved) != self.total_timesteps:
            raise ValueError(
                f"saved run was {saved} timesteps long, this one {self.total_timesteps}"
            )
        self._pending_state = dict(state)
