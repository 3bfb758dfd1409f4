/**
 * The trainer: one call = one optimizer step. It owns the optimizer, the learning-rate schedule,
 * the step's random stream and the history, and saves/restores all of them in a checkpoint so
 * that a resumed run continues exactly where the saved one was.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { check, type MaeConfig } from '../config';
import type { Batch } from '../data/dataset';
import { batchToTensor } from '../data/tensor';
import { Mae } from '../nn/mae';
import { Rng, type RngState } from '../random';
import { readCheckpointFile, type StoredTensor, writeCheckpointFile } from './checkpoint';
import { scaledLr, warmupCosineLr } from './lr';
import { getMethod, type Method, type MethodName } from './methods';
import { AdamW } from './optimizer';

/** Options of {@link createTrainer}. All have defaults except where noted. */
export interface TrainerOptions {
  /** Which losses to combine. Default `mae`. */
  method?: MethodName;
  /** Seed of the step's random choices (masks). Default 0. */
  seed?: number;
  /** Optimizer steps in the whole run: the cosine reaches `minLr` there. Default: no decay. */
  totalSteps?: number;
  /** Steps of linear learning-rate warm-up. Default 0. */
  warmupSteps?: number;
  /** Base learning rate, scaled by effective batch / 256 (MAE's rule). Default 1.5e-4. */
  baseLr?: number;
  /** Peak learning rate as is (overrides `baseLr` and its scaling). */
  lr?: number;
  /** Final learning rate of the cosine. Default 0. */
  minLr?: number;
  /** AdamW decoupled weight decay. Default 0.05. */
  weightDecay?: number;
  /** AdamW betas. Default [0.9, 0.95]. */
  betas?: [number, number];
  /** Micro-batches per optimizer step (gradient accumulation); the batch must divide evenly. Default 1. */
  accumulate?: number;
}

/** Options with every default filled in (saved in checkpoints). */
export type ResolvedTrainerOptions = Required<Omit<TrainerOptions, 'lr' | 'totalSteps'>> & Pick<TrainerOptions, 'lr' | 'totalSteps'>;

/** What one step did. */
export interface StepRecord {
  /** Optimizer steps done, this one included (1-based). */
  step: number;
  /** Total loss that was minimized. */
  loss: number;
  /** Named loss parts, e.g. `{reconstruction: 0.81}`. */
  parts: Record<string, number>;
  /** Learning rate used. */
  lr: number;
  /** Images in the step (all micro-batches). */
  batchSize: number;
  /** Wall time of the step in milliseconds. */
  ms: number;
}

/** Thrown when a loss becomes NaN or infinite; the parameters are left as they were before the step. */
export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
}

interface CheckpointHeader {
  kind: 'magma-lab trainer';
  config: MaeConfig;
  options: ResolvedTrainerOptions;
  rng: RngState;
  optimizerStep: number;
  history: StepRecord[];
  meta: Record<string, unknown>;
}

/** Trains a model one step at a time. Create it with {@link createTrainer} or {@link loadCheckpoint}. */
export class Trainer {
  /** Every step so far (restored from checkpoints too). */
  readonly history: StepRecord[] = [];
  readonly options: ResolvedTrainerOptions;
  private readonly method: Method;
  private readonly optimizer: AdamW;
  private rng: Rng;
  private readonly listeners = new Set<(r: StepRecord) => void>();

  constructor(readonly model: Mae, options: TrainerOptions = {}) {
    this.options = resolveOptions(options);
    this.method = getMethod(this.options.method);
    this.optimizer = new AdamW(model.params, this.options);
    this.rng = new Rng(this.options.seed, 0x57e9);
  }

  /** Optimizer steps done so far. */
  get stepCount(): number {
    return this.optimizer.stepCount;
  }

  /** Learning rate of the next step for an effective batch of `batchSize`. */
  learningRate(batchSize: number): number {
    const o = this.options;
    const peak = o.lr ?? scaledLr(o.baseLr, batchSize);
    return warmupCosineLr(this.stepCount, { peak, warmupSteps: o.warmupSteps, totalSteps: o.totalSteps ?? Infinity, minLr: o.minLr });
  }

  /** Calls `listener` after every step; returns a function that unsubscribes it. */
  onStep(listener: (r: StepRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * One optimizer step on a batch (uint8 from a Dataset, or standardized float images
   * [B, H, W, C]). With `accumulate` = K, the batch is split into K micro-batches whose gradients
   * are averaged. Throws {@link NonFiniteLossError} without changing any parameter if a loss is
   * not finite.
   */
  async step(batch: Batch | tf.Tensor4D): Promise<StepRecord> {
    const start = performance.now();
    const images = batch instanceof tf.Tensor ? (batch as tf.Tensor4D) : batchToTensor(batch);
    const size = images.shape[0];
    const k = this.options.accumulate;
    check(size % k === 0, `batch of ${size} images cannot be split into accumulate=${k} equal micro-batches; use a batch size divisible by ${k}`);
    const lr = this.learningRate(size);
    const micro = k === 1 ? [images] : (tf.split(images, k, 0) as tf.Tensor4D[]);
    const grads = new Map<string, tf.Tensor>();
    const parts: Record<string, number> = {};
    let total = 0;
    try {
      for (const x of micro) {
        const result = await this.microStep(x, 1 / k);
        total += result.total / k;
        for (const [name, v] of Object.entries(result.parts)) parts[name] = (parts[name] ?? 0) + v / k;
        for (const [name, g] of result.grads) {
          const sum = grads.get(name);
          grads.set(name, sum ? tf.tidy(() => tf.add(sum, g)) : g);
          if (sum) tf.dispose([sum, g]);
        }
        this.assertFinite(total, parts);
      }
      this.optimizer.apply(grads, lr);
    } finally {
      tf.dispose([...grads.values()]);
      if (k > 1) tf.dispose(micro);
      if (images !== batch) images.dispose();
    }
    const record: StepRecord = { step: this.stepCount, loss: total, parts, lr, batchSize: size, ms: performance.now() - start };
    this.history.push(record);
    for (const listener of this.listeners) listener(record);
    return record;
  }

  /** Gradients (scaled by `weight`) and loss values of one micro-batch. */
  private async microStep(images: tf.Tensor4D, weight: number) {
    let kept: Record<string, tf.Scalar> = {};
    const vars = this.model.params.map((p) => p.variable);
    const { value, grads } = tf.variableGrads(() => {
      const { total, parts } = this.method.loss(this.model, images, this.rng);
      kept = Object.fromEntries(Object.entries(parts).map(([n, t]) => [n, tf.keep(t.clone())]));
      return tf.mul(total, weight) as tf.Scalar;
    }, vars);
    const byName = new Map<string, tf.Tensor>();
    for (const p of this.model.params) {
      const g = grads[p.variable.name];
      if (g) byName.set(p.name, g);
    }
    const partValues: Record<string, number> = {};
    for (const [n, t] of Object.entries(kept)) partValues[n] = (await t.data())[0];
    const total = (await value.data())[0] / weight;
    tf.dispose([value, ...Object.values(kept)]);
    return { total, parts: partValues, grads: byName };
  }

  private assertFinite(total: number, parts: Record<string, number>): void {
    const bad = Object.entries(parts).find(([, v]) => !Number.isFinite(v));
    if (bad || !Number.isFinite(total)) {
      const [name, v] = bad ?? ['total', total];
      throw new NonFiniteLossError(`step ${this.stepCount + 1}: loss part '${name}' is ${v}; the step was not applied. ` +
        'Lower the learning rate (lr/baseLr), add warm-up steps, or check the input data for NaN values');
    }
  }

  /**
   * Saves weights, optimizer state, config, options, RNG state, history and `meta` (e.g. the data
   * position) atomically. `target` is a `.ckpt` file, or a folder that gets `checkpoint.ckpt`.
   * @returns the file written
   */
  save(target: string, meta: Record<string, unknown> = {}): string {
    const file = checkpointPath(target);
    const opt = this.optimizer.state();
    const tensors: StoredTensor[] = this.model.params.flatMap((p) => [
      { name: `param/${p.name}`, shape: p.variable.shape, values: p.variable.dataSync() as Float32Array },
      { name: `adam.m/${p.name}`, shape: p.variable.shape, values: opt.m[p.name] },
      { name: `adam.v/${p.name}`, shape: p.variable.shape, values: opt.v[p.name] },
    ]);
    const header: CheckpointHeader = {
      kind: 'magma-lab trainer', config: this.model.config, options: this.options, rng: this.rng.state(),
      optimizerStep: opt.step, history: this.history, meta,
    };
    writeCheckpointFile(file, { header, tensors });
    return file;
  }

  /** Frees the optimizer state (the model is the caller's). */
  dispose(): void {
    this.optimizer.dispose();
  }

  /** @internal Restores state read from a checkpoint. */
  restore(header: CheckpointHeader, tensors: Map<string, StoredTensor>): void {
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    for (const p of this.model.params) {
      m[p.name] = tensors.get(`adam.m/${p.name}`)?.values ?? new Float32Array(0);
      v[p.name] = tensors.get(`adam.v/${p.name}`)?.values ?? new Float32Array(0);
    }
    this.optimizer.load({ step: header.optimizerStep, m, v });
    this.rng = Rng.fromState(header.rng);
    this.history.splice(0, this.history.length, ...header.history);
  }
}

/** What {@link loadCheckpoint} returns. */
export interface LoadedCheckpoint {
  model: Mae;
  trainer: Trainer;
  /** The `meta` given to {@link Trainer.save}. */
  meta: Record<string, unknown>;
}

/** Creates a trainer for `model`. */
export function createTrainer(model: Mae, options: TrainerOptions = {}): Trainer {
  return new Trainer(model, options);
}

/** Rebuilds the model and trainer saved by {@link Trainer.save}; the run continues exactly. */
export function loadCheckpoint(target: string): LoadedCheckpoint {
  const file = checkpointPath(target);
  const { header, tensors } = readCheckpointFile<CheckpointHeader>(file);
  if (header.kind !== 'magma-lab trainer') throw new Error(`${file} is a checkpoint of kind '${header.kind}', not a magma-lab trainer`);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const model = new Mae(header.config);
  for (const p of model.params) {
    const t = byName.get(`param/${p.name}`);
    if (!t || t.values.length !== p.variable.size) {
      model.dispose();
      throw new Error(`${file}: parameter ${p.name} is ${t ? `of size ${t.values.length}` : 'missing'}, the model needs ${p.variable.size} values; the checkpoint does not match its own config`);
    }
    tf.tidy(() => p.variable.assign(tf.tensor(t.values, p.variable.shape)));
  }
  const trainer = new Trainer(model, header.options);
  trainer.restore(header, byName);
  return { model, trainer, meta: header.meta };
}

/** A `.ckpt` path as is; a folder → `<folder>/checkpoint.ckpt`. */
export function checkpointPath(target: string): string {
  if (target.endsWith('.ckpt')) return target;
  if (fs.existsSync(target) && fs.statSync(target).isFile()) return target;
  return path.join(target, 'checkpoint.ckpt');
}

function resolveOptions(o: TrainerOptions): ResolvedTrainerOptions {
  const r: ResolvedTrainerOptions = {
    method: o.method ?? 'mae', seed: o.seed ?? 0, totalSteps: o.totalSteps, warmupSteps: o.warmupSteps ?? 0,
    baseLr: o.baseLr ?? 1.5e-4, lr: o.lr, minLr: o.minLr ?? 0, weightDecay: o.weightDecay ?? 0.05,
    betas: o.betas ?? [0.9, 0.95], accumulate: o.accumulate ?? 1,
  };
  const known = new Set(Object.keys(r));
  for (const key of Object.keys(o)) check(known.has(key), `unknown trainer option '${key}'; valid options: ${[...known].join(', ')}`);
  getMethod(r.method);
  check(Number.isInteger(r.seed), `seed must be an integer, got ${r.seed}`);
  check(Number.isInteger(r.accumulate) && r.accumulate >= 1, `accumulate must be a positive integer, got ${r.accumulate}`);
  check(Number.isInteger(r.warmupSteps) && r.warmupSteps >= 0, `warmupSteps must be a non-negative integer, got ${r.warmupSteps}`);
  check(r.totalSteps === undefined || (Number.isInteger(r.totalSteps) && r.totalSteps > 0), `totalSteps must be a positive integer, got ${r.totalSteps}`);
  for (const key of ['baseLr', 'minLr', 'weightDecay'] as const) check(Number.isFinite(r[key]) && r[key] >= 0, `${key} must be a non-negative number, got ${r[key]}`);
  check(r.lr === undefined || (Number.isFinite(r.lr) && r.lr > 0), `lr must be a positive number, got ${r.lr}`);
  check(r.betas.length === 2 && r.betas.every((b) => b >= 0 && b < 1), `betas must be two numbers in [0, 1), got [${r.betas}]`);
  return r;
}
