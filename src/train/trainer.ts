/**
 * The trainer: one call = one optimizer step. It owns the optimizer, the learning-rate schedule,
 * the step's random stream and the history, and saves/restores all of them in a checkpoint so
 * that a resumed run continues exactly where the saved one was.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { check, type MaeConfig, upgradeConfig } from '../config';
import type { Batch, BatchTransform, Dataset } from '../data/dataset';
import { Mae, maeParameterCount } from '../nn/mae';
import type { Param } from '../nn/params';
import { Rng, type RngState } from '../random';
import { CheckpointError, readCheckpointFile, rollBackAdvice, type StoredTensor, writeCheckpointFile } from './checkpoint';
import { scaledLr, warmupCosineLr } from './lr';
import { scheduleEpochOf } from './schedules';
import { batchToTensor } from '../data/tensor';
import { magmaGraph } from '../losses/index';
import { ProbeDynamics, type ProbeRecord } from './dynamics';
import { concatRows, GradientSum, type GradientResult, readScalars, splitBatch } from './gradients';
import { createMethod, type Method, type PreparedBatch } from './methods';
import { AdamW, NonFiniteGradientError } from './optimizer';
import { resolveTrainerOptions, type ResolvedTrainerOptions, type TrainerOptions } from './options';
import { interruptible, yieldToEventLoop } from '../interrupt';

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
  /** Epoch the step belonged to (for the λ schedule). */
  epoch: number;
  /** λ of the MAGMA term (methods with MAGMA only). */
  lambda?: number;
  /** γ of the first reference block's graph on this step's batch (absent for batches of fewer than 3 images). */
  gamma?: number;
  /**
   * The training dynamics on the fixed probe batch, at step 1 and every `probeEvery` steps (when a
   * probe is set), of the weights the step started from (as `loss`): step 1's is the initialization.
   */
  probe?: ProbeRecord;
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
  /** The method's losses and extra parameters (e.g. a projector). */
  readonly method: Method;
  /** Everything optimized: the model's parameters, then the method's. */
  readonly params: Param[];
  private readonly optimizer: AdamW;
  private rng: Rng;
  private probe?: ProbeDynamics;
  private readonly listeners = new Set<(r: StepRecord) => void>();
  private disposed = false;

  constructor(readonly model: Mae, options: TrainerOptions = {}) {
    this.options = resolveTrainerOptions(options, model.config.encoderDepth);
    this.method = createMethod(model, this.options);
    this.params = [...model.params, ...this.method.params];
    this.optimizer = new AdamW(this.params, this.options);
    this.rng = new Rng(this.options.seed, 0x57e9);
  }

  /**
   * Sets the fixed probe batch on which the training dynamics are measured (see
   * {@link ProbeRecord}): the first `probeSize` of `images`, which should be held out of
   * training (e.g. test images). The masked methods see them through one set of masks drawn once
   * from the trainer's seed, so every measurement sees the same inputs. {@link fit} sets it from
   * its `heldOut` option, and the command line from the test split.
   */
  setProbe(images: Batch | tf.Tensor4D): void {
    const n = Math.min(images.shape[0], this.options.probeSize);
    check(n >= 3, `the probe batch needs at least 3 images for its graphs, got ${images.shape[0]}`);
    const first = tf.tidy(() => {
      const all = images instanceof tf.Tensor ? images : batchToTensor(images);
      return tf.slice(all, [0, 0, 0, 0], [n, -1, -1, -1]) as tf.Tensor4D;
    });
    const masking = this.method.masked ? this.model.randomMasking(new Rng(this.options.seed, 0x960be), n) : null;
    this.probe?.dispose();
    this.probe = new ProbeDynamics(this.model, first, masking, this.options.magma.reference, this.options.magma);
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

  /** The epoch a step belongs to: `stepsPerEpoch` turns steps into epochs (0 without it). */
  epochOf(step: number): number {
    return this.options.stepsPerEpoch ? Math.floor(step / this.options.stepsPerEpoch) : 0;
  }

  /**
   * One optimizer step on a batch (uint8 from a Dataset, or standardized float images
   * [B, H, W, C] for the MAE methods). With `accumulate` = K, the batch is split into K
   * micro-batches: per-sample losses are averaged over them and batch-wide terms are computed on
   * the whole batch, so the update equals the one of a single K·b batch. Throws
   * {@link NonFiniteLossError} without changing any parameter if a loss is not finite.
   * @param opts.epoch the epoch of this step (default: from `stepsPerEpoch`), which the λ schedule
   *   reads unless it is stretched over the run (`magma.scheduleEpochs`: it then follows the step count)
   */
  step(batch: Batch | tf.Tensor4D, opts: { epoch?: number } = {}): Promise<StepRecord> {
    return interruptible(() => this.stepOnce(batch, opts)); // Kernel → Interrupt stops after this step's update
  }

  private async stepOnce(batch: Batch | tf.Tensor4D, opts: { epoch?: number }): Promise<StepRecord> {
    if (this.disposed) throw new Error('this trainer was disposed; create a new one with createTrainer, or load a checkpoint with loadCheckpoint');
    await yieldToEventLoop();
    const start = performance.now();
    const epoch = opts.epoch ?? this.epochOf(this.stepCount);
    const lambdaEpoch = scheduleEpochOf(this.stepCount, epoch, { ...this.options.magma, totalSteps: this.options.totalSteps });
    const size = batch.shape[0];
    const k = this.options.accumulate;
    check(size % k === 0, `batch of ${size} images cannot be split into accumulate=${k} equal micro-batches; use a batch size divisible by ${k}`);
    const twoPass = k > 1 && this.method.batchKeys.length > 0; // batch-wide terms see the whole batch
    const termBatch = twoPass ? size : size / k;
    check(termBatch >= this.method.minBatch, `${this.method.name} needs at least ${this.method.minBatch} images for its batch-wide terms, ` +
      `got ${termBatch}${twoPass || k === 1 ? '' : ' per micro-batch'}; use a larger batch`);
    const lr = this.learningRate(size);
    const rngBefore = this.rng.state(); // a refused step leaves the random stream where it was
    // The probe sees the weights this step starts from, as the step's loss does (so step 1 is the initialization).
    const every = this.options.probeEvery;
    const step = this.stepCount + 1;
    const probe = this.probe && every > 0 && (step === 1 || step % every === 0) ? this.probe.measure() : undefined;
    const micro = splitBatch(batch, k);
    const prepared = micro.map((mb) => this.method.prepare(mb, this.rng));
    if (k > 1 && batch instanceof tf.Tensor) tf.dispose(micro as tf.Tensor4D[]); // prepare made its own copies
    let result: GradientResult | undefined;
    let applied = false;
    try {
      result = twoPass ? await this.twoPassGradients(prepared, lambdaEpoch) : await this.directGradients(prepared, lambdaEpoch);
      this.assertFinite(result.total, result.parts);
      this.applyUpdate(result.grads, lr);
      applied = true;
      const record: StepRecord = {
        step: this.stepCount, epoch, loss: result.total, parts: result.parts, lr, lambda: this.method.lambda(lambdaEpoch),
        gamma: batchGamma(result.tracked, this.options.magma), probe, batchSize: size, ms: performance.now() - start,
      };
      if (record.lambda === undefined) delete record.lambda;
      if (record.gamma === undefined) delete record.gamma;
      if (record.probe === undefined) delete record.probe;
      this.history.push(record);
      for (const listener of this.listeners) listener(record);
      return record;
    } catch (e) {
      if (!applied) this.rng = Rng.fromState(rngBefore);
      throw e;
    } finally {
      if (result) tf.dispose([...result.grads.values(), result.tracked]);
      prepared.forEach((p) => this.method.release(p));
    }
  }

  /** The optimizer's update; a non-finite gradient stops the step before any parameter changes. */
  private applyUpdate(grads: Map<string, tf.Tensor>, lr: number): void {
    try {
      this.optimizer.apply(grads, lr);
    } catch (e) {
      if (!(e instanceof NonFiniteGradientError)) throw e;
      throw new NonFiniteLossError(`step ${this.stepCount + 1}: ${e.message} although the loss is finite; the step was not applied. ` +
        'Lower the learning rate (lr/baseLr), add warm-up steps, or check the input data');
    }
  }

  /**
   * Trains on `dataset` until `epochs` passes over it are done (fractions allowed), batch by batch
   * in the seeded order of {@link Dataset.batches}, and resolves to the records of the steps it
   * took. It counts from {@link stepCount}, so a trainer loaded from a checkpoint continues with
   * the next batch the uninterrupted fit would have taken (for the same dataset, batch size and
   * seed). The λ schedule gets each batch's epoch. Give the trainer `totalSteps` (and
   * `warmupSteps`) for the learning-rate schedule to span the fit.
   */
  async fit(dataset: Dataset, opts: FitOptions): Promise<StepRecord[]> {
    const { epochs, batchSize, transform, onStep, heldOut } = opts;
    if (heldOut && !this.probe) this.setProbe(heldOut.take(this.options.probeSize));
    const seed = opts.seed ?? this.options.seed;
    check(Number.isFinite(epochs) && epochs > 0, `fit: epochs must be a number > 0, got ${epochs}`);
    check(Number.isInteger(batchSize) && batchSize > 0, `fit: batchSize must be a positive integer, got ${batchSize}`);
    const perEpoch = dataset.numBatches(batchSize);
    check(perEpoch > 0, `fit: batch size ${batchSize} is larger than ${dataset.name} (${dataset.size} images); lower batchSize`);
    const total = Math.max(1, Math.round(epochs * perEpoch));
    const records: StepRecord[] = [];
    return interruptible(async () => {
      while (this.stepCount < total) {
        const epoch = Math.floor(this.stepCount / perEpoch);
        for (const batch of dataset.batches(batchSize, { seed, epoch, skip: this.stepCount % perEpoch, transform })) {
          if (this.stepCount >= total) break;
          const record = await this.step(batch, { epoch });
          records.push(record);
          onStep?.(record);
        }
      }
      return records;
    });
  }

  /** One tape per micro-batch holding everything (exact when K = 1 or without batch-wide terms). */
  private async directGradients(prepared: PreparedBatch[], epoch: number): Promise<GradientResult> {
    const k = prepared.length;
    const acc = new GradientSum(this.params);
    const tracked: tf.Tensor2D[] = [];
    for (const p of prepared) {
      let kept: Record<string, tf.Scalar> = {};
      const { value, grads } = tf.variableGrads(() => {
        const f = this.method.forward(p);
        const terms = this.method.batchTerms(f.representations, epoch);
        const parts = { ...f.sampleLosses, ...terms.parts };
        kept = Object.fromEntries(Object.entries(parts).map(([n, t]) => [n, tf.keep(tf.clone(t))]));
        tracked.push(tf.keep(tf.clone(f.representations[this.method.gammaKey])));
        const sampleTotal = Object.values(f.sampleLosses).reduce<tf.Scalar>((a, b) => tf.add(a, b), tf.scalar(0));
        return tf.div(tf.add(sampleTotal, terms.total), k) as tf.Scalar;
      }, this.params.map((q) => q.variable));
      acc.add(grads);
      acc.addParts(await readScalars(kept), k);
      acc.total += (await value.data())[0];
      tf.dispose([value, ...Object.values(kept)]);
    }
    return { ...acc.result(), tracked: concatRows(tracked) };
  }

  /**
   * Accumulation with batch-wide terms (BACKEND.md): pass 1 computes every micro-batch's
   * representations without a tape and pools them; the batch-wide terms and their gradient G
   * w.r.t. the pooled representations come from the whole batch; pass 2 back-propagates, per
   * micro-batch, its per-sample losses / K plus the surrogate ⟨G_mb, R_mb⟩, whose gradient is the
   * batch-wide terms' gradient through that micro-batch. Same masks and views in both passes.
   */
  private async twoPassGradients(prepared: PreparedBatch[], epoch: number): Promise<GradientResult> {
    const keys = this.method.batchKeys;
    const k = prepared.length;
    const passOne = prepared.map((p) => tf.tidy(() => this.method.forward(p, true).representations));
    const pooled = Object.fromEntries([...new Set([...keys, this.method.gammaKey])].map((key) => [key, concatRows(passOne.map((r) => r[key]))]));
    tf.dispose(passOne.flatMap((r) => Object.values(r)));
    let batchParts: Record<string, tf.Scalar> = {};
    const { value: batchTotal, grads: pooledGrads } = tf.valueAndGrads((...xs: tf.Tensor[]) => {
      const terms = this.method.batchTerms(Object.fromEntries(keys.map((key, i) => [key, xs[i] as tf.Tensor2D])), epoch);
      batchParts = Object.fromEntries(Object.entries(terms.parts).map(([n, t]) => [n, tf.keep(tf.clone(t))]));
      return terms.total;
    })(keys.map((key) => pooled[key]));
    const acc = new GradientSum(this.params);
    acc.addParts(await readScalars(batchParts), 1);
    acc.total += (await batchTotal.data())[0];
    let row = 0;
    for (const p of prepared) {
      let kept: Record<string, tf.Scalar> = {};
      const { value, grads } = tf.variableGrads(() => {
        const f = this.method.forward(p);
        kept = Object.fromEntries(Object.entries(f.sampleLosses).map(([n, t]) => [n, tf.keep(tf.clone(t))]));
        const sampleTotal = Object.values(f.sampleLosses).reduce<tf.Scalar>((a, b) => tf.add(a, b), tf.scalar(0));
        const surrogate = keys.map((key, i) => {
          const g = tf.slice(pooledGrads[i], [row, 0], [p.size, -1]);
          return tf.sum(tf.mul(g, f.representations[key]));
        });
        return tf.add(tf.div(sampleTotal, k), tf.addN(surrogate)) as tf.Scalar;
      }, this.params.map((q) => q.variable));
      row += p.size;
      acc.add(grads);
      const sampleValues = await readScalars(kept);
      acc.addParts(sampleValues, k);
      acc.total += Object.values(sampleValues).reduce((a, b) => a + b, 0) / k;
      tf.dispose([value, ...Object.values(kept)]);
    }
    tf.dispose([batchTotal, ...pooledGrads, ...Object.values(batchParts), ...Object.entries(pooled).filter(([key]) => key !== this.method.gammaKey).map(([, t]) => t)]);
    return { ...acc.result(), tracked: pooled[this.method.gammaKey] };
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
    const weights = this.params.map((p) => p.variable.dataSync() as Float32Array); // read once: checked, then written
    weights.forEach((values, k) => {
      const bad = values.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new NonFiniteLossError(`${this.params[k].name} holds ${values[bad]}: the checkpoint was not written, so ${file} (if any) is intact`);
    });
    const opt = this.optimizer.state();
    const tensors: StoredTensor[] = this.params.flatMap((p, k) => [
      { name: `param/${p.name}`, shape: p.variable.shape, values: weights[k] },
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

  /** Frees the optimizer state, the method's parameters and the probe batch (the model is the caller's). */
  dispose(): void {
    this.disposed = true;
    this.optimizer.dispose();
    this.probe?.dispose();
    for (const p of this.method.params) p.variable.dispose();
  }

  /** Restores parameters, optimizer, RNG and history read from a checkpoint (see {@link loadCheckpoint}). */
  private restore(file: string, header: CheckpointHeader, tensors: Map<string, StoredTensor>): void {
    const stored = (kind: string, p: Param): Float32Array => {
      const t = tensors.get(`${kind}/${p.name}`);
      if (!t || t.values.length !== p.variable.size) {
        throw new CheckpointError(file, `${kind} of ${p.name} is ${t ? `of size ${t.values.length}` : 'missing'}, the model needs ${p.variable.size} values: ` +
          'the checkpoint does not match its own config', rollBackAdvice(file));
      }
      return t.values;
    };
    for (const p of this.params) tf.tidy(() => p.variable.assign(tf.tensor(stored('param', p), p.variable.shape)));
    const m = Object.fromEntries(this.params.map((p) => [p.name, stored('adam.m', p)]));
    const v = Object.fromEntries(this.params.map((p) => [p.name, stored('adam.v', p)]));
    this.optimizer.load({ step: header.optimizerStep, m, v });
    this.rng = Rng.fromState(header.rng);
    this.history.splice(0, this.history.length, ...header.history);
  }

  /**
   * Rebuilds a trainer (and its model) from a checkpoint file. The header's config is validated,
   * and checked against the parameter values the file holds, before anything is allocated.
   */
  static fromCheckpoint(file: string): { trainer: Trainer; meta: Record<string, unknown> } {
    const { header, tensors } = readCheckpointFile<CheckpointHeader>(file);
    const bad = (problem: string) => new CheckpointError(file, problem, rollBackAdvice(file));
    if (header.kind !== 'magma-lab trainer') throw bad(`a checkpoint of kind '${header.kind}', not of a magma-lab trainer`);
    let config: MaeConfig;
    try {
      config = upgradeConfig(header.config); // older checkpoints lack the fields added since
    } catch (e) {
      throw bad(`its model config is invalid: ${(e as Error).message}`);
    }
    const needed = maeParameterCount(config);
    const held = tensors.filter((t) => t.name.startsWith('param/')).reduce((n, t) => n + t.values.length, 0);
    if (held < needed) throw bad(`its config describes a model of ${needed} parameter values, but the file holds ${held}: the header does not match the data`);
    try {
      resolveTrainerOptions(header.options, config.encoderDepth);
    } catch (e) {
      throw bad(`its trainer options are invalid: ${(e as Error).message}`);
    }
    const trainer = new Trainer(new Mae(config), header.options);
    try {
      trainer.restore(file, header, new Map(tensors.map((t) => [t.name, t])));
    } catch (e) {
      trainer.dispose();
      trainer.model.dispose();
      throw e;
    }
    return { trainer, meta: header.meta };
  }
}

/** Options of {@link Trainer.fit}. */
export interface FitOptions {
  /** Passes over the dataset in all, counted from step 0 (fractions allowed). */
  epochs: number;
  /** Images per optimizer step. */
  batchSize: number;
  /** Seed of the data order and augmentation. Default: the trainer's seed. */
  seed?: number;
  /** Augmentation of each batch (e.g. `data.compose(data.randomResizedCrop(), data.horizontalFlip())`). */
  transform?: BatchTransform;
  /** Called after every step, e.g. to update a progress display. */
  onStep?: (record: StepRecord) => void;
  /**
   * Held-out images (e.g. the test split) whose first `probeSize` become the probe batch of the
   * training dynamics, unless {@link Trainer.setProbe} was called.
   */
  heldOut?: Dataset;
}

/** γ of the graph of `x` [B, D] (undefined for fewer than 3 rows, where the graph is not defined). */
function batchGamma(x: tf.Tensor2D, options: ResolvedTrainerOptions['magma']): number | undefined {
  if (x.shape[0] < 3) return undefined;
  return tf.tidy(() => {
    const graph = magmaGraph(x, options);
    return graph.gamma.dataSync()[0];
  });
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
  const { trainer, meta } = Trainer.fromCheckpoint(checkpointPath(target));
  return { model: trainer.model, trainer, meta };
}

/** A `.ckpt` path as is; a folder → `<folder>/checkpoint.ckpt`. */
export function checkpointPath(target: string): string {
  if (target.endsWith('.ckpt')) return target;
  if (fs.existsSync(target) && fs.statSync(target).isFile()) return target;
  return path.join(target, 'checkpoint.ckpt');
}
