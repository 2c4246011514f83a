"""Shared test settings: one torch thread keeps timings steady on 2 cores, and SB3's
log folders stay in pytest's temporary directory."""

import os

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _sb3_log_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    # SB3 makes a folder for every learn() without tensorboard_log (tempfile's
    # SB3-<time> unless SB3_LOGDIR says where): not hundreds of them in /tmp
    os.environ["SB3_LOGDIR"] = str(tmp_path_factory.mktemp("sb3-logs"))
