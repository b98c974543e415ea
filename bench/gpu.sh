#!/usr/bin/env bash
# On a bare Linux GPU machine with Node 20 (and python3): runs `npm run bench` (our WebGPU engine on
# Dawn/Vulkan) and `npm run bench:peft` (PyTorch + PEFT on CUDA) on the same training configuration,
# then our training bench again with --matmul-math f16 (where the GPU has shader-f16: found by
# trying; its failure is recorded as "webgpu_f16": {"error": ...}, never fails the script), and
# writes all of them into one JSON file (bench/gpu_merge.py).
#   bash bench/gpu.sh [OUT.json]      (env: B=4 T=512 R=16 STEPS=20)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench-gpu.json}"
B="${B:-4}" T="${T:-512}" R="${R:-16}" STEPS="${STEPS:-20}"
[ -d node_modules ] || npm ci --no-audit --no-fund
if ! python3 -c 'import torch, peft, transformers' 2>/dev/null; then
  python3 -m venv .venv-peft && . .venv-peft/bin/activate
  pip install --quiet torch transformers peft
fi
common=(--batch-size "$B" --seq-len "$T" --rank "$R" --steps "$STEPS")
npm run -s bench -- --preset smollm2-135m "${common[@]}" --profile > .bench-ours.json
npm run -s bench:peft -- "${common[@]}" > .bench-peft.json
# The f16 run's failure (no shader-f16) is data, not an error of the script.
npm run -s bench -- --preset smollm2-135m "${common[@]}" --profile --only train --matmul-math f16 > .bench-ours-f16.json 2> .bench-ours-f16.err || true
python3 bench/gpu_merge.py "$out" .bench-ours.json .bench-peft.json .bench-ours-f16.json .bench-ours-f16.err
rm -f .bench-ours.json .bench-peft.json .bench-ours-f16.json .bench-ours-f16.err
