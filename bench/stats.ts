/** Small helpers shared by the bench sections: median and spread of repeated measurements. */

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
  runs: number[];
}

export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Median, min and max of repeated runs, rounded to `digits` significant-ish decimals. */
export function spread(xs: number[], digits = 3): Spread {
  const r = (x: number) => +x.toPrecision(digits + 1);
  return { median: r(median(xs)), min: r(Math.min(...xs)), max: r(Math.max(...xs)), n: xs.length, runs: xs.map(r) };
}

export const log = (s: string): void => {
  process.stderr.write(s + '\n');
};
