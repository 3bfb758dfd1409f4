/**
 * Evaluation of frozen encoders (SPEC §4): CLS features of unmasked images, weighted k-NN,
 * linear probe, the raw-pixel baseline, and `evaluate` which runs them all; statistics over seeds
 * (mean ± std, paired differences with a t-test) to compare methods run with the same seeds.
 */
export { features } from './features';
export { finetune, trainableParams } from './finetune';
export type { FinetuneBlocks, FinetuneOptions, FinetuneResult } from './finetune';
export type { FeatureOptions } from './features';
export { evaluate, formatReport } from './evaluate';
export type { EvaluateOptions, EvaluationReport } from './evaluate';
export { checkFeaturePair, knn } from './knn';
export type { FeaturePairInfo, Features, KnnMetric, KnnMetricResult, KnnOptions, KnnResult } from './knn';
export { linearProbe } from './linearProbe';
export type { LinearProbeOptions, LinearProbeResult } from './linearProbe';
export { pixelFeatures } from './rawPixels';
export { formatMeanStd, pairedDifference, signed, studentCritical, studentTwoSidedP, summarize } from './seeds';
export type { PairedDifference, SeedSummary } from './seeds';
