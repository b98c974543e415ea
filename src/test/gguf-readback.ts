// Test support (used by the GGUF tests only): a GGUF file parsed by the independent
// @huggingface/gguf reader, its tensors dequantized with the reference rules written out here from
// ggml's docs (not with ggml-quant.ts's decoder), and mapped back to a Hugging Face checkpoint
// (names back, q/k rows un-permuted, GPT-2 Conv1D transposed back). Node only.
import { readFileSync, writeFileSync } from 'node:fs';
import { gguf, type GGUFParseOutput } from '@huggingface/gguf';
import { f16BitsToF32 } from '../gpu/half';
import type { ModelSpec } from '../model/config';
import type { StreamedFile } from '../lora/merged';
import type { TensorToWrite } from '../model/safetensors-writer';
import { ggufTensorName, permuteHeads, permuteRows, transpose } from '../export/gguf-llama';

interface ReadGguf {
  parsed: GGUFParseOutput<{ strict: false }> & { typedMetadata: Record<string, { value: unknown; type: number; subType?: number }> };
  bytes: Uint8Array;
  /** The tensor's values as f32 in file order (ne[0] innermost), and its dims. */
  tensor(name: string): { values: Float32Array; dims: number[]; type: number };
}

/** Streams `file` to `path`, checks its announced size, and parses it back. */
export async function writeAndRead(file: StreamedFile, path: string): Promise<ReadGguf> {
  const chunks: Uint8Array[] = [];
  await file.write((c) => void chunks.push(c.slice()));
  const bytes = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of chunks) (bytes.set(c, o), (o += c.length));
  if (bytes.length !== file.bytes) throw new Error(`${file.name}: announced ${file.bytes} bytes, wrote ${bytes.length}`);
  writeFileSync(path, bytes);
  const parsed = (await gguf(path, { allowLocalFile: true, typedMetadata: true })) as unknown as ReadGguf['parsed'];
  const data = readFileSync(path);
  const tensor = (name: string) => {
    const info = parsed.tensorInfos.find((t) => t.name === name);
    if (!info) throw new Error(`no tensor ${name} in ${path}`);
    const dims = info.shape.map(Number);
    const n = dims.reduce((a, b) => a * b, 1);
    const at = Number(parsed.tensorDataOffset + info.offset);
    const view = new DataView(data.buffer, data.byteOffset + at);
    const values = new Float32Array(n);
    const type = Number(info.dtype);
    if (type === 0) for (let i = 0; i < n; i++) values[i] = view.getFloat32(4 * i, true);
    else if (type === 1) for (let i = 0; i < n; i++) values[i] = f16BitsToF32(view.getUint16(2 * i, true));
    else if (type === 8) {
      // block_q8_0 { ggml_half d; int8_t qs[32]; }: x = qs[j] * d
      for (let b = 0; b < n / 32; b++) {
        const d = f16BitsToF32(view.getUint16(34 * b, true));
        for (let j = 0; j < 32; j++) values[32 * b + j] = d * view.getInt8(34 * b + 2 + j);
      }
    } else if (type === 2) {
      // block_q4_0 { ggml_half d; uint8_t qs[16]; }: x[j] = ((qs[j] & 0xF) - 8) * d, x[j+16] = ((qs[j] >> 4) - 8) * d
      for (let b = 0; b < n / 32; b++) {
        const d = f16BitsToF32(view.getUint16(18 * b, true));
        for (let j = 0; j < 16; j++) {
          const q = view.getUint8(18 * b + 2 + j);
          values[32 * b + j] = ((q & 0xf) - 8) * d;
          values[32 * b + 16 + j] = ((q >> 4) - 8) * d;
        }
      }
    } else throw new Error(`${name}: ggml type ${type} is not read here`);
    return { values, dims, type };
  };
  return { parsed, bytes, tensor };
}

/**
 * The GGUF model's weights as Hugging Face checkpoint tensors (F32), for the names in `hfNames`
 * (a base checkpoint's names; lm_head.weight is added when the file has output.weight and the
 * model is untied or the GGUF carries its own head).
 */
export function hfTensorsFromGguf(r: ReadGguf, spec: ModelSpec, hfNames: string[]): TensorToWrite[] {
  const out: TensorToWrite[] = [];
  const present = new Set(r.parsed.tensorInfos.map((t) => t.name));
  const names = [...hfNames];
  if (present.has('output.weight') && !names.includes('lm_head.weight') && spec.arch !== 'gpt2') names.push('lm_head.weight');
  for (const hf of names) {
    const g = ggufTensorName(hf, spec);
    if (!g) continue;
    const { values, dims } = r.tensor(g.name);
    const shape = [...dims].reverse();
    let x = values;
    if (g.op === 'transpose') {
      x = transpose(values, dims[1], dims[0]); // GGUF [out][in] → Conv1D [in][out]
      out.push({ name: hf, dtype: 'F32', shape: [dims[0], dims[1]], data: x });
      continue;
    }
    if (g.op === 'permute-q' || g.op === 'permute-k') x = permuteRows(values, shape[0], shape.length > 1 ? shape[1] : 1, permuteHeads(g.op, spec), true);
    out.push({ name: hf, dtype: 'F32', shape, data: x });
  }
  return out;
}
