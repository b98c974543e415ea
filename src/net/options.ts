// The Transformer's options (batch shape, training, checkpointing, generation) and the batch the
// host writes into it each step.

import type { SaveActivations } from './buffers';
import type { KvCache } from './kvcache';
import type { MatmulMath } from '../ops/matmul-math';

/**
 * How a Transformer is built: its fixed batch shape (B sequences of T tokens, N = B·T rows; every
 * buffer is sized for it once), whether the training program exists, and the generation modes.
 * The Transformer constructor throws Error for inconsistent combinations (decode without `kv` or
 * with B·T ≠ 1, a prefill T above the cache's capacity, training without a LoRA state, T above a
 * sliding attention window, matmulMath 'f16' on a device without 'shader-f16').
 */
export interface TransformerOptions {
  /** Sequences per micro-batch. */
  B: number;
  /** Tokens per sequence (the context length of training, or the prefill window). */
  T: number;
  /** Build the training program (per-layer activations, backward, gradients). */
  training: boolean;
  /**
   * Activation checkpointing: keep only each layer's input (the residual stream) and recompute
   * the layer's forward just before its backward. Saves about (L-1)/L of the activation memory for
   * about one extra forward per step; gradients are identical (dropout masks are recomputed from
   * the same seeds).
   */
  checkpointing?: boolean;
  /**
   * How the training graph stores the activations each layer keeps for its backward (without
   * checkpointing): 'f32' (default) exact; 'f16' keeps q|k|v, the attention output and gate|up as
   * packed f16 (computed in f32, packed after the forward, unpacked before the backward): about
   * half the activation memory, gradients within f16 rounding (~1e-3 relative) of the f32 ones.
   */
  saveActivations?: SaveActivations;
  /**
   * The arithmetic of the dense matmuls (frozen products on f32 / f16 weights, the LoRA products):
   * 'f32' (default) or 'f16' (operands rounded to f16 in workgroup memory, f16 products, f32
   * accumulation; ops/matmul-math.ts). 'f16' needs a device created with 'shader-f16': the
   * constructor throws Error otherwise. Quantized frozen weights and the split-K reduce stay f32.
   * 'f16-emulated' (tests): the f16 path's code with f32 in place of f16, on any device.
   */
  matmulMath?: MatmulMath;
  /**
   * Run the LoRA products of modules that read the same input (q|k|v, gate|up) as one grouped
   * dispatch each (default true); false runs one dispatch per module, the same bits (tests and the
   * dispatch benchmark's comparison).
   */
  groupLora?: boolean;
  /** Bytes allowed for one chunk of logits (default HEAD_CHUNK_BYTES). */
  headChunkBytes?: number;
  /**
   * Generation: every layer writes the k, v of its rows into this cache at their positions (`pos`),
   * so a prefill over the prompt fills it.
   */
  kv?: KvCache;
  /**
   * One-token decode step (needs `kv`, B = T = 1): the row is written to the cache at pos[0] and
   * attends every cached position 0..pos[0] instead of the causal window of its batch.
   */
  decode?: boolean;
  /**
   * Workgroups the split-K of the LoRA gradients (dA, dB over the B·T tokens) aims for; default the
   * device's (many on a GPU, few on a software adapter). 1 never splits; tests raise it to force it.
   */
  splitKMinGroups?: number;
}

/** A (B, T) batch laid out row-major, ready to upload. */
export interface Batch {
  /** Input token ids [B·T]. */
  tokens: Uint32Array;
  /** Next-token targets [B·T]; -100 = ignored (padding, prompt tokens), as in PyTorch's CrossEntropyLoss ignore_index. */
  targets: Int32Array;
  /** Position ids [B·T] (restart at 0 for each packed example): RoPE angles / GPT-2 position embeddings. */
  pos: Uint32Array;
  /** Per row, the row index (within its sequence) where its example starts: attention stays inside one packed example. */
  segStart: Uint32Array;
  /** Number of targets that are not -100. */
  predicted: number;
}
