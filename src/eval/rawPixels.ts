/**
 * Raw pixels as features, for the k-NN baseline that model features are compared against.
 */
import type { Dataset } from '../data/dataset';
import type { Features } from './knn';

/**
 * The images of `ds` flattened to rows of H·W·C values in [0, 1] (uint8 / 255), with the
 * dataset's labels (shared, not copied). Holds the whole split as float32: N·H·W·C·4 bytes.
 */
export function pixelFeatures(ds: Dataset): Features {
  const features = new Float32Array(ds.images.length);
  for (let i = 0; i < features.length; i++) features[i] = ds.images[i] / 255;
  return { features, labels: ds.labels, dim: ds.imageBytes };
}
