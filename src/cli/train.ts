/**
 * `magma-lab train`: train a masked autoencoder on a dataset, evaluate it, and write a run folder:
 *   runs/<name>/config.json      every setting, the backend, the data source
 *   runs/<name>/metrics.jsonl    one JSON line per optimizer step
 *   runs/<name>/checkpoint.ckpt  weights + optimizer + RNG + history (also every --checkpoint-every steps)
 *   runs/<name>/results.json     k-NN (both weightings), linear probe, raw-pixel baseline
 */
import * as fs from 'fs';
import * as path from 'path';
import { type BackendReport, describeBackend } from '../backend';
import { check, type MaeConfig, type PresetName, presets, resolveConfig } from '../config';
import { compose, horizontalFlip, randomResizedCrop } from '../data/augment';
import { type BatchTransform, Dataset, type DatasetSplits } from '../data/dataset';
import { ConcatStorage } from '../data/storage';
import { datasetNames, load } from '../data/load';
import { evaluate, formatReport } from '../eval/evaluate';
import { appendLine, assertWritable, lockFolder, writeFileAtomic, writeJsonAtomic } from '../io';
import { createMae } from '../nn/mae';
import { isTwoView, type MethodName, methodNames } from '../train/methods';
import { resolveTrainerOptions, type TrainerOptions } from '../train/options';
import { readMetrics, readRunConfig, type RunConfig } from '../train/runFolder';
import { checkpointPath, createTrainer, loadCheckpoint, NonFiniteLossError, type Trainer } from '../train/trainer';
import { kebab, type OptionSpecs, parseArgs } from './args';
import { ProgressBar } from '../progress';

/** Options of `magma-lab train`. */
export const trainOptions = {
  method: { type: 'string', choices: methodNames, default: 'mae', help: 'self-supervised method' },
  dataset: { type: 'string', choices: datasetNames, default: 'fashion-mnist', help: 'dataset to train and evaluate on' },
  dataDir: { type: 'string', help: 'folder holding the dataset files (default: $MAGMA_LAB_DATA/<name>, data/<name>, system locations)' },
  trainLimit: { type: 'integer', min: 1, help: 'use only the first N training images' },
  testLimit: { type: 'integer', min: 1, help: 'use only the first N test images' },
  preset: { type: 'string', choices: Object.keys(presets), default: 'tiny28', help: 'model widths, depths and patch size (image size and channels follow the dataset)' },
  maskRatio: { type: 'number', min: 0, help: 'share of patches removed (default: the preset\'s, 0.75)' },
  maskSampling: { type: 'string', choices: ['random', 'block', 'grid'], help: 'how removed patches are chosen (default random)' },
  normPix: { type: 'boolean', help: 'normalize each target patch (default on)' },
  maskTokenInEncoder: { type: 'boolean', help: 'MAE ablation: encoder sees mask tokens (default off)' },
  epochs: { type: 'number', positive: true, default: 1, help: 'passes over the training set (fractions allowed)' },
  batchSize: { type: 'integer', min: 1, default: 128, help: 'images per optimizer step' },
  accumulate: { type: 'integer', min: 1, default: 1, help: 'micro-batches per step (gradient accumulation)' },
  baseLr: { type: 'number', min: 0, default: 1.5e-3, help: 'learning rate per 256 images (peak lr = base-lr × batch / 256)' },
  lr: { type: 'number', min: 0, help: 'peak learning rate as is (overrides --base-lr)' },
  minLr: { type: 'number', min: 0, default: 0, help: 'final learning rate of the cosine decay' },
  warmupEpochs: { type: 'number', min: 0, default: 0.1, help: 'epochs of linear learning-rate warm-up' },
  weightDecay: { type: 'number', min: 0, default: 0.05, help: 'AdamW decoupled weight decay' },
  augment: { type: 'string', choices: ['crop-flip', 'crop', 'none'], default: 'crop-flip', help: 'MAE methods: random-resized crop (scale 0.2–1) and horizontal flip (two-view methods make their own views)' },
  magmaReference: { type: 'string', default: '-2', help: 'MAGMA reference blocks, 0-based, comma-separated; negative counts from the end' },
  magmaTarget: { type: 'integer', default: -1, help: 'MAGMA target block (0-based; -1 = last)' },
  magmaSchedule: { type: 'string', default: 'constant:1', help: 'λ per epoch: constant:W | warmup:BASE,WARMUP_EPOCHS,W,REG_EPOCHS | triangle:… | step:… | interval:…' },
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
  help: { type: 'boolean', help: 'show this help' },
} satisfies OptionSpecs;

type TrainArgs = { [K in keyof typeof trainOptions]: string | number | boolean | undefined };

/** What `--resume` may change: how far to go and what to do after, never the training itself. */
const CHANGEABLE_ON_RESUME = new Set(['resume', 'stopAfter', 'eval', 'probeEpochs', 'dataDir', 'runsDir']);

/** Runs `magma-lab train` with command-line arguments; resolves to the run folder. */
export async function trainCommand(argv: string[], backend: BackendReport): Promise<string> {
  const { options, given } = parseArgs(argv, trainOptions, 'train');
  const args = options as TrainArgs;
  const resumeDir = args.resume as string | undefined;
  if (resumeDir) {
    const changes = [...given].filter((name) => !CHANGEABLE_ON_RESUME.has(name)).map((name) => `--${kebab(name)}`);
    check(changes.length === 0, `--resume continues ${resumeDir} with the settings in its config.json; ${changes.join(', ')} would change the run. ` +
      `Drop ${changes.length > 1 ? 'them' : 'it'} (with --resume only --stop-after, --eval/--no-eval, --probe-epochs and --data-dir may be given), or start a new run with --name`);
  }
  const setup = resumeDir ? readRunConfig(resumeDir) : newRunConfig(args);
  if (resumeDir) {
    if (given.has('eval')) setup.eval = args.eval as boolean;
    if (given.has('probeEpochs')) setup.probeEpochs = args.probeEpochs as number;
    if (given.has('dataDir')) setup.dataOptions.dir = args.dataDir as string;
  }
  resolveTrainerOptions(setup.trainer, setup.model.encoderDepth); // fail on bad options before loading data
  const runDir = resumeDir ?? path.join(args.runsDir as string, setup.name);
  check(resumeDir !== undefined || !fs.existsSync(runDir), `run folder ${runDir} exists; choose another --name, or continue it with --resume ${runDir}`);
  const unlock = lockFolder(runDir);
  try {
    return await trainInFolder(runDir, setup, resumeDir !== undefined, args.stopAfter as number | undefined, backend);
  } finally {
    unlock();
  }
}

/** Trains (or continues) the run in `runDir`, which this process has locked. */
async function trainInFolder(runDir: string, setup: RunConfig, resume: boolean, stopAfter: number | undefined, backend: BackendReport): Promise<string> {
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
    dropMetricsAfter(metrics, trainer.stepCount);
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
  try {
    await trainLoop(trainer, pretrain, setup, runDir, position, stopAt, totalSteps, stepsPerEpoch);
  } catch (e) {
    if (!(e instanceof NonFiniteLossError)) throw e;
    const saved = fs.existsSync(checkpointPath(runDir)) ? `the last checkpoint in ${runDir} is intact; continue from it with --resume ${runDir}` : 'no checkpoint was written yet';
    throw new NonFiniteLossError(`${e.message}.\nTraining stopped: ${saved}`);
  }
  if (trainer.stepCount < totalSteps) log(`stopped after step ${trainer.stepCount} of ${totalSteps}; continue with --resume ${runDir}`);
  else if (setup.eval) await evaluateRun(trainer, data, setup.probeEpochs, runDir);
  return runDir;
}

function newRunConfig(a: TrainArgs): RunConfig {
  const preset = a.preset as PresetName;
  const overrides: Partial<MaeConfig> = {};
  if (a.maskRatio !== undefined) overrides.maskRatio = a.maskRatio as number;
  if (a.maskSampling !== undefined) overrides.maskSampling = a.maskSampling as MaeConfig['maskSampling'];
  if (a.normPix !== undefined) overrides.normPixLoss = a.normPix as boolean;
  if (a.maskTokenInEncoder !== undefined) overrides.maskTokenInEncoder = a.maskTokenInEncoder as boolean;
  const model = resolveConfig({ preset, ...overrides });
  const seed = a.seed as number;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 13);
  return {
    name: (a.name as string | undefined) ?? `${a.method}-${a.dataset}-${preset}-s${seed}-${stamp}`,
    method: a.method as string,
    dataset: a.dataset as string,
    // Drops unset options. STL-10's protocol pre-trains on its unlabeled images + train.
    dataOptions: JSON.parse(JSON.stringify({ dir: a.dataDir, trainLimit: a.trainLimit, testLimit: a.testLimit, unlabeled: a.dataset === 'stl10' || undefined })),
    preset,
    model,
    trainer: JSON.parse(JSON.stringify({ // drops unset options
      method: a.method, seed, baseLr: a.baseLr, lr: a.lr, minLr: a.minLr, weightDecay: a.weightDecay, accumulate: a.accumulate,
      magma: {
        reference: blockList(a.magmaReference as string), target: a.magmaTarget, schedule: a.magmaSchedule,
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
  };
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
  if (kind === 'none' || isTwoView(method as MethodName)) return undefined; // two-view methods augment inside the method
  return kind === 'crop' ? randomResizedCrop() : compose(randomResizedCrop(), horizontalFlip());
}

async function trainLoop(trainer: Trainer, images: Dataset, setup: RunConfig, runDir: string,
  start: { epoch: number; batch: number }, stopAt: number, totalSteps: number, stepsPerEpoch: number): Promise<void> {
  const metrics = path.join(runDir, 'metrics.jsonl');
  const bar = new ProgressBar('train');
  const transform = augmentation(setup.augment, setup.method);
  const position = { ...start };
  const save = () => trainer.save(runDir, { position });
  let recentMs = 0;
  let recentImages = 0;
  while (trainer.stepCount < stopAt) {
    const batches = images.batches(setup.batchSize, { seed: setup.seed, epoch: position.epoch, skip: position.batch, transform });
    for (const batch of batches) {
      if (trainer.stepCount >= stopAt) break;
      const r = await trainer.step(batch);
      position.batch++;
      appendLine(metrics, JSON.stringify({ ...r, epoch: position.epoch }));
      // images/s over the last ~20 steps, so the ETA follows the current speed.
      recentMs = 0.95 * recentMs + r.ms;
      recentImages = 0.95 * recentImages + r.batchSize;
      bar.update({
        done: r.step, total: totalSteps,
        fields: { epoch: `${position.epoch + 1}`, loss: r.loss.toFixed(4), lr: r.lr.toExponential(2), 'img/s': (recentImages / (recentMs / 1000)).toFixed(0) },
      });
      if (r.step % setup.checkpointEvery === 0) save();
    }
    if (position.batch >= stepsPerEpoch) {
      position.epoch++;
      position.batch = 0;
    }
  }
  bar.finish();
  save();
  log(`trained ${trainer.stepCount} steps; checkpoint and metrics in ${runDir}`);
}

/** Evaluates a trained model and writes results.json in the run folder. */
export async function evaluateRun(trainer: Trainer, data: DatasetSplits, probeEpochs: number, runDir: string): Promise<void> {
  assertWritable(runDir); // before minutes of work whose results could not be kept
  const bars = new Map<string, ProgressBar>();
  const report = await evaluate(trainer.model, data, {
    probe: { epochs: probeEpochs, seed: 0 },
    onProgress: (phase, done, total) => {
      if (!bars.has(phase)) bars.set(phase, new ProgressBar(phase));
      bars.get(phase)!.update({ done, total });
      if (done === total) bars.get(phase)!.finish();
    },
  });
  const last = trainer.history[trainer.history.length - 1];
  console.log(formatReport(report)); // first: a failed write below still leaves the numbers on screen
  writeJsonAtomic(path.join(runDir, 'results.json'), { ...report, trainedSteps: trainer.stepCount, finalLoss: last?.loss, evaluatedAt: new Date().toISOString() });
  log(`results written to ${path.join(runDir, 'results.json')}`);
}

/**
 * After a crash, metrics.jsonl may hold steps past the checkpoint, and a last line cut short by a
 * kill mid-append: keep only the steps the checkpoint covers (a torn last line is dropped with a
 * warning).
 */
function dropMetricsAfter(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const kept = readMetrics(file, (warning) => log(`warning: ${warning}`)).filter((r) => r.step <= step);
  writeFileAtomic(file, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}
