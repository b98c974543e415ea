// Include: the LoRA dropout mask, shared by ops/elementwise's dropout and the matmul kernels that
// apply it while loading an operand or in their epilogue (so the masks are the same bits).
//   keep(i) = (hash(seed, salt, i) >> 8) >= thr, thr = ceil(p * 2^24): the top 24 bits of the hash
//   as a uniform [0,1) value compared with p, in integers so the TypeScript reference
//   (dropoutKeep) reproduces the mask bit for bit. hash = pcg(pcg(i) + key),
//   key = dropKeyOf(seed, salt) = pcg(seed ^ pcg(salt)), pcg = the PCG-RXS-M-XS 32-bit output
//   permutation (Jarzynski & Olano, "Hash Functions for GPU Rendering", 2020).
// Provides pcg(v), dropKeyOf(seed, salt), dropKeep(key, thr, i) -> bool. No bindings.

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn dropKeyOf(seed: u32, salt: u32) -> u32 {
  return pcg(seed ^ pcg(salt));
}

fn dropKeep(key: u32, thr: u32, i: u32) -> bool {
  return (pcg(pcg(i) + key) >> 8u) >= thr;
}
