"""``python -m tasks.speech.make_espeak_kws DIR``: a keyword-spotting set spoken by espeak-ng.

Every "speaker" is one espeak-ng voice (an English accent) with one voice
variant (``+m3``, ``+f2``, ``+klatt``, ...). Each speaker says each keyword a
few times at seeded speeds, pitches and loudness; sox converts the speech to
16 kHz mono 16-bit, trims its silences, places it at a seeded offset in a 1 s
clip and sets its peak level. The files follow the extracted Speech Commands
layout exactly::

    DIR/<word>/<speaker id>_nohash_<n>.wav
    DIR/_background_noise_/{white,pink,brown}_noise.wav
    DIR/validation_list.txt, DIR/testing_list.txt   (speaker-disjoint)
    DIR/speakers.tsv                                 (speaker id -> voice, variant, split)

so ``python -m tasks.speech --dataset speechcommands --data-dir DIR`` reads it
as it reads the real dataset. Besides the ten keywords it speaks some of the
other Speech Commands words once per speaker, for the ``_unknown_`` class.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tasks.speech.speechcommands import AUXILIARY_WORDS, KEYWORDS, NOISE_FOLDER

__all__ = ["ACCENTS", "Clip", "check_tools", "main", "make_dataset", "plan", "variants"]

PROG = "python -m tasks.speech.make_espeak_kws"
# espeak-ng's English voices (accents); each is combined with every variant
ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
)
TOOLS = ("espeak-ng", "sox")


class ToolError(Exception):
    """A missing external program or a failed synthesis."""


@dataclass(frozen=True)
class Clip:
    """One utterance to synthesise."""

    word: str
    speaker: str  # 8 hex digits, like Speech Commands' speaker ids
    voice: str  # espeak-ng voice with its variant, e.g. "en-us+m3"
    utterance: int
    speed_wpm: int
    pitch: int
    offset_s: float
    peak_db: float

    @property
    def relpath(self) -> str:
        return f"{self.word}/{self.speaker}_nohash_{self.utterance}.wav"


def check_tools() -> None:
    """:raises ToolError: naming espeak-ng / sox when they are not on PATH."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise ToolError(
            f"{' and '.join(missing)} not found on PATH; this generator needs espeak-ng "
            "and sox (Debian / Ubuntu: apt-get install espeak-ng sox)"
        )


def variants() -> list[str]:
    """The voice variants this espeak-ng installation has (``m1``, ``f2``, ``klatt``, ...)."""
    out = subprocess.run(
        ["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True
    ).stdout
    names = []
    for line in out.splitlines()[1:]:
        fields = line.split()
        # columns: Pty Language Age/Gender VoiceName File ...; File is "!v/<name>"
        if len(fields) >= 5 and fields[4].startswith("!v/"):
            names.append(fields[4][3:])
    if not names:
        raise ToolError("espeak-ng lists no voice variants (espeak-ng --voices=variant)")
    return sorted(set(names))


def speaker_id(voice: str) -> str:
    return hashlib.sha1(voice.encode()).hexdigest()[:8]


def plan(
    speakers: int,
    utterances: int,
    unknown_words: int,
    seed: int,
    available_variants: Sequence[str],
) -> tuple[list[Clip], dict[str, tuple[str, str]]]:
    """The clips to synthesise and each speaker's ``(voice, split)``.

    Speakers are drawn (seeded) from every accent x variant pair; 10 % of them
    (at least one) are validation speakers and 10 % testing speakers.
    """
    pairs = [f"{accent}+{variant}" for accent in ACCENTS for variant in available_variants]
    if not 3 <= speakers <= len(pairs):
        raise ValueError(f"--speakers must be in [3, {len(pairs)}], got {speakers}")
    if utterances <= 0:
        raise ValueError(f"--utterances must be > 0, got {utterances}")
    if not 0 <= unknown_words <= len(AUXILIARY_WORDS):
        raise ValueError(f"--unknown-words must be in [0, {len(AUXILIARY_WORDS)}]")
    rng = np.random.default_rng(seed)
    voices = [pairs[i] for i in rng.choice(len(pairs), speakers, replace=False)]
    held = max(1, round(0.1 * speakers))
    splits = {}
    for index, voice in enumerate(voices):
        split = "testing" if index < held else "validation" if index < 2 * held else "training"
        splits[speaker_id(voice)] = (voice, split)
    others = list(AUXILIARY_WORDS[:unknown_words])
    clips = []
    for voice in voices:
        for word in (*KEYWORDS, *others):
            for n in range(utterances if word in KEYWORDS else 1):
                clips.append(
                    Clip(
                        word=word,
                        speaker=speaker_id(voice),
                        voice=voice,
                        utterance=n,
                        speed_wpm=int(rng.integers(120, 201)),
                        pitch=int(rng.integers(20, 81)),
                        offset_s=float(rng.uniform(0.0, 0.25)),
                        peak_db=float(rng.uniform(-12.0, -1.0)),
                    )
                )
    return clips, splits


def synthesise(clip: Clip, root: Path) -> None:
    """espeak-ng -> sox -> ``root/<word>/<speaker>_nohash_<n>.wav`` (1 s, 16 kHz)."""
    target = root / clip.relpath
    partial = target.with_name(f".{target.stem}.partial.wav")  # renamed when complete
    speech = subprocess.run(
        ["espeak-ng", "-v", clip.voice, "-s", str(clip.speed_wpm), "-p", str(clip.pitch),
         "--stdout", clip.word],
        capture_output=True,
        check=False,
    )  # fmt: skip
    if speech.returncode != 0 or not speech.stdout:
        raise ToolError(f"espeak-ng failed for {clip.voice} {clip.word!r}: {speech.stderr!r}")
    # trim leading / trailing silence, place at the offset, cut to 1 s, set the peak level
    sox = subprocess.run(
        ["sox", "-q", "-D", "-R", "-t", "wav", "-",
         "-r", "16000", "-c", "1", "-b", "16", str(partial),
         "silence", "1", "0.01", "0.5%", "reverse", "silence", "1", "0.01", "0.5%", "reverse",
         "pad", f"{clip.offset_s:.3f}", "1", "trim", "0", "1", "gain", "-n", f"{clip.peak_db:.1f}"],
        input=speech.stdout,
        capture_output=True,
        check=False,
    )  # fmt: skip
    if sox.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ToolError(f"sox failed on {target}: {sox.stderr.decode(errors='replace').strip()}")
    partial.replace(target)


def _noise(root: Path, seconds: int) -> None:
    folder = root / NOISE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for colour in ("white", "pink", "brown"):
        target = folder / f"{colour}_noise.wav"
        if target.is_file():  # repeatable synthesis: a kept file is the same file
            continue
        subprocess.run(
            ["sox", "-q", "-D", "-R", "-n", "-r", "16000", "-c", "1", "-b", "16",
             str(target), "synth", str(seconds), f"{colour}noise",
             "gain", "-n", "-12"],
            check=True,
            capture_output=True,
        )  # fmt: skip


def make_dataset(
    root: str | Path,
    speakers: int = 120,
    utterances: int = 3,
    unknown_words: int = 25,
    seed: int = 0,
    jobs: int = 2,
    progress: bool = True,
) -> dict[str, int]:
    """Write the whole set under ``root``; return the number of clips per split.

    Clips already on disk are kept (an interrupted run continues); the list
    files are written last.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file, not a dataset folder")
    check_tools()
    if jobs <= 0:
        raise ValueError(f"--jobs must be > 0, got {jobs}")
    clips, splits = plan(speakers, utterances, unknown_words, seed, variants())
    for word in {c.word for c in clips}:
        (root / word).mkdir(parents=True, exist_ok=True)
    todo = [c for c in clips if not (root / c.relpath).is_file()]
    with ThreadPoolExecutor(jobs) as pool:  # each job waits on two subprocesses
        list(
            tqdm(
                pool.map(lambda c: synthesise(c, root), todo),
                total=len(todo),
                desc="synthesising",
                disable=not progress,
                dynamic_ncols=True,
            )
        )
    _noise(root, seconds=30)
    lists: dict[str, list[str]] = {"validation": [], "testing": [], "training": []}
    for clip in clips:
        lists[splits[clip.speaker][1]].append(clip.relpath)
    for split in ("validation", "testing"):
        (root / f"{split}_list.txt").write_text("".join(f"{p}\n" for p in sorted(lists[split])))
    rows = ["speaker\tvoice\tsplit"] + [f"{s}\t{v}\t{sp}" for s, (v, sp) in sorted(splits.items())]
    (root / "speakers.tsv").write_text("\n".join(rows) + "\n")
    return {split: len(paths) for split, paths in lists.items()}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Synthesise the ten Speech Commands keywords with espeak-ng voices "
        "(Speech Commands layout, speaker-disjoint validation / testing lists).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("output", metavar="DIR", help="dataset folder to write")
    p.add_argument("--speakers", type=int, default=120, help="voice x variant speakers")
    p.add_argument("--utterances", type=int, default=3, help="takes of each keyword per speaker")
    p.add_argument(
        "--unknown-words",
        type=int,
        default=len(AUXILIARY_WORDS),
        help="other Speech Commands words, said once per speaker (the unknown class)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="parallel synthesis jobs")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    try:
        counts = make_dataset(
            args.output,
            speakers=args.speakers,
            utterances=args.utterances,
            unknown_words=args.unknown_words,
            seed=args.seed,
            jobs=args.jobs,
            progress=not args.no_progress,
        )
    except (ToolError, ValueError, OSError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    print(
        f"wrote {sum(counts.values())} clips to {args.output}: "
        + ", ".join(f"{n} {split}" for split, n in counts.items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
