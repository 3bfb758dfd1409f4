/**
 * Bookkeeping of one optimizer step over micro-batches: summing gradients and loss parts,
 * splitting a batch, pooling per-sample representations.
 */
import * as tf from '@tensorflow/tfjs';
import { type Batch, sliceBatch } from '../data/dataset';
import type { Param } from '../nn/params';

/** Gradients and loss values of one step, plus the reference-layer representations [B, D] for the dynamics. */
export interface GradientResult {
  grads: Map<string, tf.Tensor>;
  parts: Record<string, number>;
  total: number;
  tracked: tf.Tensor2D;
}

/** Sums gradients (by parameter name) and loss parts over micro-batches. */
export class GradientSum {
  readonly grads = new Map<string, tf.Tensor>();
  readonly parts: Record<string, number> = {};
  total = 0;

  constructor(private readonly params: Param[]) {}

  /** Adds the gradients returned by tf.variableGrads (keyed by tf variable names). */
  add(grads: tf.NamedTensorMap): void {
    for (const p of this.params) {
      const g = grads[p.variable.name];
      if (!g) continue;
      const sum = this.grads.get(p.name);
      this.grads.set(p.name, sum ? tf.tidy(() => tf.add(sum, g)) : g);
      if (sum) tf.dispose([sum, g]);
    }
  }

  /** Adds loss parts, each divided by `divisor` (K for per-micro-batch means). */
  addParts(values: Record<string, number>, divisor: number): void {
    for (const [name, v] of Object.entries(values)) this.parts[name] = (this.parts[name] ?? 0) + v / divisor;
  }

  result(): Omit<GradientResult, 'tracked'> {
    return { grads: this.grads, parts: this.parts, total: this.total };
  }
}

/** Reads scalar tensors into numbers. */
export async function readScalars(scalars: Record<string, tf.Scalar>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, t] of Object.entries(scalars)) out[name] = (await t.data())[0];
  return out;
}

/** Concatenates row blocks [b_i, D] into [Σb_i, D] and frees the blocks (one block is returned as is). */
export function concatRows(blocks: tf.Tensor2D[]): tf.Tensor2D {
  if (blocks.length === 1) return blocks[0];
  const out = tf.concat(blocks, 0) as tf.Tensor2D;
  tf.dispose(blocks);
  return out;
}

/** Splits a batch into k equal micro-batches (uint8 views, or new tensor slices the caller frees). */
export function splitBatch(batch: Batch | tf.Tensor4D, k: number): (Batch | tf.Tensor4D)[] {
  if (k === 1) return [batch];
  const n = batch.shape[0] / k;
  if (batch instanceof tf.Tensor) return tf.split(batch, k, 0) as tf.Tensor4D[];
  return Array.from({ length: k }, (_, i) => sliceBatch(batch, i * n, (i + 1) * n));
}
