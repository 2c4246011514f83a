"""Spiking SB3 policies: native plug-in, fresh neuron state per call, metrics, save / load."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import TQC
from stable_baselines3 import A2C, DQN, PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback

import agents
import envs  # noqa: F401
from agents.policies import DEFAULT_SPIKING, SpikingOptions, input_bounds, spiking_config
from nspdi_rl.network import SpikingNetwork
from nspdi_rl.pruning import PruningSchedule


def small():
    # a fresh dict each time: SB3 adds keys to the policy_kwargs it is given
    return {"spiking": {"hidden": (32,), "time_steps": 4}}


def grid():
    return gym.make("nspdi/GridMaze-v0", obs_mode="full")


@pytest.mark.parametrize(
    "algo, env_id, kwargs",
    [
        (PPO, "nspdi/GridMaze-v0", {"n_steps": 32, "batch_size": 32}),
        (A2C, "nspdi/GridMaze-v0", {"n_steps": 8}),
        (PPO, "nspdi/PointMaze-v0", {"n_steps": 32, "batch_size": 32}),
        (DQN, "nspdi/GridMaze-v0", {"learning_starts": 16, "batch_size": 16}),
        (SAC, "nspdi/PointMaze-v0", {"learning_starts": 16, "batch_size": 16}),
        (TQC, "nspdi/PointMaze-v0", {"learning_starts": 16, "batch_size": 16}),
    ],
)
def test_policies_train_save_and_load_by_alias(algo, env_id, kwargs, tmp_path):
    env = gym.make(env_id)
    model = algo("SpikingMlpPolicy", env, seed=0, policy_kwargs=small(), **kwargs)
    assert isinstance(
        model.policy,
        (
            agents.SpikingActorCriticPolicy,
            agents.SpikingDQNPolicy,
            agents.SpikingSACPolicy,
            agents.SpikingTQCPolicy,
        ),
    )
    model.learn(64)
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(np.asarray(action, dtype=env.action_space.dtype))
    model.save(tmp_path / "m.zip")
    loaded = algo.load(tmp_path / "m.zip")
    assert type(loaded.policy) is type(model.policy)
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0], action)
    for net in loaded.policy.spiking_networks().values():
        assert isinstance(net, SpikingNetwork) and net.config.time_steps == 4


def test_actor_critic_outputs_come_from_the_spiking_readouts():
    model = PPO("SpikingMlpPolicy", grid(), policy_kwargs=small(), n_steps=16)
    policy = model.policy
    assert isinstance(policy.action_net, torch.nn.Identity)
    assert policy.actor_network().config.n_outputs == 4
    assert policy.mlp_extractor.value_net.config.n_outputs == 1


def test_neuron_state_is_reset_on_every_call():
    model = PPO("SpikingMlpPolicy", grid(), policy_kwargs=small(), n_steps=16, seed=0)
    obs = np.stack([grid().reset(seed=s)[0] for s in range(3)])
    t = model.policy.obs_to_tensor(obs)[0]
    with torch.no_grad():
        first = model.policy.get_distribution(t).distribution.probs
        model.policy.get_distribution(torch.rand_like(t))  # something else in between
        again = model.policy.get_distribution(t).distribution.probs
    assert torch.equal(first, again)
    for net in model.policy.spiking_networks().values():
        assert not net.stateful


def test_measure_reports_sparsity_synops_and_energy():
    model = PPO("SpikingMlpPolicy", grid(), policy_kwargs=small(), n_steps=16, seed=0)
    obs = np.stack([grid().reset(seed=s)[0] for s in range(5)])
    m = model.policy.measure(obs)
    assert m["sparsity"] == 0.0
    assert set(m["connectivity_per_layer"]) == {"layers.0", "readout"}
    assert set(m["sparsity_per_network"]) == {"actor", "critic"}
    # counted again from docs/method.md's definition on the actor's own inputs and spikes:
    # the population code is no spike train, so the first layer's W and V cost one MAC
    # per non-zero input and hidden neuron at each of the T steps, the NDI product one MAC
    # per hidden neuron and step; the readout gets spikes, one AC per spike and output
    net = model.policy.actor_network()
    x = torch.as_tensor(obs, dtype=torch.float32)
    with torch.no_grad():
        code, spikes = net.encode(x), net.forward_hidden(x)
    steps, hidden, outputs = net.config.time_steps, 32, net.config.n_outputs
    assert not ((code == 0) | (code == 1)).all()
    macs = (float((code != 0).sum()) * hidden * 2) / len(obs) + steps * hidden
    acs = float((spikes != 0).sum()) * outputs / len(obs)
    assert acs > 0
    assert m["synops_per_step"] == pytest.approx(macs + acs)
    assert m["energy_per_step_pj"] == pytest.approx(4.6 * macs + 0.9 * acs)


def test_pruning_callback_follows_the_schedule_and_freezes():
    model = PPO(
        "SpikingMlpPolicy", grid(), policy_kwargs=small(), n_steps=32, batch_size=32, seed=0
    )
    cb = agents.NSPPruningCallback(PruningSchedule(final=0.8, end=0.5), total_timesteps=128)
    model.learn(128, callback=cb)
    assert cb.pruner.frozen
    m = model.policy.measure(grid().reset(seed=0)[0][None])
    assert all(abs(v - 0.8) < 0.005 for v in m["sparsity_per_network"].values())
    # the figures the callback logged at the end of training (after the last dump)
    values = model.logger.name_to_value
    assert values["nsp/sparsity"] == m["sparsity"]
    assert values["nsp/connectivity/readout"] == m["connectivity_per_layer"]["readout"] == 1.0


def test_pruning_callback_resumes_from_a_state_saved_before_the_driver():
    """Earlier maze runs' state.json: ``total_timesteps`` and no ``freeze_mask``."""
    schedule = PruningSchedule(final=0.8, end=0.5)
    old = {
        "schedule": schedule.to_dict(),
        "progress": 0.75,
        "frozen": True,
        "include_readout": False,
        "total_timesteps": 128,
    }
    with pytest.raises(ValueError, match="saved run was 128 timesteps long, this one 256"):
        agents.NSPPruningCallback(schedule, total_timesteps=256).load_state_dict(old)
    cb = agents.NSPPruningCallback(schedule, total_timesteps=128)
    cb.load_state_dict(old)
    model = PPO(
        "SpikingMlpPolicy", grid(), policy_kwargs=small(), n_steps=32, batch_size=32, seed=0
    )
    model.learn(32, callback=cb)
    assert cb.pruner is not None and cb.pruner.frozen
    assert all(w.frozen_mask is not None for w in cb.pruner.weights)
    state = cb.state_dict()
    assert state["progress"] == 0.75 and state["total_steps"] == 128
    assert state["freeze_mask"] == "end" and "total_timesteps" not in state


def test_population_input_range_comes_from_the_observation_space():
    model = PPO(
        "SpikingMlpPolicy", gym.make("nspdi/PointMaze-v0"), policy_kwargs=small(), n_steps=16
    )
    cfg = model.policy.actor_network().config
    space = model.observation_space
    assert cfg.encoder == "population"
    assert (cfg.input_low, cfg.input_high) == (float(space.low.min()), float(space.high.max()))
    assert input_bounds(gym.spaces.Box(-np.inf, np.inf, (3,))) is None
    with pytest.raises(ValueError, match="needs bounded inputs"):
        spiking_config(3, 2, {}, bounds=None)
    direct = spiking_config(3, 2, {"encoder": "direct"}, bounds=None)
    assert direct.encoder == "direct"


def test_spiking_options_are_checked_once_and_recorded_as_given():
    given = {"hidden": [64], "nsp": {"method": "magnitude"}, "lif": {"alpha": 5.0}}
    options = SpikingOptions(given)
    # typed, over the defaults (a lif mapping replaces DEFAULT_SPIKING's as a whole)
    assert options.network.hidden == (64,) and options.network.nsp.method == "magnitude"
    assert options.network.lif.alpha == 5.0
    assert options.network.time_steps == DEFAULT_SPIKING["time_steps"]
    assert options.to_dict() == given and options.to_dict() is not given
    assert options == SpikingOptions.of(given) and SpikingOptions.of(options) is options
    assert SpikingOptions.of(None) == SpikingOptions()
    # each network's config: the sizes from the spaces, the range from them unless given
    config = options.config(5, 2, bounds=(-1.0, 3.0))
    assert (config.input_shape, config.n_outputs) == ((5,), 2)
    assert (config.input_low, config.input_high) == (-1.0, 3.0)
    assert options.input_range is None
    ranged = SpikingOptions({"input_low": -2.0, "input_high": 2.0})
    assert ranged.input_range == (-2.0, 2.0)
    assert (ranged.config(5, 2, bounds=(0.0, 1.0)).input_low, ranged.input_range[1]) == (-2.0, 2.0)
    # bad options are refused when made, naming the option
    for bad, message in [
        ({"hiden": [8]}, "unknown spiking option 'hiden'"),
        ({"input_shape": (3,)}, "'input_shape' is set by the policy"),
        ({"conv_channels": (8,)}, "'conv_channels': the policies' networks are dense"),
        ({"hidden": (0,)}, "layer sizes must be positive"),
        ({"nsp": {"method": "nope"}}, "nope"),
    ]:
        with pytest.raises(ValueError, match=message):
            SpikingOptions(bad)
    with pytest.raises(ValueError, match="must be a mapping"):
        SpikingOptions([("hidden", 8)])  # type: ignore[arg-type]


def test_sac_critics_see_actions_across_the_whole_encoder_range():
    """SAC's actions lie in [-1, 1]; the point maze's observations span [-2, 5]: the
    critics encode the actions on [-2, 5] too, ends to ends."""
    model = SAC("SpikingMlpPolicy", gym.make("nspdi/PointMaze-v0"), policy_kwargs=small())
    critic = model.policy.critic
    low, high = critic.q_networks[0].config.input_low, critic.q_networks[0].config.input_high
    assert (low, high) == (-2.0, 5.0)
    actions = torch.tensor([[-1.0, 1.0], [0.0, 0.5]])
    mapped = critic.encoded_actions(actions)
    assert mapped.tolist() == [[low, high], [1.5, 3.25]]
    obs = torch.as_tensor(model.observation_space.sample())[None].repeat(2, 1)
    q_by_forward = critic(obs, actions)[0]
    q_by_hand = critic.q_networks[0](torch.cat([obs, mapped], dim=1))
    assert torch.equal(q_by_forward, q_by_hand)


def test_sac_with_mlp_critics_prunes_and_saves_the_spiking_actor_only(tmp_path):
    """critic="mlp": SB3's critics beside the spiking actor; the option is saved with
    the model, and only the actor counts as a spiking network (pruned, measured)."""
    from stable_baselines3.sac.policies import ContinuousCritic

    kwargs = {**small(), "critic": "mlp"}
    env = gym.make("nspdi/PointMaze-v0")
    model = SAC("SpikingMlpPolicy", env, seed=0, policy_kwargs=kwargs, learning_starts=16,
                batch_size=16)  # fmt: skip
    critic = model.policy.critic
    # SB3's critic and its MLPs (only the actor loss's gradients differ: see the test below)
    assert isinstance(critic, ContinuousCritic) and type(critic.qf0) is torch.nn.Sequential
    assert list(model.policy.spiking_networks()) == ["actor"]
    model.learn(64, callback=agents.NSPPruningCallback(PruningSchedule(final=0.5, end=0.5), 64))
    assert model.policy.measure(np.stack([env.observation_space.sample()]))["sparsity"] > 0.4
    model.save(tmp_path / "m.zip")
    loaded = SAC.load(tmp_path / "m.zip")
    assert loaded.policy.critic_kind == "mlp"
    assert (
        type(loaded.policy.critic) is type(critic)
        and type(loaded.policy.critic.qf0) is torch.nn.Sequential
    )
    with pytest.raises(ValueError, match="unknown critic 'ann'; accepted"):
        SAC("SpikingMlpPolicy", env, policy_kwargs={**small(), "critic": "ann"})


@pytest.mark.parametrize("algo", [PPO, A2C])
def test_actor_critic_with_an_mlp_critic_prunes_and_saves_the_spiking_actor_only(algo, tmp_path):
    """critic="mlp" under PPO / A2C: SB3's value network (64-64 tanh, or net_arch's vf)
    beside the spiking actor, saved with the model; only the actor is spiking, pruned
    and measured."""
    env = gym.make("nspdi/PointMaze-v0")
    kwargs = {**small(), "critic": "mlp", "net_arch": {"vf": [16]}}
    model = algo("SpikingMlpPolicy", env, seed=0, policy_kwargs=kwargs, n_steps=32)
    value_net = model.policy.mlp_extractor.value_net
    widths = [m.out_features for m in value_net if isinstance(m, torch.nn.Linear)]
    assert widths == [16, 1] and not any(isinstance(m, SpikingNetwork) for m in value_net)
    assert list(model.policy.spiking_networks()) == ["actor"]
    model.learn(64, callback=agents.NSPPruningCallback(PruningSchedule(final=0.5, end=0.5), 64))
    obs = np.stack([env.observation_space.sample() for _ in range(3)])
    measured = model.policy.measure(obs)
    assert measured["sparsity"] > 0.4 and list(measured["sparsity_per_network"]) == ["actor"]
    t = model.policy.obs_to_tensor(obs)[0]
    with torch.no_grad():  # the rollout's values are the MLP's
        _, values, _ = model.policy(t)
        features = model.policy.extract_features(t, model.policy.vf_features_extractor)
        assert torch.equal(values, value_net(features))
    model.save(tmp_path / "m.zip")
    loaded = algo.load(tmp_path / "m.zip")
    assert loaded.policy.critic_kind == "mlp"
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0],
                          model.predict(obs, deterministic=True)[0])  # fmt: skip
    with pytest.raises(ValueError, match="unknown critic 'ann'; accepted"):
        algo("SpikingMlpPolicy", env, policy_kwargs={**small(), "critic": "ann"})


def test_tqc_has_a_spiking_actor_and_its_own_quantile_critics():
    env = gym.make("nspdi/PointMaze-v0")
    model = TQC("SpikingMlpPolicy", env, seed=0, policy_kwargs=small(), learning_starts=16)
    policy = model.policy
    assert set(policy.spiking_networks()) == {"actor"}
    actor = policy.actor_network()
    assert isinstance(actor, SpikingNetwork) and actor is policy.actor.latent_pi
    assert actor.config.encoder == "population" and actor.config.hidden == (32,)
    # TQC's critics: MLPs of quantiles, none of them spiking
    assert not any(isinstance(m, SpikingNetwork) for m in policy.critic.modules())
    measured = policy.measure(np.stack([env.observation_space.sample() for _ in range(4)]))
    assert measured["synops_per_step"] > 0 and set(measured["sparsity_per_network"]) == {"actor"}


@pytest.mark.parametrize("algo", ["dqn", "sac"])
def test_target_networks_follow_sb3s_polyak_update(algo):
    """SB3 copies the online networks into the targets through ``.data`` (no version
    counter moves): the spiking targets must compute with the copied weights, not
    with effective weights they reused from before."""
    from stable_baselines3.common.utils import polyak_update

    if algo == "dqn":
        model = DQN("SpikingMlpPolicy", grid(), seed=0, policy_kwargs=small())
        online, target = model.policy.q_net, model.policy.q_net_target
        obs = torch.as_tensor(np.stack([grid().observation_space.sample() for _ in range(3)]))
        run = lambda net: net(obs)  # noqa: E731
    else:
        env = gym.make("nspdi/PointMaze-v0")
        model = SAC("SpikingMlpPolicy", env, seed=0, policy_kwargs={**small(), "critic": "spiking"})
        online, target = model.policy.critic, model.policy.critic_target
        obs = torch.as_tensor(np.stack([env.observation_space.sample() for _ in range(3)]))
        actions = torch.rand(3, 2) * 2 - 1
        run = lambda net: torch.cat(net(obs, actions), dim=1)  # noqa: E731
    with torch.no_grad():
        for p in online.parameters():  # the online networks learn...
            p.add_(torch.randn_like(p) * 0.5)
        before = run(target)  # ...while the target acts on its old weights (and reuses them)
        assert not torch.equal(before, run(online))
        polyak_update(online.parameters(), target.parameters(), 1.0)
        assert torch.equal(run(target), run(online))


def test_mask_can_be_frozen_as_soon_as_the_target_is_reached():
    model = PPO(
        "SpikingMlpPolicy", grid(), policy_kwargs=small(), n_steps=32, batch_size=32, seed=0
    )
    cb = agents.NSPPruningCallback(
        PruningSchedule(final=0.8, end=0.5), total_timesteps=256, freeze_when_reached=True
    )
    frozen_at = []

    class Spy(BaseCallback):
        def _on_rollout_start(self) -> None:
            if cb.pruner.frozen and not frozen_at:
                frozen_at.append(self.num_timesteps)

        def _on_step(self) -> bool:
            return True

    model.learn(256, callback=[cb, Spy()])
    assert frozen_at and frozen_at[0] < 256, "the mask was not frozen before the end"
    for w in cb.pruner.weights:  # removed synapses never come back
        assert w.frozen_mask is not None
        assert not bool((w.mask() & (w.frozen_mask == 0)).any())


def test_callback_and_config_errors():
    with pytest.raises(ValueError, match="total_timesteps must be > 0, got 0"):
        agents.NSPPruningCallback(PruningSchedule(), total_timesteps=0)
    model = PPO("MlpPolicy", grid(), n_steps=16)
    with pytest.raises(ValueError, match="needs a spiking policy, got ActorCriticPolicy"):
        model.learn(16, callback=agents.NSPPruningCallback(PruningSchedule(), total_timesteps=16))
    with pytest.raises(ValueError, match="'n_outputs' is set by the policy"):
        spiking_config(4, 2, {"n_outputs": 3})
    with pytest.raises(ValueError, match="unknown spiking option 'widths'"):
        PPO("SpikingMlpPolicy", grid(), policy_kwargs={"spiking": {"widths": 3}})


def test_rollout_path_shares_the_lif_loops_and_matches_separate_calls():
    model = PPO("SpikingMlpPolicy", grid(), policy_kwargs=small(), n_steps=16, seed=0)
    extractor = model.policy.mlp_extractor
    features = model.policy.obs_to_tensor(np.stack([grid().reset(seed=s)[0] for s in range(4)]))[0]
    with torch.no_grad():
        pi, vf = extractor(features)
        assert torch.equal(pi, extractor.forward_actor(features))
        assert torch.equal(vf, extractor.forward_critic(features))


@pytest.mark.parametrize("critic", ["spiking", "mlp"])
def test_the_actor_loss_forms_no_gradient_for_the_critics_weights(critic):
    # SAC's actor loss needs the Q-values' gradient with respect to the actions only:
    # the actor's gradient is the same, the critics' weights get none, and they keep
    # requiring gradients for their own loss
    model = SAC("SpikingMlpPolicy", gym.make("nspdi/PointMaze-v0"), seed=0,
                policy_kwargs={**small(), "critic": critic})  # fmt: skip
    obs = torch.as_tensor(np.stack([model.observation_space.sample() for _ in range(8)]))
    actor, q = model.actor, model.critic

    def actor_loss_gradients(forward):
        actor.zero_grad(set_to_none=True)
        q.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        actions, log_prob = actor.action_log_prob(obs)
        q_values = torch.cat(forward(obs, actions), dim=1).min(dim=1).values
        (log_prob - q_values).mean().backward()
        return [p.grad.clone() for p in actor.parameters()], [p.grad for p in q.parameters()]

    held, critic_grads = actor_loss_gradients(q)
    assert all(g is None for g in critic_grads)
    plain, critic_grads = actor_loss_gradients(q.critic_forward)
    assert all(g is not None for g in critic_grads)
    assert all(torch.equal(a, b) for a, b in zip(held, plain, strict=True))
    assert all(p.requires_grad for p in q.parameters())
    # the critics' own loss (replay actions, no gradient) still reaches their weights
    q.zero_grad(set_to_none=True)
    torch.cat(q(obs, torch.zeros(8, 2)), dim=1).sum().backward()
    assert all(p.grad is not None for p in q.parameters())


def test_off_policy_runs_prune_and_measure_every_update_not_every_step():
    # SAC's rollout is one step: the controller (a threshold search) and the metrics (a
    # forward pass with SynOps hooks) run every update_every steps, not at each
    model = SAC("SpikingMlpPolicy", gym.make("nspdi/PointMaze-v0"), seed=0,
                policy_kwargs=small(), learning_starts=8, batch_size=8)  # fmt: skip
    callback = agents.NSPPruningCallback(PruningSchedule(final=0.5, end=0.5), 64, update_every=16)
    counts = {"update": 0, "log_metrics": 0}
    for name in counts:
        method = getattr(callback, name)

        def counted(method=method, name=name):
            counts[name] += 1
            return method()

        setattr(callback, name, counted)
    model.learn(64, callback=callback)
    assert counts["update"] == 5  # at the start, then 64 steps / 16
    assert counts["log_metrics"] == 5  # 64 steps / 16, and the end of training
    assert callback.driver.frozen and callback.driver.pruner.progress == 1.0
