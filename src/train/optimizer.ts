/**
 * AdamW with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW:
 *   p ← p · (1 − lr·wd)                       (only parameters marked `decay`)
 *   m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²
 *   p ← p − lr · m̂ / (√v̂ + ε),  m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)
 * Parameters that got no gradient this step are left untouched (as torch skips p.grad = None).
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
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(private readonly params: Param[], opts: AdamWOptions = {}) {
    this.betas = opts.betas ?? [0.9, 0.95];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.05;
    const zeros = (p: Param) => tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false));
    for (const p of params) {
      this.m.set(p.name, zeros(p));
      this.v.set(p.name, zeros(p));
    }
  }

  /** One update with learning rate `lr`; `grads` maps parameter names to gradients (missing = no gradient). */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.stepCount++;
    const [b1, b2] = this.betas;
    const correction1 = 1 - b1 ** this.stepCount;
    const correction2 = 1 - b2 ** this.stepCount;
    tf.tidy(() => {
      for (const p of this.params) {
        const g = grads.get(p.name);
        if (!g) continue;
        const m = this.m.get(p.name)!;
        const v = this.v.get(p.name)!;
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        const decayed = p.decay && this.weightDecay > 0 ? tf.mul(p.variable, 1 - lr * this.weightDecay) : p.variable;
        const update = tf.div(tf.div(m, correction1), tf.add(tf.sqrt(tf.div(v, correction2)), this.eps));
        p.variable.assign(tf.sub(decayed, tf.mul(update, lr)));
      }
    });
  }

  /** A copy of the state, for checkpoints. */
  state(): AdamWState {
    const read = (map: Map<string, tf.Variable>) => Object.fromEntries([...map].map(([k, t]) => [k, t.dataSync() as Float32Array]));
    return { step: this.stepCount, m: read(this.m), v: read(this.v) };
  }

  /** Restores a state saved by {@link AdamW.state}; throws if a parameter is missing or has another size. */
  load(state: AdamWState): void {
    for (const [map, saved, what] of [[this.m, state.m, 'm'], [this.v, state.v, 'v']] as const) {
      for (const [name, variable] of map) {
        const values = saved[name];
        if (!values || values.length !== variable.size) {
          throw new Error(`optimizer state '${what}' of parameter ${name}: expected ${variable.size} values, found ${values ? values.length : 'none'}`);
        }
        tf.tidy(() => variable.assign(tf.tensor(values, variable.shape)));
      }
    }
    this.stepCount = state.step;
  }

  /** Frees the moment estimates. */
  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}
