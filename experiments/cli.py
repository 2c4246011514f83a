"""``python -m experiments``: run experiment grids and report on them.

Examples::

    python -m experiments run experiments/grids/maze.yaml --run-dir results/study
    python -m experiments run experiments/grids/*.yaml --backend ray --address auto
    python -m experiments report results/study --output docs/results.md
    python -m experiments survivors results/study --match 'maze-*-0.98-*'
    python -m experiments mazes --run-dir results/mazes --output docs/mazes.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.execute import (
    BACKENDS,
    Outcome,
    check_ray_address,
    pending,
    reconcile,
    run_trials,
)
from experiments.grid import GridError, Trial, load_grid
from experiments.mazes import MAZES, ladder_trials, maze_table
from experiments.report import (
    RUNS_FILE,
    TUNING_PREFIX,
    ReportError,
    validation_score,
    write_report,
)
from experiments.survivors import survivors_table
from runtime.cli import UsageError, check_folder_option
from runtime.stopping import interrupt_on_sigterm

__all__ = ["main"]

PROG = "python -m experiments"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Experiment grids over the maze and task runners, and the study report.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run the trials of grid files (finished ones are skipped)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run.add_argument("grids", nargs="+", help="grid YAML files")
    run.add_argument("--run-dir", default="results/study", help="where the trials go")
    run.add_argument(
        "--only",
        nargs="+",
        metavar="SUB",
        help="run only these sub-grids (names under 'experiments:', or GRID/SUB); the "
        "others stay for a later run (default: every sub-grid)",
    )
    _execution_options(run)
    mazes = sub.add_parser(
        "mazes",
        help="the maze table: every maze with its defaults as the pruned and the dense "
        "spiking agent and SB3's MLP agent (finished trials are skipped)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    mazes.add_argument(
        "--mazes", nargs="+", default=list(MAZES), metavar="ID", help="the mazes, in order"
    )
    mazes.add_argument(
        "--seeds",
        "--seed",
        dest="seeds",
        type=int,
        nargs="+",
        default=[0],
        metavar="SEED",
        help="the trials' seeds; with several, the table gives each row's mean and every "
        "seed's value, and a row's seeds run one after the other",
    )
    mazes.add_argument("--run-dir", default="results/mazes", help="where the trials go")
    mazes.add_argument("--output", default="docs/mazes.md", help="the Markdown table")
    mazes.add_argument(
        "--table-only", action="store_true", help="write the table of the finished trials"
    )
    _execution_options(mazes)
    report = sub.add_parser(
        "report",
        help="write the Markdown report from the trials' JSON files",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    report.add_argument("run_dir", help="the --run-dir of the runs")
    report.add_argument("--output", default="docs/results.md", help="the report (PNGs beside it)")
    survivors = sub.add_parser(
        "survivors",
        help="what pruning left in the finished trials' models (their run folders)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    survivors.add_argument("run_dir", help="the --run-dir of the runs")
    survivors.add_argument(
        "--match", default="*", help="trial folders to read, as a glob, e.g. 'maze-*-0.98-*'"
    )
    return p


def _execution_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="local", help=f"one of {BACKENDS}")
    p.add_argument(
        "--jobs", type=int, default=None, help="local trials at once (default: the CPU count)"
    )
    p.add_argument("--retries", type=int, default=1, help="restarts of a failed trial")
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster: 'auto' or HOST:PORT of the head (default: a local Ray instance)",
    )
    p.add_argument("--dry-run", action="store_true", help="list the trials, run nothing")


def _describe(outcome: Outcome) -> str:
    """One line per finished trial. A trial of tuning grids only shows its validation
    score, the one its grid chooses by, so that tuning never shows a test score."""
    if outcome.summary is None:
        return f"FAILED after {outcome.attempts} attempt(s): {outcome.error}"
    s, trial = outcome.summary, outcome.trial
    if trial.experiments and all(e.startswith(TUNING_PREFIX) for e in trial.experiments):
        val = validation_score(trial.task, s)
        score = "validation score " + ("n/a" if val is None else f"{val:.3f}")
    else:
        score = f"score {s['score']:.3f}"
    return f"{score} at sparsity {s['sparsity']:.3f} in {outcome.wall_s:.0f} s"


def _run(args: argparse.Namespace, command: Sequence[str]) -> int:
    grid = load_grid(args.grids)
    names = ", ".join(grid.names)
    if args.only:
        grid, names = grid.only(args.only), f"{names} (only {', '.join(args.only)})"
    return _run_trials(args, command, grid.trials, names, args.grids)


def _mazes(args: argparse.Namespace, command: Sequence[str]) -> int:
    output = Path(args.output)
    check_folder_option("--output", output.parent)
    if not args.table_only:
        trials = ladder_trials(args.mazes, args.seeds)
        status = _run_trials(args, command, trials, "the maze table", [])
        if status != 0 or args.dry_run:
            return status
    if args.table_only:  # trial folders named by an earlier version are found by their settings
        for line in reconcile(ladder_trials(args.mazes, args.seeds), Path(args.run_dir)):
            print(line, flush=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(maze_table(Path(args.run_dir), args.mazes, args.seeds) + "\n")
    print(f"wrote {output}")
    return 0


def _run_trials(
    args: argparse.Namespace,
    command: Sequence[str],
    trials: Sequence[Trial],
    names: str,
    grids: Sequence[str],
) -> int:
    _check_execution_options(args)
    run_dir = Path(args.run_dir)
    check_folder_option("--run-dir", run_dir)
    for line in reconcile(trials, run_dir, apply=not args.dry_run):
        print(("would: " if args.dry_run else "") + line, flush=True)
    todo = pending(trials, run_dir)
    print(
        f"{len(trials)} trials in {names}: "
        f"{len(trials) - len(todo)} finished, {len(todo)} to run ({args.backend})",
        flush=True,
    )
    if args.dry_run:
        for trial in todo:
            print(f"  {trial.name}: {shlex.join(trial.argv())}")
        return 0
    if not todo:
        return 0
    count = [0]

    def report(outcome: Outcome) -> None:
        count[0] += 1
        print(f"[{count[0]}/{len(todo)}] {outcome.trial.name}: {_describe(outcome)}", flush=True)

    start, started = time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _log_run(run_dir, args, command, grids, started, None, len(trials), [], False)
    interrupted = False
    outcomes: list[Outcome] = []
    try:
        with interrupt_on_sigterm():  # kill, or a batch scheduler, stops it like Ctrl-C
            outcomes = run_trials(
                trials,
                run_dir,
                backend=args.backend,
                jobs=args.jobs,
                retries=args.retries,
                address=args.address,
                report=report,
            )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        _log_run(run_dir, args, command, grids, started, time.perf_counter() - start,
                 len(trials), outcomes, interrupted)  # fmt: skip
    if interrupted:
        print(f"{PROG}: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    failed = [o for o in outcomes if o.summary is None]
    if failed:
        print(
            f"{PROG}: {len(failed)} trial(s) failed; logs: "
            + ", ".join(str(run_dir / o.trial.name / "log.txt") for o in failed[:3]),
            file=sys.stderr,
        )
        return 1
    return 0


def _check_execution_options(args: argparse.Namespace) -> None:
    """Refuse bad --backend / --address / --jobs / --retries before anything runs."""
    if args.backend not in BACKENDS:
        raise GridError(f"unknown --backend {args.backend!r}; accepted: {BACKENDS}")
    if args.backend == "ray":
        check_ray_address(args.address)
    elif args.address is not None:
        raise GridError("--address is for --backend ray")
    if args.jobs is not None and args.jobs <= 0:
        raise GridError(f"--jobs must be > 0, got {args.jobs}")
    if args.retries < 0:
        raise GridError(f"--retries must be >= 0, got {args.retries}")


def _log_run(
    run_dir: Path,
    args: argparse.Namespace,
    command: Sequence[str],
    grids: Sequence[str],
    started: str,
    wall_s: float | None,
    trials: int,
    outcomes: Sequence[Outcome],
    interrupted: bool,
) -> None:
    """Append a line on this run of the driver to ``RUN_DIR/runs.jsonl``: one when it
    starts (``wall_s`` None: what it set out to run, kept should the machine stop under
    it), one when it ends (what ran, for how long)."""
    entry: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "experiments", *command]),
        "grids": [str(Path(g)) for g in grids],
        "backend": args.backend,
        "started": started,
        "trials": trials,
    }
    if wall_s is None:
        entry["event"] = "start"
    else:
        entry.update(
            event="end",
            wall_s=round(wall_s, 1),
            ran=len(outcomes),
            failed=sum(o.summary is None for o in outcomes),
            interrupted=interrupted,
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / RUNS_FILE, "a") as f:
        f.write(json.dumps(entry) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args, argv)
        if args.command == "mazes":
            return _mazes(args, argv)
        if args.command == "survivors":
            print(survivors_table(Path(args.run_dir), args.match))
            return 0
        check_folder_option("--output", Path(args.output).parent)
        path = write_report(Path(args.run_dir), Path(args.output))
        print(f"wrote {path}")
        return 0
    except (GridError, ReportError, UsageError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
