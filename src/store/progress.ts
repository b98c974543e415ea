// Download speed and time left from a stream of (loaded, total) reports of one download (a file, or a whole model).

interface Speed {
  bytesPerSecond: number;
  etaSeconds: number;
}

export class Speedometer {
  private file = '';
  private samples: { t: number; loaded: number }[] = [];

  constructor(private readonly windowMs = 3000) {}

  /** Speed over the last few seconds of this file, and the time left at that speed. */
  update(file: string, loaded: number, total: number, now: number): Speed {
    if (file !== this.file || (this.samples.length && loaded < this.samples[this.samples.length - 1].loaded)) {
      this.file = file;
      this.samples = [];
    }
    this.samples.push({ t: now, loaded });
    while (this.samples.length > 2 && now - this.samples[0].t > this.windowMs) this.samples.shift();
    const first = this.samples[0];
    const dt = (now - first.t) / 1000;
    const bytesPerSecond = dt > 0 ? (loaded - first.loaded) / dt : 0;
    const etaSeconds = bytesPerSecond > 0 && total >= loaded ? (total - loaded) / bytesPerSecond : NaN;
    return { bytesPerSecond, etaSeconds };
  }
}

export function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '—';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
