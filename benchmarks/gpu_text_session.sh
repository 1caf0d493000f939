#!/usr/bin/env bash
# Issues #11 and #13 on one H200 in one device call (about 8 minutes):
#  0. the CUDA-graph tests (eager and graph steps train alike, Muon running after each replay);
#  1. the ttq-* variants of $VARIANTS alone, one after the other: their process wall times and start-up phases
#     count (the first process on a fresh machine is the cold one);
#  2. the other variants, two lanes at a time, beside the LSTM's dropout x lr sweep (two lanes) and the probe's
#     LSTM settings: four processes share the GPU, so only their losses at equal steps are reported, never speeds.
# Every phase writes its tables as it goes; whatever finished before $T2 seconds is kept.
#   bash benchmarks/gpu_text_session.sh OUT [PHASE2_TIMEOUT_S]
set -u
OUT=${1:?usage: gpu_text_session.sh OUT [phase-2 timeout s]}
T2=${2:-420}
export PYTHONUNBUFFERED=1
HERE=$(cd "$(dirname "$0")" && pwd)
VARIANTS=${VARIANTS:-$HERE/gpu_text_candidates.yaml}
RECIPE=${RECIPE:-shakespeare_char_modern}
W=/tmp/session
mkdir -p "$OUT" "$W"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$W/gpu.txt"
python -m pytest -q -p no:cacheprovider "$HERE/../tests/training/test_trainer.py" -k cuda 2>&1 | tail -3 | tee "$W/cuda_tests.txt"

all=$(python "$HERE/text_research.py" --variants "$VARIANTS" --list | cut -d: -f1)
ttq=$(echo "$all" | grep '^ttq' | paste -sd, -)
rest=$(echo "$all" | grep -v '^ttq')
lane1=$(echo "$rest" | awk 'NR % 2 == 1' | paste -sd, -)
lane2=$(echo "$rest" | awk 'NR % 2 == 0' | paste -sd, -)
graphs=(--set train.cuda_graphs=true)  # Muon steps eagerly after each replay of the captured forward/backward/AdamW
[ -n "$ttq" ] && python "$HERE/text_research.py" --variants "$VARIANTS" --only "$ttq" --device cuda --timeout 120 "${graphs[@]}" \
  --out "$W/ttq" > "$W/ttq.log" 2>&1
cat "$W/ttq/text_research.md" 2>/dev/null

steps=(--set train.max_steps=2000 --set train.eval_interval=250 --set train.eval_batches=20 "${graphs[@]}")
timeout "$T2" python "$HERE/text_research.py" --variants "$VARIANTS" --only "$lane1" --device cuda "${graphs[@]}" --out "$W/lane1" > "$W/lane1.log" 2>&1 &
timeout "$T2" python "$HERE/text_research.py" --variants "$VARIANTS" --only "$lane2" --device cuda "${graphs[@]}" --out "$W/lane2" > "$W/lane2.log" 2>&1 &
timeout "$T2" python "$HERE/lstm_sweep.py" --recipe "$RECIPE" --device cuda --dropouts 0.4,0.5 --lrs 2e-3,4e-3 "${steps[@]}" \
  --out "$W/lstm1" > "$W/lstm1.log" 2>&1 &
( timeout "$T2" python "$HERE/lstm_sweep.py" --recipe "$RECIPE" --device cuda --dropouts 0.3 --lrs 1e-3,2e-3,4e-3 "${steps[@]}" \
    --out "$W/lstm2" > "$W/lstm2.log" 2>&1
  timeout "$T2" python "$HERE/lstm_sweep.py" --recipe shakespeare_char_fast --device cuda --dropouts 0.4 --lrs 2e-3 "${steps[@]}" \
    --set train.ema_decay=0.998 --out "$W/lstm_probe" > "$W/lstm_probe.log" 2>&1 ) &
wait
for d in ttq lane1 lane2; do cp "$W/$d/text_research.md" "$OUT/transformer_$d.md" 2>/dev/null; done
for d in lstm1 lstm2 lstm_probe; do cat "$W/$d/lstm_sweep.md" 2>/dev/null; done > "$OUT/lstm_sweep.md"
tar czf "$OUT/session.tgz" --exclude='*.pt' "$W" 2>/dev/null
cat "$W/cuda_tests.txt" "$OUT"/transformer_lane*.md "$OUT/lstm_sweep.md" | grep -v '^- `\|^Variants\|^$'
