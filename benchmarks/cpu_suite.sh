#!/usr/bin/env bash
# The CPU numbers in BENCHMARKS.md, in one go (about 70 minutes on 2 cores, without EEGNeX). Run on an idle machine:
#   bash benchmarks/cpu_suite.sh [RUNS_DIR]
set -u
R=${1:-runs/cpu-suite}
step() { echo "=== $(date +%T) $*"; "$@"; echo "=== rc $?"; }
step /usr/bin/time -v attn train shakespeare_char_cpu --runs-dir "$R" -q
step attn generate --runs-dir "$R" --seed "To be or not to be" --length 400 --random-seed 7
step attn bench vs lstm --device cpu --budget-s 60 --runs-dir "$R" -q
step attn bench attention --device cpu --lengths 128,256,512,1024,2048,4096 --repeats 5 --runs-dir "$R"
step /usr/bin/time -v attn train eeg_latency --runs-dir "$R" -q
step attn bench vs cnn --device cpu --recipe eeg_latency --runs-dir "$R" -q
step attn train eeg_sparse_lightweight --runs-dir "$R" -q
step attn train eeg_cnn --runs-dir "$R" -q
step attn train eeg_sparse_lightweight data.preset=realistic --runs-dir "$R" -q
step python -m attn.datasets.eeg.calibrate --preset default realistic --n-subjects 80 --trials 30 --seeds 0
step python benchmarks/eeg.py --device cpu --variant eeg-cnn=eeg_cnn --variant lightweight=eeg_sparse_lightweight --workdir "$R/eeg-cv"
step env OMP_NUM_THREADS=1 python benchmarks/eeg.py --device cpu --jobs 2 --groups latency latency_seeds --ridge --workdir "$R/eeg-latency"
step env OMP_NUM_THREADS=1 python benchmarks/eeg.py --device cpu --set data.preset=realistic --variant eeg-latency=eeg_latency --ridge --workdir "$R/eeg-latency-realistic"
# EEGNeX needs braindecode, whose torchaudio needs a matching torch (docs/DEVELOPING.md):
step python benchmarks/eeg.py --device cpu --variant EEGNeX=eeg_eegnex --workdir "$R/eeg-cv"
