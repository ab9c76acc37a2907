"""Record a model's test-time supervision steps as ``max_steps`` in its config.json, and
with --noise the noise its checked candidates start with (``noise``).

`trm eval` and `trm solve` then run that many steps at most by default, and with --samples
add that noise unless told otherwise. Choose both on held-out puzzles first
(benchmarks/test_time_steps.py; `trm eval --samples 16 --noise X` on a held-out set). The
file is rewritten whole and renamed into place, keeping its other keys and their order:

    python benchmarks/record_max_steps.py puzzles/sudoku/default_model 32
    python benchmarks/record_max_steps.py runs/sudoku-cpu-candidate 64 --noise 1.0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from puzzles.scaling import NOISE_KEY, check_noise
from trm.checkpoint import resolve_checkpoint
from trm.errors import TRMError
from trm.evaluate import STEPS_KEY, check_max_steps
from trm.files import CONFIG_FILE
from trm.jsonfile import read_json_object
from trm.staging import atomic_file


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a run, checkpoint or model folder")
    p.add_argument("steps", type=int, help="supervision steps at most, at test time")
    p.add_argument("--noise", type=float, help="the noise of the checked candidates' start")
    a = p.parse_args()
    try:
        path = resolve_checkpoint(a.model) / CONFIG_FILE
        config = read_json_object(path)
        config[STEPS_KEY] = check_max_steps(a.steps)
        if a.noise is not None:
            config[NOISE_KEY] = check_noise(a.noise)
    except TRMError as e:
        p.error(str(e))
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n")
    recorded = {k: config[k] for k in (STEPS_KEY, NOISE_KEY) if k in config}
    print(f"{path}: " + ", ".join(f"{k} {v}" for k, v in recorded.items()))


if __name__ == "__main__":
    main()
