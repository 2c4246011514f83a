"""The maze table: every maze of the ladder with its own defaults (``agents.config``),
as the spiking agent pruned by NSP, the same agent unpruned, and SB3's MLP agent (on
the raw observation, and where the spiking agent population-codes its input, also
fed that code), for the same number of environment steps. gymnasium-robotics' point
mazes get these rows under each evaluation protocol (``--protocol``: D4RL's fixed goal,
and the ids' own random goals), without the waypoint planner.

Each entry is a maze trial (``python -m agents.train_maze --env ID ...``) run by
:func:`experiments.execute.run_trials`, so a table stopped half-way continues where
it stopped, and trials run on the local pool or on Ray like any grid's.
:func:`maze_table` turns the finished trials into the Markdown table of docs/mazes.md; a
row whose agent was steered by the waypoint planner (``waypoints``: a planner that reads
the map at test time) says so in the row and gets no D4RL score; a D4RL score is given
only for a run evaluated under D4RL's protocol (``--protocol d4rl``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from envs.robotics import PROTOCOLS, protocol_of
from experiments.execute import trial_dir
from experiments.grid import AXES, GridError, Trial, resolve
from nspdi_rl.layers import NSPConfig

__all__ = ["AGENTS", "MAZES", "ladder_trials", "maze_protocols", "maze_table", "maze_trials"]

#: the ladder: the project's mazes from small to large, then gymnasium-robotics' PointMaze
MAZES: tuple[str, ...] = (
    "nspdi/GridMaze-v0",
    "nspdi/GridMaze-15x15-v0",
    "nspdi/GridMaze-25x25-v0",
    "nspdi/GridMaze-Random-9x9-v0",
    "nspdi/PointMaze-Large-v0",
    "PointMaze_UMaze-v3",
    "PointMaze_Medium-v3",
    "PointMaze_Large-v3",
)
#: the agents of each row: name -> (extra runner options, pruning, target sparsity).
#: SB3's MLP twice: on the observation as the env gives it (what SB3's users run), and
#: fed the spiking agent's population code (the same input: a comparison of networks,
#: made where the spiking agent population-codes its input)
AGENTS: dict[str, tuple[tuple[tuple[str, Any], ...], str, float]] = {
    "spiking, NSP 0.9": ((), "nsp", 0.9),
    "spiking, dense": ((), "dense", 0.0),
    "MLP (SB3)": ((("policy", "mlp"),), "dense", 0.0),
    "MLP (SB3), population-coded input": ((("policy", "mlp-population"),), "dense", 0.0),
}


def maze_protocols(env: str) -> tuple[str | None, ...]:
    """The evaluation protocols ``env``'s rows run under: each of gymnasium-robotics'
    point mazes under both :data:`~envs.robotics.PROTOCOLS`, the project's mazes under
    none (their own task). A protocol-less run of a point maze runs the ids' own task,
    so its trial is the ``gymnasium-robotics`` row's (the same settings, the same key)."""
    return PROTOCOLS if protocol_of(env, {}) is not None else (None,)


def maze_trials(mazes: Sequence[str] = MAZES, seed: int = 0) -> list[Trial]:
    """The table's trials, maze by maze (and protocol by protocol where
    :func:`maze_protocols` gives several); each checked and resolved by the runner
    (:func:`experiments.grid.resolve`).

    :raises GridError: naming an unknown maze.
    """
    unknown = sorted(set(mazes) - set(MAZES))
    if unknown:
        raise GridError(f"unknown maze {unknown[0]!r}; accepted: {list(MAZES)}")
    from agents.config import MazeSettings  # the runner's own (resolve imports it)

    trials = []
    for env, protocol in [(m, p) for m in mazes for p in maze_protocols(m)]:
        population = True  # whether the spiking agent population-codes its input here
        task = (("protocol", protocol),) if protocol else ()
        for extra, pruning, target in AGENTS.values():
            if ("policy", "mlp-population") in extra and not population:
                continue
            config = NSPConfig(method=pruning)
            trial = Trial(
                task="maze",
                args=(("env", env), *task, *extra),
                pruning=pruning,
                target_sparsity=target,
                ndi=AXES["ndi"],
                a_dist=AXES["a_dist"],
                seed=seed,
                **config.reading_options().to_dict(),
            )
            trial = resolve(trial)
            spiking = MazeSettings.from_dict(trial.resolved).spiking
            if spiking is not None:
                population = spiking.network.encoder == "population"
            trials.append(trial)
    return trials


def _agent(trial: Trial) -> str:
    extra = tuple(item for item in trial.args if item[0] not in ("env", "protocol"))
    for name, (options, pruning, target) in AGENTS.items():
        if (options, pruning, target) == (extra, trial.pruning, trial.target_sparsity):
            return name
    raise GridError(f"trial {trial.name} is none of the table's agents")  # pragma: no cover


def _cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return f"{value:,.{digits}f}"


def _d4rl_score(summary: dict[str, Any]) -> float | None:
    """D4RL's score where the run was evaluated under D4RL's protocol (its fixed goal);
    summaries written before the protocols were named, or under another one, get none."""
    if summary.get("protocol") != "d4rl":
        return None
    score = summary.get("normalized_score")
    return float(score) if isinstance(score, (int, float)) else None


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    """:raises GridError: for no seed, a negative one or one given twice."""
    seeds = list(seeds)
    if not seeds:
        raise GridError("no seed given")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
    if bad:
        raise GridError(f"seeds must be integers >= 0, got {bad[0]!r}")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise GridError(f"seed {twice[0]} given twice")
    return seeds


def ladder_trials(mazes: Sequence[str] = MAZES, seeds: Sequence[int] = (0,)) -> list[Trial]:
    """:func:`maze_trials` for each of ``seeds``, row by row: a row's seeds run one after
    the other, so that every row of the table gets its seeds before the next row starts.

    :raises GridError: naming an unknown maze or a bad seed.
    """
    per_seed = [maze_trials(mazes, seed) for seed in _check_seeds(seeds)]
    return [trial for row in zip(*per_seed, strict=True) for trial in row]


def _summary(run_dir: Path, trial: Trial) -> dict[str, Any] | None:
    path = trial_dir(run_dir, trial) / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _mean(values: Sequence[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return sum(numbers) / len(numbers) if numbers else None


def _seeds_cell(values: Sequence[Any], digits: int) -> str:
    """One seed's value, or the mean of the seeds run with each seed's value after it
    (``not run`` for a seed still to run)."""
    if len(values) == 1:
        return _cell(values[0], digits)
    each = " / ".join("not run" if v is None else _cell(v, digits) for v in values)
    return f"{_cell(_mean(values), digits)} ({each})"


def maze_table(run_dir: Path, mazes: Sequence[str] = MAZES, seeds: int | Sequence[int] = 0) -> str:
    """The Markdown table of the finished trials in ``run_dir`` (unfinished ones are
    listed as such). With several ``seeds`` the success and the D4RL score are the mean
    over the seeds run, each seed's value after it in the order given, and the other
    columns the mean.

    :raises GridError: naming an unknown maze or a bad seed.
    """
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    trials = ladder_trials(mazes, seeds)  # checks the seeds; a row's seeds side by side
    per_seed = " (mean; seeds " + " / ".join(map(str, seeds)) + ")" if len(seeds) > 1 else ""
    lines = [
        f"| maze | agent | steps | success{per_seed} | D4RL score{per_seed} | sparsity "
        "| SynOps / step | energy / step (nJ) | wall time (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in (trials[i : i + len(seeds)] for i in range(0, len(trials), len(seeds))):
        trial = row[0]
        args = dict(trial.args)
        env = args["env"] + (f", {args['protocol']} protocol" if "protocol" in args else "")
        summaries = [_summary(run_dir, t) for t in row]
        done = [s for s in summaries if s is not None]
        if not done:
            lines.append(f"| {env} | {_agent(trial)} | not run | | | | | | |")
            continue
        planner = any((s.get("env_kwargs") or {}).get("waypoints") for s in done)
        energy = _mean([s.get("energy_per_inference_pj") for s in done])
        scores = [None if s is None else _d4rl_score(s) for s in summaries]
        d4rl = _seeds_cell(scores, 1) if any(v is not None for v in scores) else "n/a"
        cells = [
            env,
            _agent(trial) + (", steered by the waypoint planner" if planner else ""),
            _cell(done[0].get("total_timesteps"), 0),
            _seeds_cell([None if s is None else s.get("score") for s in summaries], 2),
            "n/a (planner)" if planner else d4rl,
            _cell(_mean([s.get("sparsity") for s in done]), 3),
            _cell(_mean([s.get("synops_per_inference") for s in done]), 0),
            _cell(None if energy is None else energy / 1000, 1),
            _cell(_mean([s.get("wall_time_s") for s in done]), 0),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
