#!/usr/bin/env bash
# The Sudoku learning-curve benchmark: recipes trained for 15, 30 and 60 minutes each on the
# same data, two runs at a time side by side (one CPU thread each, so a pair shares the
# machine alike), then exact accuracy one pass and with 16 checked candidates (trm solve's
# default) on held-out generated extreme puzzles, 17clue-2000 (its first 500) and top95.
# Run from the repository root:
#     bash benchmarks/sudoku_recipes.sh [train|eval|all]
#     ARMS="small muon" MINUTES="30" bash benchmarks/sudoku_recipes.sh    (a subset)
#     CLUES17=200 bash benchmarks/sudoku_recipes.sh eval    (the first 200 of 17clue-2000)
# Arms (each an option away from sudoku-small, or the official recipe at the same width):
#   small      sudoku-small as it is (adam-atan2, lr 1e-3, cosine, the depth curriculum at 0.6)
#   muon       + --optimizer muon
#   flat       without the depth curriculum (--depth-curriculum 0)
#   muon-flat  Muon without it
#   official   the official recipe and model (--preset sudoku) at sudoku-small's width, with a
#              warm-up of 20 steps: its own 2,000 do not fit an hour at batch 768 on a CPU
#              (about 20 s a step on one thread), and the budget refuses a warm-up it cannot end
set -euo pipefail
WHAT=${1:-all}
ARMS=${ARMS:-small muon flat muon-flat official}
MINUTES=${MINUTES:-15 30 60}
OUT=${OUT:-runs/recipes}
SHARED=${SHARED:-../shared/data/sudoku}
DATA=data/recipes-mix
CLUES17=${CLUES17:-500}  # how many of 17clue-2000 to score (the first ones)

options() {
  case "$1" in
    small) echo "--preset sudoku-small" ;;
    muon) echo "--preset sudoku-small --optimizer muon" ;;
    flat) echo "--preset sudoku-small --depth-curriculum 0" ;;
    muon-flat) echo "--preset sudoku-small --optimizer muon --depth-curriculum 0" ;;
    official) echo "--preset sudoku --hidden-size 128 --heads 4 --eval-max 200 --warmup 20" ;;
    *) echo "unknown arm $1" >&2; exit 2 ;;
  esac
}

if [ "$WHAT" = train ] || [ "$WHAT" = all ]; then
  [ -f "$DATA/dataset.json" ] || trm data sudoku --out "$DATA" --train 3000 --test 100 --difficulty hard,extreme --seed 9 --quiet
  jobs=()
  for minutes in $MINUTES; do
    for arm in $ARMS; do
      jobs+=("$arm:$minutes")
    done
  done
  for ((i = 0; i < ${#jobs[@]}; i += 2)); do  # two at a time
    for job in "${jobs[@]:i:2}"; do
      arm=${job%%:*}; minutes=${job##*:}
      run="$OUT/$arm-$minutes"
      [ -f "$run/checkpoint/model.safetensors" ] && continue
      # shellcheck disable=SC2046
      OMP_NUM_THREADS=1 trm train --data "$DATA" --out "$run" $(options "$arm") \
        --max-minutes "$minutes" --precision fp32 --force --quiet &
    done
    wait
  done
fi

if [ "$WHAT" = eval ] || [ "$WHAT" = all ]; then
  [ -f data/eval-extreme/dataset.json ] || trm data sudoku --out data/eval-extreme --train 0 --test 200 --difficulty extreme --seed 103 --quiet
  for set in top95 17clue-2000; do
    [ -f "data/$set/dataset.json" ] || trm data sudoku --import "$SHARED/$set.txt" --out "data/$set" --quiet
  done
  for minutes in $MINUTES; do
    for arm in $ARMS; do
      run="$OUT/$arm-$minutes"
      [ -d "$run" ] || continue
      for set in eval-extreme 17clue-2000 top95; do
        limit=0; [ "$set" = 17clue-2000 ] && limit=$CLUES17
        one=$(trm eval "$run" --data "data/$set" --limit $limit --json)
        checked=$(trm eval "$run" --data "data/$set" --limit $limit --samples 16 --json)
        echo "$arm $minutes min $set | one pass: $one | 16 checked: $checked"
      done
    done
  done
fi
