#!/usr/bin/env python3
"""PyTorch + PEFT reference for `npm run bench`'s training section (npm run bench:peft).

Same configuration: the SmolLM2-135M model shape (its config.json values below; random init), LoRA
on all linear layers (PEFT's "all-linear": every decoder linear, not the head), rank r, alpha 2r,
dropout 0.05, AdamW, a batch of B random sequences of T tokens, `steps` timed steps after two
warm-up steps. Prints one JSON object with the same keys as `npm run bench -- --only train`:
{"device", "model", "config", "train": {"tokens_per_second", "step_ms", "peak_gpu_bytes", ...}}.
Runs on CUDA; without CUDA it falls back to the CPU with a warning on stderr.
"""
import argparse
import json
import sys
import time

SMOLLM2_135M = dict(
    hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
    num_key_value_heads=3, vocab_size=49152, max_position_embeddings=8192, rms_norm_eps=1e-5,
    rope_theta=100000.0, hidden_act="silu", tie_word_embeddings=True, bos_token_id=0, eos_token_id=0,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32", help="base weight dtype (activations follow it)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    try:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import LlamaConfig, LlamaForCausalLM
    except ImportError as e:
        print(f"error: bench:peft needs torch, transformers and peft ({e}); pip install torch transformers peft", file=sys.stderr)
        return 2
    torch.manual_seed(a.seed)
    cuda = torch.cuda.is_available()
    if not cuda:
        print("warning: CUDA is not available; running PyTorch + PEFT on the CPU (slow, not comparable to a GPU)", file=sys.stderr)
    dev = torch.device("cuda" if cuda else "cpu")
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    cfg = LlamaConfig(**SMOLLM2_135M)
    model = LlamaForCausalLM(cfg).to(device=dev, dtype=dtype)
    lcfg = LoraConfig(r=a.rank, lora_alpha=2 * a.rank, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(model, lcfg)
    model.train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    ids = torch.randint(0, cfg.vocab_size, (a.batch_size, a.seq_len), device=dev)

    def step() -> None:
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(2):
        step()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    s = time.perf_counter() - t0
    result = {
        "device": {"vendor": "cuda" if cuda else "cpu", "description": torch.cuda.get_device_name(0) if cuda else "CPU",
                   "torch": torch.__version__},
        "model": {"name": "random:smollm2-135m", "layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size},
        "config": {"batch_size": a.batch_size, "seq_len": a.seq_len, "rank": a.rank, "targets": "all-linear",
                   "trainable_params": trainable, "steps": a.steps, "dtype": a.dtype},
        "train": {
            "tokens_per_second": a.batch_size * a.seq_len * a.steps / s,
            "step_ms": 1000 * s / a.steps,
            "peak_gpu_bytes": torch.cuda.max_memory_allocated() if cuda else None,
        },
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
