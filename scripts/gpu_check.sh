#!/usr/bin/env bash
# The GPU path, checked on a machine with CUDA, in one call of under 8 minutes:
#   1. the tests that touch devices (device choice, peak memory, the bench executors),
#   2. one tour-sized run (digits, forget class 3, the app's defaults) per seed method on
#      --device cuda and on --device cpu, each device with its own retrained oracle,
#   3. the scale benchmark (ResNet-18 on concept shapes, 3 sizes) at one seed on cuda,
# then prints a table: method, cuda time, CPU time, CPU / cuda, gap to retraining on each device.
# Usage: bash scripts/gpu_check.sh [OUT_DIR]   (default: $OUT, else a fresh temporary folder)
# OUT_DIR receives three files: gpu_check.md (the tables), time_ratio.png (the scale plot) and
# gpu_check_files.tar.gz (every run's JSON and log); the workspaces stay in a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
FINAL_DIR="${1:-${OUT:-$(mktemp -d)}}"
mkdir -p "$FINAL_DIR"
OUT_DIR="$(mktemp -d)"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA device here (torch.cuda.is_available() is False)" >&2
    exit 2
fi
python -c "import torch; p = torch.cuda.get_device_properties(0); print(f'GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB; torch {torch.__version__}')" \
    | tee "$OUT_DIR/gpu.txt"
START=$(date +%s)

echo "== 1. tests that touch devices" >&2
timeout 150 python -m pytest tests/unit/test_train.py tests/unit/test_memory.py tests/unit/test_bench_executors.py \
    -p no:randomly -m "not slow" -k "device or memory or bench or ray or markdown or summarize" \
    2>&1 | tail -3 | tee "$OUT_DIR/tests.txt" || true

echo "== 2. one tour-sized run per seed method, cuda then cpu" >&2
for device in cuda cpu; do
    for method in del unsir layer_attack rfa concept_poisoning; do
        timeout 120 python -m unlearn_core unlearn --dataset digits --forget class:3 --method "$method" \
            --device "$device" --workspace "$OUT_DIR/ws-$device" --json --quiet \
            > "$OUT_DIR/unlearn-$method-$device.json" \
            || echo "{\"method\": \"$method\", \"error\": \"exit $?\"}" > "$OUT_DIR/unlearn-$method-$device.json"
    done
done

echo "== 3. scale benchmark, one seed, cuda" >&2
timeout 240 python benchmarks/run_scale.py --sizes 1500,3000,6000 --seeds 1 --device cuda \
    --out "$OUT_DIR/scale" 2> "$OUT_DIR/scale.log" || echo "scale benchmark: exit $? (see scale.log)" >&2
if ls "$OUT_DIR"/scale/shapes_n*.json > /dev/null 2>&1 && [ ! -f "$OUT_DIR/scale/results.md" ]; then
    python benchmarks/run_scale.py --render-only --out "$OUT_DIR/scale"  # the sizes finished before the limit
fi

python - "$OUT_DIR" "$START" <<'EOF'
import json, pathlib, sys, time

out = pathlib.Path(sys.argv[1])
rows = ["| method | cuda time (s) | CPU time (s) | CPU / cuda | gap cuda (pts) | gap CPU (pts) | cuda max allocated (MB) |",
        "|---|---|---|---|---|---|---|"]
retrain = {}
for method in ("del", "unsir", "layer_attack", "rfa", "concept_poisoning"):
    files = {d: out / f"unlearn-{method}-{d}.json" for d in ("cuda", "cpu")}
    r = {d: json.loads(f.read_text() or "{}") if f.exists() else {"error": "not run"} for d, f in files.items()}
    if any("time_s" not in r[d] for d in r):
        rows.append(f"| {method} | failed: {r['cuda'].get('error', '')} {r['cpu'].get('error', '')} | | | | | |")
        continue
    for d in r:
        if not r[d]["retrain_reused"]:
            retrain[d] = r[d]["retrain_time_s"]
    c, p = r["cuda"], r["cpu"]
    rows.append(f"| {method} | {c['time_s']:.2f} | {p['time_s']:.2f} | {p['time_s'] / c['time_s']:.1f} | "
                f"{c['avg_gap']:.2f} | {p['avg_gap']:.2f} | {c.get('cuda_max_allocated_mb')} |")
if len(retrain) == 2:
    rows.append(f"| retrain (oracle) | {retrain['cuda']:.2f} | {retrain['cpu']:.2f} | "
                f"{retrain['cpu'] / retrain['cuda']:.1f} | 0 | 0 | |")
table = "\n".join(rows)
gpu = (out / "gpu.txt").read_text().strip()
text = f"# GPU check\n\n{gpu}. Digits, forget class:3, each method's defaults.\n\n{table}\n"
scale = out / "scale" / "results.md"
if scale.exists():
    text += "\n" + scale.read_text().replace("# Scale benchmark", "## Scale benchmark (cuda, one seed)")
tests = (out / "tests.txt").read_text().strip().splitlines() if (out / "tests.txt").exists() else []
text += f"\nTests: {tests[-1] if tests else 'no output'}\n"
text += f"\n_gpu_check.sh took {time.time() - float(sys.argv[2]):.0f} s._\n"
(out / "gpu_check.md").write_text(text)
print(text)
EOF
cp "$OUT_DIR/gpu_check.md" "$FINAL_DIR/"
[ -f "$OUT_DIR/scale/time_ratio.png" ] && cp "$OUT_DIR/scale/time_ratio.png" "$FINAL_DIR/"
tar -czf "$FINAL_DIR/gpu_check_files.tar.gz" -C "$OUT_DIR" --exclude='ws-*' .
echo "gpu_check: results in $FINAL_DIR" >&2
