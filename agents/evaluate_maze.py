"""``python -m agents.evaluate_maze``: evaluate trained maze agents and compare runs.

    python -m agents.evaluate_maze runs/ppo_spiking            # JSON summary on stdout
    python -m agents.evaluate_maze runs/ppo_spiking --render gif
    python -m agents.evaluate_maze runs/ppo_spiking runs/ppo_mlp --compare

Each RUN is a run directory of ``python -m agents.train_maze`` (``model.zip``
and ``run.json``) or a model ``.zip`` with ``run.json`` beside it. The summary
(see :func:`agents.evaluation.evaluate_maze`) is printed as JSON and written
to ``summary.json`` beside the model (keeping what training wrote there: its
steps, wall time and settings); ``--render gif`` also writes
``episode.gif`` there. ``--compare`` prints one Markdown table over the runs
instead, reusing a run's ``summary.json`` when it is newer than the model and
was made with the same settings. Notes go to stderr, so stdout stays pure JSON
(or the table). Bad input exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agents.evaluation import EVAL_SEED, RunError, evaluate_maze, load_run, write_summary

PROG = "agents.evaluate_maze"
SUMMARY_NAME = "summary.json"
GIF_NAME = "episode.gif"
#: Columns of the ``--compare`` table, in order.
COMPARE_COLUMNS: tuple[str, ...] = (
    "run",
    "algo",
    "policy",
    "total_timesteps",
    "n_episodes",
    "success_rate",
    "mean_path_optimality",
    "mean_return",
    "normalized_score",
    "sparsity",
    "synops_per_step",
    "energy_per_step_pj",
    "wall_time_s",
)
#: What the training run wrote into ``summary.json`` that an evaluation cannot know:
#: kept when an evaluation writes the file again.
TRAINING_KEYS: tuple[str, ...] = (
    "total_timesteps",
    "wall_time_s",
    "pruning",
    "target_sparsity",
    "settings",
)


class _OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{PROG}: error: {message} (see --help)\n")


def _episodes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not accepted; accepted are ints >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser; ``--help`` shows every default."""
    parser = _OneLineParser(
        prog=f"python -m {PROG}",
        description=(
            "Evaluate trained maze agents: success rate, path optimality, return, and the "
            "spiking policy's sparsity, SynOps and energy per step. Prints the JSON summary "
            f"and writes it to {SUMMARY_NAME} beside the model."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="run directory (model.zip + run.json) or model .zip file with run.json beside it",
    )
    parser.add_argument(
        "--episodes",
        type=_episodes,
        default=None,
        metavar="N",
        help="N episodes from seeded random starts (default: the run's --eval-episodes; "
        "else one episode from every free start of a fixed grid maze, 20 random starts "
        "elsewhere)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=EVAL_SEED,
        help="first seed of the random starts (episode i: seed + i); the default lies "
        "above every seed training uses",
    )
    parser.add_argument(
        "--stochastic",
        action="store_true",
        help="sample actions from the policy instead of taking the most likely one",
    )
    parser.add_argument(
        "--render",
        choices=["gif"],
        default=None,
        help=f"also record one episode as {GIF_NAME} beside the model "
        "(the start farthest from the goal)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help=f"print one Markdown table over all RUNs, reusing an up-to-date {SUMMARY_NAME}",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; return the exit status (0, or 2 for bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        # --help exits 0 and usage errors 2; main returns the status instead.
        return int(exit_.code or 0)
    try:
        rows = [_summary_for(run, args, reuse=args.compare) for run in args.runs]
    except (RunError, ValueError, OSError) as err:
        message = " ".join(str(err).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    if args.compare:
        print(comparison_table(rows))
    elif len(rows) == 1:
        print(json.dumps(rows[0], indent=2))
    else:
        print(json.dumps(rows, indent=2))
    return 0


def _summary_for(run: str, args: argparse.Namespace, reuse: bool) -> dict[str, Any]:
    """Evaluate one run (or reuse its summary) and write ``summary.json`` beside the model."""
    model, run_info, model_path = load_run(run)
    summary_path = model_path.parent / SUMMARY_NAME
    episodes = args.episodes if args.episodes is not None else run_info.get("eval_episodes")
    if reuse and args.render is None:
        cached = _reusable_summary(summary_path, model_path, args, episodes)
        if cached is not None:
            print(f"{run}: reusing {summary_path} (newer than {model_path.name})", file=sys.stderr)
            return cached
    gif_path = model_path.parent / GIF_NAME if args.render == "gif" else None
    result = evaluate_maze(
        model,
        run_info["env_id"],
        run_info["env_kwargs"],
        n_episodes=episodes,
        deterministic=not args.stochastic,
        seed=args.seed,
        gif_path=gif_path,
    )
    summary = {
        "run": run,
        "algo": run_info["algo"],
        "policy": "spiking" if callable(getattr(model.policy, "measure", None)) else "mlp",
        "model_path": str(model_path),
        **result,
        **_training_keys(summary_path),
    }
    write_summary(summary, summary_path)
    print(f"{run}: wrote {summary_path}", file=sys.stderr)
    if gif_path is not None:
        print(f"{run}: wrote {gif_path}", file=sys.stderr)
    return summary


def _training_keys(summary_path: Path) -> dict[str, Any]:
    """The :data:`TRAINING_KEYS` of the summary the file holds, if any."""
    try:
        old = json.loads(summary_path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return {k: old[k] for k in TRAINING_KEYS if isinstance(old, dict) and k in old}


def _reusable_summary(
    summary_path: Path, model_path: Path, args: argparse.Namespace, episodes: int | None
) -> dict[str, Any] | None:
    """The saved summary if it is newer than the model and used these settings, else None."""
    if not summary_path.is_file():
        return None
    if summary_path.stat().st_mtime <= model_path.stat().st_mtime:
        return None
    try:
        summary = json.loads(summary_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # unreadable: evaluate again and overwrite it
    same_settings = (
        isinstance(summary, dict)
        and summary.get("requested_episodes") == episodes
        and summary.get("seed") == args.seed
        and summary.get("deterministic") == (not args.stochastic)
    )
    return summary if same_settings else None


def comparison_table(summaries: list[dict[str, Any]]) -> str:
    """A Markdown table with one row per summary and the :data:`COMPARE_COLUMNS`."""
    lines = [
        "| " + " | ".join(COMPARE_COLUMNS) + " |",
        "|" + "|".join("---" for _ in COMPARE_COLUMNS) + "|",
    ]
    for summary in summaries:
        cells = [_cell(column, summary.get(column)) for column in COMPARE_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "n/a"  # e.g. the sparsity of a dense MlpPolicy
    if isinstance(value, float):
        # Counts per step read best as whole numbers; rates and returns to 3 places.
        return (
            f"{value:.0f}"
            if column in ("synops_per_step", "energy_per_step_pj", "wall_time_s")
            else f"{value:.3f}"
        )
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
