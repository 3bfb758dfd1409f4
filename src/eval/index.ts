/** Evaluation of frozen features (SPEC §4): weighted k-NN, linear probe, raw-pixel baseline. */
export { checkFeaturePair, knn } from './knn';
export type { FeaturePairInfo, Features, KnnMetric, KnnMetricResult, KnnOptions, KnnResult } from './knn';
export { linearProbe } from './linearProbe';
export type { LinearProbeOptions, LinearProbeResult } from './linearProbe';
export { pixelFeatures } from './rawPixels';
