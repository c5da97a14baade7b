import { interval, tCritical, type Interval } from '../../eval/statistics.js';

/**
 * The verdict rules of the paper report (`poisonlens report paper`, ./paper-report.ts): what a
 * row of the report claims, how our effect is measured (paired over seeds; Welch over pairs)
 * and how a row and an item are judged. VERDICT_RULES states them on the page; judgeRow and
 * itemVerdict are their only implementation.
 */

// ------------------------------------------------------------------------------ verdict rules

export type Verdict = 'reproduced' | 'same direction' | 'not reproduced';
export type RowStatus = Verdict | 'missing' | 'no verdict';
export type Metric = 'fraction' | 'rank' | 'distance';

/**
 * What a row claims. `level`: a number of an attacked (or defended) model against a reference
 * (the random-text baseline, the clean model, the model before a defence); the paper's claim is
 * that the effect reaches its number. `contrast`: the paper says X is higher (lower) than Y.
 * `noDrop`: utility does not drop against the clean model. `same`: a factor makes no difference
 * (the value is a spread across its settings). `info`: shown, not judged.
 */
export type Claim =
  | { kind: 'level'; direction: 'higher' | 'lower' }
  | { kind: 'contrast'; direction: 'higher' | 'lower' }
  | { kind: 'noDrop'; tolerance: number }
  | { kind: 'same'; tolerance: number; relative: boolean }
  | { kind: 'info' };

/** Differences smaller than this are no effect at all (a 1-point Hit@K change, half a rank, …). */
export const DEAD_ZONE: Record<Metric, number> = { fraction: 0.01, rank: 0.5, distance: 0.0005 };
/** "Close to the paper's number": absolute for fractions and distances, relative for ranks. */
export const CLOSE: Record<Metric, (paper: number) => number> = { fraction: () => 0.05, rank: (p) => 0.25 * Math.abs(p), distance: () => 0.005 };
/** Largest utility drop (Recall@10 against the clean model) that counts as "utility kept": the paper's own largest, 0.026 (Table 1, Attack III TR), rounded up. */
export const UTILITY_TOLERANCE = 0.03;
/** "No difference" across a factor the paper shows no numbers for (Figures 4, 5a): our choice, stated on the page. */
export const SAME_HIT_TOLERANCE = 0.1;
export const SAME_RANK_TOLERANCE = 0.5;
export const SIGNIFICANCE = 0.05;

/** The rules as the page states them (the code below is their only implementation). */
export const VERDICT_RULES: string[] = [
  `Effects. The effect of a row is ours minus our reference (per seed, paired, when both come from the same seeds; its 95% interval is the Student-t interval of the per-seed differences). An effect smaller than ${DEAD_ZONE.fraction} (Hit@K, Recall@K), ${DEAD_ZONE.rank} (mean MinRank) or ${DEAD_ZONE.distance} (cosine distance) is no effect.`,
  `Level rows (an attack's or a defence's strength, with the paper's number): reproduced when our effect has the paper's sign and our value is at least as strong as the paper's (higher Hit@K / lower MinRank for an attack; lower Hit@K for a defence), or the paper's number lies inside our 95% interval, or our mean is within ${CLOSE.fraction(0)} (fractions), ${CLOSE.distance(0)} (distances) or 25% (MinRank) of it; same direction when the effect has the paper's sign but is weaker than that; not reproduced when there is no effect or it has the opposite sign.`,
  `Contrast rows ("X is higher than Y"): reproduced when our X − Y has the paper's sign and its 95% interval excludes 0 (equivalently a paired two-tailed t-test across seeds at p < ${SIGNIFICANCE}, the paper's own test in Tables 11 and 12; for per-pair distances, Welch's interval over the pairs); same direction when the sign is right but the interval includes 0 or there is only one seed; not reproduced when the sign is wrong or the difference is below the no-effect size.`,
  `A level or contrast row whose value and reference are both at the ceiling (Hit@K at least ${1 - DEAD_ZONE.fraction}) or both at the floor (at most ${DEAD_ZONE.fraction}) has nothing to measure: no verdict (e.g. Hit@50 when every model ranks a target in the top 50).`,
  `Utility rows ("utility is kept"): reproduced when our Recall@10 drops by at most ${UTILITY_TOLERANCE} against our clean model (the paper's largest drop in Table 1 is 0.026); same direction when it drops more but the paper's number also dropped; not reproduced when it drops more than ${UTILITY_TOLERANCE} where the paper's did not drop.`,
  `No-difference rows (Figures 4 and 5a, for which the paper states no numbers): reproduced when the spread across settings is at most ${SAME_HIT_TOLERANCE} in Hit@10, or when the largest mean MinRank is at most ${1 + SAME_RANK_TOLERANCE}× the smallest; not reproduced otherwise (a claim of no effect has no direction).`,
  'An item\'s verdict is the worst verdict of its judged key rows (marked ★): not reproduced < same direction < reproduced. Other rows are shown with their own verdicts. Key rows whose study or variant is missing, or that have nothing to measure, are not judged (the item says how many were); an item with no key row judged is missing.',
];

export interface OursCell {
  value: Interval | null;
  reference: Interval | null;
  /** value − reference, per seed where paired. */
  effect: Interval | null;
  /** A test's p-value that stands for the effect's interval (the drift t-test across seeds). */
  p?: number | null;
  /** Study, variant and goal the value comes from. */
  from: string;
  study: string;
  seeds: number[];
  note?: string;
}

export interface PaperCell {
  value: number | null;
  reference: number | null;
  ids: string[];
  sd?: number | null;
  approx?: boolean;
  /** What the text says where it gives no number. */
  text?: string;
}

export interface PaperRow {
  label: string;
  /** Short label for the summary table (key rows). */
  short?: string;
  metric: Metric;
  claim: Claim;
  key: boolean;
  paper: PaperCell;
  ours: OursCell | null;
  /** Why `ours` is null. */
  missing?: string;
  status: RowStatus;
  reason: string;
}

const ORDER: Record<Verdict, number> = { 'not reproduced': 0, 'same direction': 1, reproduced: 2 };
export const isVerdict = (s: RowStatus): s is Verdict => s in ORDER;

export function fmtM(metric: Metric, x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (metric === 'rank') return Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2);
  if (metric === 'distance') return x.toFixed(4);
  return x.toFixed(3);
}

/** The verdict of one row by the rules above. */
export function judgeRow(row: Pick<PaperRow, 'metric' | 'claim' | 'paper' | 'ours' | 'missing'>): { status: RowStatus; reason: string } {
  const { claim, metric, paper, ours } = row;
  if (claim.kind === 'info') return { status: 'no verdict', reason: '' };
  if (!ours || !ours.value || ours.value.mean === null) return { status: 'missing', reason: row.missing ?? 'not measured' };
  const v = ours.value.mean;
  const f = (x: number | null | undefined) => fmtM(metric, x);
  const eff = ours.effect?.mean ?? (ours.reference?.mean != null ? v - ours.reference.mean : null);
  const dead = DEAD_ZONE[metric];
  // Both at the ceiling (a Hit@K of 1) or both at the floor (0): the measurement cannot tell.
  const ref = ours.reference?.mean ?? null;
  if ((claim.kind === 'level' || claim.kind === 'contrast') && metric === 'fraction' && ref !== null) {
    const bound = v >= 1 - dead && ref >= 1 - dead ? 'ceiling' : v <= dead && ref <= dead ? 'floor' : null;
    if (bound) return { status: 'no verdict', reason: `${bound}: ours ${f(v)} and our reference ${f(ref)}, nothing to measure` };
  }
  switch (claim.kind) {
    case 'level': {
      const s = claim.direction === 'higher' ? 1 : -1;
      if (eff !== null && s * eff <= dead) {
        return { status: 'not reproduced', reason: s * eff < -dead ? `opposite effect: ours ${f(v)} against our reference ${f(ours.reference?.mean)}` : `no effect: ours ${f(v)} against our reference ${f(ours.reference?.mean)}` };
      }
      const p = paper.value;
      if (p === null) return { status: 'same direction', reason: 'the paper states no number; ours has its sign' };
      if (s * (v - p) >= 0) return { status: 'reproduced', reason: `at least as strong as the paper's (${f(v)} vs ${f(p)})` };
      if (ours.value.lo !== null && ours.value.hi !== null && ours.value.lo <= p && p <= ours.value.hi) return { status: 'reproduced', reason: `the paper's ${f(p)} is inside our 95% interval` };
      if (Math.abs(v - p) <= CLOSE[metric](p)) return { status: 'reproduced', reason: `within ${metric === 'rank' ? '25%' : f(CLOSE[metric](p))} of the paper's (${f(v)} vs ${f(p)})` };
      return { status: 'same direction', reason: `weaker than the paper's: ${f(v)} vs ${f(p)}` };
    }
    case 'contrast': {
      const e = ours.effect;
      if (!e || e.mean === null) return { status: 'missing', reason: row.missing ?? 'no difference measured' };
      const s = claim.direction === 'higher' ? 1 : -1;
      const m = e.mean;
      if (s * m <= dead) return { status: 'not reproduced', reason: s * m < -dead ? `opposite sign: ours ${f(m)} (the paper: ${claim.direction})` : `no difference: ours ${f(m)}` };
      const sig = ours.p != null ? ours.p < SIGNIFICANCE : e.lo !== null && e.hi !== null && (s > 0 ? e.lo > 0 : e.hi < 0);
      if (sig) return { status: 'reproduced', reason: ours.p != null ? `${f(m)}, p = ${fmtP(ours.p)}` : `${f(m)}, 95% interval [${f(e.lo)}, ${f(e.hi)}] excludes 0` };
      return { status: 'same direction', reason: e.lo === null ? `${f(m)} has the paper's sign; ${e.n < 2 ? 'one seed' : 'unpaired'}: no interval` : `${f(m)} has the paper's sign, but its 95% interval [${f(e.lo)}, ${f(e.hi)}] includes 0` };
    }
    case 'noDrop': {
      if (eff === null) return { status: 'missing', reason: row.missing ?? 'no clean model to compare with' };
      const pe = paper.value !== null && paper.reference !== null ? paper.value - paper.reference : null;
      if (eff >= -claim.tolerance) return { status: 'reproduced', reason: `change ${signed(eff)} (kept within ${claim.tolerance})` };
      if (pe !== null && pe < 0) return { status: 'same direction', reason: `drops ${signed(eff)}, more than the paper's ${signed(pe)}` };
      return { status: 'not reproduced', reason: `drops ${signed(eff)}${pe !== null ? ` where the paper's changed ${signed(pe)}` : ''}` };
    }
    case 'same': {
      const ok = v <= claim.tolerance;
      const what = claim.relative ? `largest / smallest − 1 = ${v.toFixed(2)}` : `spread ${f(v)}`;
      return ok ? { status: 'reproduced', reason: `${what} ≤ ${claim.tolerance}` } : { status: 'not reproduced', reason: `${what} > ${claim.tolerance}` };
    }
  }
}

const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;
export const fmtP = (p: number) => (p < 1e-4 ? p.toExponential(1) : p.toFixed(4));

/** An item's verdict: the worst of its judged key rows. */
export function itemVerdict(rows: PaperRow[]): { status: RowStatus; reason: string; keyRows: number; judged: number } {
  const keys = rows.filter((r) => r.key && r.claim.kind !== 'info');
  const judged = keys.filter((r) => isVerdict(r.status));
  if (keys.length === 0) return { status: 'no verdict', reason: 'nothing to judge', keyRows: 0, judged: 0 };
  if (judged.length === 0) {
    const missing = keys.find((r) => r.status === 'missing');
    return missing ? { status: 'missing', reason: missing.reason, keyRows: keys.length, judged: 0 } : { status: 'no verdict', reason: `${keys[0].label}: ${keys[0].reason}`, keyRows: keys.length, judged: 0 };
  }
  const worst = judged.reduce((a, b) => (ORDER[b.status as Verdict] < ORDER[a.status as Verdict] ? b : a));
  const partial = judged.length < keys.length ? ` (${judged.length} of ${keys.length} key rows judged)` : '';
  const reason = worst.status === 'reproduced' ? `every key row reproduced${partial}` : `${worst.label}: ${worst.reason}${partial}`;
  return { status: worst.status, reason, keyRows: keys.length, judged: judged.length };
}

// ------------------------------------------------------------------------------ effects

function bySeed(i: Interval, seeds: number[]): Map<number, number> | null {
  if (i.values.length !== seeds.length) return null;
  return new Map(seeds.map((s, k) => [s, i.values[k]]));
}

/** a − b per seed (paired) with its 95% interval; unpaired: the difference of the means, no interval. */
export function pairedDiff(a: Interval | null, aSeeds: number[], b: Interval | null, bSeeds: number[]): Interval | null {
  if (!a || !b || a.mean === null || b.mean === null) return null;
  const ma = bySeed(a, aSeeds);
  const mb = bySeed(b, bSeeds);
  if (ma && mb) {
    const common = [...ma.keys()].filter((s) => mb.has(s));
    if (common.length) return interval(common.map((s) => ma.get(s)! - mb.get(s)!));
  }
  return { mean: a.mean - b.mean, lo: null, hi: null, sd: null, n: 0, values: [] };
}

export const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const medianOf = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Welch's 95% interval of mean(a) − mean(b) (descriptive: pairs of one training set). */
export function welchDiff(a: number[], b: number[]): Interval | null {
  if (a.length < 2 || b.length < 2) return null;
  const ma = meanOf(a);
  const mb = meanOf(b);
  const va = a.reduce((s, x) => s + (x - ma) ** 2, 0) / (a.length - 1);
  const vb = b.reduce((s, x) => s + (x - mb) ** 2, 0) / (b.length - 1);
  const se2 = va / a.length + vb / b.length;
  const se = Math.sqrt(se2);
  const df = se2 === 0 ? a.length + b.length - 2 : se2 ** 2 / ((va / a.length) ** 2 / (a.length - 1) + (vb / b.length) ** 2 / (b.length - 1));
  const half = tCritical(Math.max(1, df)) * se;
  return { mean: ma - mb, lo: ma - mb - half, hi: ma - mb + half, sd: null, n: a.length + b.length, values: [] };
}
