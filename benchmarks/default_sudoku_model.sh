#!/usr/bin/env bash
# How the default Sudoku model shipped in puzzles/sudoku/default_model/ was made, and how its
# README figures were measured. Run from the repository root:
#     bash benchmarks/default_sudoku_model.sh [train|eval|all]
# train: 2,000 generated hard 9x9 puzzles (augmented on the fly), the sudoku-small preset,
#        10,000 steps (~70 min on one CPU core), then the model weights copied into the package.
# eval:  exact accuracy per generated tier (200 fresh puzzles each, seeds other than the
#        training set's) and on the outside sets in ../shared/data/sudoku/.
set -euo pipefail
WHAT=${1:-all}
RUN=${RUN:-runs/default-sudoku}
SHARED=${SHARED:-../shared/data/sudoku}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

if [ "$WHAT" = train ] || [ "$WHAT" = all ]; then
  [ -d data/sudoku-hard ] || trm data sudoku --out data/sudoku-hard --train 2000 --test 200 --difficulty hard --seed 7
  trm train --data data/sudoku-hard --out "$RUN" --preset sudoku-small --steps 10000 --max-minutes 90
  cp "$RUN"/checkpoint/config.json "$RUN"/checkpoint/model.safetensors puzzles/sudoku/default_model/
fi

if [ "$WHAT" = eval ] || [ "$WHAT" = all ]; then
  seed=100
  for tier in easy medium hard extreme; do
    [ -d "data/eval-$tier" ] || trm data sudoku --out "data/eval-$tier" --train 0 --test 200 --difficulty "$tier" --seed $seed --quiet
    seed=$((seed + 1))
  done
  for set in top95 hardest 17clue-2000; do
    [ -d "data/$set" ] || trm data sudoku --import "$SHARED/$set.txt" --out "data/$set" --quiet
  done
  for set in eval-easy eval-medium eval-hard eval-extreme top95 hardest 17clue-2000; do
    for halting in full adaptive; do
      echo "$set $halting: $(trm eval puzzles/sudoku/default_model --data "data/$set" --halting $halting --json)"
    done
  done
fi
