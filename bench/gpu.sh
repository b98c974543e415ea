#!/usr/bin/env bash
# On a bare Linux GPU machine with Node 20 (and python3): runs `npm run bench` (our WebGPU engine on
# Dawn/Vulkan) and `npm run bench:peft` (PyTorch + PEFT on CUDA) on the same training configuration
# and writes both into one JSON file.
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
python3 - "$out" <<'PY'
import json, sys
ours, peft = json.load(open(".bench-ours.json")), json.load(open(".bench-peft.json"))
ratio = ours["train"]["tokens_per_second"] / peft["train"]["tokens_per_second"]
json.dump({"webgpu": ours, "peft": peft, "tokens_per_second_ratio_webgpu_over_peft": ratio}, open(sys.argv[1], "w"), indent=1)
print(f"wrote {sys.argv[1]}: WebGPU/PEFT tokens/s = {ratio:.3f}")
PY
rm -f .bench-ours.json .bench-peft.json
