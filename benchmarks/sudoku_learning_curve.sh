#!/usr/bin/env bash
# The README's CPU learning curve: the sudoku-small preset on 1,000 generated 9x9 medium
# puzzles (augmented on the fly) for 30 minutes, then exact accuracy on generated medium and
# hard test sets and on the outside top95 set. Run from the repository root:
#     bash benchmarks/sudoku_learning_curve.sh [RUN_DIR] [MINUTES]
set -euo pipefail
RUN=${1:-runs/learning-curve}
MINUTES=${2:-30}
SHARED=${SHARED:-../shared/data/sudoku}

[ -f data/lc-medium/dataset.json ] || trm data sudoku --out data/lc-medium --train 1000 --test 200 --difficulty medium --seed 0
[ -f data/lc-hard/dataset.json ] || trm data sudoku --out data/lc-hard --train 0 --test 200 --difficulty hard --seed 1
[ -f data/top95/dataset.json ] || trm data sudoku --import "$SHARED/top95.txt" --out data/top95

trm train --data data/lc-medium --out "$RUN" --preset sudoku-small --max-minutes "$MINUTES" --force
for set in lc-medium lc-hard top95; do
  echo "$set: $(trm eval "$RUN" --data "data/$set" --json)"
done
