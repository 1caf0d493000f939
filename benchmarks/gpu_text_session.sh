#!/usr/bin/env bash
# Issue #11 on one H200 in one device call (2026-12-02; 30 minutes of device time for everything):
#  1. the variants of gpu_text_variants.yaml at equal steps (2000 x 64 x 256), ALL AT ONCE on the one GPU
#     (their losses do not depend on it; their speeds do, so speeds are not reported from this phase);
#  2. the variant with the lowest whole-split validation loss, as the transformer side of
#     `attn bench vs lstm --budget-s 60` (alone on the GPU), against the LSTM at the issue's probe settings
#     (lr 2e-3, dropout 0.4, weight average 0.998 on both sides).
#   bash benchmarks/gpu_text_session.sh OUT [PHASE1_TIMEOUT_S] [BENCH_BUDGET_S]
set -u
OUT=${1:?usage: gpu_text_session.sh OUT [phase-1 timeout s] [bench budget s]}
T1=${2:-230}
BUDGET=${3:-60}
export PYTHONUNBUFFERED=1
HERE=$(cd "$(dirname "$0")" && pwd)
VARIANTS=${VARIANTS:-$HERE/gpu_text_variants.yaml}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT" /tmp/tr
names=$(python "$HERE/text_research.py" --variants "$VARIANTS" --list | cut -d: -f1)
for name in $names; do
  timeout "$T1" python "$HERE/text_research.py" --variants "$VARIANTS" --only "$name" \
    --device "$DEVICE" --out "/tmp/tr/$name" > "/tmp/tr/$name.log" 2>&1 &
done
wait
python - "$OUT" <<'PY'
import json, sys, pathlib, yaml
out = pathlib.Path(sys.argv[1]); rows, best = [], None
for path in sorted(pathlib.Path("/tmp/tr").glob("*/text_research.json")):
    for r in json.loads(path.read_text()):
        s = r.get("summary", {}); full = s.get("best_checkpoint_eval", {})
        loss = full.get("val_loss") if full.get("full_split") else None
        rows.append(f"| {r['name']} | {s.get('parameters', '-')} | {s.get('steps', '-')} | "
                    f"{loss if loss is None else round(loss, 4)} | {s.get('best', {}).get('step', '-')} | "
                    f"{r.get('error', '')[-80:].replace('|', '/')} |")
        if loss is not None and (best is None or loss < best[0]):
            best = (loss, r["name"], r["run_dir"])
table = ["| variant | parameters | steps | best checkpoint, whole val split | best step | error |", "|---|---:|---:|---:|---:|---|"]
(out / "variants.md").write_text("\n".join(table + sorted(rows, key=lambda t: t.split("|")[4])) + "\n")
print("\n".join(table + rows))
if best:
    recipe = yaml.safe_load((pathlib.Path(best[2]) / "recipe.yaml").read_text())
    recipe["name"] = "shakespeare_char_best_of_session"
    recipe["description"] = f"variant {best[1]} of benchmarks/gpu_text_variants.yaml (best at 2000 steps: {best[0]:.4f})"
    recipe["train"].update(eval_interval=None, final_eval="full")
    pathlib.Path("/tmp/best.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    print(f"best: {best[1]} {best[0]:.4f}")
PY
[ -f /tmp/best.yaml ] && timeout 280 python -m attn bench vs lstm --device "$DEVICE" --recipe /tmp/best.yaml --budget-s "$BUDGET" \
  --lstm-lr 2e-3 --lstm-dropout 0.4 --set train.ema_decay=0.998 --runs-dir /tmp/bench --quiet > "$OUT/bench.log" 2>&1
cp /tmp/bench/bench-lstm/*/report.md "$OUT/bench_report.md" 2>/dev/null
tar czf "$OUT/runs.tgz" --exclude='*.pt' /tmp/tr /tmp/bench /tmp/best.yaml 2>/dev/null
tail -40 "$OUT/bench.log"
