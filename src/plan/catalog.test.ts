// The curated models' built-in shapes equal their real config.json files (where ../shared has them),
// so estimates made before any download describe the real models.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { countModelParams, parseConfig } from '../model/config';
import { CATALOG, catalogSpec, storageBytes } from './catalog';

const CONFIGS = fileURLToPath(new URL('../../../shared/configs/', import.meta.url));
const SHAPE = ['arch', 'modelType', 'C', 'L', 'NH', 'NKV', 'HS', 'FF', 'V', 'maxT', 'tieEmbeddings', 'qkvBias', 'oBias', 'mlpBias', 'dtype'] as const;

// Instruct variants share their base model's shape.
const REAL: Record<string, string> = {
  'HuggingFaceTB/SmolLM2-135M-Instruct': 'SmolLM2-135M.json',
  'Qwen/Qwen2.5-0.5B-Instruct': 'Qwen2.5-0.5B.json',
  'meta-llama/Llama-3.2-1B-Instruct': 'Llama-3.2-1B.json',
  'openai-community/gpt2': 'gpt2.json',
  'openlm-research/open_llama_3b_v2': 'open_llama_3b_v2.json',
};

describe('model catalog', () => {
  it('lists the seven models of the issue', () => {
    expect(CATALOG.map((m) => m.repo)).toEqual([
      'HuggingFaceTB/SmolLM2-135M-Instruct', 'HuggingFaceTB/SmolLM2-360M-Instruct', 'Qwen/Qwen2.5-0.5B-Instruct', 'meta-llama/Llama-3.2-1B-Instruct',
      'TinyLlama/TinyLlama-1.1B-Chat-v1.0', 'openai-community/gpt2', 'openlm-research/open_llama_3b_v2',
    ]);
  });

  for (const [repo, file] of Object.entries(REAL)) {
    it(`${repo} has the shape of ${file}`, () => {
      const real = parseConfig(JSON.parse(readFileSync(CONFIGS + file, 'utf8')), file);
      const mine = catalogSpec(CATALOG.find((m) => m.repo === repo)!);
      for (const k of SHAPE) expect(mine[k], k).toEqual(real[k]);
      expect(countModelParams(mine)).toBe(countModelParams(real));
    });
  }

  it('known parameter counts and storage widths', () => {
    const params = Object.fromEntries(CATALOG.map((m) => [m.repo, countModelParams(catalogSpec(m))]));
    expect(params['HuggingFaceTB/SmolLM2-135M-Instruct']).toBe(134_515_008);
    expect(params['HuggingFaceTB/SmolLM2-360M-Instruct']).toBe(361_821_120);
    expect(params['TinyLlama/TinyLlama-1.1B-Chat-v1.0']).toBe(1_100_048_384);
    expect(params['openai-community/gpt2']).toBe(124_439_808);
    // f32 checkpoints (GPT-2 has no torch_dtype) stay 4 bytes; bf16/f16 ones are stored as f16
    expect(storageBytes(catalogSpec(CATALOG.find((m) => m.repo === 'openai-community/gpt2')!))).toBe(4);
    expect(storageBytes(catalogSpec(CATALOG[0]))).toBe(2);
  });
});
