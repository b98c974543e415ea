import { describe, expect, it } from 'vitest';
import { folderProblem } from './folder';

const at = (dir: string, files: string[]) => files.map((f) => (dir ? `${dir}/${f}` : f));

describe('folderProblem', () => {
  it('accepts each tokenizer kind with each weight kind', () => {
    for (const tok of [['tokenizer.json'], ['tokenizer.model'], ['vocab.json', 'merges.txt']]) {
      for (const w of ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json']) {
        expect(folderProblem('m', 'm', at('m', ['config.json', w, ...tok]))).toBeNull();
      }
    }
  });

  it('names a missing tokenizer; vocab.json alone is not one', () => {
    const p = folderProblem('m', 'm', at('m', ['config.json', 'model.safetensors', 'vocab.json']));
    expect(p).toContain('tokenizer.json, or tokenizer.model, or vocab.json with merges.txt');
    expect(p).not.toContain('weights');
  });

  it('names missing weights, and both when both are missing', () => {
    expect(folderProblem('m', '', ['config.json', 'tokenizer.json'])).toMatch(/no weights/);
    const both = folderProblem('m', 'm', at('m', ['config.json']))!;
    expect(both).toContain('tokenizer');
    expect(both).toContain('weights');
  });

  it('only counts files beside config.json', () => {
    expect(folderProblem('m', 'm', ['m/config.json', 'm/sub/model.safetensors', 'm/tokenizer.json'])).toMatch(/no weights/);
  });
});
