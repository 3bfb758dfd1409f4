/**
 * Named, trainable parameters. Values are drawn in JavaScript from a seeded {@link Rng}, so the
 * same seed gives bit-identical weights on every backend.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../random';

/** One trainable tensor with the name it has in checkpoints, e.g. `encoder.blocks.0.attn.qkv.weight`. */
export interface Param {
  name: string;
  variable: tf.Variable;
  /** Whether AdamW's weight decay applies (not to biases, norms, tokens or positional embeddings). */
  decay: boolean;
}

/** Weight and bias of a linear layer; weight is [in, out] (y = x W + b). */
export interface LinearParams {
  weight: tf.Variable;
  bias: tf.Variable;
}

/** Gain and shift of a LayerNorm. */
export interface NormParams {
  weight: tf.Variable;
  bias: tf.Variable;
}

/** Creates parameters in a fixed order from one Rng and remembers them by name. */
export class ParamStore {
  readonly params: Param[] = [];

  constructor(private readonly rng: Rng) {}

  /** Registers a tensor built from `values`. */
  add(name: string, shape: number[], values: Float32Array, decay: boolean): tf.Variable {
    if (this.params.some((p) => p.name === name)) throw new Error(`duplicate parameter name ${name}`);
    // tf variable names are global to the engine: let tf pick a unique one, keep ours in Param.name.
    const initial = tf.tensor(values, shape);
    const variable = tf.variable(initial, true);
    initial.dispose(); // the variable holds its own reference to the data
    this.params.push({ name, variable, decay });
    return variable;
  }

  /** Normal(0, std) values (tokens: MAE's cls_token and mask_token use std 0.02). */
  normal(name: string, shape: number[], std: number, decay = false): tf.Variable {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = this.rng.normal(0, std);
    return this.add(name, shape, values, decay);
  }

  /** A constant-filled tensor. */
  constant(name: string, shape: number[], value: number, decay = false): tf.Variable {
    return this.add(name, shape, new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value), decay);
  }

  /** Linear layer: xavier-uniform weight [in, out] (decayed), zero bias (not decayed). */
  linear(name: string, inFeatures: number, outFeatures: number): LinearParams {
    const bound = Math.sqrt(6 / (inFeatures + outFeatures));
    const w = new Float32Array(inFeatures * outFeatures);
    for (let i = 0; i < w.length; i++) w[i] = this.rng.range(-bound, bound);
    return {
      weight: this.add(`${name}.weight`, [inFeatures, outFeatures], w, true),
      bias: this.constant(`${name}.bias`, [outFeatures], 0),
    };
  }

  /** LayerNorm: weight 1, bias 0, neither decayed. */
  layerNorm(name: string, width: number): NormParams {
    return { weight: this.constant(`${name}.weight`, [width], 1), bias: this.constant(`${name}.bias`, [width], 0) };
  }
}
