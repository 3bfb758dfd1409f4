/**
 * The 2-D matrix products of one training step (every linear layer, forward and backward), to
 * time them alone in TF.js and in PyTorch: how much of the step's gap is matmul speed.
 */
import * as tf from '@tensorflow/tfjs';
import type { MaeConfig } from '../src/config';
import { keptCount } from '../src/nn/masking';

/** [m, k, n] of every product of the linear layers in one step on `batch` images. */
export function linearProducts(c: MaeConfig, batch: number): [number, number, number][] {
  const tokens = (c.imageSize / c.patchSize) ** 2;
  const patchDim = c.patchSize * c.patchSize * c.channels;
  const encoderRows = batch * (1 + keptCount(tokens, c.maskRatio));
  const decoderRows = batch * (1 + tokens);
  const blockLayers = (d: number): [number, number][] => [[d, 3 * d], [d, d], [d, c.mlpRatio * d], [c.mlpRatio * d, d]];
  // [rows, in, out] of each layer
  const layers: [number, number, number][] = [
    ...Array.from({ length: c.encoderDepth }, () => blockLayers(c.encoderWidth).map(([i, o]) => [encoderRows, i, o] as [number, number, number])).flat(),
    [encoderRows, c.encoderWidth, c.decoderWidth],
    ...Array.from({ length: c.decoderDepth }, () => blockLayers(c.decoderWidth).map(([i, o]) => [decoderRows, i, o] as [number, number, number])).flat(),
    [decoderRows, c.decoderWidth, patchDim],
  ];
  const products = layers.flatMap(([n, i, o]) => [[n, i, o], [n, o, i], [i, n, o]] as [number, number, number][]); // y = xW, dx = dy Wᵀ, dW = xᵀ dy
  products.push([batch * tokens, patchDim, c.encoderWidth], [patchDim, batch * tokens, c.encoderWidth]); // patch embedding: y and dW
  return products;
}

/** Best total time of the products over `repeats` runs in TF.js (plain 2-D tf.matMul), ms. */
export function timeTfjsProducts(shapes: [number, number, number][], repeats: number): number {
  const pairs = shapes.map(([m, k, n]) => [tf.randomNormal([m, k], 0, 1, 'float32', 1), tf.randomNormal([k, n], 0, 1, 'float32', 2)] as tf.Tensor2D[]);
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    for (const [a, b] of pairs) tf.matMul(a, b).dispose();
    best = Math.min(best, performance.now() - start);
  }
  tf.dispose(pairs.flat());
  return best;
}
