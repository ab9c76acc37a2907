#!/usr/bin/env bash
# A few minutes on a CUDA GPU: the official Sudoku recipe and our CPU recipe, each trained
# for MINUTES with bf16 autocast and torch.compile, then their throughput (examples x
# supervision steps per second, the median of the logged windows) and exact accuracy on
# 200 held-out generated puzzles (one pass, and with 16 checked candidates).
# Run from the repository root on a machine with a GPU:
#     bash benchmarks/gpu_check.sh [MINUTES]        (default 4 each; OUT=runs/gpu-check)
# It refuses to start without CUDA, so it never falls back to a CPU run by mistake.
set -euo pipefail
MINUTES=${1:-4}
OUT=${OUT:-runs/gpu-check}
DATA=${DATA:-data/gpu-check}

python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this check needs a GPU')"
python -c "import torch; print('device:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"

[ -f "$DATA/dataset.json" ] || trm data sudoku --out "$DATA" --train 2000 --test 200 --difficulty hard --seed 11 --quiet

throughput() {  # median samples/s of the run's logged training windows
  python - "$1/metrics.jsonl" <<'EOF'
import json, statistics, sys
rates = [r["samples_per_s"] for r in map(json.loads, open(sys.argv[1])) if "samples_per_s" in r]
print(f"{statistics.median(rates[1:] or rates):,.0f} examples x steps / s" if rates else "no log lines")
EOF
}

for recipe in sudoku sudoku-small; do
  run="$OUT/$recipe"
  echo "== $recipe: $MINUTES min, cuda, bf16, compiled"
  trm train --data "$DATA" --out "$run" --preset "$recipe" --device cuda --precision bf16 \
    --compile --max-minutes "$MINUTES" --force --quiet
  echo "throughput: $(throughput "$run")"
  echo "one pass:   $(trm eval "$run" --data "$DATA" --device cuda --precision bf16 --json)"
  echo "16 checked: $(trm eval "$run" --data "$DATA" --device cuda --precision bf16 --samples 16 --json)"
done
