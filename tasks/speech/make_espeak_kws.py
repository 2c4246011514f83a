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

Two difficulties (``--difficulty``, the records in :data:`DIFFICULTIES`):

- ``easy`` (the default): the ten keywords, clean speech at 120-200 words per
  minute, peak levels -12 to -1 dBFS. Read with the runner's default ``--classes 12``.
- ``hard``: every speaker says all 35 Speech Commands words, so the confusable
  ones (``tree`` / ``three``, ``bed`` / ``bird``, ``no`` / ``go`` / ``dog`` /
  ``down``, ``four`` / ``forward``, ``up`` / ``off``, ``learn`` / ``left``) are
  classes of their own; speech at 100-240 words per minute, pitches 10-90; one
  of the three noises of ``_background_noise_`` (a seeded 1 s stretch of it)
  mixed into every clip at a signal-to-noise ratio drawn from 10-30 dB (speech
  power over the spoken part against noise power); then the mixture's peak set
  to a level drawn from -24 to -1 dBFS. Twice as many speakers as the easy set,
  each saying every word once. Read it with ``--classes 35`` (every word a class)::

      python -m tasks.speech.make_espeak_kws data/kws-hard --difficulty hard
      python -m tasks.speech --dataset speechcommands --data-dir data/kws-hard --classes 35

  (``--classes 12`` reads it too: 25 of the words then make ``_unknown_``.)

Each difficulty has its own default number of speakers and takes. Write each
set into a folder of its own: clips already on disk are kept, whatever
difficulty made them.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from tasks.speech.speechcommands import ALL_WORDS, KEYWORDS, NOISE_FOLDER

__all__ = [
    "ACCENTS",
    "DIFFICULTIES",
    "NOISES",
    "Clip",
    "Difficulty",
    "check_tools",
    "main",
    "make_dataset",
    "plan",
    "variants",
]

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
SAMPLE_RATE = 16_000
#: the noises written to ``_background_noise_/<colour>_noise.wav`` (sox's synth colours)
NOISES = ("white", "pink", "brown")
NOISE_SECONDS = 30
ESPEAK_SPEED_WPM = (80, 450)  # the rates espeak-ng accepts
ESPEAK_PITCH = (0, 99)


class ToolError(Exception):
    """A missing external program or a failed synthesis."""


@dataclass(frozen=True)
class Difficulty:
    """How hard a generated set is: its words and the ranges each clip's settings are drawn from.

    Every range is ``(low, high)``, drawn uniformly (integers inclusive), seeded.

    :param words: the words every speaker says ``utterances`` times (the classes); the
        other Speech Commands words can be said once each, as ``_unknown_`` clips.
    :param speakers: default number of speakers (voice x variant pairs).
    :param utterances: default takes of each word per speaker.
    :param speed_wpm: espeak-ng speaking rate, words per minute.
    :param pitch: espeak-ng pitch, 0-99.
    :param offset_s: start of the speech in the 1 s clip, s.
    :param peak_db: peak level of the clip, dBFS.
    :param snr_db: signal-to-noise ratio of the background noise mixed into every clip,
        dB; ``None``: clean speech.
    """

    words: tuple[str, ...]
    speakers: int
    utterances: int
    speed_wpm: tuple[int, int]
    pitch: tuple[int, int]
    offset_s: tuple[float, float]
    peak_db: tuple[float, float]
    snr_db: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.words) - set(ALL_WORDS))
        if not self.words or unknown or len(set(self.words)) != len(self.words):
            raise ValueError(
                f"words must be distinct Speech Commands words {ALL_WORDS}, got {self.words}"
            )
        if self.speakers < 3 or self.utterances <= 0:
            raise ValueError(
                f"speakers must be >= 3 and utterances > 0, got {self.speakers}, {self.utterances}"
            )
        bounds = {
            "speed_wpm": ESPEAK_SPEED_WPM,
            "pitch": ESPEAK_PITCH,
            "offset_s": (0.0, 1.0),
            "peak_db": (-60.0, 0.0),
            "snr_db": (-30.0, 60.0),
        }
        for name, (least, most) in bounds.items():
            value = getattr(self, name)
            if value is not None and not least <= value[0] <= value[1] <= most:
                raise ValueError(
                    f"{name} must be a range (low, high) within [{least}, {most}], got {value}"
                )

    @property
    def others(self) -> tuple[str, ...]:
        """The Speech Commands words outside :attr:`words` (candidates for ``_unknown_``)."""
        return tuple(word for word in ALL_WORDS if word not in self.words)


#: the named difficulties; ``easy`` is the set this generator has always made
DIFFICULTIES = {
    "easy": Difficulty(
        words=KEYWORDS,
        speakers=120,
        utterances=3,
        speed_wpm=(120, 200),
        pitch=(20, 80),
        offset_s=(0.0, 0.25),
        peak_db=(-12.0, -1.0),
    ),
    "hard": Difficulty(
        words=ALL_WORDS,
        speakers=240,
        utterances=1,
        speed_wpm=(100, 240),
        pitch=(10, 90),
        offset_s=(0.0, 0.25),
        peak_db=(-24.0, -1.0),
        snr_db=(10.0, 30.0),
    ),
}


def difficulty_of(name: str) -> Difficulty:
    """:raises ValueError: naming an unknown difficulty and the accepted ones."""
    if name not in DIFFICULTIES:
        raise ValueError(f"unknown --difficulty {name!r}; accepted: {tuple(DIFFICULTIES)}")
    return DIFFICULTIES[name]


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
    snr_db: float | None = None  # None: clean speech
    noise: str = ""  # colour of the noise mixed in (one of NOISES)
    noise_start: int = 0  # first sample of the noise file's stretch mixed in

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
    difficulty: str = "easy",
) -> tuple[list[Clip], dict[str, tuple[str, str]]]:
    """The clips to synthesise and each speaker's ``(voice, split)``.

    Speakers are drawn (seeded) from every accent x variant pair; 10 % of them
    (at least one) are validation speakers and 10 % testing speakers. Each says
    the difficulty's words ``utterances`` times and the first ``unknown_words``
    of the other Speech Commands words once.

    :param difficulty: a name in :data:`DIFFICULTIES`. Default ``easy``.
    :raises ValueError: naming the bad count or difficulty and the accepted values.
    """
    level = difficulty_of(difficulty)
    pairs = [f"{accent}+{variant}" for accent in ACCENTS for variant in available_variants]
    if not 3 <= speakers <= len(pairs):
        raise ValueError(f"--speakers must be in [3, {len(pairs)}], got {speakers}")
    if utterances <= 0:
        raise ValueError(f"--utterances must be > 0, got {utterances}")
    if not 0 <= unknown_words <= len(level.others):
        raise ValueError(
            f"--unknown-words must be in [0, {len(level.others)}] (the Speech Commands words "
            f"outside the {difficulty} set's {len(level.words)}), got {unknown_words}"
        )
    rng = np.random.default_rng(seed)
    voices = [pairs[i] for i in rng.choice(len(pairs), speakers, replace=False)]
    held = max(1, round(0.1 * speakers))
    splits = {}
    for index, voice in enumerate(voices):
        split = "testing" if index < held else "validation" if index < 2 * held else "training"
        splits[speaker_id(voice)] = (voice, split)
    others = list(level.others[:unknown_words])
    noise_starts = NOISE_SECONDS * SAMPLE_RATE - SAMPLE_RATE + 1
    clips = []
    for voice in voices:
        for word in (*level.words, *others):
            for n in range(utterances if word in level.words else 1):
                # the clean draws come first, in the order the easy set has always used
                settings = {
                    "speed_wpm": int(rng.integers(level.speed_wpm[0], level.speed_wpm[1] + 1)),
                    "pitch": int(rng.integers(level.pitch[0], level.pitch[1] + 1)),
                    "offset_s": float(rng.uniform(*level.offset_s)),
                    "peak_db": float(rng.uniform(*level.peak_db)),
                }
                if level.snr_db is not None:
                    settings["snr_db"] = float(rng.uniform(*level.snr_db))
                    settings["noise"] = NOISES[int(rng.integers(len(NOISES)))]
                    settings["noise_start"] = int(rng.integers(noise_starts))
                clips.append(
                    Clip(word=word, speaker=speaker_id(voice), voice=voice, utterance=n, **settings)
                )
    return clips, splits


def mix(speech: np.ndarray, noise: np.ndarray, snr_db: float, peak_db: float) -> np.ndarray:
    """``speech`` plus ``noise`` at ``snr_db``, the sum's peak set to ``peak_db`` dBFS.

    The speech's power is its mean square between its first and last non-zero
    sample (the silence the clip is padded with does not count).

    :raises ToolError: silent speech or noise (no ratio to set).
    """
    spoken = np.flatnonzero(speech)
    if len(spoken) == 0 or not np.any(noise):
        raise ToolError("cannot mix silent speech or silent noise at a signal-to-noise ratio")
    speech_power = np.mean(speech[spoken[0] : spoken[-1] + 1] ** 2)
    scale = np.sqrt(speech_power / (np.mean(noise**2) * 10.0 ** (snr_db / 10.0)))
    mixed = speech + scale * noise
    return mixed * (10.0 ** (peak_db / 20.0) / np.abs(mixed).max())


def synthesise(clip: Clip, root: Path) -> None:
    """espeak-ng -> sox (-> noise mixed in) -> ``root/<word>/<speaker>_nohash_<n>.wav``.

    The clip is 1 s at 16 kHz, 16 bit. A noisy clip reads its noise from
    ``root/_background_noise_``, which must be written first.
    """
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
    # a noisy clip comes back from sox through a pipe, to be mixed before it is written
    output = ["-t", "wav", "-"] if clip.snr_db is not None else [str(partial)]
    # trim leading / trailing silence, place at the offset, cut to 1 s, set the peak level
    sox = subprocess.run(
        ["sox", "-q", "-D", "-R", "-t", "wav", "-",
         "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", *output,
         "silence", "1", "0.01", "0.5%", "reverse", "silence", "1", "0.01", "0.5%", "reverse",
         "pad", f"{clip.offset_s:.3f}", "1", "trim", "0", "1", "gain", "-n", f"{clip.peak_db:.1f}"],
        input=speech.stdout,
        capture_output=True,
        check=False,
    )  # fmt: skip
    if sox.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ToolError(f"sox failed on {target}: {sox.stderr.decode(errors='replace').strip()}")
    if clip.snr_db is not None:
        clean, _ = sf.read(io.BytesIO(sox.stdout), dtype="float64")
        clean = np.pad(clean, (0, SAMPLE_RATE - len(clean)))  # sox's trim may stop short
        noise, _ = sf.read(
            root / NOISE_FOLDER / f"{clip.noise}_noise.wav",
            start=clip.noise_start,
            frames=SAMPLE_RATE,
            dtype="float64",
        )
        if len(noise) < SAMPLE_RATE:  # a kept noise file shorter than the one written here
            raise ToolError(
                f"{clip.noise}_noise.wav in {root / NOISE_FOLDER} is too short to mix from "
                f"sample {clip.noise_start}; delete it to have it written again"
            )
        noisy = mix(clean, noise, clip.snr_db, clip.peak_db)
        sf.write(partial, noisy, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    partial.replace(target)


def _noise(root: Path, seconds: int) -> None:
    folder = root / NOISE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for colour in NOISES:
        target = folder / f"{colour}_noise.wav"
        if target.is_file():  # repeatable synthesis: a kept file is the same file
            continue
        subprocess.run(
            ["sox", "-q", "-D", "-R", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
             str(target), "synth", str(seconds), f"{colour}noise",
             "gain", "-n", "-12"],
            check=True,
            capture_output=True,
        )  # fmt: skip


def make_dataset(
    root: str | Path,
    speakers: int | None = None,
    utterances: int | None = None,
    unknown_words: int | None = None,
    seed: int = 0,
    jobs: int = 2,
    progress: bool = True,
    difficulty: str = "easy",
) -> dict[str, int]:
    """Write the whole set under ``root``; return the number of clips per split.

    Clips already on disk are kept (an interrupted run continues); the list
    files are written last.

    :param speakers: voice x variant speakers. Default: the difficulty's.
    :param utterances: takes of each of the difficulty's words per speaker. Default: the
        difficulty's.
    :param unknown_words: other Speech Commands words said once per speaker. Default: all
        of them (:attr:`Difficulty.others`).
    :param seed: seed of the speakers and of every clip's settings. Default 0.
    :param jobs: parallel synthesis jobs. Default 2.
    :param progress: show a progress bar. Default True.
    :param difficulty: a name in :data:`DIFFICULTIES`. Default ``easy``.
    :raises ValueError: a bad count, difficulty or folder.
    :raises ToolError: espeak-ng or sox missing or failing.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file, not a dataset folder")
    level = difficulty_of(difficulty)
    check_tools()
    if jobs <= 0:
        raise ValueError(f"--jobs must be > 0, got {jobs}")
    clips, splits = plan(
        level.speakers if speakers is None else speakers,
        level.utterances if utterances is None else utterances,
        len(level.others) if unknown_words is None else unknown_words,
        seed,
        variants(),
        difficulty,
    )
    for word in {c.word for c in clips}:
        (root / word).mkdir(parents=True, exist_ok=True)
    _noise(root, seconds=NOISE_SECONDS)  # before the clips: noisy clips mix it in
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
    lists: dict[str, list[str]] = {"validation": [], "testing": [], "training": []}
    for clip in clips:
        lists[splits[clip.speaker][1]].append(clip.relpath)
    for split in ("validation", "testing"):
        (root / f"{split}_list.txt").write_text("".join(f"{p}\n" for p in sorted(lists[split])))
    rows = ["speaker\tvoice\tsplit"] + [f"{s}\t{v}\t{sp}" for s, (v, sp) in sorted(splits.items())]
    (root / "speakers.tsv").write_text("\n".join(rows) + "\n")
    return {split: len(paths) for split, paths in lists.items()}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except ``None`` ones, whose help says what they stand for."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def _per_difficulty(field: str) -> str:
    return ", ".join(f"{getattr(level, field)} {name}" for name, level in DIFFICULTIES.items())


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Synthesise Speech Commands words with espeak-ng voices "
        "(Speech Commands layout, speaker-disjoint validation / testing lists): the ten "
        "keywords clean (easy), or all 35 words in background noise (hard; read it with "
        "python -m tasks.speech --classes 35).",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("output", metavar="DIR", help="dataset folder to write")
    p.add_argument(
        "--difficulty", default="easy", help=f"one of {tuple(DIFFICULTIES)} (see the module doc)"
    )
    p.add_argument(
        "--speakers",
        type=int,
        default=None,
        help=f"voice x variant speakers (default: {_per_difficulty('speakers')})",
    )
    p.add_argument(
        "--utterances",
        type=int,
        default=None,
        help=f"takes of each word per speaker (default: {_per_difficulty('utterances')})",
    )
    p.add_argument(
        "--unknown-words",
        type=int,
        default=None,
        help="other Speech Commands words, said once per speaker (the unknown class; default: "
        + ", ".join(f"{len(level.others)} {name}" for name, level in DIFFICULTIES.items())
        + ")",
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
            difficulty=args.difficulty,
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
