/**
 * The MLP projector of the contrastive and non-contrastive baselines (as in solo-learn):
 * SimCLR: Linear → ReLU → Linear; VICReg: (Linear → BatchNorm → ReLU) × 2 → Linear.
 * BatchNorm here uses the statistics of the current batch (the projector only exists in training).
 */
import * as tf from '@tensorflow/tfjs';
import { linear } from './layers';
import type { LinearParams, NormParams, ParamStore } from './params';

/** Sizes of a projector. */
export interface ProjectorConfig {
  /** Width of the hidden layers. */
  hidden: number;
  /** Width of the output z. */
  output: number;
  /** Hidden layers (each Linear [→ BatchNorm] → ReLU). SimCLR 1, VICReg 2. */
  hiddenLayers: number;
  /** BatchNorm after each hidden Linear (VICReg) or not (SimCLR). */
  batchNorm: boolean;
}

/** Parameters of a projector. */
export interface Projector {
  config: ProjectorConfig;
  hidden: { linear: LinearParams; norm?: NormParams }[];
  out: LinearParams;
}

/** Creates a projector from `inputWidth` under the parameter prefix `projector`. */
export function createProjector(store: ParamStore, inputWidth: number, config: ProjectorConfig): Projector {
  const hidden = Array.from({ length: config.hiddenLayers }, (_, i) => ({
    linear: store.linear(`projector.${i}.linear`, i === 0 ? inputWidth : config.hidden, config.hidden),
    norm: config.batchNorm ? store.layerNorm(`projector.${i}.bn`, config.hidden) : undefined,
  }));
  const out = store.linear('projector.out', config.hiddenLayers ? config.hidden : inputWidth, config.output);
  return { config, hidden, out };
}

/** Features [B, D] → projections [B, output]. */
export function project(p: Projector, features: tf.Tensor2D): tf.Tensor2D {
  let x = features;
  for (const layer of p.hidden) {
    x = linear(x, layer.linear);
    if (layer.norm) x = batchNorm(x, layer.norm);
    x = tf.relu(x);
  }
  return linear(x, p.out);
}

/** BatchNorm1d in training mode: standardize each feature over the batch (biased variance, eps 1e-5). */
function batchNorm(x: tf.Tensor2D, p: NormParams): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, 0, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), p.weight), p.bias) as tf.Tensor2D;
}
