/**
 * AdamW with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW:
 *   p ← p · (1 − lr·wd)                       (only parameters marked `decay`)
 *   m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²
 *   p ← p − lr · m̂ / (√v̂ + ε),  m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)
 * Parameters that got no gradient this step are left untouched (as torch skips p.grad = None).
 *
 * Where the moments live is chosen once, by capability (computeStrategy().hostMemory):
 * - `host` (wasm, cpu: tensors in main memory): the update runs in JavaScript over each
 *   parameter's values, moments kept as Float32Arrays. That is one read of the gradient and one
 *   upload of the new values per parameter, where the formula as tensor ops costs ~10 kernels
 *   per parameter per step (measured on wasm: see the README's optimizer line).
 * - `device` (tensorflow, GPU backends): moments are tf.Variables updated by tensor ops inside a
 *   tidy, so nothing crosses to JavaScript; sending every gradient and weight to JavaScript would
 *   cost about 1.3 GB of transfers per step for vitBase16.
 */
import * as tf from '@tensorflow/tfjs';
import { computeStrategy } from '../backend';
import type { Param } from '../nn/params';

/** Hyper-parameters of {@link AdamW}. */
export interface AdamWOptions {
  /** Default (0.9, 0.95), MAE's. */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Default 0.05. */
  weightDecay?: number;
  /** Where the moments live (see above); default `host` on host-memory backends, else `device`. */
  moments?: 'host' | 'device';
}

/** Saved optimizer state: step count and both moment estimates per parameter name. */
export interface AdamWState {
  step: number;
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
}

/** AdamW over a fixed list of named parameters. */
export class AdamW {
  /** Optimizer steps taken. */
  stepCount = 0;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  /** Where the moments live. */
  readonly moments: 'host' | 'device';
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  private readonly mDevice = new Map<string, tf.Variable>();
  private readonly vDevice = new Map<string, tf.Variable>();

  constructor(private readonly params: Param[], opts: AdamWOptions = {}) {
    this.betas = opts.betas ?? [0.9, 0.95];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.05;
    this.moments = opts.moments ?? (computeStrategy().hostMemory ? 'host' : 'device');
    for (const p of params) {
      if (this.moments === 'host') {
        this.m.set(p.name, new Float32Array(p.variable.size));
        this.v.set(p.name, new Float32Array(p.variable.size));
      } else {
        this.mDevice.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
        this.vDevice.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
      }
    }
  }

  /** One update with learning rate `lr`; `grads` maps parameter names to gradients (missing = no gradient). */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.stepCount++;
    const [b1, b2] = this.betas;
    const stepSize = lr / (1 - b1 ** this.stepCount);
    const rootCorrection2 = Math.sqrt(1 - b2 ** this.stepCount);
    for (const p of this.params) {
      const g = grads.get(p.name);
      if (!g) continue;
      const keep = p.decay ? 1 - lr * this.weightDecay : 1;
      if (this.moments === 'host') this.updateOnHost(p, g, keep, stepSize, rootCorrection2);
      else this.updateOnDevice(p, g, keep, stepSize, rootCorrection2);
    }
  }

  private updateOnHost(p: Param, g: tf.Tensor, keep: number, stepSize: number, rootCorrection2: number): void {
    const [b1, b2] = this.betas;
    const grad = g.dataSync() as Float32Array;
    const values = Float32Array.from(p.variable.dataSync() as Float32Array);
    const m = this.m.get(p.name)!;
    const v = this.v.get(p.name)!;
    for (let i = 0; i < values.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * grad[i];
      v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
      values[i] = values[i] * keep - (stepSize * m[i]) / (Math.sqrt(v[i]) / rootCorrection2 + this.eps);
    }
    tf.tidy(() => p.variable.assign(tf.tensor(values, p.variable.shape)));
  }

  private updateOnDevice(p: Param, g: tf.Tensor, keep: number, stepSize: number, rootCorrection2: number): void {
    const [b1, b2] = this.betas;
    const m = this.mDevice.get(p.name)!;
    const v = this.vDevice.get(p.name)!;
    tf.tidy(() => {
      m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
      v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
      const denominator = tf.add(tf.div(tf.sqrt(v), rootCorrection2), this.eps);
      p.variable.assign(tf.sub(tf.mul(p.variable, keep), tf.div(tf.mul(m, stepSize), denominator)));
    });
  }

  /** A copy of the state, for checkpoints (read back from the device when the moments live there). */
  state(): AdamWState {
    const copy = (host: Map<string, Float32Array>, device: Map<string, tf.Variable>) => Object.fromEntries(this.params.map((p) => [
      p.name, this.moments === 'host' ? host.get(p.name)!.slice() : Float32Array.from(device.get(p.name)!.dataSync() as Float32Array),
    ]));
    return { step: this.stepCount, m: copy(this.m, this.mDevice), v: copy(this.v, this.vDevice) };
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
    for (const [saved, host, device] of [[state.m, this.m, this.mDevice], [state.v, this.v, this.vDevice]] as const) {
      for (const p of this.params) {
        if (this.moments === 'host') host.get(p.name)!.set(saved[p.name]);
        else tf.tidy(() => device.get(p.name)!.assign(tf.tensor(saved[p.name], p.variable.shape)));
      }
    }
    this.stepCount = state.step;
  }

  /** Releases the moment estimates. */
  dispose(): void {
    this.m.clear();
    this.v.clear();
    for (const t of [...this.mDevice.values(), ...this.vDevice.values()]) t.dispose();
    this.mDevice.clear();
    this.vDevice.clear();
  }
}
