// Include: reading f16 tensors stored as pairs of halves packed in u32 words (element i is half
// (i & 1) of word i >> 1, the low half first; the layout of src/gpu/half.ts).
//
// Provides:
//   f16At(word, i) -> f32   element i's value from its word: the caller passes buf[i >> 1u], so one
//                           helper serves every binding (WGSL cannot take a storage array as a
//                           parameter), e.g. fn loadW(i: u32) -> f32 { return f16At(weight[i >> 1u], i); }
// Requires nothing from the including file. No bindings. No shader-f16 feature needed
// (unpack2x16float is core WGSL).

fn f16At(word: u32, i: u32) -> f32 {
  let h = unpack2x16float(word);
  return select(h.x, h.y, (i & 1u) == 1u);
}
