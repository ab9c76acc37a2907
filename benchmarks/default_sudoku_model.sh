#!/usr/bin/env bash
# How the Sudoku model shipped until 2026-12-07 was made (the base run below, 32 test-time
# steps), and how its figures were measured; benchmarks/sudoku_cpu_candidate.sh made the one
# shipped now. Nothing here writes into puzzles/sudoku/default_model/. Run from the repository
# root:
#     bash benchmarks/default_sudoku_model.sh [train|tune|compare|steps|eval|all]
# train:   2,000 generated hard 9x9 puzzles (augmented on the fly), the sudoku-small preset,
#          10,000 steps (~70 min on one CPU core with AVX512-BF16): the base model.
# tune:    that model fine-tuned (trm train --init) on 2,000 generated extreme puzzles,
#          4,500 steps at a peak lr of 3e-4 (~80-100 min on one AVX2 core, fp32).
# compare: both models under trm solve's default test-time settings (16 checked views) and in
#          one pass, on the same puzzles: generated hard and extreme (200 each, seeds 102 and
#          103), top95, the first 500 of 17clue-2000.
#          (The tuned model was not better, so the base run was shipped.)
# steps:   the supervision steps MODEL (default: the base run) runs by default at test time,
#          chosen on held-out puzzles (300 fresh extreme and hard, seeds 50 and 51) with
#          benchmarks/test_time_steps.py, then recorded as "max_steps" in its config.json.
# eval:    MODEL's exact accuracy per generated tier (200 fresh puzzles each, seeds other than
#          the training set's) and on the outside sets in ../shared/data/sudoku/.
set -euo pipefail
WHAT=${1:-all}
RUN=${RUN:-runs/default-sudoku}
SHARED=${SHARED:-../shared/data/sudoku}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

TUNED=${TUNED:-runs/tuned-extreme}
BASE=${BASE:-$RUN/checkpoint}
MODEL=${MODEL:-$BASE}

if [ "$WHAT" = train ] || [ "$WHAT" = all ]; then
  [ -f data/sudoku-hard/dataset.json ] || trm data sudoku --out data/sudoku-hard --train 2000 --test 200 --difficulty hard --seed 7
  trm train --data data/sudoku-hard --out "$RUN" --preset sudoku-small --depth-curriculum 0 \
    --steps 10000 --max-minutes 90  # (made before the preset took the depth curriculum)
fi

if [ "$WHAT" = tune ] || [ "$WHAT" = all ]; then
  [ -f data/sudoku-extreme/dataset.json ] || trm data sudoku --out data/sudoku-extreme --train 2000 --test 200 --difficulty extreme --seed 8
  trm train --data data/sudoku-extreme --out "$TUNED" --preset sudoku-small --depth-curriculum 0 --init "$BASE" \
    --lr 3e-4 --warmup 200 --steps 4500 --max-minutes 100
fi

if [ "$WHAT" = compare ] || [ "$WHAT" = all ]; then
  seed=102
  for tier in hard extreme; do
    [ -f "data/eval-$tier/dataset.json" ] || trm data sudoku --out "data/eval-$tier" --train 0 --test 200 --difficulty "$tier" --seed $seed --quiet
    seed=$((seed + 1))
  done
  for set in top95 17clue-2000; do
    [ -f "data/$set/dataset.json" ] || trm data sudoku --import "$SHARED/$set.txt" --out "data/$set" --quiet
  done
  for model in "$BASE" "$TUNED"; do
    for set in eval-hard eval-extreme top95 17clue-2000; do
      limit=0; [ "$set" = 17clue-2000 ] && limit=500
      echo "$model $set one pass: $(trm eval "$model" --data "data/$set" --limit $limit --json)"
      echo "$model $set 16 checked views: $(trm eval "$model" --data "data/$set" --limit $limit --samples 16 --json)"
    done
  done
fi

if [ "$WHAT" = steps ] || [ "$WHAT" = all ]; then
  [ -f data/sel-extreme/dataset.json ] || trm data sudoku --out data/sel-extreme --train 0 --test 300 --difficulty extreme --seed 50 --quiet
  [ -f data/sel-hard/dataset.json ] || trm data sudoku --out data/sel-hard --train 0 --test 300 --difficulty hard --seed 51 --quiet
  python benchmarks/test_time_steps.py --run "$MODEL" --data data/sel-extreme,data/sel-hard --steps 8,12,16,24,32,48 --samples 16
  STEPS=${STEPS:-32}  # where the held-out gain flattened (docs/results.md)
  python benchmarks/record_max_steps.py "$MODEL" "$STEPS"
fi

if [ "$WHAT" = eval ] || [ "$WHAT" = all ]; then
  seed=100
  for tier in easy medium hard extreme; do
    [ -f "data/eval-$tier/dataset.json" ] || trm data sudoku --out "data/eval-$tier" --train 0 --test 200 --difficulty "$tier" --seed $seed --quiet
    seed=$((seed + 1))
  done
  for set in top95 hardest 17clue-2000; do
    [ -f "data/$set/dataset.json" ] || trm data sudoku --import "$SHARED/$set.txt" --out "data/$set" --quiet
  done
  for set in eval-easy eval-medium eval-hard eval-extreme top95 hardest 17clue-2000; do
    for halting in full adaptive; do
      echo "$set $halting: $(trm eval "$MODEL" --data "data/$set" --halting $halting --json)"
    done
  done
fi
