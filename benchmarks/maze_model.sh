#!/usr/bin/env bash
# How the maze model shipped in puzzles/maze/default_model/ was made and measured. Run from
# the repository root:
#     bash benchmarks/maze_model.sh [train|eval|ship|all]
# train: 10,000 generated 10x10 corridor mazes (shortest path at least 21 moves), augmented
#        on the fly by the eight symmetries; the maze-cpu preset for 60 minutes, twice side by
#        side, one CPU thread each (compiled, as --max-minutes 10 or more is by default):
#        without the depth curriculum (run A, the ablation) and as it is, with it (run B, the
#        one shipped).
# eval:  both runs on 500 fresh mazes (another seed), one pass (all steps, and adaptive
#        halting) and at `trm solve maze`'s default (8 symmetries, the first path that passes
#        the checker).
# ship:  the better run's weights copied into the package (RUN=runs/maze-cpu-B was).
set -euo pipefail
WHAT=${1:-all}
MINUTES=${MINUTES:-60}
OUT=${OUT:-runs/maze-cpu}

if [ "$WHAT" = train ] || [ "$WHAT" = all ]; then
  [ -f data/maze10/dataset.json ] || trm data maze --out data/maze10 --size 10 --train 10000 --test 200 --seed 0 --quiet
  OMP_NUM_THREADS=1 trm train --data data/maze10 --out "$OUT-A" --preset maze-cpu \
    --depth-curriculum 0 --max-minutes "$MINUTES" --precision fp32 --quiet &
  OMP_NUM_THREADS=1 trm train --data data/maze10 --out "$OUT-B" --preset maze-cpu \
    --max-minutes "$MINUTES" --precision fp32 --quiet &
  wait
fi

if [ "$WHAT" = eval ] || [ "$WHAT" = all ]; then
  [ -f data/maze10-fresh/dataset.json ] || trm data maze --out data/maze10-fresh --size 10 --train 0 --test 500 --seed 1 --quiet
  for run in "$OUT-A" "$OUT-B"; do
    for halting in full adaptive; do
      echo "$run one pass ($halting): $(trm eval "$run" --data data/maze10-fresh --halting "$halting" --json)"
    done
    echo "$run 8 checked symmetries: $(trm eval "$run" --data data/maze10-fresh --samples 8 --json)"
  done
fi

if [ "$WHAT" = ship ]; then
  RUN=${RUN:?set RUN to the run to ship}
  cp "$RUN"/checkpoint/config.json "$RUN"/checkpoint/model.safetensors puzzles/maze/default_model/
fi
