#!/usr/bin/env bash
# How the Sudoku model shipped in puzzles/sudoku/default_model/ is made, and how its figures in
# docs/results.md were measured. Run from the repository root:
#     bash benchmarks/default_sudoku_model.sh [data|train|compare|ship|eval|all]
# data:    3,000 generated 9x9 puzzles, hard and extreme in turn (seed 9), and the test sets:
#          200 generated per tier (seeds 100-103) and the outside sets of ../shared/data/sudoku/
# train:   the sudoku-cpu preset (the Sudoku CPU recipe: sudoku-small with a depth curriculum)
#          for 60 minutes on 2 cores, fp32, compiled (trm train's default for such a run)
# compare: the new run against the model shipped now, on the same puzzles, one pass (all 8
#          steps) and at trm solve's default (16 views of each puzzle, the checker picks)
# ship:    the new run's weights copied into the package (only when compare says it is
#          better on every set)
# eval:    the shipped model, all steps and adaptive halting, on every test set
# (The model shipped before this one, sudoku-small on 2,000 hard puzzles for 10,000 steps,
# was made by this script as of commit ba400fc.)
set -euo pipefail
WHAT=${1:-all}
RUN=${RUN:-runs/default-sudoku}
SHARED=${SHARED:-../shared/data/sudoku}
SHIPPED=puzzles/sudoku/default_model
SETS="eval-easy eval-medium eval-hard eval-extreme 17clue-2000 hardest top95"

if [ "$WHAT" = data ] || [ "$WHAT" = all ]; then
  [ -d data/sudoku-mix ] || trm data sudoku --out data/sudoku-mix --train 3000 --test 100 --difficulty hard,extreme --seed 9
  seed=100
  for tier in easy medium hard extreme; do
    [ -d "data/eval-$tier" ] || trm data sudoku --out "data/eval-$tier" --train 0 --test 200 --difficulty "$tier" --seed $seed --quiet
    seed=$((seed + 1))
  done
  for set in 17clue-2000 hardest top95; do
    [ -d "data/$set" ] || trm data sudoku --import "$SHARED/$set.txt" --out "data/$set" --quiet
  done
fi

if [ "$WHAT" = train ] || [ "$WHAT" = all ]; then
  OMP_NUM_THREADS=2 trm train --data data/sudoku-mix --out "$RUN" --preset sudoku-cpu --max-minutes 60 --precision fp32
fi

if [ "$WHAT" = compare ] || [ "$WHAT" = all ]; then
  for model in "$SHIPPED" "$RUN"; do
    for set in $SETS; do
      echo "$model $set one pass: $(trm eval "$model" --data "data/$set" --precision fp32 --json)"
      echo "$model $set 16 checked views: $(trm eval "$model" --data "data/$set" --precision fp32 --samples 16 --json)"
    done
  done
fi

if [ "$WHAT" = ship ]; then
  cp "$RUN"/checkpoint/config.json "$RUN"/checkpoint/model.safetensors "$SHIPPED"/
fi

if [ "$WHAT" = eval ]; then
  for set in $SETS; do
    for halting in full adaptive; do
      echo "$set $halting: $(trm eval "$SHIPPED" --data "data/$set" --halting $halting --precision fp32 --json)"
    done
  done
fi
