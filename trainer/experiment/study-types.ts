/**
 * The parsed study file's types (spec.ts parses it and re-exports them): a module of its own so
 * that the variant kinds (study-variants.ts), which spec.ts calls, can name them without importing
 * spec.ts back.
 */
import type { Split } from '../../data/dataset.js';
import type { FreezeMode } from '../train.js';

export interface ScenesSpec {
  count: number;
  size: number;
  seed: number;
  testPerClass?: number;
  val?: number;
  balance?: 'uniform' | 'natural';
  /** Train images reserved for the base (data/pool.ts). */
  baseImages?: number;
  /** Which world (data/scenes/style.ts): absent = sentences, the default world. */
  style?: 'sentences' | 'regions';
}

export interface DatasetSpec {
  name: string;
  /** Generate with the scenes generator when missing; when present its parameters must match. */
  scenes: ScenesSpec | null;
}

export interface BaseSpec {
  /** An existing model id used as the base (nothing trained). */
  model: string | null;
  recipe: string;
  arch: string | null;
  epochs: number | null;
  steps: number | null;
  batch: number | null;
  lr: number | null;
  seed: number;
  /** The dataset whose base part trains the base (default: the study's dataset; e.g. a transfer study fine-tunes on another). */
  dataset: string | null;
}

/** Fine-tuning settings (study defaults, overridable per variant). */
export interface TrainSettings {
  recipe: string;
  epochs: number | null;
  steps: number | null;
  lr: number | null;
  batch: number | null;
  freeze: FreezeMode | null;
  /** Fine-tune on a seeded sample of this many training images (null: the whole train split). */
  images: number | null;
  subsetSeed: number;
  /** The pool's class-frequency profile (data/pool.ts POOL_PROFILES; null: the dataset's own). */
  profile: string | null;
  /** Exact images per label in the pool (exclusive classes; data/pool.ts). */
  classImages: Record<string, number> | null;
  /** Captions kept per pool image (null: all; 1: the paper's balanced data). */
  captionsPerImage: number | null;
  /** Validation images the engine scores at each epoch end (0: none). */
  valImages: number;
}

export interface EvalSettings {
  mode: 'exact' | 'ann';
  ks: number[];
  split: Split;
  /** Seed of the random-caption baseline. */
  seed: number;
  utility: boolean;
  drift: boolean;
  /** Datasets every model is evaluated on (default: the training dataset). */
  datasets: string[];
  /** Query captions repeated this many times (the paper's Table 15); absent: 1 (and older evaluations keep their ids). */
  queryRepeat?: number;
}

export interface VariantSpec {
  /** Unique name (sweeps and goal expansion append `@field=value`). */
  name: string;
  /** The name in the study file. */
  group: string;
  kind: string;
  label: string;
  /** Where it is in the file, for error messages (`variants[2]`). */
  path: string;
  /** The sweep setting this variant stands for, if any. */
  setting: { field: string; value: unknown } | null;
  /** The clean reference variant's group name (null: none; evaluation then uses the model's clean ancestor). */
  clean: string | null;
  finetune: TrainSettings;
  /** The kind's own fields, normalised. */
  fields: Record<string, unknown>;
  /** The variant's raw object after sweep substitution (for expansion by its kind). */
  raw: Record<string, unknown>;
}

export interface StudySpec {
  id: string;
  title: string;
  description: string;
  notes: string[];
  datasets: DatasetSpec[];
  dataset: string;
  base: BaseSpec;
  finetune: TrainSettings;
  seeds: number[];
  sweep: { field: string; values: unknown[] } | null;
  variants: VariantSpec[];
  evaluation: EvalSettings;
  report: { heatmap: string | null };
  source: { file: string | null; sha256: string };
}
