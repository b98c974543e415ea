import { describe, expect, it } from 'vitest';
import { learningRate, parseSchedule, type ScheduleConfig } from './schedule';

const lr = 1e-3;
const at = (cfg: ScheduleConfig, steps: number[]) => steps.map((s) => learningRate(cfg, s));
function close(got: number[], want: number[]): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(g, `point ${i}`).toBeCloseTo(want[i], 15));
}

describe('learning-rate schedules (transformers get_*_schedule_with_warmup)', () => {
  it('constant with warmup', () => {
    const cfg: ScheduleConfig = { kind: 'constant', lr, warmupSteps: 4, totalSteps: 100 };
    close(at(cfg, [0, 1, 2, 3, 4, 50, 100, 1000]), [0, 2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3, 1e-3]);
    // minLrRatio does not apply to constant.
    close(at({ ...cfg, minLrRatio: 0.5 }, [2, 99]), [5e-4, 1e-3]);
  });

  it('linear with warmup: ramps, peaks at the boundary, halves mid-decay, 0 at the end', () => {
    const cfg: ScheduleConfig = { kind: 'linear', lr, warmupSteps: 10, totalSteps: 110 };
    // 9 is the last warmup step (0.9 lr); 10 is the first decay step at full lr; 60 is halfway.
    close(at(cfg, [0, 5, 9, 10, 35, 60, 109, 110, 150]), [0, 5e-4, 9e-4, 1e-3, 7.5e-4, 5e-4, 1e-5, 0, 0]);
  });

  it('cosine with warmup', () => {
    const cfg: ScheduleConfig = { kind: 'cosine', lr, warmupSteps: 10, totalSteps: 110 };
    // progress 0.25 at step 35: 0.5 (1 + cos(pi/4)) = 0.8535533905932737.
    close(at(cfg, [0, 5, 10, 35, 60, 85, 110]), [0, 5e-4, 1e-3, 8.535533905932737e-4, 5e-4, 1.464466094067262e-4, 0]);
    // Like transformers, progress past 1 is not clamped: 1.5 gives 0.5 (1 + cos(1.5 pi)) = 0.5.
    close(at(cfg, [160]), [5e-4]);
  });

  it('no warmup: step 0 gets the full rate (transformers behaviour for warmup 0)', () => {
    close(at({ kind: 'constant', lr, warmupSteps: 0, totalSteps: 100 }, [0, 7]), [1e-3, 1e-3]);
    close(at({ kind: 'linear', lr, warmupSteps: 0, totalSteps: 100 }, [0, 25, 50, 100]), [1e-3, 7.5e-4, 5e-4, 0]);
    close(at({ kind: 'cosine', lr, warmupSteps: 0, totalSteps: 100 }, [0, 50, 100]), [1e-3, 5e-4, 0]);
  });

  it('minLrRatio: decays to lr*ratio, warmup unchanged', () => {
    const lin: ScheduleConfig = { kind: 'linear', lr, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 };
    close(at(lin, [0, 5, 10, 60, 110, 200]), [0, 5e-4, 1e-3, 5.5e-4, 1e-4, 1e-4]);
    const cos: ScheduleConfig = { ...lin, kind: 'cosine' };
    close(at(cos, [5, 10, 35, 60, 110]), [5e-4, 1e-3, 1e-4 + 0.9 * 8.535533905932737e-4, 5.5e-4, 1e-4]);
  });

  it('total <= warmup (degenerate, as transformers: denominator max(1, total - warmup))', () => {
    close(at({ kind: 'linear', lr, warmupSteps: 10, totalSteps: 10 }, [5, 10, 11]), [5e-4, 0, 0]);
    close(at({ kind: 'cosine', lr, warmupSteps: 10, totalSteps: 10 }, [5, 10]), [5e-4, 1e-3]);
  });

  it('parseSchedule', () => {
    expect(parseSchedule('constant')).toBe('constant');
    expect(parseSchedule('linear')).toBe('linear');
    expect(parseSchedule(' Cosine ')).toBe('cosine');
    expect(() => parseSchedule('step')).toThrow(/constant, linear, cosine/);
    expect(() => parseSchedule('')).toThrow(Error);
  });
});
