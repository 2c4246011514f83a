"""Experiment grids end to end: checking, running (locally and on a local Ray
instance), skipping finished trials, and the report from the JSON files."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.cli import main
from experiments.execute import ROOT
from experiments.grid import GridError, load_grid
from experiments.report import ReportError, choose, load_records
from experiments.stats import Cell
from nspdi_rl.layers import DEFAULT_READING, ORIGINAL_READING

# a maze trial of a few seconds: 64 PPO steps of a tiny spiking policy
TINY = """
name: tiny
task: maze
args:
  env: nspdi/GridMaze-v0
  total-timesteps: 64
  hidden: [8]
  time-steps: 2
  n-envs: 1
  eval-freq: 64
  checkpoint-freq: 64
seeds: [0, 1]
experiments:
  sparsity:
    target_sparsity: [0, 0.5]
  methods:
    target_sparsity: [0.5]
    pruning: [dense, nsp]
"""


def write(tmp_path: Path, text: str, name: str = "grid.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_grid_expands_sub_grids_and_runs_shared_trials_once(tmp_path: Path) -> None:
    grid = load_grid([write(tmp_path, TINY)])
    # sparsity: 2 targets x 2 seeds; methods: dense (target 0, as nsp at 0) and nsp at
    # 0.5, both already in the sweep: 4 distinct trials, one of them dense
    assert len(grid.trials) == 6
    nsp_half = [t for t in grid.trials if t.pruning == "nsp" and t.target_sparsity == 0.5]
    assert all(t.experiments == ("tiny/sparsity", "tiny/methods") for t in nsp_half)
    dense = [t for t in grid.trials if t.pruning == "dense"]
    assert {t.target_sparsity for t in dense} == {0.0} and len(dense) == 2
    argv = nsp_half[0].argv()
    assert argv[:2] == ["--checkpoint-freq", "64"] and "--pruning" in argv
    assert len({t.name for t in grid.trials}) == 6


def test_a_path_valued_option_names_one_folder_not_a_nested_one(tmp_path: Path) -> None:
    config = write(tmp_path, "default:\n  policy_kwargs: dict(net_arch=[8])\n", "zoo.yaml")
    grid = load_grid([write(tmp_path, TINY + f"  zoo:\n    options:\n      config: [{config}]\n")])
    trials = [t for t in grid.trials if t.options]
    assert len(trials) == 2  # one per seed
    for trial in trials:
        assert "/" not in trial.name and f"-config{str(config).replace('/', '_')}-" in trial.name
        argv = trial.argv()
        assert argv[argv.index("--config") + 1] == str(config)  # the runner gets the path


def test_only_runs_the_named_sub_grids_and_refuses_unknown_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    grid = load_grid([write(tmp_path, TINY)])
    methods = grid.only(["methods"])
    # the sweep's nsp at 0.5 is also a methods trial: it stays, with both memberships
    assert sorted((t.pruning, t.seed) for t in methods.trials) == [
        ("dense", 0), ("dense", 1), ("nsp", 0), ("nsp", 1)
    ]  # fmt: skip
    assert grid.only(["tiny/sparsity"]).trials == tuple(
        t for t in grid.trials if "tiny/sparsity" in t.experiments
    )
    assert len(grid.only(["methods", "sparsity"]).trials) == len(grid.trials)
    with pytest.raises(GridError, match="no sub-grid 'ablation'; accepted: .*'methods'"):
        grid.only(["ablation"])
    run_dir = tmp_path / "runs"
    path = str(write(tmp_path, TINY))
    assert main(["run", path, "--run-dir", str(run_dir), "--only", "methods", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 trials in tiny (only methods): 0 finished, 4 to run" in out
    assert main(["run", path, "--run-dir", str(run_dir), "--only", "nope"]) == 2
    assert "--only: no sub-grid 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TINY.replace("pruning: [dense, nsp]", "pruning: [lottery]"), "unknown pruning 'lottery'"),
        (TINY.replace("pruning: [dense, nsp]", "method: [dense, nsp]"), "key 'method' is now"),
        (
            TINY.replace("    target_sparsity: [0, 0.5]\n", "    sparsity: [0.5]\n"),
            "unknown key 'sparsity'",
        ),  # fmt: skip
        (TINY.replace("seeds: [0, 1]", "seed: [0, 1]"), "unknown key 'seed'"),
        (TINY.replace("task: maze", "task: chess"), "unknown task 'chess'"),
        ("name: x\ntask: maze\nexperiments: {}\n", "no experiments (an empty grid)"),
        (TINY.replace("[0, 0.5]", "[]"), "lists no values (an empty grid)"),
        (TINY.replace("[0, 0.5]", "[0, 1.5]"), "target_sparsity must be in [0, 1), got 1.5"),
        (TINY.replace("time-steps: 2", "time-steps: -2"), "--time-steps must be > 0"),
        (TINY.replace("n-envs: 1", "workers: 1"), "unrecognized arguments: --workers"),
        (TINY.replace("n-envs: 1", "output: somewhere"), "args may not set 'output'"),
        ("task: [", "is not valid YAML"),
    ],
)
def test_bad_grids_fail_in_one_line_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture, text: str, message: str
) -> None:
    run_dir = tmp_path / "runs"
    assert main(["run", str(write(tmp_path, text)), "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not run_dir.exists()


def test_missing_grid_file_and_speech_data(tmp_path: Path) -> None:
    with pytest.raises(GridError, match="does not exist"):
        load_grid([tmp_path / "nope.yaml"])
    with pytest.raises(GridError, match="is a folder, not a file"):
        load_grid([tmp_path])
    (tmp_path / "binary.yaml").write_bytes(b"\xc0\xc1 not text")
    with pytest.raises(GridError, match="is not text"):
        load_grid([tmp_path / "binary.yaml"])
    speech = "task: speech\nargs: {dataset: speechcommands, data-dir: %s}\n" % (tmp_path / "kws")
    speech += "experiments: {a: {ndi: [true]}}\n"
    with pytest.raises(GridError, match="make_espeak_kws"):
        load_grid([write(tmp_path, speech)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_ray_head_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    grid = str(write(tmp_path, TINY))
    argv = ["run", grid, "--run-dir", str(tmp_path / "r"), "--backend", "ray"]
    assert main([*argv, "--address", f"127.0.0.1:{_free_port()}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot reach the Ray head at 127.0.0.1" in err and len(err.splitlines()) == 1
    assert main(["run", grid, "--backend", "slurm"]) == 2
    assert "unknown --backend 'slurm'" in capsys.readouterr().err


def test_driver_options_are_checked_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    grid = str(write(tmp_path, TINY))
    taken = tmp_path / "taken"
    taken.write_text("a file")
    cases = [
        (["run", grid, "--run-dir", str(taken)], f"--run-dir {taken} is a file, not a folder"),
        (["run", grid, "--run-dir", str(tmp_path / "r"), "--jobs", "0"], "--jobs must be > 0"),
        (["run", grid, "--run-dir", str(tmp_path / "r"), "--retries", "-1"], "--retries must"),
        (["report", str(tmp_path), "--output", str(taken / "r.md")], f"{taken} is a file"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], captured.err
        assert captured.out == ""  # nothing counted, listed or run
    assert taken.read_text() == "a file" and not (tmp_path / "r").exists()


def _check_run(run_dir: Path) -> None:
    summaries = sorted(run_dir.glob("*/summary.json"))
    assert len(summaries) == 6
    for path in summaries:
        trial = json.loads((path.parent / "trial.json").read_text())
        summary = json.loads(path.read_text())
        expected = 0.0 if trial["pruning"] == "dense" else trial["target_sparsity"]
        assert summary["sparsity"] == pytest.approx(expected, abs=0.02)
        assert summary["total_timesteps"] >= 64


@pytest.mark.slow
def test_local_run_skips_finished_trials_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    grid, run_dir = str(write(tmp_path, TINY)), tmp_path / "runs"
    assert main(["run", grid, "--run-dir", str(run_dir), "--jobs", "2"]) == 0
    _check_run(run_dir)
    out = capsys.readouterr().out
    assert "6 trials in tiny: 0 finished, 6 to run (local)" in out and "[6/6]" in out
    # a lost result is the only thing run again (the runner's own summary is lost too:
    # the maze runner resumes from its last checkpoint and evaluates again)
    victim = next(run_dir.glob("*-nsp*-0.5-*seed1*"))
    (victim / "summary.json").unlink()
    (victim / "run" / "summary.json").unlink()
    assert main(["run", grid, "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "5 finished, 1 to run" in out and f"[1/1] {victim.name}" in out
    assert main(["run", grid, "--run-dir", str(run_dir)]) == 0
    assert "6 finished, 0 to run" in capsys.readouterr().out
    runs = [json.loads(line) for line in (run_dir / "runs.jsonl").read_text().splitlines()]
    # a line when each run starts (what it set out to run) and one when it ends
    assert [(r["event"], r["trials"], r.get("ran")) for r in runs] == [
        ("start", 6, None), ("end", 6, 6), ("start", 6, None), ("end", 6, 1)
    ]  # fmt: skip

    report = tmp_path / "docs" / "results.md"
    assert main(["report", str(run_dir), "--output", str(report)]) == 0
    text = report.read_text()
    assert "| 1. high sparsity with minimal loss |" in text
    assert "from 6 trial summaries" in text and "Trials finished: 6 of 6" in text
    hours = sum(r.wall_s for r in load_records(run_dir)) / 3600
    assert f"of them tuning; per grid: tiny {hours:.2f}." in text
    assert " over 2 invocations:" in text
    # a run the machine stopped under (its start logged, its end never): said so
    with open(run_dir / "runs.jsonl", "a") as f:
        f.write(json.dumps({**runs[0], "started": "2026-01-01T00:00:00Z"}) + "\n")
    assert main(["report", str(run_dir), "--output", str(report)]) == 0
    assert " over 3 invocations, 1 of them running or stopped unrecorded:" in report.read_text()
    assert "**Sparsity sweep**" in text and "| 0.5 |" in text
    pngs = sorted(p.name for p in (tmp_path / "docs" / "results").glob("*.png"))
    assert pngs == ["tiny-score-vs-connectivity.png"]
    # what pruning left: a row per weight tensor (W and V of the policy and value nets)
    assert main(["survivors", str(run_dir), "--match", "*-nsp*-0.5-*"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [r for r in out if r.startswith("| maze-nsp") and "-0.5-" in r]
    assert len(rows) == 2 * 4 and all("| nsp | 192 / 384 |" in r for r in rows), rows
    records = load_records(run_dir)
    assert sorted({(r.label, r.target) for r in records}) == [
        ("dense", 0.0),
        ("nsp", 0.0),
        ("nsp", 0.5),
    ]


@pytest.mark.slow
def test_local_ray_instance_runs_the_grid(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    grid, run_dir = str(write(tmp_path, TINY)), tmp_path / "runs"
    assert main(["run", grid, "--run-dir", str(run_dir), "--backend", "ray"]) == 0
    _check_run(run_dir)


# two maze trials, each far too long to finish within the test
LONG = """
name: long
task: maze
args: {env: nspdi/GridMaze-v0, total-timesteps: 1000000, hidden: [8], time-steps: 2, n-envs: 1,
       checkpoint-freq: 256}
seeds: [0, 1]
experiments:
  a:
    target_sparsity: [0.5]
"""


def _processes_naming(path: Path) -> list[int]:
    """The pids of live processes whose command line names ``path``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(path) in (entry / "cmdline").read_text():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _latest_steps(trial: Path) -> int:
    """The step count of a trial's newest checkpoint (0 if none yet)."""
    root = trial / "run" / "checkpoints"
    try:
        name = json.loads((root / "latest.json").read_text())["checkpoint"]
        return json.loads((root / name / "state.json").read_text())["num_timesteps"]
    except (OSError, ValueError, KeyError):
        return 0


def _start_and_terminate(grid: Path, run_dir: Path, backend: str) -> tuple[int, dict[str, str]]:
    """Start the driver and SIGTERM it once both trials have written a new checkpoint;
    return the driver's exit status and each trial's log (by seed)."""
    before = {t: _latest_steps(t) for t in run_dir.glob("maze-*")}
    command = ["run", str(grid), "--run-dir", str(run_dir), "--backend", backend]
    driver = subprocess.Popen(
        [sys.executable, "-m", "experiments", *command],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def checkpointed() -> bool:
        trials = list(run_dir.glob("maze-*"))
        return len(trials) == 2 and all(_latest_steps(t) > before.get(t, 0) for t in trials)

    deadline = time.time() + 180
    while time.time() < deadline and driver.poll() is None and not checkpointed():
        time.sleep(0.2)
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=180)
    assert "interrupted; run the same command again to continue" in err, err
    logs = {t.name.split("-")[-2]: (t / "log.txt").read_text() for t in run_dir.glob("maze-*")}
    return driver.returncode, logs


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", "ray"])
def test_sigterm_stops_the_driver_and_its_trials_cleanly_and_they_resume(
    tmp_path: Path, backend: str
) -> None:
    """kill (or a batch scheduler) does what Ctrl-C does: every running trial saves its
    checkpoint, no process is left behind, and the next run resumes from there."""
    if backend == "ray":
        pytest.importorskip("ray")
    grid, run_dir = write(tmp_path, LONG), tmp_path / "runs"
    code, logs = _start_and_terminate(grid, run_dir, backend)
    assert code == 130 and sorted(logs) == ["seed0", "seed1"]
    assert _processes_naming(run_dir) == []
    saved = {t.name.split("-")[-2]: _latest_steps(t) for t in run_dir.glob("maze-*")}
    for seed, log in logs.items():
        assert saved[seed] > 0 and f"interrupted at {saved[seed]} steps" in log, log
    code, logs = _start_and_terminate(grid, run_dir, backend)
    assert code == 130
    for seed, log in logs.items():
        second = log.split("--- attempt")[-1]
        assert f"resuming at {saved[seed]}" in second and "interrupted at" in second, log
    assert all(_latest_steps(t) > saved[t.name.split("-")[-2]] for t in run_dir.glob("maze-*"))
    assert _processes_naming(run_dir) == []
    runs = [json.loads(line) for line in (run_dir / "runs.jsonl").read_text().splitlines()]
    assert [r["interrupted"] for r in runs if r["event"] == "end"] == [True, True]
    assert [r["event"] for r in runs].count("start") == 2
    assert not list(run_dir.glob("*/summary.json"))


def test_report_and_survivors_refuse_a_file_as_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "file"
    path.write_text("not a folder")
    for command in (["report", str(path)], ["survivors", str(path)]):
        assert main(command) == 2
        assert capsys.readouterr().err.strip().endswith(f"{path} is a file, not a run folder")


def test_report_needs_finished_trials(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "no finished trials" in capsys.readouterr().err
    assert main(["survivors", str(tmp_path / "nope")]) == 2
    assert "no run folder" in capsys.readouterr().err
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "trial.json").write_text('{"task": "speech"}')
    assert main(["survivors", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no finished trial" in err and "1 without a model" in err and len(err.splitlines()) == 1


def test_readings_are_grid_axes_that_the_baselines_ignore(tmp_path: Path) -> None:
    text = """name: readings
task: maze
args: {total-timesteps: 64}
experiments:
  screen:
    pruning: [nsp, magnitude]
    reading: [d1, d2]
    learnable_a: [false, true]
    pruned_grad: [exact]
"""
    grid = load_grid([write(tmp_path, text)])
    assert len(grid.trials) == 5  # nsp: 2 readings x 2; magnitude once
    names = sorted(t.name.split("-seed")[0] for t in grid.trials)
    assert names == [
        "maze-magnitude-0.9-ndi-lognormal",
        "maze-nsp-d2-exact-0.9-ndi-lognormal",
        "maze-nsp-d2-exact-learna-0.9-ndi-lognormal",
        "maze-nsp-exact-0.9-ndi-lognormal",
        "maze-nsp-exact-learna-0.9-ndi-lognormal",
    ]
    nsp = next(t for t in grid.trials if t.reading == "d2" and t.learnable_a)
    argv = nsp.argv()
    assert argv[argv.index("--reading") + 1] == "d2" and "--learnable-a" in argv
    assert argv[argv.index("--pruned-grad") + 1] == "exact"
    # the key hashes what the runner resolves the command line into
    text_of = json.dumps({"task": "maze", "settings": nsp.resolved}, sort_keys=True)
    assert nsp.key == hashlib.sha1(text_of.encode()).hexdigest()[:10]
    assert nsp.resolved["total_timesteps"] == 64 and nsp.resolved["algo"] == "ppo"
    with pytest.raises(GridError, match="unknown reading 'd3'"):
        load_grid([write(tmp_path, text.replace("[d1, d2]", "[d3]"))])


def test_readings_left_out_of_a_grid_are_each_methods_own(tmp_path: Path) -> None:
    text = """name: methods
task: maze
args: {total-timesteps: 64}
experiments:
  methods:
    pruning: [nsp, stds, magnitude]
"""
    trials = {t.pruning: t for t in load_grid([write(tmp_path, text)]).trials}
    for method, own in (("nsp", DEFAULT_READING.to_dict()), ("stds", ORIGINAL_READING.to_dict())):
        assert {k: getattr(trials[method], k) for k in own} == own, method
    # the command line says every option, so a later default cannot change the trial
    argv = trials["stds"].argv()
    assert argv[argv.index("--reading") + 1] == "d1" and "--no-learnable-a" in argv


def _fake_trial(
    run_dir: Path,
    grid: str,
    seed: int,
    score: float,
    val: float,
    reached: float | None = None,
    **opts,
) -> None:
    """A finished speech trial as the driver leaves it: trial.json and summary.json."""
    trial = {"task": "speech", "pruning": "nsp", "target_sparsity": 0.99, "ndi": True,
             "a_dist": "lognormal", "seed": seed, "experiments": [f"{grid}/x"]}  # fmt: skip
    trial |= opts
    trial = {
        **(DEFAULT_READING.to_dict() if trial["pruning"] == "nsp" else ORIGINAL_READING.to_dict()),
        **trial,
    }
    folder = run_dir / f"t-{abs(hash(json.dumps(trial, sort_keys=True)))}"
    folder.mkdir(parents=True)
    (folder / "trial.json").write_text(json.dumps(trial))
    summary = {"score": score, "val_accuracy": val, "metric": "accuracy", "test_samples": 1000,
               "sparsity": trial["target_sparsity"] if reached is None else reached,
               "wall_time_s": 1.0}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))


def test_choose_takes_the_best_reaching_configuration_then_breaks_ties_in_order() -> None:
    def cell(mean: float) -> Cell:
        return Cell((mean, mean), (100, 101), None)

    layer, network, glob = ((("scope", s),) for s in ("layer", "network", "global"))
    assert choose({glob: cell(0.9), network: cell(0.9), layer: cell(0.9)}) == layer
    assert choose({glob: cell(0.9), network: cell(0.9)}) == network
    assert choose({glob: cell(0.95), layer: cell(0.9)}) == glob
    # a configuration short of its target is not chosen, however well it scores
    assert choose({glob: cell(0.95), layer: cell(0.9)}, short={glob}) == layer
    with pytest.raises(ReportError, match="no configuration reached its target sparsity"):
        choose({glob: cell(0.95)}, short={glob})
    with pytest.raises(ReportError, match="no configuration to choose from"):
        choose({})


def test_tuning_table_marks_configurations_short_of_their_target(tmp_path: Path) -> None:
    """An agent pruned with the global scope pools actor and critic, and its actor can
    end below the target: the table shows what it reached and the rule passes it over."""
    run_dir = tmp_path / "study"
    for seed in (100, 101):
        _fake_trial(run_dir, "tune-speech", seed, 0.9, 0.95, reached=0.982,
                    options={"scope": "global"})  # fmt: skip
        _fake_trial(run_dir, "tune-speech", seed, 0.9, 0.90, options={"scope": "network"})
    report = tmp_path / "results.md"
    assert main(["report", str(run_dir), "--output", str(report)]) == 0
    text = report.read_text()
    assert "| NSP | scope global | 0.950 ± 0.000 (2) | 0.982 | short of target |" in text
    assert "| NSP | scope network | 0.900 ± 0.000 (2) | 0.990 | **yes** |" in text


def test_tuning_table_tells_apart_list_valued_options(tmp_path: Path) -> None:
    """A grid may cross options that take several values (``hidden: [[256], [512, 128]]``)."""
    run_dir = tmp_path / "study"
    for seed in (100, 101):
        _fake_trial(run_dir, "tune-width", seed, 0.9, 0.91, options={"hidden": [256]})
        _fake_trial(run_dir, "tune-width", seed, 0.9, 0.93, options={"hidden": [512, 128]})
    report = tmp_path / "results.md"
    assert main(["report", str(run_dir), "--output", str(report)]) == 0
    text = report.read_text()
    assert text.startswith("# Tuning on validation\n")  # no study grid: no claims
    assert "## Claims" not in text
    assert "| NSP | hidden 256 | 0.910 ± 0.000 (2) | 0.990 |  |" in text
    assert "| NSP | hidden 512 128 | 0.930 ± 0.000 (2) | 0.990 | **yes** |" in text


def test_report_chooses_on_validation_and_judges_on_test(tmp_path: Path) -> None:
    run_dir = tmp_path / "study"
    # tuning: the config with the best validation score wins, whatever its test score
    for seed in (100, 101):
        for end, val, test in ((0.5, 0.93, 0.80), (0.8, 0.90, 0.99)):
            _fake_trial(run_dir, "tune-speech", seed, test, val + 0.002 * (seed - 100),
                        options={"prune-end": end})  # fmt: skip
    # the study: NSP ahead of every baseline, 0.01 below dense
    for seed in range(10, 15):
        jitter = 0.002 * (seed - 12)
        _fake_trial(run_dir, "study-speech", seed, 0.95 + jitter, 0.9, pruning="dense",
                    target_sparsity=0.0)  # fmt: skip
        _fake_trial(run_dir, "study-speech", seed, 0.94 + jitter, 0.9)
        for method in ("magnitude", "stds", "gradr"):
            _fake_trial(run_dir, "study-speech", seed, 0.90 + jitter, 0.9, pruning=method)
        _fake_trial(run_dir, "study-speech", seed, 0.91 + jitter, 0.9,
                    condition="magnitude_gain", a_dist="constant")  # fmt: skip
    report = tmp_path / "results.md"
    assert main(["report", str(run_dir), "--output", str(report)]) == 0
    text = report.read_text()
    assert "| NSP | prune-end 0.5 | 0.931 ± 0.001 (2) | 0.990 | **yes** |" in text
    assert "| NSP | prune-end 0.8 | 0.901 ± 0.001 (2) | 0.990 |  |" in text
    assert "| 1. high sparsity with minimal loss | held |" in text
    assert "| 5. NSP beats earlier pruning methods | held |" in text
    assert "| 3. heterogeneous transition ratios beat homogeneous ones | not run |" in text
    assert "- study-speech: **held**. NSP 0.940 ± 0.008 (5) against magnitude" in text
    assert "Rule: NSP against each tuned baseline at 0.99." in text
    assert "| study-speech | +0.010 | better (+0.040, p = 0.001) | not run |" in text


def test_a_tuning_trial_shows_its_validation_score_never_its_test_score() -> None:
    from dataclasses import replace

    from experiments.cli import _describe
    from experiments.execute import Outcome
    from experiments.grid import Trial

    trial = Trial(task="speech", args=(), pruning="nsp", target_sparsity=0.99, ndi=True,
                  a_dist="lognormal", seed=100, experiments=("tune-speech/methods",))  # fmt: skip
    summary = {"score": 0.907, "val_accuracy": 0.931, "sparsity": 0.99}
    line = _describe(Outcome(trial, summary, None, 156.5, 1))
    assert line == "validation score 0.931 at sparsity 0.990 in 156 s"
    study = replace(trial, seed=10, experiments=("study-speech/nsp",))
    assert _describe(Outcome(study, summary, None, 156.5, 1)).startswith("score 0.907 ")
    # a trial shared with a study grid shows its test score, as the study reads it
    shared = replace(trial, experiments=("tune-speech/methods", "study-speech/nsp"))
    assert _describe(Outcome(shared, summary, None, 156.5, 1)).startswith("score 0.907 ")
    no_val = {"score": 0.907, "sparsity": 0.99}
    assert _describe(Outcome(trial, no_val, None, 1.0, 1)).startswith("validation score n/a ")
