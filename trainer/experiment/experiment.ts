/** Studies: `poisonlens experiment FILE.json` (see ./runner.ts) and the report page. */
export { runExperiment, runStudy, loadReport, reportDir, type ExperimentOptions, type ExperimentResult, type StepSummary } from './runner.js';
export { readStudy, parseStudy, expandVariants, DEFAULT_FINETUNE, type StudySpec, type VariantSpec, type TrainSettings } from './spec.js';
export { registerVariantKind, variantKindNames, getVariantKind, type VariantKind, type VariantPlanContext, type VariantOutcome, type PoisonSpec } from './study-variants.js';
export { buildReport, REPORT_FORMAT, type Report } from './study-report.js';
export { renderReportHtml, REPORT_CSS, type RenderOptions } from './html.js';
export { Fields, SpecError, str, num, bool, oneOf, nullable, arrayOf } from './check.js';
