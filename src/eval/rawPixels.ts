/**
 * Raw pixels as features, for the k-NN baseline that model features are compared against.
 */
import type { Dataset } from '../data/dataset';
import type { Features } from './knn';

/**
 * The images of `ds` flattened to rows of H·W·C values in [0, 1] (uint8 / 255), with the
 * dataset's labels (shared, not copied). Holds the whole split as float32: N·H·W·C·4 bytes.
 * Reads the images a batch at a time, so it works for in-memory and file-backed datasets.
 */
export function pixelFeatures(ds: Dataset): Features {
  const features = new Float32Array(ds.size * ds.imageBytes);
  let at = 0;
  for (const batch of ds.batches(1024, { seed: 0, shuffle: false })) {
    for (let i = 0; i < batch.images.length; i++) features[at + i] = batch.images[i] / 255;
    at += batch.images.length;
  }
  return { features, labels: ds.labels, dim: ds.imageBytes };
}
