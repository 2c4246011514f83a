"""Audio reading, spectral features and spike encodings for keyword spotting.

Audio is read with soundfile (``torchaudio.load`` would need FFmpeg); the
features come from ``torchaudio.transforms``. Transforms are small frozen
dataclasses with ``__call__``, in the style of tonic's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from tasks.data import DataError

__all__ = [
    "ENCODINGS",
    "FEATURE_KINDS",
    "AudioFeatures",
    "DeltaSpikes",
    "StackFrames",
    "read_audio",
    "read_clip",
]

FEATURE_KINDS = ("logmel", "mfcc")
ENCODINGS = ("direct", "delta")
SAMPLE_RATE = 16_000


def read_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a whole wav file as mono float32 samples.

    :raises DataError: unreadable or empty file, or another sample rate.
    """
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise DataError(f"cannot read audio file {path}: {err}") from None
    if rate != sample_rate:
        raise DataError(f"{path} is sampled at {rate} Hz; expected {sample_rate} Hz")
    if audio.shape[0] == 0:
        raise DataError(f"{path} holds no audio samples")
    return audio.mean(axis=1)


def read_clip(path: str | Path, sample_rate: int = SAMPLE_RATE, seconds: float = 1.0) -> np.ndarray:
    """:func:`read_audio`, zero-padded or cut to ``seconds`` (Speech Commands clips are 1 s)."""
    mono = read_audio(path, sample_rate)
    length = round(seconds * sample_rate)
    if len(mono) >= length:
        return np.ascontiguousarray(mono[:length])
    return np.pad(mono, (0, length - len(mono)))


@dataclass(frozen=True)
class AudioFeatures:
    """Log-mel or MFCC frames of a waveform: ``(samples,)`` -> ``(frames, features)``.

    :param kind: ``logmel`` or ``mfcc``.
    :param n_mels: mel bands. Default 40.
    :param n_mfcc: cepstral coefficients (``mfcc`` only). Default 20.
    :param window_ms: analysis window, ms. Default 30.
    :param hop_ms: frame step, ms; a 1 s clip gives ``1000 / hop_ms + 1`` frames. Default 20.
    :param sample_rate: Hz. Default 16000.
    """

    kind: str = "logmel"
    n_mels: int = 40
    n_mfcc: int = 20
    window_ms: float = 30.0
    hop_ms: float = 20.0
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ValueError(f"unknown features {self.kind!r}; accepted: {FEATURE_KINDS}")
        if self.n_mels <= 0 or self.n_mfcc <= 0:
            raise ValueError(f"n_mels and n_mfcc must be > 0, got {self.n_mels}, {self.n_mfcc}")
        if self.kind == "mfcc" and self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc ({self.n_mfcc}) cannot exceed n_mels ({self.n_mels})")
        if not 0 < self.hop_ms <= self.window_ms:
            raise ValueError(
                f"need 0 < hop_ms <= window_ms, got hop {self.hop_ms}, window {self.window_ms}"
            )

    @property
    def size(self) -> int:
        """Features per frame."""
        return self.n_mels if self.kind == "logmel" else self.n_mfcc

    @cached_property
    def _transform(self) -> torch.nn.Module:
        window = round(self.window_ms * self.sample_rate / 1000)
        hop = round(self.hop_ms * self.sample_rate / 1000)
        mel = {"n_fft": window, "hop_length": hop, "n_mels": self.n_mels}
        if self.kind == "mfcc":
            return torchaudio.transforms.MFCC(self.sample_rate, self.n_mfcc, melkwargs=mel)
        return torchaudio.transforms.MelSpectrogram(self.sample_rate, **mel)

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            spec = self._transform(waveform)  # (..., features, frames)
            if self.kind == "logmel":
                spec = torch.log(spec + 1e-6)
        return spec.transpose(-1, -2).contiguous()


@dataclass(frozen=True)
class DeltaSpikes:
    """Send-on-delta (threshold-crossing) spikes: ``(T, F)`` -> binary ``(T, 2F)``.

    Each feature is quantised in steps of ``threshold``; an ON spike marks a
    step up between frames, an OFF spike a step down (ON channels first). The
    first frame is compared with the feature's level at rest (0 after
    normalisation).

    :param threshold: quantisation step, in the (normalised) feature's units. Default 0.5.
    """

    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise ValueError(f"delta threshold must be > 0, got {self.threshold}")

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        level = torch.floor(features / self.threshold)
        rest = torch.zeros_like(level[..., :1, :])
        step = torch.diff(level, dim=-2, prepend=rest)
        return torch.cat([(step > 0), (step < 0)], dim=-1).to(torch.float32)


@dataclass(frozen=True)
class StackFrames:
    """Give every frame its ``context - 1`` predecessors too: ``(T, F)`` -> ``(T, context * F)``.

    A delay line in front of the network: a feed-forward spiking layer then sees
    how the spectrum moves over ``context`` frames, not only its current slice
    (frames before the first are zeros). The current frame comes first.

    :param context: frames per step, >= 1. Default 1 (no stacking).
    """

    context: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.context, bool) or not isinstance(self.context, int) or self.context < 1:
            raise ValueError(f"context must be an int >= 1, got {self.context!r}")

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if self.context == 1:
            return frames
        time = frames.shape[-2]
        padded = torch.nn.functional.pad(frames, (0, 0, self.context - 1, 0))
        shifted = [
            padded[..., self.context - 1 - k : self.context - 1 - k + time, :]
            for k in range(self.context)
        ]
        return torch.cat(shifted, dim=-1)
