// The Transformer's options (batch shape, training, checkpointing, generation) and the batch the
// host writes into it each step.

import type { KvCache } from './kvcache';

export interface TransformerOptions {
  B: number;
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
  tokens: Uint32Array;
  targets: Int32Array;
  pos: Uint32Array;
  segStart: Uint32Array;
  /** Number of targets that are not -100. */
  predicted: number;
}
