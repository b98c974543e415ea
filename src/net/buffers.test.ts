// The buffer table on its own (no GPU): unique keys, shapes that give the bytes, what each
// architecture and mode allocates, and the words the studio shows. memory.test.ts checks that the
// engine allocates exactly these rows.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../model/config';
import { linearModules } from '../model/modules';
import { TINY_GPT2_CONFIG, TINY_LLAMA_CONFIG } from '../model/random';
import { bufferWords, headChunkRows, savedF16Layout, transformerBuffers, type BufferSettings } from './buffers';

/** WebGPU's default limits, as plan/memory's DEFAULT_TILING. */
const TILING = {
  limits: { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256 },
  minGroups: 128,
};
const llama = parseConfig(TINY_LLAMA_CONFIG, 'llama');
const gpt2 = parseConfig(TINY_GPT2_CONFIG, 'gpt2');

function settings(spec: typeof llama, over: Partial<BufferSettings> = {}): BufferSettings {
  const modules = linearModules(spec);
  return { B: 2, T: 8, training: true, checkpointing: false, headRows: 16, lora: { modules, r: 4, qaloraGroupSize: 0 }, splitK: TILING, ...over };
}

describe('transformerBuffers', () => {
  it('unique keys; bytes are 4 per element of the shape (2 when packed f16)', () => {
    for (const spec of [llama, gpt2]) {
      const modes: Partial<BufferSettings>[] = [{}, { training: false }, { checkpointing: true }, { lora: null, training: false }, { saveActivations: 'f16' }];
      for (const over of modes) {
        const rows = transformerBuffers(spec, settings(spec, over));
        expect(new Set(rows.map((r) => r.key)).size).toBe(rows.length);
        for (const r of rows) expect(r.bytes).toBe(Math.max(1, r.shape.reduce((a, b) => a * b, 1)) * (r.f16 ? 2 : 4));
      }
    }
  });

  it('the norm outputs and the MLP hidden are one buffer for all layers; f16 packs the saved tensors', () => {
    const { C, FF, L } = llama;
    const N = 16;
    const keys = transformerBuffers(llama, settings(llama)).map((r) => r.key);
    expect(keys.filter((k) => /^(ln|h)(\.|$)/.test(k))).toEqual(['ln', 'h']);
    expect(keys.some((k) => k.endsWith('.work'))).toBe(false);
    const f16 = transformerBuffers(llama, settings(llama, { saveActivations: 'f16' }));
    const packed = f16.filter((r) => r.f16).map((r) => r.key);
    expect(packed).toEqual(Array.from({ length: L }, (_, l) => `saved16.${l}`));
    for (const k of ['resid.0', 'qkv.0', 'att.0', 'resMid.0', 'gu.0']) expect(f16.some((r) => r.key === k)).toBe(false);
    const { NH, NKV, HS } = llama;
    const QKVW = (NH + 2 * NKV) * HS;
    // One buffer per layer: resid, q|k|v, att, resMid, gate|up back to back, 2 bytes a value.
    const row = C + QKVW + NH * HS + C + 2 * FF;
    expect(f16.find((r) => r.key === 'saved16.0')).toMatchObject({ shape: [N, row], bytes: N * row * 2 });
    expect(f16.find((r) => r.key === `resid.${L}`)).toMatchObject({ bytes: N * C * 4 }); // the final norm's input stays f32
    const work = f16.filter((r) => r.key.includes('work')).map((r) => r.key);
    expect(work).toEqual(['qkv.work', 'att.work', 'resMid.work', 'gu.work', 'resid.work.0', 'resid.work.1']);
    // checkpointing or inference: nothing to save, f16 changes nothing
    for (const over of [{ checkpointing: true }, { training: false }]) {
      expect(transformerBuffers(llama, settings(llama, { ...over, saveActivations: 'f16' }))).toEqual(transformerBuffers(llama, settings(llama, over)));
    }
  });

  it("savedF16Layout: the five tensors back to back in whole words, gu [N, 2FF] (Llama) or [N, FF] (GPT-2)", () => {
    const N = 6;
    for (const spec of [llama, gpt2]) {
      const { C, NH, NKV, HS, FF } = spec;
      const mlpW = (spec.arch === 'gpt2' ? 1 : 2) * FF;
      const { segments, words, rowElems } = savedF16Layout(spec, N);
      expect(segments.map((s) => s.name)).toEqual(['resid', 'qkv', 'att', 'resMid', 'gu']);
      expect(segments.map((s) => s.n)).toEqual([N * C, N * (NH + 2 * NKV) * HS, N * NH * HS, N * C, N * mlpW]);
      let w = 0;
      for (const s of segments) {
        expect(s.offset).toBe(w);
        w += s.n / 2;
      }
      expect(words).toBe(w);
      expect(rowElems * N).toBe(2 * words);
      const row = transformerBuffers(spec, { ...settings(spec, { saveActivations: 'f16' }), B: 2, T: 3 }).find((r) => r.key === 'saved16.0');
      expect(row?.bytes).toBe(4 * words);
    }
  });

  it('follows the architecture and the mode', () => {
    const { C, FF, L, NH, NKV, HS } = llama;
    const N = 16;
    const rows = transformerBuffers(llama, settings(llama));
    const shape = (k: string) => rows.find((r) => r.key === k)?.shape;
    expect(shape('gu.0')).toEqual([N, 2 * FF]); // gate|up
    expect(shape('qkv.0')).toEqual([N, (NH + 2 * NKV) * HS]);
    expect(shape('rope.invFreq')).toEqual([HS / 2]);
    expect(shape(`gu.${L - 1}`)).toEqual([N, 2 * FF]);
    expect(shape(`resid.${L}`)).toEqual([N, C]);
    // the head's LoRA intermediate is one chunk; no second [N, r] buffer for it
    // one u per LoRA group (q|k|v, o, gate|up, down: [G, N, r]); gB holds the largest group's G blocks
    const mods = linearModules(llama).filter((m) => m.layer >= 0);
    const firsts = mods.filter((m) => ['q_proj', 'o_proj', 'gate_proj', 'down_proj'].includes(m.kind));
    expect(rows.filter((r) => r.key.startsWith('u.')).map((r) => r.key)).toEqual([...firsts.map((m) => `u.${m.name}`), 'u.lm_head']);
    expect(shape(`u.${firsts[0].name}`)).toEqual([3, N, 4]);
    expect(shape(`u.${firsts[1].name}`)).toEqual([N, 4]);
    expect(shape(`u.${firsts[2].name}`)).toEqual([2, N, 4]);
    expect(shape('lora.gB')).toEqual([3, N, 4]);
    expect(shape('u.lm_head')).toEqual([16, 4]);
    const g = transformerBuffers(gpt2, settings(gpt2));
    expect(g.find((r) => r.key === 'gu.0')?.shape).toEqual([N, gpt2.FF]);
    expect(g.some((r) => r.key === 'rope.invFreq')).toBe(false);
    // checkpointing: one set of layer activations; no training: shared u, two residual buffers, no backward
    expect(transformerBuffers(llama, settings(llama, { checkpointing: true })).filter((r) => r.key.startsWith('qkv.')).length).toBe(1);
    const infer = transformerBuffers(llama, settings(llama, { training: false })).map((r) => r.key);
    expect(infer.filter((k) => k.startsWith('resid.'))).toEqual(['resid.0', 'resid.1']);
    expect(infer.filter((k) => k.startsWith('u.'))).toEqual(['u.shared', 'u.lm_head']);
    expect(infer.some((r) => r.startsWith('d') || r === 'attn.D' || r === 'lora.splitK')).toBe(false);
  });

  it('every row carries the words the studio shows', () => {
    const rows = transformerBuffers(llama, settings(llama));
    for (const r of rows) expect(r.words).toBe(bufferWords(r.key));
    expect(rows.find((r) => r.key === 'logits')?.words).toBe('the output logits (one chunk)');
    expect(rows.find((r) => r.key === 'u.lm_head')?.words).toBe("the output head's LoRA activations");
    expect(rows.find((r) => r.key === 'dgu')?.words).toBe('the MLP activations of one layer');
    expect(rows.find((r) => r.key === 'lora.gB')?.words).toBe('the LoRA scratch space');
  });

  it('head chunks: all rows when the logits fit, else multiples of 64', () => {
    expect(headChunkRows(1024, 1000, 2 ** 30)).toBe(1024);
    expect(headChunkRows(4096, 50000, 2 ** 30, 64 * 50000 * 4 * 3 + 5)).toBe(192);
  });
});
