/**
 * Evaluation features of a dataset (SPEC §4): the CLS token after the encoder's final LayerNorm
 * of the UNMASKED images, computed in batches so that no step holds more than one batch.
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset';
import { batchToTensor } from '../data/tensor';
import type { Mae } from '../nn/mae';
import type { Features } from './knn';
import { interruptible, yieldToEventLoop } from '../interrupt';

/** Options of {@link features}. */
export interface FeatureOptions {
  /** Images per forward pass. Default 256. */
  batchSize?: number;
  /** Called after each batch with (images done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** CLS features [N, D] of every image of `dataset`, in dataset order, with its labels. */
export async function features(model: Mae, dataset: Dataset, opts: FeatureOptions = {}): Promise<Features> {
  const batchSize = opts.batchSize ?? 256;
  const dim = model.config.encoderWidth;
  const out = new Float32Array(dataset.size * dim);
  let done = 0;
  return interruptible(async () => {
    for (const batch of dataset.batches(batchSize, { seed: 0, shuffle: false })) {
      await yieldToEventLoop();
      const x = batchToTensor(batch);
      const f = model.features(x);
      out.set(await f.data(), done * dim);
      tf.dispose([x, f]);
      done += batch.labels.length;
      opts.onProgress?.(done, dataset.size);
    }
    return { features: out, labels: dataset.labels.slice(), dim };
  });
}
