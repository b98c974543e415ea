// GGUF export: every file written is parsed back with the independent @huggingface/gguf reader
// (metadata and tensor infos), its tensors dequantized with the reference rules and compared with
// the merged weights; the file mapped back to a checkpoint gives the merged model's eval loss.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { makeBatch } from '../data/batch';
import { f16BitsToF32, f32ToF16Bits } from '../gpu/half';
import { mergeCheckpoint } from '../lora/merge';
import type { AdapterTensors, LoraHyper } from '../lora/peft';
import { LoraState } from '../lora/state';
import { Checkpoint } from '../model/checkpoint';
import { parseConfig, type ModelSpec } from '../model/config';
import { serializeSafetensors, type TensorToWrite } from '../model/safetensors-writer';
import { memorySource, type ModelSource } from '../model/source';
import { Transformer } from '../net/transformer';
import { loadWeights } from '../model/weights';
import { hfTensorsFromGguf, writeAndRead } from '../test/gguf-readback';
import { rng, testContext } from '../test/gpu';
import { evaluate } from '../train/trainer';
import { adapterGgufFile, mergedGgufFile } from './gguf-model';
import { ggufTensorName, permuteRows } from './gguf-llama';
import { decodeGgml, encodeGgml, GgmlType } from './ggml-quant';
import { tokenizerMetadata } from './gguf-tokenizer';
import { randomAdapter } from '../test/random-adapter';

const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));
const TINY_SP = fileURLToPath(new URL('../../../shared/models/tiny-llama-sp/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'gguf-'));


async function evalLoss(spec: ModelSpec, src: ModelSource, ids: number[][], lora?: ReturnType<typeof randomAdapter>): Promise<number> {
  const ctx = await testContext();
  const weights = await loadWeights(ctx, spec, await Checkpoint.open(src), { dtype: 'f32' });
  let state: LoraState | null = null;
  if (lora) {
    state = new LoraState(ctx, lora.modules, lora.h);
    state.load(lora.weights);
  }
  const B = ids.length, T = ids[0].length;
  const batch = makeBatch(ids.map((x) => ({ ids: x })), B, T, 0);
  return (await evaluate(ctx, new Transformer(ctx, spec, weights, state, { B, T, training: false }), [batch])).loss;
}

const sourceOf = (config: unknown, tensors: TensorToWrite[]) =>
  memorySource('readback', new Map<string, Uint8Array | string>([['config.json', JSON.stringify(config)], ['model.safetensors', serializeSafetensors(tensors)]]));

describe('ggml block formats', () => {
  const r = rng(3);
  const x = Float32Array.from({ length: 32 * 40 }, () => (r() * 2 - 1) * 2);
  x.fill(0, 64, 96); // an all-zero block
  it('Q8_0: 34-byte blocks, d = amax/127 as f16, error at most d/2 per value', () => {
    const b = encodeGgml(GgmlType.Q8_0, x, 64);
    expect(b.length).toBe(40 * 34);
    const y = decodeGgml(GgmlType.Q8_0, b, x.length);
    for (let k = 0; k < 40; k++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * k + j]));
      const d = f16BitsToF32(f32ToF16Bits(amax / 127));
      expect(f16BitsToF32(b[34 * k] | (b[34 * k + 1] << 8))).toBe(d);
      for (let j = 0; j < 32; j++) expect(Math.abs(y[32 * k + j] - x[32 * k + j])).toBeLessThanOrEqual(d / 2 + 1e-3 * d + amax * 1e-3);
    }
    expect(Array.from(y.subarray(64, 96))).toEqual(new Array(32).fill(0));
  });
  it('Q4_0: 18-byte blocks, low nibble value j, high nibble value j+16, error at most |d|/2 (|d| at the extreme)', () => {
    const b = encodeGgml(GgmlType.Q4_0, x, 32);
    expect(b.length).toBe(40 * 18);
    const y = decodeGgml(GgmlType.Q4_0, b, x.length);
    for (let k = 0; k < 40; k++) {
      const d = Math.abs(f16BitsToF32(b[18 * k] | (b[18 * k + 1] << 8)));
      for (let j = 0; j < 32; j++) expect(Math.abs(y[32 * k + j] - x[32 * k + j])).toBeLessThanOrEqual(d * 1.002 + 1e-7);
    }
    expect(() => encodeGgml(GgmlType.Q8_0, new Float32Array(40), 40, 'blk.0.x')).toThrow(/blk\.0\.x: Q8_0 needs rows of a multiple of 32/);
  });
  it('LlamaModel.permute interleaves the two rotary halves of each head, and inverts', () => {
    const w = Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]); // 2 heads of 4 rows, 1 column
    expect(Array.from(permuteRows(w, 8, 1, 2))).toEqual([0, 2, 1, 3, 10, 12, 11, 13]);
    expect(Array.from(permuteRows(permuteRows(w, 8, 1, 2), 8, 1, 2, true))).toEqual(Array.from(w));
  });
});

describe('GGUF export of stories260K + LoRA', async () => {
  const src = dirSource(STORIES);
  const config = JSON.parse(await src.text('config.json')) as Record<string, unknown>;
  const spec = parseConfig(config, 'config.json');
  const ckpt = await Checkpoint.open(src);
  const h: LoraHyper = { r: 4, loraAlpha: 8, loraDropout: 0, useRslora: false };
  const adapter = randomAdapter(spec, 'all-linear', h, 7);
  const merged = await mergeCheckpoint(ckpt, spec, adapter.modules, adapter.weights, h);
  const mergedByName = new Map(merged.tensors.map((t) => [t.name, t.data as Float32Array]));
  const r = rng(11);
  const ids = Array.from({ length: 4 }, () => Array.from({ length: 48 }, () => 3 + Math.floor(r() * (spec.V - 3))));
  const mergedLoss = await evalLoss(spec, sourceOf(config, merged.tensors), ids);

  it('F16: llama metadata and tokenizer as llama.cpp reads them; tensors are the merged weights to f16 rounding; same eval loss', async () => {
    const exp = await mergedGgufFile({ checkpoint: ckpt, spec }, src, adapter, { type: 'f16', name: 'stories' });
    const g = await writeAndRead(exp.file, join(tmp, 'f16.gguf'));
    const md = g.parsed.typedMetadata;
    expect(g.parsed.metadata.version).toBe(3);
    expect(Number(g.parsed.tensorDataOffset) % 32).toBe(0);
    for (const t of g.parsed.tensorInfos) expect(Number(t.offset) % 32).toBe(0);
    const want: Record<string, [unknown, number]> = {
      'general.architecture': ['llama', 8], 'general.type': ['model', 8], 'general.file_type': [1, 4],
      'llama.context_length': [512, 4], 'llama.embedding_length': [64, 4], 'llama.block_count': [5, 4],
      'llama.feed_forward_length': [172, 4], 'llama.attention.head_count': [8, 4], 'llama.attention.head_count_kv': [4, 4],
      'llama.rope.dimension_count': [8, 4], 'llama.vocab_size': [512, 4], 'tokenizer.ggml.model': ['llama', 8],
      'tokenizer.ggml.bos_token_id': [1, 4], 'tokenizer.ggml.eos_token_id': [2, 4], 'tokenizer.ggml.unknown_token_id': [0, 4],
      'tokenizer.ggml.add_bos_token': [true, 7],
    };
    for (const [k, [v, type]] of Object.entries(want)) expect([k, md[k]?.value, md[k]?.type]).toEqual([k, v, type]);
    expect(md['llama.rope.freq_base'].value).toBe(10000);
    expect(md['llama.attention.layer_norm_rms_epsilon'].value).toBeCloseTo(1e-5, 10);
    const tokens = md['tokenizer.ggml.tokens'].value as string[];
    expect(tokens.length).toBe(512);
    expect(tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    expect((md['tokenizer.ggml.token_type'].value as number[]).slice(0, 4)).toEqual([3, 3, 3, 6]); // specials CONTROL, <0x00> BYTE
    expect((md['tokenizer.ggml.scores'].value as number[]).length).toBe(512);

    const names = g.parsed.tensorInfos.map((t) => t.name);
    expect(names).toContain('token_embd.weight');
    expect(names).toContain('blk.4.ffn_down.weight');
    expect(names).toContain('output_norm.weight');
    expect(names).not.toContain('output.weight'); // tied head without LoRA on it: llama.cpp reuses token_embd
    expect(names.length).toBe(1 + 5 * 9 + 1);
    const q = g.parsed.tensorInfos.find((t) => t.name === 'blk.0.attn_q.weight')!;
    expect(q.shape.map(Number)).toEqual([64, 64]);
    expect(Number(q.dtype)).toBe(1);
    expect(g.parsed.tensorInfos.find((t) => t.name === 'blk.0.attn_k.weight')!.shape.map(Number)).toEqual([64, 32]);
    expect(Number(g.parsed.tensorInfos.find((t) => t.name === 'blk.0.attn_norm.weight')!.dtype)).toBe(0);

    // Every tensor: the merged weight, q/k permuted, rounded to f16 exactly.
    const back = hfTensorsFromGguf(g, spec, ckpt.names());
    expect(back.length).toBe(merged.tensors.length);
    for (const t of back) {
      const m = mergedByName.get(t.name)!;
      const is1d = t.shape.length === 1;
      const wantV = is1d ? m : Float32Array.from(m, (v) => f16BitsToF32(f32ToF16Bits(v)));
      expect([t.name, Array.from(t.data as Float32Array)]).toEqual([t.name, Array.from(wantV)]);
    }
    // The permutation is really there: the file's attn_q rows are not the HF rows.
    const fileQ = g.tensor('blk.0.attn_q.weight').values;
    const hfQ = mergedByName.get('model.layers.0.self_attn.q_proj.weight')!;
    expect(fileQ[64]).toBe(f16BitsToF32(f32ToF16Bits(hfQ[4 * 64]))); // GGUF row 1 = HF row HS/2 = 4

    const loss = await evalLoss(spec, sourceOf(config, back), ids);
    expect(Math.abs(loss - mergedLoss)).toBeLessThan(2e-3 * mergedLoss);
    expect(exp.notes).toEqual([]);
  });

  it('Q8_0: blocks within their quantization error, F16 where rows are not whole blocks (ffn_down: 172), eval loss close', async () => {
    const exp = await mergedGgufFile({ checkpoint: ckpt, spec }, src, adapter, { type: 'q8_0', name: 'stories' });
    const g = await writeAndRead(exp.file, join(tmp, 'q8.gguf'));
    expect(g.parsed.typedMetadata['general.file_type'].value).toBe(7);
    const types = new Map(g.parsed.tensorInfos.map((t) => [t.name, Number(t.dtype)]));
    expect(types.get('blk.0.attn_q.weight')).toBe(8);
    expect(types.get('token_embd.weight')).toBe(8);
    expect(types.get('blk.0.ffn_down.weight')).toBe(1);
    expect(types.get('blk.0.ffn_norm.weight')).toBe(0);
    expect(exp.notes.join('\n')).toMatch(/5 matrices have rows that are not whole 32-value blocks and were written as F16 instead of Q8_0/);
    const back = hfTensorsFromGguf(g, spec, ckpt.names());
    for (const t of back) {
      const m = mergedByName.get(t.name)!;
      const got = t.data as Float32Array;
      const gname = ggufTensorName(t.name, spec)!.name;
      if (types.get(gname) !== 8) continue;
      const permuted = g.tensor(gname).values;
      const fileOrder = t.name.includes('q_proj') || t.name.includes('k_proj')
        ? permuteRows(m, t.shape[0], t.shape[1], t.name.includes('q_proj') ? spec.NH : spec.NKV)
        : m;
      // |x − q·d16| ≤ d/2 (rounding) + |q|·|d − d16| ≤ d/2 + 127·d·2⁻¹¹ (d16: d rounded to f16).
      for (let b = 0; b < fileOrder.length; b += 32) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(fileOrder[b + j]));
        for (let j = 0; j < 32; j++) expect(Math.abs(permuted[b + j] - fileOrder[b + j])).toBeLessThanOrEqual((amax / 127) * (0.5 + 127 / 2048) + 1e-6);
      }
      expect(got.length).toBe(m.length);
    }
    const loss = await evalLoss(spec, sourceOf(config, back), ids);
    expect(Math.abs(loss - mergedLoss)).toBeLessThan(2e-2 * mergedLoss);
    expect(Math.abs(loss - mergedLoss)).toBeGreaterThan(0); // it is a different (quantized) model
  });

  it('a LoRA on the tied head unties it: output.weight is the merged head', async () => {
    const withHead = randomAdapter(spec, 'q_proj,lm_head', h, 9);
    const exp = await mergedGgufFile({ checkpoint: ckpt, spec }, src, withHead, { type: 'f32', name: 's' });
    const g = await writeAndRead(exp.file, join(tmp, 'head.gguf'));
    const m = await mergeCheckpoint(ckpt, spec, withHead.modules, withHead.weights, h);
    const head = m.tensors.find((t) => t.name === 'lm_head.weight')!.data as Float32Array;
    expect(Array.from(g.tensor('output.weight').values)).toEqual(Array.from(head));
    expect(g.tensor('output.weight').dims).toEqual([64, 512]);
  });

  it('adapter GGUF: llama.cpp adapter keys, lora_a [in, r], lora_b [r, out] with attn_q/attn_k rows permuted; read back it gives the same loss as the adapter', async () => {
    const small = randomAdapter(spec, 'q_proj,k_proj,v_proj,down_proj', { ...h, useRslora: true }, 13);
    const exp = adapterGgufFile(spec, small, { type: 'f32', name: 'stories' });
    const g = await writeAndRead(exp.file, join(tmp, 'lora.gguf'));
    const md = g.parsed.typedMetadata;
    expect([md['general.type'].value, md['adapter.type'].value, md['general.architecture'].value]).toEqual(['adapter', 'lora', 'llama']);
    expect(md['adapter.lora.alpha'].type).toBe(6);
    expect(md['adapter.lora.alpha'].value).toBeCloseTo(8 * Math.sqrt(4), 5); // rsLoRA: alpha·√r so that alpha/r = 8/√4
    expect(exp.notes.join('\n')).toMatch(/rsLoRA/);
    expect(g.parsed.tensorInfos.length).toBe(5 * 4 * 2);
    const a = g.tensor('blk.2.attn_k.weight.lora_a');
    const b = g.tensor('blk.2.attn_k.weight.lora_b');
    expect(a.dims).toEqual([64, 4]);
    expect(b.dims).toEqual([4, 32]);
    const t = small.weights.get('model.layers.2.self_attn.k_proj')!;
    expect(Array.from(a.values)).toEqual(Array.from(t.A));
    expect(Array.from(permuteRows(b.values, 32, 4, spec.NKV, true))).toEqual(Array.from(t.B));
    expect(Array.from(b.values)).not.toEqual(Array.from(t.B));

    // Back to a PEFT adapter (names back, un-permuted) → the same loss on the base as the original.
    const weights = new Map<string, AdapterTensors>();
    for (const m of small.modules) {
      const gn = ggufTensorName(m.weightKey, spec)!;
      const B = g.tensor(`${gn.name}.lora_b`).values;
      weights.set(m.name, { A: g.tensor(`${gn.name}.lora_a`).values, B: gn.op === 'none' ? B : permuteRows(B, m.outF, 4, gn.op === 'permute-q' ? spec.NH : spec.NKV, true) });
    }
    const l0 = await evalLoss(spec, src, ids, small);
    const l1 = await evalLoss(spec, src, ids, { ...small, weights });
    expect(l1).toBe(l0);
    expect(() => adapterGgufFile(spec, randomAdapter(spec, 'q_proj,lm_head', h, 1), { type: 'f16', name: 'x' })).toThrow(/lm_head: a LoRA on the tied lm_head has no llama\.cpp adapter form/);
  });
});

describe('GGUF tokenizer from a SentencePiece tokenizer.model', () => {
  it('tiny-llama-sp: pieces, scores and types of the model file', async () => {
    const src = dirSource(TINY_SP);
    const spec = parseConfig(JSON.parse(await src.text('config.json')), 'config.json');
    const { metadata } = await tokenizerMetadata(src, spec);
    const tokens = metadata.get('tokenizer.ggml.tokens')!.value as string[];
    const scores = metadata.get('tokenizer.ggml.scores')!.value as number[];
    const types = metadata.get('tokenizer.ggml.token_type')!.value as number[];
    expect(metadata.get('tokenizer.ggml.model')!.value).toBe('llama');
    expect(tokens.length).toBe(spec.V);
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(types.slice(0, 4)).toEqual([2, 3, 3, 6]);
    expect(scores[1000]).toBeLessThan(scores[500]); // BPE: later merges score lower
    expect(metadata.get('tokenizer.ggml.bos_token_id')!.value).toBe(1);
  });
});
