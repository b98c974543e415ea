// Test helper: GPT-2's byte → printable-character map (bytes_to_unicode in transformers'
// convert_slow_tokenizer.py / GPT-2's encoder.py), for building byte-level BPE fixtures.

/** out[b] is the character that stands for byte b in a byte-level BPE vocabulary. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out: string[] = new Array(256);
  bs.forEach((b, i) => (out[b] = String.fromCharCode(cs[i])));
  return out;
}
