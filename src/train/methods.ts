/**
 * A training method says which losses one step combines. The trainer calls `loss` inside a
 * gradient tape; the method draws its random choices (masks) from the Rng it is given.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Mae } from '../nn/mae';
import type { Rng } from '../random';

/** The loss of one (micro-)batch: the total to minimize and its named parts (for the history). */
export interface MethodLoss {
  total: tf.Scalar;
  parts: Record<string, tf.Scalar>;
}

/** A self-supervised method. */
export interface Method {
  name: MethodName;
  /** Loss of standardized images [B, H, W, C]. */
  loss(model: Mae, images: tf.Tensor4D, rng: Rng): MethodLoss;
}

/** Names of the methods the trainer and the CLI accept. */
export const methodNames = ['mae'] as const;
/** A method's name. */
export type MethodName = (typeof methodNames)[number];

/** MAE: reconstruction of the removed patches (SPEC §1). */
const mae: Method = {
  name: 'mae',
  loss(model, images, rng) {
    const masking = model.randomMasking(rng, images.shape[0]);
    const { loss } = model.forward(images, masking);
    return { total: loss, parts: { reconstruction: loss } };
  },
};

const methods: Record<MethodName, Method> = { mae };

/** Looks a method up by name; the error lists the valid names. */
export function getMethod(name: string): Method {
  if (!(methodNames as readonly string[]).includes(name)) {
    throw new Error(`unknown method '${name}'; valid methods: ${methodNames.join(', ')}`);
  }
  return methods[name as MethodName];
}
