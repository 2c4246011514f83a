"""Create (or reuse) the project's virtual environment and print its path.

The environment lives outside the repository, in
``$NSPDI_CACHE_DIR`` (default ``~/.cache/nspdi-rl``), under a name keyed by a
hash of the dependency lists in ``pyproject.toml`` and the Python version, so
every clone and every CI run with the same dependencies reuses it. A stamp file
is written only after a complete install: an interrupted install is redone.

The project itself is not installed into the environment (clones at different
paths share it); commands run from the repository root, which is on
``sys.path`` for ``python -m`` and for pytest (``pythonpath = ["."]``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return reqs


def main() -> int:
    reqs = requirements()
    key = json.dumps([sys.version_info[:2], sorted(reqs)]).encode()
    digest = hashlib.sha256(key).hexdigest()[:12]
    cache = Path(os.environ.get("NSPDI_CACHE_DIR", Path.home() / ".cache" / "nspdi-rl"))
    venv = cache / f"venv-py{sys.version_info[0]}{sys.version_info[1]}-{digest}"
    stamp = venv / ".complete"
    python = venv / "bin" / "python"
    if stamp.exists() and python.exists():
        print(venv)
        return 0
    print(f"[ensure_env] creating {venv} ({len(reqs)} requirements)", file=sys.stderr)
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, stdout=sys.stderr)
    subprocess.run([*pip, *reqs], check=True, stdout=sys.stderr)
    # the compiled LIF loop, built now rather than in the first run (a warning, not a
    # failure, where there is no compiler: the Python loop runs then)
    build = "from nspdi_rl.kernels import compiled_kernels; compiled_kernels()"
    subprocess.run([str(python), "-c", build], cwd=ROOT, check=True, stdout=sys.stderr)
    stamp.write_text("\n".join(reqs) + "\n")
    print(venv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
