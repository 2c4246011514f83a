"""The shared command-line vocabulary: one flag per idea in every runner, run folders."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from nspdi_rl.pruning import PruningSchedule
from runtime.cli import (
    RUN_FORMAT,
    Preset,
    UsageError,
    prepare_run_dir,
    runner_parser,
    write_run_file,
)
from runtime.compat import reject_old_flags

SHARED_GROUPS = ("run", "pruning", "network")


def _runner_parsers() -> dict[str, argparse.ArgumentParser]:
    from agents.train_maze import parser as maze
    from tasks.speech.cli import parser as speech
    from tasks.vision.cli import parser as vision

    return {"maze": maze(), "speech": speech(), "vision": vision()}


def _shared_options(p: argparse.ArgumentParser) -> list[tuple[str, tuple[str, ...], str]]:
    """(group, option strings, help text without the default) of the shared groups."""
    rows = []
    for group in p._action_groups:
        if group.title in SHARED_GROUPS:
            for action in group._group_actions:
                text = (action.help or "").split(" (default")[0]
                rows.append((group.title, tuple(action.option_strings), text))
    return rows


def test_every_runner_lists_the_shared_flags_the_same_way() -> None:
    parsers = _runner_parsers()
    rows = {name: _shared_options(p) for name, p in parsers.items()}
    flags = [r[1][0] for r in rows["maze"]]
    assert flags == [
        "--output", "--resume", "--seed", "--threads", "--no-progress",
        "--pruning", "--target-sparsity", "--schedule", "--prune-end", "--scope",
        "--freeze-mask", "--a-dist", "--reading", "--theta-init", "--pruned-grad",
        "--learnable-a", "--d1", "--no-ndi", "--hidden", "--alpha",
    ]  # fmt: skip
    # same flags, same groups, same words (the output folder's default aside)
    strip = [(g, o, h) for g, o, h in rows["maze"] if o != ("--output",)]
    for name in ("speech", "vision"):
        assert [(g, o, h) for g, o, h in rows[name] if o != ("--output",)] == strip, name
    for p in parsers.values():
        assert "--method" not in p.format_help()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "nsp"], "--method is now --pruning"),
        (["--method=stds"], "--method is now --pruning"),
        (["--pruning", "none"], "--pruning none is now --pruning dense"),
        (["--pruning=none"], "--pruning none is now --pruning dense"),
        (["--resume", "runs/x"], "continue that run with --output runs/x --resume"),
        (["--resume=runs/x"], "--resume takes no folder"),
    ],
)
def test_old_spellings_are_refused_saying_what_changed(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("-", r"\-")):
        reject_old_flags(argv)
    reject_old_flags(["--pruning", "dense", "--output", "x", "--resume", "--seed", "1"])


def _parser() -> argparse.ArgumentParser:
    p = runner_parser("prog", "test", Preset(hidden=(8,), alpha=20.0), "runs/x")
    p.add_argument("--epochs", type=int, default=3)
    return p


def test_resume_takes_the_saved_options_and_refuses_other_values(tmp_path: Path) -> None:
    p = _parser()
    run = tmp_path / "run"
    args = p.parse_args(["--output", str(run), "--epochs", "5", "--pruning", "stds"])
    assert prepare_run_dir(args, p, "x") == (run, None)
    write_run_file(run, args, "prog")
    saved = json.loads((run / "run.json").read_text())
    assert saved["format"] == RUN_FORMAT and saved["runner"] == "prog"
    assert saved["options"]["epochs"] == 5 and "output" not in saved["options"]
    # a second run into the same folder is refused
    with pytest.raises(UsageError, match="already holds a run"):
        prepare_run_dir(p.parse_args(["--output", str(run)]), p, "x")
    # --resume alone takes the saved options; run-time ones may change
    args = p.parse_args(["--output", str(run), "--resume", "--threads", "2"])
    run_dir, record = prepare_run_dir(args, p, "x")
    assert record is not None and args.epochs == 5 and args.pruning == "stds"
    assert args.threads == 2
    # the same value again is fine; another one is named
    prepare_run_dir(p.parse_args(["--output", str(run), "--resume", "--epochs", "5"]), p, "x")
    with pytest.raises(UsageError, match=r"--epochs 5 -> 7"):
        prepare_run_dir(p.parse_args(["--output", str(run), "--resume", "--epochs", "7"]), p, "x")


def test_run_folder_errors_are_one_clear_line(tmp_path: Path) -> None:
    p = _parser()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file, not a run folder"):
        prepare_run_dir(p.parse_args(["--output", str(tmp_path / "file")]), p, "x")
    with pytest.raises(UsageError, match="nothing to resume"):
        prepare_run_dir(p.parse_args(["--output", str(tmp_path / "new"), "--resume"]), p, "x")
    with pytest.raises(UsageError, match="--resume needs --output"):
        prepare_run_dir(p.parse_args(["--resume"]), p, "x")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text("{not json")
    with pytest.raises(UsageError, match="damaged"):
        prepare_run_dir(p.parse_args(["--output", str(tmp_path / "bad"), "--resume"]), p, "x")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "run.json").write_text('{"epochs": 2}')
    with pytest.raises(UsageError, match="format None, not 2"):
        prepare_run_dir(p.parse_args(["--output", str(tmp_path / "old"), "--resume"]), p, "x")
    other = tmp_path / "other"
    write_run_file(other, p.parse_args([]), "another-prog")
    with pytest.raises(UsageError, match="is a run of another-prog"):
        prepare_run_dir(p.parse_args(["--output", str(other), "--resume"]), p, "x")


def test_presets_check_their_values() -> None:
    with pytest.raises(ValueError, match="preset pruning 'none'"):
        Preset(hidden=(8,), alpha=1.0, pruning="none")
    with pytest.raises(ValueError, match="hidden widths must be positive"):
        Preset(hidden=(0,), alpha=1.0)
    with pytest.raises(ValueError, match="target sparsity must be in"):
        Preset(hidden=None, alpha=1.0, target_sparsity=1.0)


def test_a_run_saved_before_an_option_existed_resumes_as_it_ran(tmp_path: Path) -> None:
    from runtime.compat import ADDED_OPTIONS

    p = _parser()
    run = tmp_path / "run"
    write_run_file(run, p.parse_args(["--output", str(run)]), "prog")
    record = json.loads((run / "run.json").read_text())
    for key in ADDED_OPTIONS:
        del record["options"][key]  # as written before the readings were options
    (run / "run.json").write_text(json.dumps(record))
    args = p.parse_args(["--output", str(run), "--resume"])
    prepare_run_dir(args, p, "x")
    assert {k: getattr(args, k) for k in ADDED_OPTIONS} == ADDED_OPTIONS
    with pytest.raises(UsageError, match="--reading 'd1' -> 'd2'"):
        prepare_run_dir(p.parse_args(["--output", str(run), "--resume", "--reading", "d2"]), p, "x")


def test_nsp_options_left_open_are_the_methods_own_and_saved_as_such(tmp_path: Path) -> None:
    from nspdi_rl.layers import DEFAULT_READING, ORIGINAL_READING
    from runtime.cli import check_shared_options

    p = _parser()
    help_text = " ".join(p.format_help().split())
    assert f"(default: {DEFAULT_READING.to_dict()['reading']} under --pruning nsp;" in help_text
    assert "--learnable-a, --no-learnable-a" in help_text
    for method, own in (("nsp", DEFAULT_READING.to_dict()), ("stds", ORIGINAL_READING.to_dict())):
        run = tmp_path / method
        args = p.parse_args(["--output", str(run), "--pruning", method])
        check_shared_options(args)
        write_run_file(run, args, "prog")
        saved = json.loads((run / "run.json").read_text())["options"]
        assert {k: saved[k] for k in own} == own, method
    args = p.parse_args(["--pruning", "nsp", "--no-learnable-a", "--reading", "d1"])
    shared = check_shared_options(args)
    # what the options describe comes back built once, for the runner to use
    assert (shared.nsp.method, shared.nsp.learnable_a, shared.nsp.reading) == ("nsp", False, "d1")
    assert shared.schedule == PruningSchedule(
        final=args.target_sparsity, shape=args.schedule, end=args.prune_end, scope=args.scope
    )
    assert (args.learnable_a, args.reading, args.pruned_grad) == (
        False,
        "d1",
        DEFAULT_READING.to_dict()["pruned_grad"],
    )
    with pytest.raises(UsageError, match="reading='d2' is an NSP reading; method is 'magnitude'"):
        check_shared_options(p.parse_args(["--pruning", "magnitude", "--reading", "d2"]))


def test_d1_is_a_fixed_threshold_of_the_d2_reading_only() -> None:
    from runtime.cli import nsp_config
    from tasks.speech.cli import parser

    args = parser().parse_args(["--d1", "0.01"])
    assert nsp_config(args).d1 == 0.01 and nsp_config(args).reading == "d2"
    args = parser().parse_args(["--d1", "0.01", "--pruning", "stds"])
    with pytest.raises(UsageError, match="--d1 0.01 is a fixed threshold of NSP's d2 reading"):
        nsp_config(args)
    args = parser().parse_args(["--d1", "-1"])
    with pytest.raises(UsageError, match="d1 must be >= 0, got -1.0"):
        nsp_config(args)


def test_the_reading_flags_are_made_from_the_reading_fields() -> None:
    from nspdi_rl.layers import ORIGINAL_READING, Reading

    p = _parser()
    flags = {s for action in p._actions for s in action.option_strings}
    assert {Reading.flag(name) for name in Reading.names()} <= flags
    # a reading spelled as a command line parses back to itself, for every value
    for reading in (ORIGINAL_READING, Reading(), Reading(theta_init="w", learnable_a=False)):
        args = p.parse_args(reading.argv())
        assert Reading(**{name: getattr(args, name) for name in Reading.names()}) == reading
    # a preset's reading becomes the flags' defaults
    preset = Preset(hidden=(8,), alpha=1.0, nsp_reading=Reading(pruned_grad="until_reached"))
    args = runner_parser("prog", "test", preset, "runs/x").parse_args([])
    assert (args.pruned_grad, args.reading) == ("until_reached", "d2")
    with pytest.raises(ValueError, match="is an NSP reading; method is 'stds'"):
        Preset(hidden=(8,), alpha=1.0, pruning="stds", nsp_reading=Reading())
