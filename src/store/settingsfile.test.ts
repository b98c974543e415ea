import { describe, expect, it } from 'vitest';
import { defaultKnobs } from '../plan/knobs';
import { parseSettings, settingsJson } from './settingsfile';

describe('settings files', () => {
  it('round-trip the knobs under their name', () => {
    const knobs = { ...defaultKnobs(null), r: 4, targetModules: ['q_proj'], samplePrompt: 'Hi' };
    expect(parseSettings(settingsJson('small', knobs), 'f.json')).toEqual({ name: 'small', knobs });
  });

  it('keep defaults for knobs the file does not name', () => {
    const r = parseSettings(JSON.stringify({ kind: 'lora-studio-settings', version: 1, name: 'x', knobs: { lr: 0.01 } }), 'f.json');
    expect(r.knobs).toEqual({ ...defaultKnobs(null), lr: 0.01 });
    expect(r.knobs.matmulMath).toBe('f32'); // a file from before “Matmul math”
    expect(r.knobs.subgroups).toBe(false); // a file from before “Subgroup reductions”
  });

  it('keep “Matmul math” f16 through a file', () => {
    const knobs = { ...defaultKnobs(null), matmulMath: 'f16' as const };
    expect(parseSettings(settingsJson('fast', knobs), 'f.json').knobs.matmulMath).toBe('f16');
  });

  it('keep “Subgroup reductions” on through a file; a value of another kind names the knob', () => {
    const knobs = { ...defaultKnobs(null), subgroups: true };
    expect(JSON.parse(settingsJson('sg', knobs)).knobs.subgroups).toBe(true);
    expect(parseSettings(settingsJson('sg', knobs), 'f.json').knobs.subgroups).toBe(true);
    const bad = JSON.stringify({ kind: 'lora-studio-settings', version: 2, knobs: { subgroups: 'yes' } });
    expect(() => parseSettings(bad, 'f.json')).toThrow('“Subgroup reductions” has a value of the wrong kind ("yes")');
  });

  it('refuse other JSON, unknown knobs and wrong kinds, in the studio\'s words', () => {
    expect(() => parseSettings('{', 'f.json')).toThrow(/f\.json is not valid JSON/);
    expect(() => parseSettings('{"a":1}', 'f.json')).toThrow(/not a settings file/);
    const bad = JSON.stringify({ kind: 'lora-studio-settings', version: 1, knobs: { r: '8', bogus: 1 } });
    expect(() => parseSettings(bad, 'f.json')).toThrow('unknown setting "bogus"');
    expect(() => parseSettings(bad, 'f.json')).toThrow('“Rank (r)” has a value of the wrong kind ("8")');
  });
});
