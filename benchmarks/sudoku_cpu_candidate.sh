#!/usr/bin/env bash
# A candidate for the shipped Sudoku model, made within the issue's budget (60 minutes on 2
# cores, fp32, AVX2 CPU), measured against the model shipped now on the same puzzles; it is
# shipped only if it is better one pass and at trm solve's default (16 checked views) on every
# set. See docs/results.md, "A 60-minute candidate on 2 cores". Run from the repository root:
#     bash benchmarks/sudoku_cpu_candidate.sh [data|train|compare|all]
# data:    3,000 generated 9x9 puzzles, hard and extreme in turn (seed 9); the test sets: 200
#          generated per tier (seeds 100-103) and the outside sets of ../shared/data/sudoku/
# train:   sudoku-small with a depth curriculum over its first 60% of steps, 60 minutes on 2
#          threads (compiled: trm train's default for a run that long on a CPU)
# compare: both models, all 8 steps and adaptive halting, and with 16 checked views
set -euo pipefail
WHAT=${1:-all}
RUN=${RUN:-runs/sudoku-cpu-candidate}
SHARED=${SHARED:-../shared/data/sudoku}
SHIPPED=puzzles/sudoku/default_model
SETS="eval-easy eval-medium eval-hard eval-extreme hardest top95 17clue-2000"

if [ "$WHAT" = data ] || [ "$WHAT" = all ]; then
  [ -f data/sudoku-mix/dataset.json ] || trm data sudoku --out data/sudoku-mix --train 3000 --test 100 --difficulty hard,extreme --seed 9
  seed=100
  for tier in easy medium hard extreme; do
    [ -f "data/eval-$tier/dataset.json" ] || trm data sudoku --out "data/eval-$tier" --train 0 --test 200 --difficulty "$tier" --seed $seed --quiet
    seed=$((seed + 1))
  done
  for set in 17clue-2000 hardest top95; do
    [ -f "data/$set/dataset.json" ] || trm data sudoku --import "$SHARED/$set.txt" --out "data/$set" --quiet
  done
fi

if [ "$WHAT" = train ] || [ "$WHAT" = all ]; then
  OMP_NUM_THREADS=2 trm train --data data/sudoku-mix --out "$RUN" --preset sudoku-small \
    --depth-curriculum 0.6 --max-minutes 60 --precision fp32
fi

if [ "$WHAT" = compare ] || [ "$WHAT" = all ]; then
  for model in "$SHIPPED" "$RUN"; do  # one thread each, the two side by side
    (
      export OMP_NUM_THREADS=1
      for set in $SETS; do
        for halting in full adaptive; do
          echo "$model $set $halting: $(trm eval "$model" --data "data/$set" --halting $halting --precision fp32 --json)"
        done
        echo "$model $set 16 checked views: $(trm eval "$model" --data "data/$set" --samples 16 --precision fp32 --json)"
      done
    ) &
  done
  wait
fi
