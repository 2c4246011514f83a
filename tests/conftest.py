"""Shared test settings: one torch thread keeps timings steady on 2 cores."""

import torch

torch.set_num_threads(1)
