/**
 * The standard evaluation of a trained encoder (SPEC §4), as written to a run's results.json:
 * weighted k-NN (cosine and euclidean, k = 10), a linear probe on standardized frozen features,
 * and the raw-pixel k-NN baseline of the same data for comparison.
 */
import type { DatasetSplits } from '../data/dataset';
import type { Mae } from '../nn/mae';
import { features } from './features';
import { knn, type KnnResult } from './knn';
import { linearProbe, type LinearProbeOptions, type LinearProbeResult } from './linearProbe';
import { pixelFeatures } from './rawPixels';

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Neighbours of the k-NN. Default 10 (the paper's). */
  k?: number;
  /** Linear-probe options (seed, epochs, …). */
  probe?: LinearProbeOptions;
  /** Images per forward pass when extracting features. Default 256. */
  batchSize?: number;
  /** Skip the raw-pixel baseline. Default false. */
  skipPixelBaseline?: boolean;
  /** Called with a phase name and (done, total) in every phase: features, k-NN, probe, baseline. */
  onProgress?: (phase: string, done: number, total: number) => void;
}

/** Everything {@link evaluate} measured; accuracies are fractions in [0, 1]. */
export interface EvaluationReport {
  dataset: string;
  numTrain: number;
  numTest: number;
  /** Encoder features: CLS token after the final LayerNorm of unmasked images. */
  features: { dim: number; description: string };
  knn: KnnResult;
  linearProbe: LinearProbeResult;
  /** The same k-NN on raw pixels (0..1): what a representation has to beat. */
  pixelKnn?: KnnResult;
  /** Wall time of the evaluation, seconds. */
  seconds: number;
}

/** Evaluates `model` on a dataset's train (reference) and test splits. */
export async function evaluate(model: Mae, data: DatasetSplits, opts: EvaluateOptions = {}): Promise<EvaluationReport> {
  const start = performance.now();
  const k = opts.k ?? 10;
  const progress = (phase: string) => (done: number, total: number) => opts.onProgress?.(phase, done, total);
  const train = await features(model, data.train, { batchSize: opts.batchSize, onProgress: progress('features (train)') });
  const test = await features(model, data.test, { batchSize: opts.batchSize, onProgress: progress('features (test)') });
  const report: EvaluationReport = {
    dataset: data.name,
    numTrain: data.train.size,
    numTest: data.test.size,
    features: { dim: train.dim, description: 'CLS token after the final LayerNorm, unmasked images' },
    knn: knn(train, test, { k, onProgress: progress('k-NN (cosine, euclidean)') }),
    linearProbe: linearProbe(train, test, { ...opts.probe, onProgress: progress('linear probe (epochs)') }),
    seconds: 0,
  };
  if (!opts.skipPixelBaseline) report.pixelKnn = knn(pixelFeatures(data.train), pixelFeatures(data.test), { k, onProgress: progress('raw-pixel k-NN') });
  report.seconds = (performance.now() - start) / 1000;
  return report;
}

/** A few lines for a terminal: k-NN, probe and baseline as percentages. */
export function formatReport(r: EvaluationReport): string {
  const pct = (x: number | undefined) => (x === undefined ? '-' : `${(100 * x).toFixed(2)} %`);
  const lines = [
    `${r.dataset}: ${r.numTrain} train / ${r.numTest} test images, features of dim ${r.features.dim}`,
    `  k-NN (k=${r.knn.k})     cosine ${pct(r.knn.cosine?.accuracy)}   euclidean ${pct(r.knn.euclidean?.accuracy)}`,
    `  linear probe     ${pct(r.linearProbe.accuracy)} (train ${pct(r.linearProbe.trainAccuracy)})`,
  ];
  if (r.pixelKnn) lines.push(`  raw-pixel k-NN   cosine ${pct(r.pixelKnn.cosine?.accuracy)}   euclidean ${pct(r.pixelKnn.euclidean?.accuracy)}   (baseline)`);
  lines.push(`  probe recipe: ${r.linearProbe.recipe}`);
  return lines.join('\n');
}
