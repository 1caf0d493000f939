#!/usr/bin/env bash
# The GPU rows of BENCHMARKS.md's EEG tables: 5-fold subject-wise CV of every EEG model on one GPU,
# the realistic preset, and NRMSE against the amount of training data.
#   bash benchmarks/gpu_eeg.sh OUT_DIR [default|realistic|scaling]...   (all three when none given)
# The braindecode peers need braindecode (docs/DEVELOPING.md: carry the wheelhouse); without it their rows say why.
# Several CV processes share the GPU (--jobs), so these runs give NRMSE, not speeds.
set -u
OUT=${1:?usage: gpu_eeg.sh OUT_DIR [default|realistic|scaling]...}
shift
PARTS=${*:-default realistic scaling}
export ATTN_CACHE=${ATTN_CACHE:-/tmp/attn-cache}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>&1
python -c "import torch; print('torch', torch.__version__)" >> "$OUT/gpu.txt"
for part in $PARTS; do
  case $part in
    default) python benchmarks/eeg.py --device cuda --jobs 4 --groups baselines zoo latency peers_latency_train --ridge \
               --workdir /tmp/bench-eeg/default --out "$OUT/default" ;;
    realistic) python benchmarks/eeg.py --device cuda --jobs 4 --groups peers_latency_train --ridge \
                 --variant eeg-latency=eeg_latency --variant EEGNeX-8-epochs=eeg_eegnex \
                 --set data.preset=realistic --workdir /tmp/bench-eeg/realistic --out "$OUT/realistic" ;;
    scaling) for n in 160 320 640; do
               python benchmarks/eeg.py --device cuda --jobs 3 --variant eeg-latency=eeg_latency \
                 --variant lightweight=eeg_sparse_lightweight --variant eeg-cnn=eeg_cnn --ridge \
                 --set data.n_subjects=$n --workdir /tmp/bench-eeg/n$n --out "$OUT/n$n"
             done ;;
    *) echo "unknown part $part (default, realistic, scaling)"; exit 2 ;;
  esac
done
