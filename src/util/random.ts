// Seeded randomness shared by every layer (a leaf: imports nothing). The same seed gives the same
// adapter initialisation, dropout masks, dataset shuffle and split in the studio and the CLI.

/**
 * Seeded uniform PRNG (mulberry32, Tommy Ettinger's public-domain generator): returns a function
 * giving floats in [0, 1). The same seed gives the same sequence.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A 32-bit hash of integers (FNV-1a mixing per value with the murmur3 finalizer), used to derive
 * independent seeds: the dropout seed of (run seed, step, micro-batch), the dataset's order.
 */
export function hash32(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x01000193) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
  }
  return h >>> 0;
}
