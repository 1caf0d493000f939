#!/usr/bin/env bash
# The GPU rows of BENCHMARKS.md's EEG tables: 5-fold subject-wise CV of every EEG model on one GPU,
# the realistic preset, and NRMSE against the amount of training data.
#   bash benchmarks/gpu_eeg.sh OUT_DIR [default|realistic|scaling]...   (all three when none given)
# EEGNeX needs braindecode (pip install 'attn[eegnex]'); without it its row says why it failed.
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
    default) python benchmarks/eeg.py --device cuda --workdir /tmp/bench-eeg/default --out "$OUT/default" ;;
    realistic) python benchmarks/eeg.py --device cuda --recipes eeg_cnn eeg_sparse_lightweight \
                 --set data.preset=realistic --workdir /tmp/bench-eeg/realistic --out "$OUT/realistic" ;;
    scaling) for n in 160 320 640; do
               python benchmarks/eeg.py --device cuda --recipes eeg_cnn eeg_sparse_lightweight \
                 --set data.n_subjects=$n --workdir /tmp/bench-eeg/n$n --out "$OUT/n$n"
             done ;;
    *) echo "unknown part $part (default, realistic, scaling)"; exit 2 ;;
  esac
done
