"""Per-env defaults (agents.config.ENV_DEFAULTS) and the MLP baseline of the runner."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3 import PPO, SAC

from agents import evaluate_maze
from agents.config import ALGO_DEFAULTS, ENV_DEFAULTS, EnvDefaults, MazeSettings, env_defaults
from agents.environments import make_env
from agents.evaluation import evaluate_maze as evaluate
from agents.policies import DEFAULT_SPIKING, PopulationFeatures
from agents.train_maze import build_model, main, parse_args, settings_from_args
from envs.robotics import MazeWrappers
from runtime.cli import UsageError


def settings(*argv: str):
    return settings_from_args(parse_args(list(argv)))


def test_every_pattern_is_reached_and_names_a_known_algorithm():
    for pattern, defaults in ENV_DEFAULTS:
        probe = pattern.replace("*", "UMaze")
        assert env_defaults(probe) is defaults, f"{pattern} is shadowed by an earlier one"
        assert defaults.algo in ALGO_DEFAULTS
        assert set(defaults.algos) <= set(ALGO_DEFAULTS)
    assert env_defaults("CartPole-v1") == EnvDefaults()


def test_the_study_maze_keeps_the_shared_defaults():
    """The study's trials ran on nspdi/GridMaze-v0 with ALGO_DEFAULTS and DEFAULT_SPIKING."""
    s = settings("--env", "nspdi/GridMaze-v0")
    assert (s.algo, s.total_timesteps, s.n_envs) == ("ppo", 60_000, 8)
    assert s.hyperparams == ALGO_DEFAULTS["ppo"]["hyperparams"]
    assert s.env_kwargs == {"obs_mode": "coords"}
    assert s.spiking.network.hidden == DEFAULT_SPIKING["hidden"]
    assert s.eval_episodes is None


def test_a_larger_maze_gets_its_steps_network_and_shaping_at_the_agents_discount():
    s = settings("--env", "nspdi/GridMaze-25x25-v0")
    spiking = s.spiking.network
    assert s.total_timesteps == env_defaults(s.env_id).algos["ppo"]["n_timesteps"]
    assert spiking.hidden == (256,)
    # one input per square, fed as direct currents
    assert s.env_kwargs["obs_mode"] == "onehot" and spiking.encoder == "direct"
    assert s.env_kwargs["shaping"] == 1.0
    assert s.env_kwargs["gamma"] == s.hyperparams["gamma"]
    # the command line wins over the env's defaults, key by key
    mine = settings("--env", "nspdi/GridMaze-25x25-v0", "--hidden", "64", "--env-kwargs",
                    "shaping:0.5", "gamma:0.9", "--total-timesteps", "100")  # fmt: skip
    assert mine.spiking.network.hidden == (64,)
    assert mine.env_kwargs["obs_mode"] == "onehot"
    assert (mine.env_kwargs["shaping"], mine.env_kwargs["gamma"]) == (0.5, 0.9)
    assert mine.total_timesteps == 100


def test_a_config_file_wins_over_the_env_defaults(tmp_path: Path):
    config = tmp_path / "c.yaml"
    config.write_text(
        "default:\n  n_timesteps: 1234\n  policy_kwargs: 'dict(spiking=dict(hidden=(32,)))'\n"
    )
    s = settings("--env", "nspdi/GridMaze-25x25-v0", "--config", str(config))
    assert s.total_timesteps == 1234
    assert s.spiking.network.hidden == (32,) and "spiking" not in s.policy_kwargs
    assert s.env_kwargs["obs_mode"] == "onehot"


def test_a_robotics_maze_needs_no_flags():
    """PointMaze_*-v3: the package that registers it is imported, SAC with HER."""
    s = settings("--env", "PointMaze_UMaze-v3")
    assert s.algo == "sac" and s.gym_packages == ("gymnasium_robotics",)
    assert s.hyperparams["replay_buffer_class"] == "HerReplayBuffer"
    assert s.normalize and s.eval_episodes == 100
    assert s.policy_kwargs["critic"] == "mlp"  # a spiking actor, SB3's critics
    assert s.wrappers == MazeWrappers()  # the U-maze is learned without them
    # Medium and Large: spiking PPO with SB3's value network, shaped, the goal offset,
    # no planner (the screens' choice); SAC there keeps HER's defaults
    for env in ("PointMaze_Medium-v3", "PointMaze_Large-v3"):
        ppo = settings("--env", env)
        assert ppo.algo == "ppo" and ppo.total_timesteps == 3_000_000
        assert ppo.hyperparams["n_steps"] == 512 and ppo.hyperparams["gamma"] == 0.99
        assert ppo.policy_kwargs["critic"] == "mlp" and ppo.eval_episodes == 100
        assert ppo.wrappers == MazeWrappers(shaping=20.0, gamma=0.99, goal_offset=True)
        assert ppo.env_kwargs == {}
        # the record spells the wrappers as the command line does, and reads them back
        assert ppo.to_dict()["env_kwargs"] == {
            "shaping": 20.0, "gamma": 0.99, "goal_offset": True,
        }  # fmt: skip
        assert MazeSettings.from_dict(ppo.to_dict()) == ppo
        her = settings("--env", env, "--algo", "sac")
        assert her.hyperparams == s.hyperparams and her.wrappers == MazeWrappers()
        # 20 evaluations of 100 episodes along PPO's 3M steps, not one every 10k steps
        assert ppo.eval_freq == 150_000 and her.eval_freq == 10_000
        assert settings("--env", env, "--eval-freq", "5000").eval_freq == 5_000
    assert s.eval_freq == 10_000  # the shared default
    shaped = settings("--env", "PointMaze_UMaze-v3", "--env-kwargs", "shaping:2.0",
                      "continuing_task:False")  # fmt: skip
    assert shaped.wrappers == MazeWrappers(shaping=2.0, gamma=shaped.hyperparams["gamma"])
    assert shaped.env_kwargs == {"continuing_task": False}
    assert MazeSettings.from_dict(shaped.to_dict()) == shaped
    # the spiking options: typed in the settings, as given inside policy_kwargs in the record
    record = s.to_dict()["policy_kwargs"]
    assert record["critic"] == "mlp" and record["spiking"] == s.spiking.to_dict()
    assert MazeSettings.from_dict(s.to_dict()).spiking == s.spiking
    with pytest.raises(ValueError, match="hold the network's options in spiking"):
        replace(s, policy_kwargs={**s.policy_kwargs, "spiking": {}})
    with pytest.raises(ValueError, match="the mlp policy takes no spiking options"):
        replace(s, policy="mlp", policy_kwargs={}, pruning="dense")
    with pytest.raises(ValueError, match="'waypoints' of PointMaze_UMaze-v3 is a wrapper option"):
        replace(s, env_kwargs={"waypoints": True})
    with pytest.raises(ValueError, match="nspdi/PointMaze-Large-v0 shapes its reward itself"):
        replace(settings(), wrappers=MazeWrappers(waypoints=True))
    # another algorithm takes its own shared defaults there
    ppo = settings("--env", "PointMaze_UMaze-v3", "--algo", "ppo", "--gym-packages",
                   "gymnasium_robotics")  # fmt: skip
    assert ppo.hyperparams == ALGO_DEFAULTS["ppo"]["hyperparams"]
    assert "critic" not in ppo.policy_kwargs
    assert ppo.gym_packages == ("gymnasium_robotics",)


def test_the_defaults_policy_kwargs_are_the_spiking_policys_own(tmp_path: Path):
    """SB3's MLP baseline gets none of the spiking policy's default policy kwargs (its
    critic, its actor's latent); a --config file's reach it."""
    spiking = settings("--env", "PointMaze_UMaze-v3")
    assert spiking.policy_kwargs == {
        k: v for k, v in ALGO_DEFAULTS["sac"]["policy_kwargs"].items() if k != "spiking"
    }
    for policy in ("mlp", "mlp-population"):
        mlp = settings("--env", "PointMaze_UMaze-v3", "--policy", policy, "--pruning", "dense")
        assert not set(mlp.policy_kwargs) - {"population_code"}
    config = tmp_path / "c.yaml"
    config.write_text("default:\n  policy_kwargs: 'dict(net_arch=[64, 64])'\n")
    mlp = settings("--env", "PointMaze_UMaze-v3", "--policy", "mlp", "--pruning", "dense",
                   "--config", str(config))  # fmt: skip
    assert mlp.policy_kwargs == {"net_arch": [64, 64]}


def test_the_goal_offset_is_an_input_that_her_cannot_relabel():
    """goal_offset (envs.robotics.GoalOffset) goes with PPO; HER relabels desired_goal in
    stored observations and would leave the offset stale, so the runner refuses it."""
    with pytest.raises(UsageError, match="goal_offset on PointMaze_UMaze-v3 cannot go with HER"):
        settings("--env", "PointMaze_UMaze-v3", "--env-kwargs", "goal_offset:True")
    ppo = settings("--env", "PointMaze_UMaze-v3", "--algo", "ppo", "--env-kwargs",
                   "goal_offset:True")  # fmt: skip
    assert ppo.wrappers == MazeWrappers(goal_offset=True)
    assert ppo.env_options()["goal_offset"] is True  # the evaluation's input too


def test_an_algorithms_own_env_kwargs_go_with_it_only(monkeypatch):
    """EnvDefaults.algos[algo]["env_kwargs"]: over the env's, for that algorithm alone;
    --env-kwargs wins over both."""
    from agents import config

    own = EnvDefaults(env_kwargs={"reward_type": "sparse", "shaping": 1.0},
                      algos={"ppo": {"env_kwargs": {"shaping": 5.0}}})  # fmt: skip
    assert own.env_kwargs_for("ppo") == {"reward_type": "sparse", "shaping": 5.0}
    assert own.env_kwargs_for("sac") == {"reward_type": "sparse", "shaping": 1.0}
    monkeypatch.setattr(config, "ENV_DEFAULTS", (("nspdi/PointMaze-v0", own),))
    assert settings("--env", "nspdi/PointMaze-v0").env_kwargs["shaping"] == 5.0
    assert settings("--env", "nspdi/PointMaze-v0", "--algo", "sac").env_kwargs["shaping"] == 1.0
    given = settings("--env", "nspdi/PointMaze-v0", "--env-kwargs", "shaping:2.0")
    assert given.env_kwargs["shaping"] == 2.0


def test_training_episodes_may_be_shorter_than_the_evaluations(tmp_path):
    """--train-episode-steps limits the training envs only; HER's check reads it."""
    from agents.environments import make_training_env

    s = settings("--env", "PointMaze_UMaze-v3", "--train-episode-steps", "120")
    assert s.train_episode_steps == 120
    venv = make_training_env(s.env_id, 1, 0, s.env_kwargs, False, max_episode_steps=7)
    venv.reset()
    for step in range(7):
        _, _, dones, infos = venv.step(np.zeros((1, 2), dtype=np.float32))
        assert bool(dones[0]) is (step == 6)
    assert infos[0]["TimeLimit.truncated"]
    # the runner's model trains on envs with that limit
    model, _ = build_model(s, tmp_path / "run")
    assert model.get_env().get_attr("spec")[0].max_episode_steps == 120
    config = tmp_path / "her.yaml"
    config.write_text("default:\n  learning_starts: 150\n")
    # 150 steps exceed a 120-step training episode, not the env's own 300
    assert settings("--env", "PointMaze_UMaze-v3", "--train-episode-steps", "120",
                    "--config", str(config)).hyperparams["learning_starts"] == 150  # fmt: skip
    with pytest.raises(UsageError, match="episode length \\(300 steps"):
        settings("--env", "PointMaze_UMaze-v3", "--config", str(config))
    with pytest.raises(UsageError, match="--train-episode-steps must be > 0, got 0"):
        settings("--env", "PointMaze_UMaze-v3", "--train-episode-steps", "0")


def test_a_config_may_drop_her_for_sb3s_own_buffer(tmp_path):
    """``replay_buffer_class: null`` trains a HER default without HER, as with shaping."""
    from stable_baselines3.common.buffers import DictReplayBuffer

    from agents.config import sb3_arguments

    config = tmp_path / "plain.yaml"
    config.write_text("default:\n  replay_buffer_class: null\n  replay_buffer_kwargs: {}\n")
    s = settings("--env", "PointMaze_UMaze-v3", "--config", str(config),
                 "--env-kwargs", "shaping:5")  # fmt: skip
    assert s.hyperparams["replay_buffer_class"] is None
    assert s.wrappers == MazeWrappers(shaping=5, gamma=0.99) and s.env_kwargs == {}
    assert sb3_arguments(s.hyperparams)["replay_buffer_class"] is None
    model = SAC("MultiInputPolicy", make_env("PointMaze_UMaze-v3"), **sb3_arguments(s.hyperparams))
    assert type(model.replay_buffer) is DictReplayBuffer
    config.write_text("default:\n  replay_buffer_class: Prioritized\n")
    with pytest.raises(UsageError, match="replay_buffer_class 'Prioritized'; accepted: "
                       r"\['HerReplayBuffer'\] or null"):  # fmt: skip
        settings("--env", "PointMaze_UMaze-v3", "--config", str(config))


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--policy", "lstm"],
            "unknown --policy 'lstm'; accepted: ['spiking', 'mlp', 'mlp-population']",
        ),
        (
            ["--policy", "mlp-population", "--env", "nspdi/GridMaze-v0", "--obs-mode", "full"],
            "on nspdi/GridMaze-v0 the spiking agent's encoder is 'direct': use --policy mlp",
        ),
        (["--eval-episodes", "0"], "--eval-episodes must be > 0, got 0"),
    ],
)
def test_bad_policy_options_exit_2(argv, message, tmp_path, capsys):
    assert main([*argv, "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_the_mlp_baseline_trains_unpruned_and_counts_its_multiply_accumulates(tmp_path):
    run = tmp_path / "run"
    argv = ["--policy", "mlp", "--hidden", "16", "16", "--total-timesteps", "1024",
            "--eval-freq", "100000", "--output", str(run), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["policy"] == "mlp" and summary["pruning"] == "dense"
    assert summary["sparsity"] == 0.0
    # acting uses 4 -> 16 -> 16 -> 4 (the value head is not evaluated to act)
    assert summary["macs_per_step"] == 4 * 16 + 16 * 16 + 16 * 4
    assert summary["energy_per_inference_pj"] == pytest.approx(4.6 * summary["macs_per_step"])
    assert summary["settings"]["policy_kwargs"] == {"net_arch": [16, 16]}
    # evaluating again keeps what only training knows: its steps and wall time
    trained = {k: summary[k] for k in ("total_timesteps", "wall_time_s")}
    assert evaluate_maze.main([str(run), "--episodes", "3"]) == 0
    again = json.loads((run / "summary.json").read_text())
    assert again["n_episodes"] == 3 and again["policy"] == "mlp"
    assert {k: again[k] for k in trained} == trained


def test_the_mlp_fed_the_spiking_agents_input_code(tmp_path):
    # like with like: SB3's MLP on the population code the spiking agent sees
    size = settings().spiking.network.population_size
    s = settings("--policy", "mlp-population", "--hidden", "16", "16")
    assert s.spiking is None
    assert s.policy_kwargs["population_code"]["size"] == size
    assert set(s.policy_kwargs) == {"net_arch", "population_code"} and s.pruning == "dense"
    run = tmp_path / "run"
    argv = ["--policy", "mlp-population", "--hidden", "16", "16", "--total-timesteps", "512",
            "--eval-freq", "100000", "--output", str(run), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["settings"]["policy_kwargs"] == s.policy_kwargs
    # acting: 6 values x size fields -> 16 -> 16 -> 2 action means
    model = PPO.load(run / "model.zip", device="cpu")
    assert model.observation_space.shape == (6,) and model.action_space.shape == (2,)
    assert summary["macs_per_step"] == 6 * size * 16 + 16 * 16 + 16 * 2
    assert isinstance(model.policy.features_extractor, PopulationFeatures)
    with pytest.raises(ValueError, match="population_code goes with policy mlp-population"):
        replace(s, policy="mlp")
    with pytest.raises(ValueError, match="population_code needs low < high"):
        code = {**s.policy_kwargs["population_code"], "low": 1.0, "high": 1.0}
        replace(s, policy_kwargs={**s.policy_kwargs, "population_code": code})


def test_random_mazes_train_on_one_split_and_are_evaluated_on_the_other():
    s = settings("--env", "nspdi/GridMaze-Random-9x9-v0")
    assert s.env_kwargs["maze_split"] == "train" and s.env_kwargs["obs_mode"] == "local"
    assert s.eval_episodes == 100 and s.spiking.network.encoder == "direct"

    class StandStill:
        def predict(self, obs, deterministic=True):
            return np.zeros(len(obs), dtype=np.int64), None

    summary = evaluate(StandStill(), s.env_id, s.env_kwargs, 3)
    assert summary["env_kwargs"]["maze_split"] == "test"
