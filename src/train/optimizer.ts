/**
 * AdamW with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW:
 *   p ← p · (1 − lr·wd)                       (only parameters marked `decay`)
 *   m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²
 *   p ← p − lr · m̂ / (√v̂ + ε),  m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)
 * Parameters that got no gradient this step are left untouched (as torch skips p.grad = None).
 *
 * How the update runs is chosen once, by capability (computeStrategy().fastElementwiseKernels):
 * - `tensors` (wasm, tensorflow, GPUs): the moments are tf.Variables updated by tensor ops inside
 *   a tidy, so nothing crosses to JavaScript (on a GPU, sending every gradient and weight to
 *   JavaScript would cost about 1.3 GB of transfers per step for vitBase16); on wasm its SIMD
 *   kernels also beat a JavaScript loop (`npm run bench`: 34 against 52 ms for the 2.2 M
 *   parameters of tiny32).
 * - `javascript` (the pure-JS cpu backend, whose kernels are 20× slower than this loop): the
 *   moments are Float32Arrays and the update is one loop over each parameter's values.
 */
import * as tf from '@tensorflow/tfjs';
import { computeStrategy } from '../backend';
import { ConfigError } from '../config';
import type { Param } from '../nn/params';

/** Hyper-parameters of {@link AdamW}. */
export interface AdamWOptions {
  /** Default (0.9, 0.95), MAE's. */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Default 0.05. */
  weightDecay?: number;
  /** How the update runs (see above); default `tensors` where elementwise kernels are fast, else `javascript`. */
  moments?: 'javascript' | 'tensors';
  /**
   * A factor on the learning rate per parameter name (1 where absent), as torch's parameter
   * groups: e.g. layer-wise lr decay when fine-tuning. The decay of a parameter uses its own lr.
   */
  lrScales?: ReadonlyMap<string, number>;
}

/** Saved optimizer state: step count and both moment estimates per parameter name. */
export interface AdamWState {
  step: number;
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
}

/** A gradient with NaN or ±Infinity in it: the update was refused, and nothing changed. */
export class NonFiniteGradientError extends Error {
  override name = 'NonFiniteGradientError';

  constructor(readonly param: string, readonly value: number) {
    super(`the gradient of ${param} holds ${value}`);
  }
}

/** AdamW over a fixed list of named parameters. */
export class AdamW {
  /** Optimizer steps taken. */
  stepCount = 0;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private readonly lrScales?: ReadonlyMap<string, number>;
  /** How the update runs: tensor ops on tf.Variables, or a JavaScript loop over Float32Arrays. */
  readonly moments: 'javascript' | 'tensors';
  private readonly mArrays = new Map<string, Float32Array>();
  private readonly vArrays = new Map<string, Float32Array>();
  private readonly mTensors = new Map<string, tf.Variable>();
  private readonly vTensors = new Map<string, tf.Variable>();

  constructor(private readonly params: Param[], opts: AdamWOptions = {}) {
    this.betas = opts.betas ?? [0.9, 0.95];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.05;
    this.lrScales = opts.lrScales;
    this.moments = opts.moments ?? (computeStrategy().fastElementwiseKernels ? 'tensors' : 'javascript');
    for (const p of params) {
      if (this.moments === 'javascript') {
        this.mArrays.set(p.name, new Float32Array(p.variable.size));
        this.vArrays.set(p.name, new Float32Array(p.variable.size));
      } else {
        // The tidy frees the zeros; the variables (never tracked by a tidy) stay.
        this.mTensors.set(p.name, tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false)));
        this.vTensors.set(p.name, tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false)));
      }
    }
  }

  /**
   * One update with learning rate `lr`; `grads` maps parameter names to gradients (missing = no
   * gradient). Every gradient is checked first: one with a non-finite value throws
   * {@link NonFiniteGradientError} and nothing (parameters, moments, step count) changes.
   */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    if (!(lr >= 0 && Number.isFinite(lr))) throw new ConfigError(`AdamW: the learning rate must be a finite number ≥ 0, got ${lr}`);
    const updated = this.params.filter((p) => grads.has(p.name));
    const lrOf = (p: Param) => lr * (this.lrScales?.get(p.name) ?? 1);
    // Decoupled decay multiplies decayed weights by 1 − lr·wd: at ≥ 1 it flips their sign and grows
    // them every step until they overflow (finite gradients then bound every update).
    const largest = Math.max(0, ...updated.filter((p) => p.decay).map(lrOf));
    if (largest * this.weightDecay >= 1) {
      throw new ConfigError(`AdamW: lr ${largest} × weight decay ${this.weightDecay} = ${largest * this.weightDecay} ≥ 1 would flip and grow every decayed weight each step; lower the learning rate`);
    }
    const gradArrays = this.moments === 'javascript' ? updated.map((p) => grads.get(p.name)!.dataSync() as Float32Array) : [];
    this.checkFinite(updated, grads, gradArrays);
    this.stepCount++;
    const [b1, b2] = this.betas;
    const rootCorrection2 = Math.sqrt(1 - b2 ** this.stepCount);
    updated.forEach((p, i) => {
      const stepSize = lrOf(p) / (1 - b1 ** this.stepCount);
      const keep = p.decay ? 1 - lrOf(p) * this.weightDecay : 1;
      if (this.moments === 'javascript') this.updateInJavaScript(p, gradArrays[i], keep, stepSize, rootCorrection2);
      else this.updateByTensorOps(p, grads.get(p.name)!, keep, stepSize, rootCorrection2);
    });
  }

  /** Throws {@link NonFiniteGradientError} for the first parameter whose gradient is not finite. */
  private checkFinite(updated: Param[], grads: Map<string, tf.Tensor>, gradArrays: Float32Array[]): void {
    if (this.moments === 'tensors') {
      // One read for all of them: which gradients are finite.
      const finite = tf.tidy(() => tf.stack(updated.map((p) => tf.all(tf.isFinite(grads.get(p.name)!)))).dataSync());
      const bad = finite.findIndex((f) => !f);
      if (bad < 0) return;
      gradArrays = updated.map((p, i) => (i === bad ? grads.get(p.name)!.dataSync() as Float32Array : new Float32Array(0)));
    }
    updated.forEach((p, i) => {
      const g = gradArrays[i];
      for (let j = 0; j < g.length; j++) if (!Number.isFinite(g[j])) throw new NonFiniteGradientError(p.name, g[j]);
    });
  }

  private updateInJavaScript(p: Param, grad: Float32Array, keep: number, stepSize: number, rootCorrection2: number): void {
    const [b1, b2] = this.betas;
    const values = Float32Array.from(p.variable.dataSync() as Float32Array);
    const m = this.mArrays.get(p.name)!;
    const v = this.vArrays.get(p.name)!;
    for (let i = 0; i < values.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * grad[i];
      v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
      values[i] = values[i] * keep - (stepSize * m[i]) / (Math.sqrt(v[i]) / rootCorrection2 + this.eps);
    }
    tf.tidy(() => p.variable.assign(tf.tensor(values, p.variable.shape)));
  }

  private updateByTensorOps(p: Param, g: tf.Tensor, keep: number, stepSize: number, rootCorrection2: number): void {
    const [b1, b2] = this.betas;
    const m = this.mTensors.get(p.name)!;
    const v = this.vTensors.get(p.name)!;
    tf.tidy(() => {
      m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
      v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
      const denominator = tf.add(tf.div(tf.sqrt(v), rootCorrection2), this.eps);
      p.variable.assign(tf.sub(tf.mul(p.variable, keep), tf.div(tf.mul(m, stepSize), denominator)));
    });
  }

  /** A copy of the state, for checkpoints. */
  state(): AdamWState {
    const copy = (arrays: Map<string, Float32Array>, tensors: Map<string, tf.Variable>) => Object.fromEntries(this.params.map((p) => [
      p.name, this.moments === 'javascript' ? arrays.get(p.name)!.slice() : Float32Array.from(tensors.get(p.name)!.dataSync() as Float32Array),
    ]));
    return { step: this.stepCount, m: copy(this.mArrays, this.mTensors), v: copy(this.vArrays, this.vTensors) };
  }

  /** Restores a state saved by {@link AdamW.state}; throws if a parameter is missing or has another size. */
  load(state: AdamWState): void {
    for (const [saved, what] of [[state.m, 'm'], [state.v, 'v']] as const) {
      for (const p of this.params) {
        const loaded = saved[p.name];
        if (!loaded || loaded.length !== p.variable.size) {
          throw new Error(`optimizer state '${what}' of parameter ${p.name}: expected ${p.variable.size} values, found ${loaded ? loaded.length : 'none'}`);
        }
      }
    }
    for (const [saved, arrays, tensors] of [[state.m, this.mArrays, this.mTensors], [state.v, this.vArrays, this.vTensors]] as const) {
      for (const p of this.params) {
        if (this.moments === 'javascript') arrays.get(p.name)!.set(saved[p.name]);
        else tf.tidy(() => tensors.get(p.name)!.assign(tf.tensor(saved[p.name], p.variable.shape)));
      }
    }
    this.stepCount = state.step;
  }

  /** Releases the moment estimates. */
  dispose(): void {
    this.mArrays.clear();
    this.vArrays.clear();
    for (const t of [...this.mTensors.values(), ...this.vTensors.values()]) t.dispose();
    this.mTensors.clear();
    this.vTensors.clear();
  }
}
