import { describe, expect, it } from 'vitest';
import { fmtDuration, Speedometer } from './progress';

describe('download speed and ETA', () => {
  it('measures over a sliding window and restarts per file', () => {
    const s = new Speedometer(3000);
    expect(s.update('a', 0, 1000, 0).bytesPerSecond).toBe(0);
    const r = s.update('a', 200, 1000, 1000);
    expect(r.bytesPerSecond).toBe(200);
    expect(r.etaSeconds).toBe(4);
    s.update('a', 400, 1000, 2000);
    s.update('a', 700, 1000, 3000);
    const late = s.update('a', 1000, 1000, 4000); // window keeps the last 3 s: (1000-200)/3
    expect(late.bytesPerSecond).toBeCloseTo(800 / 3, 6);
    expect(late.etaSeconds).toBe(0);
    expect(s.update('b', 10, 100, 5000).bytesPerSecond).toBe(0);
    expect(Number.isNaN(s.update('b', 10, 100, 5000).etaSeconds)).toBe(true);
  });

  it('formats durations', () => {
    expect(fmtDuration(42)).toBe('42 s');
    expect(fmtDuration(125)).toBe('2 min 5 s');
    expect(fmtDuration(7260)).toBe('2 h 1 min');
    expect(fmtDuration(NaN)).toBe('—');
  });
});
