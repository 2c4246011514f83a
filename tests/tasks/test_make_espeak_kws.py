"""The espeak-ng keyword-set generator's difficulties: the plans, the noise mixing, the hard set."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tasks.speech import make_espeak_kws
from tasks.speech.make_espeak_kws import DIFFICULTIES, NOISES, Clip, Difficulty, mix, plan
from tasks.speech.speechcommands import ALL_WORDS, KEYWORDS, UNKNOWN, load_speechcommands

HAVE_ESPEAK = shutil.which("espeak-ng") is not None and shutil.which("sox") is not None
#: stand-ins for the installation's voice variants: the plans need only their names
VARIANTS = ["f1", "klatt", "m1", "m2"]
HARD = DIFFICULTIES["hard"]
CONFUSABLE = [("tree", "three"), ("bed", "bird"), ("learn", "left"), ("dog", "down"), ("no", "go")]


def speaker_of(relpath: str) -> str:
    return Path(relpath).name.split("_nohash_")[0]


def fingerprint(clips: list[Clip], splits: dict[str, tuple[str, str]]) -> str:
    rows = [
        f"{c.relpath} {c.voice} {c.speed_wpm} {c.pitch} {c.offset_s!r} {c.peak_db!r}" for c in clips
    ]
    rows += [f"{s} {v} {sp}" for s, (v, sp) in sorted(splits.items())]
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def test_easy_plan_draws_what_the_generator_always_drew() -> None:
    """The easy set's clips keep their settings (the digest is of the plan before ``hard``)."""
    clips, splits = plan(20, 2, 5, 0, VARIANTS)
    assert fingerprint(clips, splits) == (
        "b188c35ab67d5d57be4622437429d5f730b9f76de212a86d284b4172ad7ed461"
    )
    assert all(c.snr_db is None and c.noise == "" for c in clips)
    assert plan(20, 2, 5, 0, VARIANTS, "easy") == (clips, splits)


def test_hard_plan_speaks_every_word_in_noise() -> None:
    clips, splits = plan(20, 2, 0, 0, VARIANTS, "hard")
    words = Counter(c.word for c in clips)
    # all 35 words are classes, confusable pairs included, each said twice by every speaker
    assert set(words) == set(ALL_WORDS) and set(words.values()) == {20 * 2}
    assert all(a in words and b in words for a, b in CONFUSABLE)
    assert len({c.relpath for c in clips}) == len(clips)
    # every clip is noisy, at a ratio, level, speed and pitch inside the difficulty's ranges
    snr = np.array([c.snr_db for c in clips])
    peak = np.array([c.peak_db for c in clips])
    assert HARD.snr_db is not None and HARD.snr_db[0] <= snr.min() < snr.max() <= HARD.snr_db[1]
    assert snr.max() - snr.min() > 0.9 * (HARD.snr_db[1] - HARD.snr_db[0])
    assert HARD.peak_db[0] <= peak.min() < peak.max() <= HARD.peak_db[1]
    assert peak.max() - peak.min() > 0.9 * (HARD.peak_db[1] - HARD.peak_db[0])
    assert all(HARD.speed_wpm[0] <= c.speed_wpm <= HARD.speed_wpm[1] for c in clips)
    assert all(HARD.pitch[0] <= c.pitch <= HARD.pitch[1] for c in clips)
    assert set(Counter(c.noise for c in clips)) == set(NOISES)
    last_start = make_espeak_kws.NOISE_SECONDS * make_espeak_kws.SAMPLE_RATE - 16_000
    assert all(0 <= c.noise_start <= last_start for c in clips)
    # its draws are its own: wider than the easy set's
    easy = DIFFICULTIES["easy"]
    assert HARD.speed_wpm[1] - HARD.speed_wpm[0] > easy.speed_wpm[1] - easy.speed_wpm[0]
    assert HARD.peak_db[0] < easy.peak_db[0] and easy.snr_db is None
    # speaker-disjoint splits: 10 % testing and 10 % validation speakers
    split_of = {speaker: split for speaker, (_, split) in splits.items()}
    assert Counter(split_of.values()) == {"testing": 2, "validation": 2, "training": 16}
    assert {speaker_of(c.relpath) for c in clips} == set(split_of)
    assert len({voice for voice, _ in splits.values()}) == 20


def test_hard_defaults_fit_the_vocabulary() -> None:
    assert HARD.words == ALL_WORDS and HARD.others == ()
    assert DIFFICULTIES["easy"].words == KEYWORDS
    assert len(DIFFICULTIES["easy"].others) == len(ALL_WORDS) - len(KEYWORDS)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: plan(20, 1, 0, 0, VARIANTS, "medium"),
         r"unknown --difficulty 'medium'; accepted: \('easy', 'hard'\)"),
        (lambda: plan(20, 1, 3, 0, VARIANTS, "hard"),
         r"--unknown-words must be in \[0, 0\] \(the Speech Commands words outside the hard "
         r"set's 35\), got 3"),
        (lambda: plan(29, 1, 0, 0, VARIANTS, "hard"), r"--speakers must be in \[3, 28\], got 29"),
        (lambda: Difficulty(words=("yes", "maybe"), speakers=10, utterances=1, speed_wpm=(100, 200),
                            pitch=(0, 99), offset_s=(0.0, 0.2), peak_db=(-10.0, -1.0)),
         r"words must be distinct Speech Commands words"),
        (lambda: Difficulty(words=KEYWORDS, speakers=10, utterances=1, speed_wpm=(100, 200),
                            pitch=(0, 99), offset_s=(0.0, 0.2), peak_db=(-10.0, -1.0),
                            snr_db=(20.0, 10.0)),
         r"snr_db must be a range \(low, high\) within \[-30.0, 60.0\], got \(20.0, 10.0\)"),
    ],
)  # fmt: skip
def test_bad_difficulty_settings_name_the_value(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=message):
        call()


def test_unknown_difficulty_is_one_line_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert make_espeak_kws.main([str(tmp_path / "kws"), "--difficulty", "medium"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "python -m tasks.speech.make_espeak_kws: error: unknown --difficulty 'medium'; "
        "accepted: ('easy', 'hard')"
    )
    assert not (tmp_path / "kws").exists()


def test_mix_sets_the_signal_to_noise_ratio_and_the_peak() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(16_000) / 16_000
    speech = np.zeros(16_000)
    spoken = slice(4000, 12000)  # the padding around it does not count as speech
    speech[spoken] = 0.5 * np.sin(2 * np.pi * 440.0 * t[spoken])
    noise = rng.standard_normal(16_000)
    mixed = mix(speech, noise, snr_db=10.0, peak_db=-6.0)
    assert np.abs(mixed).max() == pytest.approx(10 ** (-6.0 / 20.0))
    # the mixture is a * speech + b * noise exactly: solve for a and b
    (a, b), *_ = np.linalg.lstsq(np.stack([speech, noise], axis=1), mixed, rcond=None)
    snr_db = 10 * np.log10(np.mean((a * speech[spoken]) ** 2) / np.mean((b * noise) ** 2))
    assert snr_db == pytest.approx(10.0, abs=1e-6)
    with pytest.raises(make_espeak_kws.ToolError, match="silent speech or silent noise"):
        mix(np.zeros(16_000), noise, snr_db=10.0, peak_db=-6.0)


@pytest.mark.skipif(not HAVE_ESPEAK, reason="needs espeak-ng and sox (.ci/run installs them)")
def test_small_hard_set_loads_through_the_speech_commands_loader(tmp_path: Path) -> None:
    root = tmp_path / "kws-hard"
    counts = make_espeak_kws.make_dataset(root, speakers=3, difficulty="hard", progress=False)
    assert counts == {"validation": 35, "testing": 35, "training": 35}
    clips = sorted(root.glob("*/*_nohash_*.wav"))
    assert len(clips) == 3 * 35 and {c.parent.name for c in clips} == set(ALL_WORDS)
    for clip in clips[::7]:
        audio, rate = sf.read(clip)
        assert rate == 16_000 and len(audio) == 16_000
        peak_db = 20 * np.log10(np.abs(audio).max())
        assert HARD.peak_db[0] - 0.1 <= peak_db <= HARD.peak_db[1] + 0.1
        # noise fills the whole second: no 10 ms stretch is silent
        assert np.abs(audio.reshape(100, 160)).max(axis=1).min() > 0
    data = load_speechcommands(root, classes=35, cache_dir=tmp_path / "cache", progress=False)
    assert data.classes == list(ALL_WORDS)
    for split in (data.train, data.val, data.test):
        labels = sorted(int(y) for _, y in split)
        assert labels == list(range(35))  # one speaker per split, each word once
    twelve = load_speechcommands(root, classes=12, cache_dir=tmp_path / "cache", progress=False)
    assert twelve.classes[-1] == UNKNOWN and len(twelve.test) == 10 + 1 + 1
