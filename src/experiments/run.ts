/**
 * One training run in a run folder, as `magma-lab train` makes it and `ml.experiments.grid` makes
 * one per cell: runs/<name>/config.json (every setting, the backend, the data source),
 * metrics.jsonl (one JSON line per optimizer step), checkpoint.ckpt (weights + optimizer + RNG +
 * history, also every checkpointEvery steps) and results.json (k-NN, linear probe, raw-pixel
 * baseline). A run is described by the train command's options ({@link TrainSettings}), so the
 * command line, notebooks and grid files share one vocabulary.
 */
import * as fs from 'fs';
import * as path from 'path';
import { type BackendReport, describeBackend } from '../backend';
import { check, type MaeConfig, type PresetName, presets, resolveConfig } from '../config';
import { compose, horizontalFlip, randomFixedCrop, randomResizedCrop } from '../data/augment';
import { colorJitter } from '../data/color';
import { type BatchTransform, Dataset, type DatasetSplits } from '../data/dataset';
import { ConcatStorage } from '../data/storage';
import { datasetNames, datasetOptionKeys, load } from '../data/load';
import { evaluate, type EvaluationReport, formatReport } from '../eval/evaluate';
import type { FinetuneResult } from '../eval/finetune';
import { appendLine, assertWritable, writeFileAtomic, writeJsonAtomic } from '../io';
import { createMae } from '../nn/mae';
import { type OptionSpecs, optionsFromObject } from '../options';
import { ProgressBar } from '../progress';
import { isTwoView, type MethodName, methodNames } from '../train/methods';
import type { TrainerOptions } from '../train/options';
import { readMetrics, type RunConfig } from '../train/runFolder';
import type { StepRecord } from '../train/trainer';
import { checkpointPath, createTrainer, loadCheckpoint, NonFiniteLossError, type Trainer } from '../train/trainer';

/**
 * The pre-training augmentations of MAE methods, by name: MAE's Table 1e (the default, 'crop-flip',
 * is MAE's). 'none' is the whole image unflipped (MAE's center crop, no flip). Color jitter on gray
 * images is brightness and contrast (see colorJitter). Two-view methods make their own views.
 */
const augmentations = {
  'crop-flip': () => compose(randomResizedCrop(), horizontalFlip()),
  crop: () => randomResizedCrop(),
  'fixed-crop-flip': () => compose(randomFixedCrop(), horizontalFlip()),
  'crop-flip-jitter': () => compose(randomResizedCrop(), horizontalFlip(), colorJitter()),
  none: () => undefined,
} satisfies Record<RunConfig['augment'], () => BatchTransform | undefined>;

/** Options of `magma-lab train`, which are also the settings of a run in an experiment grid (camelCase). */
export const trainOptions = {
  method: { type: 'string', choices: methodNames, default: 'mae', help: 'self-supervised method' },
  dataset: { type: 'string', choices: datasetNames, default: 'fashion-mnist', help: 'dataset to train and evaluate on' },
  dataDir: { type: 'string', help: 'folder holding the dataset files (default: $MAGMA_LAB_DATA/<name>, data/<name>, system locations)' },
  trainLimit: { type: 'integer', min: 1, help: 'use only the first N training images' },
  testLimit: { type: 'integer', min: 1, help: 'use only the first N test images' },
  imageSize: { type: 'integer', min: 8, help: 'image side of the datasets made at a chosen size: tiny-imagenet and imagenet100 (decoded: shorter side resized, center crop; default 64 and 224) and synthetic; the others are read at their stored size' },
  preset: { type: 'string', choices: Object.keys(presets), default: 'tiny28', help: 'model widths, depths and patch size (image size and channels follow the dataset)' },
  maskRatio: { type: 'number', min: 0, help: 'share of patches removed (default: the preset\'s, 0.75)' },
  maskSampling: { type: 'string', choices: ['random', 'block', 'grid'], help: 'how removed patches are chosen (default random)' },
  normPix: { type: 'boolean', help: 'normalize each target patch (default on)' },
  maskTokenInEncoder: { type: 'boolean', help: 'MAE ablation: encoder sees mask tokens (default off)' },
  lossOnAllPatches: { type: 'boolean', help: 'MAE ablation: reconstruction loss on every patch, not only the removed (default off)' },
  patchSize: { type: 'integer', min: 1, help: 'patch side in pixels (default: the preset\'s; must divide the image size)' },
  decoderDepth: { type: 'integer', min: 1, help: 'decoder blocks (default: the preset\'s)' },
  decoderWidth: { type: 'integer', min: 1, help: 'decoder width (default: the preset\'s; a multiple of its heads)' },
  epochs: { type: 'number', positive: true, default: 1, help: 'passes over the training set (fractions allowed)' },
  batchSize: { type: 'integer', min: 1, default: 128, help: 'images per optimizer step' },
  accumulate: { type: 'integer', min: 1, default: 1, help: 'micro-batches per step (gradient accumulation)' },
  baseLr: { type: 'number', min: 0, default: 1.5e-3, help: 'learning rate per 256 images (peak lr = base-lr × batch / 256)' },
  lr: { type: 'number', min: 0, help: 'peak learning rate as is (overrides --base-lr)' },
  minLr: { type: 'number', min: 0, default: 0, help: 'final learning rate of the cosine decay' },
  warmupEpochs: { type: 'number', min: 0, default: 0.1, help: 'epochs of linear learning-rate warm-up' },
  weightDecay: { type: 'number', min: 0, default: 0.05, help: 'AdamW decoupled weight decay' },
  augment: {
    type: 'string', choices: Object.keys(augmentations), default: 'crop-flip',
    help: 'MAE methods: crop-flip = random-resized crop (scale 0.2–1) + horizontal flip; crop = without flip; fixed-crop-flip = a random 87.5 % window + flip; crop-flip-jitter = crop-flip + color jitter; none (two-view methods make their own views)',
  },
  magmaReference: { type: 'string', default: '-2', help: 'MAGMA reference blocks, 0-based, comma-separated; negative counts from the end' },
  magmaTarget: { type: 'integer', default: -1, help: 'MAGMA target block (0-based; -1 = last)' },
  magmaSchedule: { type: 'string', default: 'constant:1', help: 'λ per epoch: constant:W | warmup:BASE,WARMUP_EPOCHS,W,REG_EPOCHS | triangle:… | step:… | interval:…' },
  magmaScheduleEpochs: { type: 'number', positive: true, help: 'stretch the λ schedule over the run: it was written for a run of N epochs (e.g. 400 for warmup:0,10,1,100), and each of its epochs becomes 1/N of this run\'s steps' },
  magmaRbfScale: { type: 'number', default: 1, help: 'MAGMA affinity W = exp(−rbf-scale · S / γ)' },
  magmaFixedGamma: { type: 'number', help: 'use this γ instead of the batch std of squared distances' },
  magmaScaleDistance: { type: 'boolean', default: false, help: 'divide squared distances by sqrt(D)' },
  uniformityWeight: { type: 'number', min: 0, default: 0.01, help: 'weight of the uniformity term (u-mae, mu-mae)' },
  temperature: { type: 'number', default: 0.2, help: 'NT-Xent temperature (simclr, m-simclr)' },
  projectorHidden: { type: 'integer', min: 1, default: 2048, help: 'projector hidden width (two-view methods)' },
  projectorOutput: { type: 'integer', min: 1, help: 'projector output width (default 256 for SimCLR, 2048 for VICReg)' },
  probeEvery: { type: 'integer', min: 0, default: 25, help: 'measure the dynamics (graph of each reference block, feature norms, uniformity) on a fixed batch of test images at step 1 and every N steps (0: never)' },
  probeSize: { type: 'integer', min: 3, default: 128, help: 'test images in that fixed probe batch' },
  seed: { type: 'integer', default: 0, help: 'seed of initialization, data order, masks and augmentation' },
  name: { type: 'string', help: 'run folder name (default: <method>-<dataset>-<preset>-s<seed>-<time>)' },
  runsDir: { type: 'string', default: 'runs', help: 'where run folders are created' },
  resume: { type: 'string', help: 'continue the run in this folder from its checkpoint' },
  checkpointEvery: { type: 'integer', min: 1, default: 200, help: 'save a checkpoint every N steps' },
  stopAfter: { type: 'integer', min: 1, help: 'stop (with a checkpoint, without evaluating) after step N; continue later with --resume' },
  eval: { type: 'boolean', default: true, help: 'evaluate after training (k-NN, linear probe, pixel baseline)' },
  probeEpochs: { type: 'integer', min: 1, default: 50, help: 'linear-probe epochs' },
  evalEpochs: { type: 'string', help: 'also evaluate at the end of these epochs, comma-separated (e.g. 1,2,4), into results-epoch-<E>.json' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies OptionSpecs;


/** The train options as given (camelCase; unset ones take their defaults). */
export type TrainSettings = { [K in Exclude<keyof typeof trainOptions, 'help' | 'resume' | 'stopAfter'>]?: string | number | boolean };

type TrainArgs = { [K in keyof typeof trainOptions]: string | number | boolean | undefined };

/** Where a run reports what it does: the terminal for the command line, one display for a grid. */
export interface RunReporter {
  /** A line of news (the backend, the data, resuming, where results went). */
  log(line: string): void;
  /** After every training step, with the run's total steps. */
  step(record: StepRecord, totalSteps: number): void;
  /** Training has stopped (done, or at stopAfter). */
  trainingDone(): void;
  /** Evaluation progress: `phase` (features, k-NN, probe) has done `done` of `total`. */
  phase(phase: string, done: number, total: number): void;
  /** The evaluation's report, formatted. */
  report(text: string): void;
}

/** The command line's reporter: lines on stderr, progress bars, the report on stdout. */
export function terminalReporter(): RunReporter {
  let train: ProgressBar | undefined;
  const phases = new Map<string, ProgressBar>();
  // images/s over the last ~20 steps, so the ETA follows the current speed.
  let recentMs = 0;
  let recentImages = 0;
  return {
    log: (line) => process.stderr.write(`${line}\n`),
    step: (r, totalSteps) => {
      train ??= new ProgressBar('train');
      recentMs = 0.95 * recentMs + r.ms;
      recentImages = 0.95 * recentImages + r.batchSize;
      train.update({
        done: r.step, total: totalSteps,
        fields: { epoch: `${r.epoch + 1}`, loss: r.loss.toFixed(4), lr: r.lr.toExponential(2), 'img/s': (recentImages / (recentMs / 1000)).toFixed(0) },
      });
    },
    trainingDone: () => train?.finish(),
    phase: (phase, done, total) => {
      if (!phases.has(phase)) phases.set(phase, new ProgressBar(phase));
      phases.get(phase)!.update({ done, total });
      if (done === total) phases.get(phase)!.finish();
    },
    report: (text) => console.log(text),
  };
}

/** Options of {@link trainRun}. */
export interface TrainRunOptions {
  /** Continue from the folder's checkpoint (a folder without one starts afresh). */
  resume?: boolean;
  /** Stop (with a checkpoint, without evaluating) after this step. */
  stopAfter?: number;
  /** The active backend, recorded in config.json. */
  backend: BackendReport;
  /** Where progress goes. Default: the terminal ({@link terminalReporter}). */
  reporter?: RunReporter;
}

/**
 * Trains (or continues) the run in `runDir`, which the caller has locked, writing config.json,
 * metrics.jsonl, checkpoints and (when `setup.eval`) results.json, as `magma-lab train` does.
 * Resolves to the trainer, whose model the caller disposes with it.
 */
export async function trainRun(runDir: string, setup: RunConfig, opts: TrainRunOptions): Promise<Trainer> {
  const { resume = false, stopAfter, backend } = opts;
  const reporter = opts.reporter ?? terminalReporter();
  const log = (line: string) => reporter.log(line);
  log(describeBackend(backend));
  const data = await load(setup.dataset, { ...setup.dataOptions });
  log(`data: ${data.name} from ${data.source}: ${data.train.size} train / ${data.test.size} test images, ${data.train.shape.join('×')}`);
  const pretrain = pretrainingSet(data);
  if (pretrain !== data.train) log(`self-supervised training on ${pretrain.name}: ${pretrain.size} images`);
  check(pretrain.size > 0, `${pretrain.name} has no training images (${data.source}); check the dataset files, or --train-limit`);
  check(!setup.eval || data.test.size > 0, `${data.name} has no test images (${data.source}), which the evaluation after training needs; fix the dataset, or train with --no-eval`);
  const stepsPerEpoch = pretrain.numBatches(setup.batchSize);
  check(stepsPerEpoch > 0, `batch size ${setup.batchSize} is larger than the training set (${pretrain.size} images); lower --batch-size`);
  const totalSteps = Math.max(1, Math.round(setup.epochs * stepsPerEpoch));
  const metrics = path.join(runDir, 'metrics.jsonl');

  let trainer: Trainer;
  let position = { epoch: 0, batch: 0 };
  if (resume && fs.existsSync(checkpointPath(runDir))) {
    const loaded = loadCheckpoint(runDir);
    trainer = loaded.trainer;
    position = loaded.meta.position as typeof position;
    dropMetricsAfter(metrics, trainer.stepCount, log);
    log(`resuming ${runDir} at step ${trainer.stepCount} (epoch ${position.epoch}, batch ${position.batch})`);
  } else {
    if (resume) {
      log(`${runDir} has no checkpoint yet (the run stopped before its first one): starting it afresh from its config.json`);
      fs.rmSync(metrics, { force: true });
    }
    // The preset gives the widths, depths and patch; the image size and channels follow the data.
    const [height, width, channels] = data.train.shape;
    check(height === width, `${data.name} images are ${height}×${width}; the ViT needs square images`);
    setup.model = resolveConfig({ ...setup.model, imageSize: height, channels });
    const model = createMae(setup.model, { seed: setup.seed });
    trainer = createTrainer(model, { ...setup.trainer, totalSteps, stepsPerEpoch, warmupSteps: Math.round(setup.warmupEpochs * stepsPerEpoch) });
    writeJsonAtomic(path.join(runDir, 'config.json'), { ...setup, backend: backend.description, dataSource: data.source, totalSteps, stepsPerEpoch });
    log(`model: ${setup.preset}, ${(trainer.model.parameterCount / 1e6).toFixed(2)} M parameters; ${totalSteps} steps of ${setup.batchSize} images`);
  }

  if (trainer.options.probeEvery > 0 && data.test.size >= 3) {
    trainer.setProbe(data.test.take(trainer.options.probeSize));
    log(`dynamics: on the first ${Math.min(data.test.size, trainer.options.probeSize)} test images, at step 1 and every ${trainer.options.probeEvery} steps`);
  }
  const stopAt = Math.min(totalSteps, stopAfter ?? totalSteps);
  // The evaluations of --eval-epochs, each once.
  const evaluateEpoch = async (epoch: number) => {
    const file = path.join(runDir, epochResultsFile(epoch));
    if (!fs.existsSync(file)) await evaluateRun(trainer, data, setup.probeEpochs, runDir, reporter, file);
  };
  try {
    await trainLoop(trainer, pretrain, setup, runDir, position, stopAt, totalSteps, stepsPerEpoch, reporter, evaluateEpoch);
    if (trainer.stepCount < totalSteps) log(`stopped after step ${trainer.stepCount} of ${totalSteps}; continue with --resume ${runDir}`);
    else if (setup.eval) await evaluateRun(trainer, data, setup.probeEpochs, runDir, reporter);
  } catch (e) {
    trainer.dispose();
    trainer.model.dispose();
    if (!(e instanceof NonFiniteLossError)) throw e;
    const saved = fs.existsSync(checkpointPath(runDir)) ? `the last checkpoint in ${runDir} is intact; continue from it with --resume ${runDir}` : 'no checkpoint was written yet';
    throw new NonFiniteLossError(`${e.message}.\nTraining stopped: ${saved}`);
  }
  return trainer;
}

/**
 * The run a set of train options describes (the options of `magma-lab train` in camelCase,
 * validated, with every default filled in), as saved in its config.json.
 */
export function runConfigFromSettings(settings: TrainSettings, where = 'the train options'): RunConfig {
  const a = optionsFromObject(settings as Record<string, unknown>, trainOptions, where) as TrainArgs;
  const preset = a.preset as PresetName;
  const overrides: Partial<MaeConfig> = {};
  if (a.maskRatio !== undefined) overrides.maskRatio = a.maskRatio as number;
  if (a.maskSampling !== undefined) overrides.maskSampling = a.maskSampling as MaeConfig['maskSampling'];
  if (a.normPix !== undefined) overrides.normPixLoss = a.normPix as boolean;
  if (a.maskTokenInEncoder !== undefined) overrides.maskTokenInEncoder = a.maskTokenInEncoder as boolean;
  if (a.lossOnAllPatches !== undefined) overrides.lossOnAllPatches = a.lossOnAllPatches as boolean;
  if (a.patchSize !== undefined) overrides.patchSize = a.patchSize as number;
  if (a.decoderDepth !== undefined) overrides.decoderDepth = a.decoderDepth as number;
  if (a.decoderWidth !== undefined) overrides.decoderWidth = a.decoderWidth as number;
  // The preset's image size stands in until trainRun sets the data's: a patch that divides the data's side but not the
  // preset's (12 for STL-10's 96 px with tiny28) is checked against the data's there, not refused here.
  const presetSide = presets[preset].imageSize;
  if (overrides.patchSize !== undefined && presetSide % overrides.patchSize !== 0) overrides.imageSize = overrides.patchSize * Math.max(1, Math.round(presetSide / overrides.patchSize));
  const model = resolveConfig({ preset, ...overrides });
  const seed = a.seed as number;
  check(a.imageSize === undefined || datasetOptionKeys(a.dataset as never).includes('size'),
    `${where}: imageSize ${a.imageSize} applies to the datasets (${datasetNames.filter((n) => datasetOptionKeys(n).includes('size')).join(', ')}), which are made at a chosen size; ${a.dataset} is read at its stored size, so leave imageSize out`);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 13);
  return {
    name: (a.name as string | undefined) ?? `${a.method}-${a.dataset}-${preset}-s${seed}-${stamp}`,
    method: a.method as string,
    dataset: a.dataset as string,
    // Drops unset options. STL-10's protocol pre-trains on its unlabeled images + train.
    dataOptions: JSON.parse(JSON.stringify({ dir: a.dataDir, trainLimit: a.trainLimit, testLimit: a.testLimit, size: a.imageSize, unlabeled: a.dataset === 'stl10' || undefined })),
    preset,
    model,
    trainer: JSON.parse(JSON.stringify({ // drops unset options
      method: a.method, seed, baseLr: a.baseLr, lr: a.lr, minLr: a.minLr, weightDecay: a.weightDecay, accumulate: a.accumulate,
      magma: {
        reference: blockList(a.magmaReference as string), target: a.magmaTarget, schedule: a.magmaSchedule, scheduleEpochs: a.magmaScheduleEpochs,
        rbfScale: a.magmaRbfScale, fixedGamma: a.magmaFixedGamma, scaleDistance: a.magmaScaleDistance,
      },
      uniformityWeight: a.uniformityWeight, temperature: a.temperature,
      projector: { hidden: a.projectorHidden, output: a.projectorOutput }, probeEvery: a.probeEvery, probeSize: a.probeSize,
    })) as TrainerOptions,
    epochs: a.epochs as number,
    batchSize: a.batchSize as number,
    warmupEpochs: a.warmupEpochs as number,
    augment: a.augment as RunConfig['augment'],
    seed,
    checkpointEvery: a.checkpointEvery as number,
    eval: a.eval as boolean,
    probeEpochs: a.probeEpochs as number,
    ...(a.evalEpochs !== undefined && { evalEpochs: epochList(a.evalEpochs as string, a.epochs as number) }),
  };
}

/** `1,2,4` → [1, 2, 4]: whole epochs before the last, ascending; the error says what a valid list looks like. */
function epochList(text: string, epochs: number): number[] {
  const list = text.split(',').map((v) => Number(v.trim()));
  const valid = text.trim() !== '' && list.every((e, i) => Number.isInteger(e) && e >= 1 && e < epochs && (i === 0 || e > list[i - 1]));
  check(valid, `--eval-epochs '${text}' must be ascending whole epochs from 1 to below --epochs ${epochs}, comma-separated, e.g. 1,2,4 (the end of training is always evaluated)`);
  return list;
}

/** A run's data options without STL-10's unlabeled split: what evaluation and fine-tuning load, as they need labels. */
export function labelledDataOptions(setup: RunConfig): Omit<RunConfig['dataOptions'], 'unlabeled'> {
  const { unlabeled: _pretrainingOnly, ...options } = setup.dataOptions;
  return options;
}

/** The images of self-supervised training: STL-10's unlabeled + train images (its protocol), else the train split. */
export function pretrainingSet(data: DatasetSplits): Dataset {
  if (!data.unlabeled) return data.train;
  const labels = new Int32Array(data.unlabeled.size + data.train.size);
  labels.fill(-1, 0, data.unlabeled.size);
  labels.set(data.train.labels, data.unlabeled.size);
  return new Dataset(`${data.name}/unlabeled+train`, new ConcatStorage([data.unlabeled.storage, data.train.storage]), labels,
    data.train.shape, data.classNames, data.train.stats);
}

/** `2` or `1,2` or `-2` → block numbers; the error says what a valid list looks like. */
function blockList(text: string): number[] {
  const blocks = text.split(',').map((v) => Number(v.trim()));
  check(text.trim() !== '' && blocks.every(Number.isInteger), `--magma-reference '${text}' must be comma-separated block numbers, e.g. 2 or 1,2 or -2`);
  return blocks;
}

function augmentation(kind: RunConfig['augment'], method: string): BatchTransform | undefined {
  return isTwoView(method as MethodName) ? undefined : augmentations[kind](); // two-view methods augment inside the method
}

async function trainLoop(trainer: Trainer, images: Dataset, setup: RunConfig, runDir: string,
  start: { epoch: number; batch: number }, stopAt: number, totalSteps: number, stepsPerEpoch: number, reporter: RunReporter,
  evaluateEpoch: (epoch: number) => Promise<void>): Promise<void> {
  const metrics = path.join(runDir, 'metrics.jsonl');
  const transform = augmentation(setup.augment, setup.method);
  const position = { ...start };
  const save = () => trainer.save(runDir, { position });
  const evaluatesAt = (epoch: number) => setup.eval && (setup.evalEpochs ?? []).includes(epoch);
  // Resumed from the checkpoint saved at such an epoch's end: its evaluation may have been cut short.
  if (start.batch === 0 && evaluatesAt(start.epoch)) await evaluateEpoch(start.epoch);
  while (trainer.stepCount < stopAt) {
    const batches = images.batches(setup.batchSize, { seed: setup.seed, epoch: position.epoch, skip: position.batch, transform });
    for (const batch of batches) {
      if (trainer.stepCount >= stopAt) break;
      const r = await trainer.step(batch);
      position.batch++;
      appendLine(metrics, JSON.stringify({ ...r, epoch: position.epoch }));
      reporter.step(r, totalSteps);
      if (r.step % setup.checkpointEvery === 0) save();
    }
    if (position.batch >= stepsPerEpoch) {
      position.epoch++;
      position.batch = 0;
      if (evaluatesAt(position.epoch)) {
        save(); // first, so that an evaluation cut short is done again on resume
        await evaluateEpoch(position.epoch);
      }
    }
  }
  reporter.trainingDone();
  save();
  reporter.log(`trained ${trainer.stepCount} steps; checkpoint and metrics in ${runDir}`);
}

/** The file of the evaluation at the end of epoch `epoch` (train option evalEpochs). */
export function epochResultsFile(epoch: number): string {
  return `results-epoch-${epoch}.json`;
}

/** Evaluates a trained model and writes its results (results.json by default) in the run folder. */
export async function evaluateRun(trainer: Trainer, data: DatasetSplits, probeEpochs: number, runDir: string,
  reporter: RunReporter = terminalReporter(), file = path.join(runDir, 'results.json')): Promise<EvaluationReport> {
  assertWritable(runDir); // before minutes of work whose results could not be kept
  const report = await evaluate(trainer.model, data, { probe: { epochs: probeEpochs, seed: 0 }, onProgress: (phase, done, total) => reporter.phase(phase, done, total) });
  const last = trainer.history[trainer.history.length - 1];
  reporter.report(formatReport(report)); // first: a failed write below still leaves the numbers on screen
  writeJsonAtomic(file, { ...report, trainedSteps: trainer.stepCount, finalLoss: last?.loss, evaluatedAt: new Date().toISOString() });
  reporter.log(`results written to ${file}`);
  return report;
}

/** Writes a fine-tuning result as `finetune-<name>.json` of a run folder (what `ml.runs.load` reads). */
export function writeFinetuneResult(file: string, result: FinetuneResult, trainedSteps: number): void {
  writeJsonAtomic(file, { accuracy: result.accuracy, history: result.history, trained: result.trained, recipe: result.recipe, trainedSteps, finishedAt: new Date().toISOString() });
}

/**
 * After a crash, metrics.jsonl may hold steps past the checkpoint, and a last line cut short by a
 * kill mid-append: keep only the steps the checkpoint covers (a torn last line is dropped with a
 * warning).
 */
function dropMetricsAfter(file: string, step: number, log: (line: string) => void): void {
  if (!fs.existsSync(file)) return;
  const kept = readMetrics(file, (warning) => log(`warning: ${warning}`)).filter((r) => r.step <= step);
  writeFileAtomic(file, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

