#!/usr/bin/env bash
# The CPU numbers in BENCHMARKS.md, in one go (about 40 minutes on 2 cores). Run on an idle machine:
#   bash benchmarks/cpu_suite.sh [RUNS_DIR]
set -u
R=${1:-runs/cpu-suite}
step() { echo "=== $(date +%T) $*"; "$@"; echo "=== rc $?"; }
step /usr/bin/time -v attn train shakespeare_char_cpu --runs-dir "$R" -q
step attn generate --runs-dir "$R" --seed "To be or not to be" --length 400 --random-seed 7
step attn bench vs lstm --device cpu --budget-s 60 --runs-dir "$R" -q
step attn bench attention --device cpu --lengths 128,256,512,1024,2048,4096 --repeats 5 --runs-dir "$R"
step attn train eeg_sparse_lightweight --runs-dir "$R" -q
step attn train eeg_cnn --runs-dir "$R" -q
step attn train eeg_sparse_lightweight data.preset=realistic --runs-dir "$R" -q
step python -m attn.datasets.eeg.calibrate --preset default realistic --n-subjects 80 --trials 30 --seeds 0
step python benchmarks/eeg.py --device cpu --recipes eeg_cnn eeg_sparse_lightweight --workdir "$R/eeg-cv"
# EEGNeX needs braindecode, whose torchaudio needs a matching torch (docs/DEVELOPING.md):
step python benchmarks/eeg.py --device cpu --recipes eeg_eegnex --workdir "$R/eeg-cv"
