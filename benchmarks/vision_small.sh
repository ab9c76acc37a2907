#!/usr/bin/env bash
# The vision `small` presets on small real images, as a user runs them: each arm trains for
# MINUTES (the budget sizes its schedule) on DATA, one arm at a time on the whole machine,
# then `trm vision eval --json` on the test split. Run from the repository root:
#     bash benchmarks/vision_small.sh                      (the arms below, on data/digits)
#     DATA=data/shapes MINUTES=3 ARMS="vitrm vit" bash benchmarks/vision_small.sh
#     ARMS="vitrm vitrm:lr=1e-3" bash benchmarks/vision_small.sh   (an arm with options)
#     EPOCHS=20 ARMS="sr-vit:recursions=1 sr-vit:recursions=4" bash ...  (equal epochs instead)
# An arm is a variant, then ":" and options joined by ",": key=value passed as --key value,
# a bare key as the switch --key (e.g. vitrm:lr=1e-3,no-flip -> --lr 1e-3 --no-flip).
# Build the real sets first (benchmarks/real_images.py): choose settings on data/digits
# (and the synthetic set), never on the set a check will use.
set -euo pipefail
DATA=${DATA:-data/digits}
MINUTES=${MINUTES:-6}
ARMS=${ARMS:-vit vitrm bvit sr-vit mor-vit}
EPOCHS=${EPOCHS:-}  # set: each arm trains this many epochs, not MINUTES
if [ -n "$EPOCHS" ]; then budget=(--epochs "$EPOCHS"); tag=${EPOCHS}ep; else budget=(--max-minutes "$MINUTES"); tag=${MINUTES}min; fi
OUT=${OUT:-runs/vision-small/$(basename "$DATA")-$tag}

grep -o 'avx512_bf16\|avx2' /proc/cpuinfo | sort | uniq -c | sed 's/^/cpu flags: /'
for arm in $ARMS; do
  variant=${arm%%:*}
  options=()
  if [[ $arm == *:* ]]; then
    IFS=',' read -ra pairs <<< "${arm#*:}"
    for pair in "${pairs[@]}"; do
      if [[ $pair == *=* ]]; then options+=("--${pair%%=*}" "${pair#*=}"); else options+=("--$pair"); fi
    done
  fi
  run="$OUT/${arm//[:,=]/_}"
  [ -f "$run/checkpoint/model.safetensors" ] || trm vision train --data "$DATA" --variant "$variant" \
    --out "$run" "${budget[@]}" --force --quiet "${options[@]}"
  echo "$arm: $(trm vision eval "$run" --data "$DATA" --json)"
done
