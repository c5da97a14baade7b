/**
 * `poisonlens alarm eval`: how well the per-query poisoning alarm (eval/alarm-maths.ts, the server's
 * alarm) separates hijacked queries from ordinary ones, over a set of models.
 *
 * Positives: the class-A test captions (one query per caption) of every poisoned model with an
 * Attack I, II or III goal A>B. Negatives: the same class-A captions on the clean models of the
 * set, and a seeded sample of the other classes' captions on the poisoned models. Each query is
 * scored exactly as the server scores it: the served model's top-K, the reference (the model's
 * base ancestor unless --reference), the gallery's captions, and the threshold of the recorded
 * calibration (made on the trusted model with the gallery's own captions, no goal, no label of
 * what is poisoned: the calibration and the evaluated goals are disjoint by construction).
 *
 * Reported per attack and overall: ROC and AUROC of the combined score (and of each signal),
 * the true-positive rate at 5% false alarms (threshold chosen on these negatives), the TPR and
 * FPR at the calibrated threshold (what the server does), and the same restricted to the queries
 * whose attack hit (a target in the alarm's top-K; an attack that failed leaves nothing to
 * detect). Backdoor models are listed but not scored: their trigger is in images, and the alarm
 * scores text queries. Defended models' class-A queries are reported as their own group.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../core/errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../../core/fsutil.js';
import { Progress } from '../../core/progress.js';
import { Rng } from '../../core/random.js';
import { checkName, type Workspace } from '../../core/workspace.js';
import { loadDataset, type ManifestEntry } from '../../data/dataset.js';
import { ALARM_SIGNALS, alarmK, DEFAULT_ALARM_K, DEFAULT_FPR, judge, type AlarmSignalName, type AlarmSignals } from '../../eval/alarm-maths.js';
import {
  baseAncestor,
  calibrationPath,
  DEFAULT_CALIBRATION_QUERIES,
  factsOfCard,
  prepareSides,
  readCalibration,
  runCalibration,
  scoreQueries,
  trustedModels,
  type AlarmSide,
  type CalibrationInputs,
  type CalibrationRecord,
  type ModelFacts,
} from '../../eval/alarm-runtime.js';
import { ensureIndex } from '../../indexer/index-build.js';
import { OnnxClipEncoder } from '../../indexer/encoder.js';
import { readModelPackage, tryReadModelCard, type ModelPackage } from '../../indexer/package.js';
import { esc } from '../experiment/svg.js';
import { rocCurve, rocSvg, type RocPoint } from '../defend/filter.js';

export const ALARM_REPORT_FORMAT = 'poisonlens-alarm-eval/1';
/** The false-alarm rate at which the TPR is reported (issue 21's target: TPR ≥ 0.9 at 5% FPR). */
export const REPORT_FPR = 0.05;
const SCORED_ATTACKS = ['I', 'II', 'III'] as const;

export interface AlarmEvalOptions {
  /** Model ids to evaluate (with the models of `studies` added). */
  models: string[];
  /** Studies whose report (reports/<id>/report.json) lists models to evaluate. */
  studies?: string[];
  /** Gallery dataset (default: the studies' dataset, else the models' own). */
  dataset?: string;
  split?: 'test' | 'val' | 'train';
  /** "auto" (each model's base ancestor), "none", or a model id. */
  reference?: string;
  /** "auto" (the newest clean fine-tune of the reference) or a model id. */
  trusted?: string;
  /** The calibrated threshold's false-alarm rate (the server's default 0.01). */
  fpr?: number;
  calibrationQueries?: number;
  k?: number;
  /** Other-class captions per poisoned model (seeded sample). */
  negativesPerModel?: number;
  seed?: number;
  /** The report goes to reports/alarm-<name>/. */
  name: string;
  quiet?: boolean;
  log?: (line: string) => void;
}

export interface GroupResult {
  positives: number;
  negatives: number;
  auroc: number | null;
  /** TPR at the largest threshold whose FPR on these negatives is ≤ 5%. */
  tprAt5: number | null;
  thresholdAt5: number | null;
  /** At the calibrated threshold (the server's verdict). */
  calibrated: { tpr: number | null; fpr: number | null };
  signals: Partial<Record<AlarmSignalName, { auroc: number | null }>>;
  /** Positives whose attack hit (a target in the alarm's top-K) against the same negatives. */
  hit: { positives: number; auroc: number | null; tprAt5: number | null; calibratedTpr: number | null };
  roc: RocPoint[];
}

export interface ModelResult {
  id: string;
  kind: string;
  attack: string | null;
  goal: string | null;
  role: 'poisoned' | 'clean' | 'defended' | 'skipped';
  why?: string;
  reference: string | null;
  trusted: string | null;
  queries: number;
  /** Class-A queries (poisoned, defended) or all scored queries (clean) flagged at the calibrated threshold. */
  flaggedRate: number | null;
  /** Poisoned: the fraction of class-A queries with a target in the alarm's top-K. */
  attackHitRate: number | null;
  /** Poisoned: other-class queries flagged. */
  otherFlaggedRate: number | null;
}

export interface AlarmEvalReport {
  format: typeof ALARM_REPORT_FORMAT;
  name: string;
  createdAt: string;
  dataset: { name: string; manifestSha256: string };
  split: string;
  settings: { reference: string; trusted: string; fpr: number; calibrationQueries: number; k: number; negativesPerModel: number; seed: number; reportFpr: number };
  calibrations: Array<{ path: string; reference: string; trusted: string; queries: number; thresholds: Record<string, number>; scales: CalibrationRecord['scales']; notes: string[] }>;
  models: ModelResult[];
  groups: Record<string, GroupResult>;
  notes: string[];
  seconds: number;
}

interface Scored {
  model: string;
  attack: string;
  score: number;
  flagged: boolean;
  signals: AlarmSignals;
  hit: boolean;
}

/** Model ids listed by a study's report (its runs and base). */
export function studyModels(ws: Workspace, study: string): { models: string[]; dataset: string | null } {
  const path = join(ws.reports, checkName(study, 'study id'), 'report.json');
  if (!existsSync(path)) throw new UserError(`no report for study ${study} (${path}); run it with \`poisonlens experiment\` first`, 'study_not_found');
  const r = JSON.parse(readFileSync(path, 'utf8')) as { runs?: Array<{ model?: string }>; base?: { model?: string }; dataset?: { name?: string } };
  const ids = new Set<string>();
  for (const run of r.runs ?? []) if (typeof run.model === 'string') ids.add(run.model);
  return { models: [...ids], dataset: r.dataset?.name ?? null };
}

function allFacts(ws: Workspace): Map<string, ModelFacts> {
  const out = new Map<string, ModelFacts>();
  if (!existsSync(ws.models)) return out;
  for (const name of readdirSync(ws.models).sort()) {
    if (name.startsWith('.')) continue;
    const c = tryReadModelCard(join(ws.models, name));
    if (!c) continue; // no package or an unreadable card: not a candidate
    out.set(name, factsOfCard(name, c));
  }
  return out;
}

function goalsOf(attack: { goal?: unknown } | null | undefined): Array<[string, string]> {
  if (!attack || typeof attack.goal !== 'string') return [];
  return attack.goal
    .split(',')
    .map((g) => g.split('>').map((s) => s.trim()))
    .filter((p): p is [string, string] => p.length === 2 && p[0] !== '' && p[1] !== '');
}

function targetImageOf(attack: Record<string, unknown> | null | undefined): string | null {
  if (!attack) return null;
  for (const key of ['targetImage', 'targetImageId', 'target_image', 'targetId']) if (typeof attack[key] === 'string' && attack[key]) return attack[key] as string;
  return null;
}

/** The largest TPR at FPR ≤ `fpr` along an ROC, and the threshold giving it. */
export function tprAtFpr(points: RocPoint[], fpr: number): { tpr: number | null; threshold: number | null } {
  let best: RocPoint | null = null;
  for (const p of points) if (p.fpr <= fpr + 1e-12 && (!best || p.tpr > best.tpr)) best = p;
  return best ? { tpr: best.tpr, threshold: best.gamma } : { tpr: null, threshold: null };
}

function r4(x: number | null): number | null {
  return x === null ? null : Math.round(x * 1e4) / 1e4;
}

function group(pos: Scored[], neg: Scored[]): GroupResult {
  const scores = [...pos.map((s) => s.score), ...neg.map((s) => s.score)];
  const posIdx = new Set(pos.map((_, i) => i));
  const roc = rocCurve(scores, posIdx);
  const at5 = tprAtFpr(roc.points, REPORT_FPR);
  const signals: GroupResult['signals'] = {};
  for (const n of ALARM_SIGNALS) {
    const vals = [...pos, ...neg].map((s) => s.signals[n]);
    if (vals.every((v) => v === null)) continue;
    signals[n] = { auroc: r4(rocCurve(vals.map((v) => v ?? -1), posIdx).auc) };
  }
  const hits = pos.filter((s) => s.hit);
  const hitScores = [...hits.map((s) => s.score), ...neg.map((s) => s.score)];
  const hitRoc = rocCurve(hitScores, new Set(hits.map((_, i) => i)));
  const rate = (xs: Scored[]) => (xs.length ? xs.filter((s) => s.flagged).length / xs.length : null);
  return {
    positives: pos.length,
    negatives: neg.length,
    auroc: r4(roc.auc),
    tprAt5: r4(at5.tpr),
    thresholdAt5: r4(at5.threshold),
    calibrated: { tpr: r4(rate(pos)), fpr: r4(rate(neg)) },
    signals,
    hit: { positives: hits.length, auroc: r4(hitRoc.auc), tprAt5: r4(tprAtFpr(hitRoc.points, REPORT_FPR).tpr), calibratedTpr: r4(rate(hits)) },
    roc: thin(roc.points, 300).map((p) => ({ gamma: r4(p.gamma)!, tpr: r4(p.tpr)!, fpr: r4(p.fpr)! })),
  };
}

function thin<T>(points: T[], max: number): T[] {
  if (points.length <= max) return points;
  const out: T[] = [];
  for (let k = 0; k < max; k++) out.push(points[Math.round((k * (points.length - 1)) / (max - 1))]);
  return out;
}

interface Opened extends AlarmSide {
  enc: OnnxClipEncoder;
  close(): Promise<void>;
}

/** `poisonlens alarm eval`. */
export async function evaluateAlarm(ws: Workspace, o: AlarmEvalOptions): Promise<{ report: AlarmEvalReport; dir: string }> {
  const t0 = performance.now();
  checkName(o.name, 'report name');
  const log = o.log ?? ((l: string) => (o.quiet ? undefined : process.stderr.write(l + '\n')));
  const ids = new Set(o.models);
  let studyDataset: string | null = null;
  for (const s of o.studies ?? []) {
    const sm = studyModels(ws, s);
    sm.models.forEach((m) => ids.add(m));
    studyDataset ??= sm.dataset;
  }
  if (ids.size === 0) throw new UserError('no models to evaluate: pass --models a,b,… or --study ID', 'bad_flags');
  const facts = allFacts(ws);
  const pkgs = new Map<string, ModelPackage>();
  for (const id of ids) {
    checkName(id, 'model id');
    if (!existsSync(join(ws.models, id, 'model.json'))) throw new UserError(`unknown model ${id} (no ${join(ws.models, id)})`, 'model_not_found');
    pkgs.set(id, readModelPackage(join(ws.models, id)));
  }
  const ownDataset = (p: ModelPackage) => p.card.dataset?.name ?? null;
  const datasetName = o.dataset ?? studyDataset ?? [...pkgs.values()].map(ownDataset).find((d) => d) ?? null;
  if (!datasetName) throw new UserError('cannot tell the gallery dataset: pass --dataset', 'bad_flags');
  const dataset = loadDataset(ws, datasetName);
  const split = o.split ?? 'test';
  const entries = dataset.entries.filter((e) => e.split === split);
  if (entries.length === 0) throw new UserError(`dataset ${datasetName} has no ${split} images`, 'empty_gallery');
  const settings = {
    reference: o.reference ?? 'auto',
    trusted: o.trusted ?? 'auto',
    fpr: o.fpr ?? DEFAULT_FPR,
    calibrationQueries: o.calibrationQueries ?? DEFAULT_CALIBRATION_QUERIES,
    k: o.k ?? DEFAULT_ALARM_K,
    negativesPerModel: o.negativesPerModel ?? 250,
    seed: o.seed ?? 0,
    reportFpr: REPORT_FPR,
  };
  const byLabel = new Map<string, ManifestEntry[]>();
  for (const e of entries) if (e.label) (byLabel.get(e.label) ?? byLabel.set(e.label, []).get(e.label)!).push(e);
  const captionsOf = (es: ManifestEntry[]) => es.flatMap((e) => e.captions);

  // Roles.
  const roles = new Map<string, { role: ModelResult['role']; why?: string; goals: Array<[string, string]>; attack: string | null }>();
  const sources = new Set<string>();
  for (const [id, p] of pkgs) {
    const attack = (p.card.attack ?? null) as Record<string, unknown> | null;
    const type = typeof attack?.type === 'string' ? attack.type : null;
    const goals = goalsOf(attack);
    if (p.card.kind === 'poisoned') {
      if (type === 'backdoor' || !SCORED_ATTACKS.includes(type as (typeof SCORED_ATTACKS)[number])) {
        roles.set(id, { role: 'skipped', why: type === 'backdoor' ? "a backdoor's trigger is in images; the alarm scores text queries" : `attack type ${type ?? 'unknown'} is not scored`, goals, attack: type });
      } else if (goals.length === 0) roles.set(id, { role: 'skipped', why: 'no goal recorded', goals, attack: type });
      else {
        roles.set(id, { role: 'poisoned', goals, attack: type });
        goals.forEach(([a]) => sources.add(a));
      }
    } else if (p.card.kind === 'clean') roles.set(id, { role: 'clean', goals: [], attack: null });
    else if (p.card.kind === 'defended' && goals.length) roles.set(id, { role: 'defended', goals, attack: type });
    else roles.set(id, { role: 'skipped', why: `kind ${p.card.kind} (neither attacked nor a clean fine-tune)`, goals, attack: type });
  }
  const cleanSources = [...sources].filter((a) => byLabel.has(a));

  // Opened models (references stay open; served models close after their turn).
  const opened = new Map<string, Promise<Opened>>();
  const open = (id: string): Promise<Opened> => {
    let p = opened.get(id);
    if (!p) {
      p = (async () => {
        const pkg = pkgs.get(id) ?? readModelPackage(join(ws.models, checkName(id, 'model id')));
        const enc = await OnnxClipEncoder.load(pkg, { textCacheSize: 100_000 });
        const { index } = await ensureIndex(ws, {
          model: id,
          dataset: datasetName,
          split,
          encoder: enc,
          onProgress: (phase, done, total) => {
            if (done === total) log(`index ${id} × ${datasetName}/${split}: ${phase} ${done}/${total}`);
          },
        });
        const dim = index.card.dim;
        return {
          model: id,
          enc,
          encoder: enc,
          gallery: { ids: index.ids, size: index.ids.length, dim, vector: (r) => index.vectors.subarray(r * dim, (r + 1) * dim), search: (q, k) => index.hnsw.search(q, k) },
          close: async () => enc.close(),
        };
      })();
      opened.set(id, p);
    }
    return p;
  };
  const release = async (id: string, keep: Set<string>) => {
    if (keep.has(id)) return;
    const p = opened.get(id);
    opened.delete(id);
    if (p) await (await p).close();
  };

  const calibrations = new Map<string, CalibrationRecord>();
  const refsInUse = new Set<string>();
  const results: ModelResult[] = [];
  const scored: Scored[] = [];
  const bar = new Progress({ label: 'alarm eval', total: pkgs.size, unit: 'model', quiet: Boolean(o.quiet) });
  const rng = new Rng(settings.seed);
  for (const [id, p] of [...pkgs].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const role = roles.get(id)!;
    const base: ModelResult = { id, kind: p.card.kind, attack: role.attack, goal: typeof p.card.attack?.goal === 'string' ? p.card.attack.goal : null, role: role.role, reference: null, trusted: null, queries: 0, flaggedRate: null, attackHitRate: null, otherFlaggedRate: null };
    if (role.role === 'skipped') {
      results.push({ ...base, why: role.why });
      bar.tick();
      continue;
    }
    const refId = settings.reference === 'none' ? null : settings.reference === 'auto' ? baseAncestor(id, facts) : settings.reference;
    const reference = refId !== null && refId !== id ? await open(refId) : null;
    if (refId) refsInUse.add(refId);
    const served = await open(id);
    const state = prepareSides(served, reference, entries, settings.k);
    const calRef = refId ?? id;
    const trustedIds = trustedModels(settings.trusted, calRef, facts, id);
    const calKey = `${calRef}|${trustedIds}`;
    let cal = calibrations.get(calKey);
    if (!cal) {
      const inputs: CalibrationInputs = {
        reference: facts.get(calRef) ?? { id: calRef },
        trusted: trustedIds.map((t) => facts.get(t)!),
        dataset: { name: datasetName, manifestSha256: dataset.card.manifestSha256 },
        split,
        k: state.k,
        fpr: settings.fpr,
        queries: settings.calibrationQueries,
        seed: 0,
      };
      cal = readCalibration(ws, inputs) ?? undefined;
      if (!cal) {
        log(`calibrating the alarm on ${trustedIds.join(', ')} (reference ${calRef})…`);
        const trusted = await Promise.all(trustedIds.map((t) => (t === id ? served : open(t))));
        cal = await runCalibration(ws, inputs, { trusted, reference: await open(calRef) }, entries);
        for (const t of trustedIds) if (t !== id && t !== calRef) await release(t, refsInUse);
      }
      calibrations.set(calKey, cal);
    }
    const goals = role.goals;
    const targetImage = targetImageOf(p.card.attack as Record<string, unknown> | null);
    const labelOf = new Map(entries.map((e) => [e.id, e.label] as const));
    const run = async (queries: string[], attack: string, isHit: (top: string[]) => boolean): Promise<Scored[]> => {
      if (queries.length === 0) return [];
      const signals = await scoreQueries(state, served, reference, queries);
      // The hit test needs the top-K ids: search again (cheap next to the encoders).
      const vecs = await served.encoder.encodeTexts(queries);
      return signals.map((s, i) => {
        const v = judge(s, cal!);
        const top = served.gallery.search(vecs[i], state.k).map((h) => h.id);
        return { model: id, attack, score: v.score ?? 0, flagged: v.flagged, signals: s, hit: isHit(top) };
      });
    };
    let own: Scored[] = [];
    let other: Scored[] = [];
    if (role.role === 'poisoned' || role.role === 'defended') {
      for (const [a, b] of goals) {
        const hitOf = (top: string[]) => (role.attack === 'I' && targetImage ? top.includes(targetImage) : top.some((t) => labelOf.get(t) === b));
        own.push(...(await run(captionsOf(byLabel.get(a) ?? []), role.attack ?? '?', hitOf)));
      }
      if (role.role === 'poisoned') {
        const srcs = new Set(goals.map((g) => g[0]));
        const pool = captionsOf(entries.filter((e) => e.label && !srcs.has(e.label)));
        other = await run(rng.fork(scored.length + results.length).shuffle(pool).slice(0, settings.negativesPerModel), role.attack ?? '?', () => false);
      }
    } else {
      own = await run(captionsOf(cleanSources.flatMap((a) => byLabel.get(a) ?? [])), 'clean', () => false);
    }
    const rate = (xs: Scored[], f: (s: Scored) => boolean) => (xs.length ? r4(xs.filter(f).length / xs.length) : null);
    results.push({
      ...base,
      reference: reference?.model ?? null,
      trusted: trustedIds.join(','),
      queries: own.length + other.length,
      flaggedRate: rate(own, (s) => s.flagged),
      attackHitRate: role.role === 'poisoned' || role.role === 'defended' ? rate(own, (s) => s.hit) : null,
      otherFlaggedRate: role.role === 'poisoned' ? rate(other, (s) => s.flagged) : null,
    });
    if (role.role === 'poisoned') {
      own.forEach((s) => scored.push({ ...s, attack: `pos:${role.attack}` }));
      other.forEach((s) => scored.push({ ...s, attack: `neg:${role.attack}` }));
    } else if (role.role === 'clean') {
      // Clean negatives, tagged by source class so per-attack groups take the right ones.
      let at = 0;
      for (const a of cleanSources) {
        const n = captionsOf(byLabel.get(a) ?? []).length;
        own.slice(at, at + n).forEach((s) => scored.push({ ...s, attack: `clean:${a}` }));
        at += n;
      }
    } else {
      own.forEach((s) => scored.push({ ...s, attack: `defended:${role.attack}` }));
    }
    await release(id, refsInUse);
    bar.tick();
  }
  bar.finish();
  for (const id of [...opened.keys()]) await release(id, new Set());

  // Groups: per attack and overall.
  const groups: Record<string, GroupResult> = {};
  const sourcesOf = (attack: string) => new Set([...roles.entries()].filter(([, r]) => r.role === 'poisoned' && r.attack === attack).flatMap(([, r]) => r.goals.map((g) => g[0])));
  const cleanFor = (srcs: Set<string>) => scored.filter((s) => s.attack.startsWith('clean:') && srcs.has(s.attack.slice(6)));
  for (const attack of SCORED_ATTACKS) {
    const pos = scored.filter((s) => s.attack === `pos:${attack}`);
    if (!pos.length) continue;
    groups[attack] = group(pos, [...cleanFor(sourcesOf(attack)), ...scored.filter((s) => s.attack === `neg:${attack}`)]);
  }
  const allPos = scored.filter((s) => s.attack.startsWith('pos:'));
  const allNeg = scored.filter((s) => s.attack.startsWith('neg:') || s.attack.startsWith('clean:'));
  if (allPos.length && allNeg.length) groups.overall = group(allPos, allNeg);
  const defended = scored.filter((s) => s.attack.startsWith('defended:'));
  const notes: string[] = [];
  if (!allPos.length) notes.push('no poisoned model with an Attack I/II/III goal in the set: no positives');
  if (!scored.some((s) => s.attack.startsWith('clean:'))) notes.push('no clean model in the set: the negatives are other classes’ queries on the poisoned models only');
  if (defended.length) notes.push(`defended models: ${defended.filter((s) => s.flagged).length} of ${defended.length} class-A queries flagged (not in the ROC)`);

  const report: AlarmEvalReport = {
    format: ALARM_REPORT_FORMAT,
    name: o.name,
    createdAt: new Date().toISOString(),
    dataset: { name: datasetName, manifestSha256: dataset.card.manifestSha256 },
    split,
    settings,
    calibrations: [...calibrations.values()].map((c) => ({ path: calibrationPath(ws, c.reference.id, c.dataset.name, c.split, c.trusted.map((t) => t.id)), reference: c.reference.id, trusted: c.trusted.map((t) => t.id).join(','), queries: c.sample.used, thresholds: c.thresholds, scales: c.scales, notes: c.notes })),
    models: results,
    groups,
    notes,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  const dir = join(ws.reports, `alarm-${o.name}`);
  mkdirSync(dir, { recursive: true });
  const plots: Record<string, string> = {};
  for (const [g, r] of Object.entries(groups)) {
    plots[g] = rocSvg(r.roc, `Alarm ROC — ${g === 'overall' ? 'all attacks' : `Attack ${g}`} (${r.positives} hijack-prone queries, ${r.negatives} ordinary)`, r.auroc);
    writeFileAtomic(join(dir, `roc-${g}.svg`), plots[g]);
  }
  writeJsonAtomic(join(dir, 'alarm.json'), report);
  writeFileAtomic(join(dir, 'alarm.html'), renderAlarmHtml(report, plots));
  return { report, dir };
}

const f3 = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x.toFixed(3));

/** The report page: settings, the per-attack table, the ROC plots and the per-model table. */
export function renderAlarmHtml(r: AlarmEvalReport, plots: Record<string, string>): string {
  const parts: string[] = [];
  parts.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Alarm evaluation ${esc(r.name)}</title>`);
  parts.push('<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccd;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:16px}.muted{color:#667}</style></head><body>');
  parts.push(`<h1>Poisoning alarm: ${esc(r.name)}</h1>`);
  parts.push(`<p class="muted">Gallery ${esc(r.dataset.name)}/${esc(r.split)}; reference ${esc(r.settings.reference)}, trusted ${esc(r.settings.trusted)}; calibrated threshold at false-alarm rate ${r.settings.fpr} on ${r.settings.calibrationQueries} gallery captions (no goals); top-${r.settings.k}; ${r.settings.negativesPerModel} other-class captions per poisoned model (seed ${r.settings.seed}); ${r.seconds} s; ${esc(r.createdAt)}.</p>`);
  parts.push('<p>Positives: class-A captions of poisoned models (goal A&gt;B). Negatives: the same captions on clean models and other classes’ captions on the poisoned models. “Hit only”: positives whose attack put a target in the top K.</p>');
  parts.push(`<table><thead><tr><th>attack</th><th>positives</th><th>negatives</th><th>AUROC</th><th>TPR at 5% FPR</th><th>calibrated TPR / FPR</th><th>AUROC ${ALARM_SIGNALS.join(' / ')}</th><th>hit only: positives, AUROC, TPR at 5%</th></tr></thead><tbody>`);
  for (const [g, x] of Object.entries(r.groups)) {
    parts.push(
      `<tr><td>${g === 'overall' ? '<strong>overall</strong>' : `Attack ${esc(g)}`}</td><td>${x.positives}</td><td>${x.negatives}</td><td>${f3(x.auroc)}</td><td>${f3(x.tprAt5)}</td><td>${f3(x.calibrated.tpr)} / ${f3(x.calibrated.fpr)}</td><td>${ALARM_SIGNALS.map((n) => f3(x.signals[n]?.auroc)).join(' / ')}</td><td>${x.hit.positives}, ${f3(x.hit.auroc)}, ${f3(x.hit.tprAt5)}</td></tr>`,
    );
  }
  parts.push('</tbody></table>');
  parts.push(`<div class="charts">${Object.values(plots).join('')}</div>`);
  parts.push('<h2>Models</h2><table><thead><tr><th>model</th><th>kind</th><th>attack</th><th>goal</th><th>reference</th><th>queries</th><th>class-A flagged</th><th>attack hit</th><th>other classes flagged</th><th>note</th></tr></thead><tbody>');
  for (const m of r.models) {
    parts.push(`<tr><td><code>${esc(m.id)}</code></td><td>${esc(m.kind)}</td><td>${esc(m.attack ?? '—')}</td><td>${esc(m.goal ?? '—')}</td><td>${esc(m.reference ?? '—')}</td><td>${m.queries}</td><td>${f3(m.flaggedRate)}</td><td>${f3(m.attackHitRate)}</td><td>${f3(m.otherFlaggedRate)}</td><td>${esc(m.why ?? '')}</td></tr>`);
  }
  parts.push('</tbody></table>');
  parts.push('<h2>Calibrations</h2><ul>');
  for (const c of r.calibrations) parts.push(`<li>reference <code>${esc(c.reference)}</code>, trusted <code>${esc(c.trusted)}</code>, ${c.queries} queries, thresholds ${esc(JSON.stringify(c.thresholds))}, scales ${esc(JSON.stringify(c.scales))}${c.notes.length ? ` — ${esc(c.notes.join('; '))}` : ''} (<code>${esc(c.path)}</code>)</li>`);
  parts.push('</ul>');
  if (r.notes.length) parts.push(`<h2>Notes</h2><ul>${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  parts.push('</body></html>');
  return parts.join('\n');
}

export interface AlarmCalibrateOptions {
  /** The served model whose alarm to calibrate (its reference and trusted model follow as in the server). */
  model: string;
  dataset?: string;
  split?: 'test' | 'val' | 'train';
  reference?: string;
  trusted?: string;
  fpr?: number;
  queries?: number;
  k?: number;
  /** Calibrate again even when a record for these inputs exists. */
  force?: boolean;
  log?: (line: string) => void;
}

/**
 * `poisonlens alarm calibrate`: the calibration the server would make for a model's alarm (or
 * reuse), written to alarm/<reference>/<dataset>-<split>.json.
 */
export async function calibrateAlarm(ws: Workspace, o: AlarmCalibrateOptions): Promise<{ record: CalibrationRecord; path: string; reused: boolean }> {
  const facts = allFacts(ws);
  const model = checkName(o.model, 'model id');
  if (!facts.has(model)) throw new UserError(`unknown model ${model}`, 'model_not_found');
  const pkg = readModelPackage(join(ws.models, model));
  const datasetName = o.dataset ?? pkg.card.dataset?.name;
  if (!datasetName) throw new UserError('cannot tell the gallery dataset: pass --dataset', 'bad_flags');
  const dataset = loadDataset(ws, datasetName);
  const split = o.split ?? 'test';
  const entries = dataset.entries.filter((e) => e.split === split);
  const refSetting = o.reference ?? 'auto';
  const ref = refSetting === 'none' ? model : refSetting === 'auto' ? baseAncestor(model, facts) : refSetting;
  if (!facts.has(ref)) throw new UserError(`unknown model ${ref}`, 'model_not_found');
  const trustedIds = trustedModels(o.trusted ?? 'auto', ref, facts, model);
  const opened: Opened[] = [];
  const open = async (id: string): Promise<Opened> => {
    const enc = await OnnxClipEncoder.load(readModelPackage(join(ws.models, id)), { textCacheSize: 10_000 });
    const { index } = await ensureIndex(ws, { model: id, dataset: datasetName, split, encoder: enc });
    const dim = index.card.dim;
    const side: Opened = {
      model: id,
      enc,
      encoder: enc,
      gallery: { ids: index.ids, size: index.ids.length, dim, vector: (r) => index.vectors.subarray(r * dim, (r + 1) * dim), search: (q, k) => index.hnsw.search(q, k) },
      close: async () => enc.close(),
    };
    opened.push(side);
    return side;
  };
  try {
    const refSide = await open(ref);
    const trusted: Opened[] = [];
    for (const t of trustedIds) trusted.push(t === ref ? refSide : await open(t));
    const k = alarmK(refSide.gallery.size, o.k ?? DEFAULT_ALARM_K);
    const inputs: CalibrationInputs = {
      reference: facts.get(ref)!,
      trusted: trustedIds.map((t) => facts.get(t)!),
      dataset: { name: datasetName, manifestSha256: dataset.card.manifestSha256 },
      split,
      k,
      fpr: o.fpr ?? DEFAULT_FPR,
      queries: o.queries ?? DEFAULT_CALIBRATION_QUERIES,
      seed: 0,
    };
    const path = calibrationPath(ws, ref, datasetName, split, trustedIds);
    const found = o.force ? null : readCalibration(ws, inputs);
    if (found) return { record: found, path, reused: true };
    o.log?.(`calibrating on ${trustedIds.join(', ')} (reference ${ref}) with ${inputs.queries} gallery captions of ${datasetName}/${split}…`);
    const record = await runCalibration(ws, inputs, { trusted, reference: refSide }, entries);
    return { record, path, reused: false };
  } finally {
    for (const s of opened) await s.close().catch(() => undefined);
  }
}
