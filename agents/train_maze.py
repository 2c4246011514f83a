"""``python -m agents.train_maze``: train a spiking PPO agent on the default grid maze.

The spiking SB3 policies and the training CLI are the subject of the agents
issue (#4) and have not landed yet; until they do this command says so and
exits with status 2 instead of pretending to train.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print(
        "agents.train_maze: the spiking SB3 agents have not landed yet (issue #4); "
        "nothing was trained. The core library (nspdi_rl) and its tests are available: make test",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
