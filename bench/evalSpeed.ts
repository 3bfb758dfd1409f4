/**
 * Evaluation speed (SPEC §4 protocol at Fashion-MNIST size): feature extraction of 60 000 + 10 000
 * unmasked 28×28 images with the tiny28 encoder, and the k-NN of 10 000 test features against
 * 60 000 train features (both weightings). Synthetic images: the time does not depend on content.
 */
import { presets } from '../src/config';
import { load } from '../src/data/load';
import { features } from '../src/eval/features';
import { knn } from '../src/eval/knn';
import { createMae } from '../src/nn/mae';

/** Timings of the evaluation, seconds. */
export interface EvalSpeed {
  featureImages: number;
  featureSeconds: number;
  featureImagesPerSecond: number;
  knnTrain: number;
  knnTest: number;
  knnDim: number;
  knnSeconds: number;
}

/** Times feature extraction of `images` images (6/7 train, 1/7 test) and the k-NN between them. */
export async function measureEvalSpeed(images: number, log: (line: string) => void): Promise<EvalSpeed> {
  const testSize = Math.round(images / 7);
  const data = await load('synthetic', { size: 28, channels: 1, trainSize: images - testSize, testSize, classes: 10 });
  const model = createMae(presets.tiny28, { seed: 0 });
  let start = performance.now();
  let lastLog = start;
  const progress = (done: number, total: number) => {
    if (performance.now() - lastLog > 30_000) {
      log(`  features: ${done}/${total} images`);
      lastLog = performance.now();
    }
  };
  const train = await features(model, data.train, { onProgress: progress });
  const test = await features(model, data.test, { onProgress: progress });
  const featureSeconds = (performance.now() - start) / 1000;
  model.dispose();
  start = performance.now();
  knn(train, test, { k: 10, metric: 'both' });
  const knnSeconds = (performance.now() - start) / 1000;
  return {
    featureImages: images, featureSeconds, featureImagesPerSecond: images / featureSeconds,
    knnTrain: data.train.size, knnTest: data.test.size, knnDim: train.dim, knnSeconds,
  };
}
