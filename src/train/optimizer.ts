/**
 * AdamW with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW:
 *   p ← p · (1 − lr·wd)                       (only parameters marked `decay`)
 *   m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²
 *   p ← p − lr · m̂ / (√v̂ + ε),  m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)
 * Parameters that got no gradient this step are left untouched (as torch skips p.grad = None).
 * The update runs in JavaScript over each parameter's values (moments kept as Float32Arrays): on
 * the CPU backends this is one download of the gradient and one upload of the new values per
 * parameter, where the same formula as tensor ops costs ~15 kernels per parameter per step.
 */
import * as tf from '@tensorflow/tfjs';
import type { Param } from '../nn/params';

/** Hyper-parameters of {@link AdamW}. */
export interface AdamWOptions {
  /** Default (0.9, 0.95), MAE's. */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Default 0.05. */
  weightDecay?: number;
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
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();

  constructor(private readonly params: Param[], opts: AdamWOptions = {}) {
    this.betas = opts.betas ?? [0.9, 0.95];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.05;
    for (const p of params) {
      this.m.set(p.name, new Float32Array(p.variable.size));
      this.v.set(p.name, new Float32Array(p.variable.size));
    }
  }

  /** One update with learning rate `lr`; `grads` maps parameter names to gradients (missing = no gradient). */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.stepCount++;
    const [b1, b2] = this.betas;
    const correction1 = 1 - b1 ** this.stepCount;
    const correction2 = 1 - b2 ** this.stepCount;
    const stepSize = lr / correction1;
    const rootCorrection2 = Math.sqrt(correction2);
    for (const p of this.params) {
      const g = grads.get(p.name);
      if (!g) continue;
      const grad = g.dataSync() as Float32Array;
      const values = Float32Array.from(p.variable.dataSync() as Float32Array);
      const m = this.m.get(p.name)!;
      const v = this.v.get(p.name)!;
      const keep = p.decay ? 1 - lr * this.weightDecay : 1;
      for (let i = 0; i < values.length; i++) {
        m[i] = b1 * m[i] + (1 - b1) * grad[i];
        v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
        values[i] = values[i] * keep - (stepSize * m[i]) / (Math.sqrt(v[i]) / rootCorrection2 + this.eps);
      }
      tf.tidy(() => p.variable.assign(tf.tensor(values, p.variable.shape)));
    }
  }

  /** A copy of the state, for checkpoints. */
  state(): AdamWState {
    const copy = (map: Map<string, Float32Array>) => Object.fromEntries([...map].map(([k, t]) => [k, t.slice()]));
    return { step: this.stepCount, m: copy(this.m), v: copy(this.v) };
  }

  /** Restores a state saved by {@link AdamW.state}; throws if a parameter is missing or has another size. */
  load(state: AdamWState): void {
    for (const [map, saved, what] of [[this.m, state.m, 'm'], [this.v, state.v, 'v']] as const) {
      for (const [name, values] of map) {
        const loaded = saved[name];
        if (!loaded || loaded.length !== values.length) {
          throw new Error(`optimizer state '${what}' of parameter ${name}: expected ${values.length} values, found ${loaded ? loaded.length : 'none'}`);
        }
        values.set(loaded);
      }
    }
    this.stepCount = state.step;
  }

  /** Releases the moment estimates (plain arrays: nothing on the backend to free). */
  dispose(): void {
    this.m.clear();
    this.v.clear();
  }
}
