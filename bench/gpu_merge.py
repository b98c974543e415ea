# Merges bench/gpu.sh's results into its one JSON file: our engine's bench (f32 matmul math), the
# PEFT bench, and our training bench again with --matmul-math f16, or the error that run ended
# with (a GPU without shader-f16: the f16 run failing never fails the script).
#   python3 bench/gpu_merge.py OUT.json OURS.json PEFT.json OURS_F16.json F16_STDERR.txt
# OURS_F16.json is used when it holds a JSON object; else F16_STDERR.txt's "error:" lines (or its
# last lines when it has none) become {"error": TEXT}. Prints one summary line.
import json
import os
import sys


def f16_result(path, err_path):
    try:
        with open(path) as f:
            v = json.load(f)
        if isinstance(v, dict):
            return v
    except (OSError, ValueError):
        pass
    text = ""
    if os.path.exists(err_path):
        with open(err_path, errors="replace") as f:
            text = f.read()
    lines = [l.strip() for l in text.replace("\r", "\n").split("\n") if l.strip()]
    errors = [l for l in lines if l.startswith("error:")]
    return {"error": "\n".join(errors or lines[-5:]) or "the f16 run wrote nothing"}


def main(out, ours_path, peft_path, f16_path, f16_err):
    with open(ours_path) as f:
        ours = json.load(f)
    with open(peft_path) as f:
        peft = json.load(f)
    f16 = f16_result(f16_path, f16_err)
    ratio = ours["train"]["tokens_per_second"] / peft["train"]["tokens_per_second"]
    merged = {"webgpu": ours, "peft": peft, "tokens_per_second_ratio_webgpu_over_peft": ratio, "webgpu_f16": f16}
    line = f"wrote {out}: WebGPU/PEFT tokens/s = {ratio:.3f}"
    if "train" in f16:
        f16_ratio = f16["train"]["tokens_per_second"] / ours["train"]["tokens_per_second"]
        merged["tokens_per_second_ratio_f16_over_f32_matmul_math"] = f16_ratio
        line += f"; f16/f32 matmul math tokens/s = {f16_ratio:.3f}"
    else:
        line += f"; no f16 matmul math run ({f16['error'].splitlines()[0]})"
    with open(out, "w") as f:
        json.dump(merged, f, indent=1)
    print(line)


if __name__ == "__main__":
    main(*sys.argv[1:6])
