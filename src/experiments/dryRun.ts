/**
 * The dry run of the paper recipes (`npm run notebooks -- --scale paper --dry-run`): for each
 * notebook's recipe, without training it, whether its dataset is here (or where to get it), the
 * model it builds, one forward + backward step on the current backend, the FLOPs, the time it
 * would take here and on a GPU, and the memory it needs against what the backend can hold.
 */
import * as os from 'os';
import { backendReport, wasmHeapLimit } from '../backend';
import { check, type MaeConfig, resolveConfig } from '../config';
import { DataError } from '../data/errors';
import { locate } from '../data/load';
import { maeParameterCount } from '../nn/mae';
import { encoderFlops, maeStepFlops } from '../nn/flops';
import { isContrastive, isTwoView, type MethodName } from '../train/methods';
import { resolveTrainerOptions } from '../train/options';
import { cellSettings, type GridSpec } from './grid';
import type { PaperRecipe } from './paper';
import { runConfigFromSettings } from './run';
import { measureStepInChild } from './stepCheck';

/**
 * The assumed GPU: 10 TFLOP/s sustained in float32 matrix products (half an A100's 19.5 TFLOP/s
 * FP32 peak; magma-lab asks for TF32 off, see the README). Estimates scale with it.
 */
export const GPU_FLOPS = 10e12;

/** Marks a time here estimated from another model's measured rate. */
const OTHER_RATE = ' †';

/** What the paper datasets hold as magma-lab reads them: image side and channels by default (the train option imageSize changes the side of the image folders), and the images of one pre-training epoch. */
const DATASETS: Record<string, { side: number; channels: number; epochImages: number }> = {
  'fashion-mnist': { side: 28, channels: 1, epochImages: 60_000 },
  mnist: { side: 28, channels: 1, epochImages: 60_000 },
  cifar10: { side: 32, channels: 3, epochImages: 50_000 },
  cifar100: { side: 32, channels: 3, epochImages: 50_000 },
  stl10: { side: 96, channels: 3, epochImages: 105_000 }, // pre-training on unlabeled + train
  'tiny-imagenet': { side: 64, channels: 3, epochImages: 100_000 },
  imagenet100: { side: 224, channels: 3, epochImages: 126_689 },
  synthetic: { side: 28, channels: 1, epochImages: 512 },
};

/** One step measured on the current backend. */
export interface StepCheck {
  /** Passed, did not fit the backend's memory (not tried), or failed (with the error). */
  status: 'ok' | 'too large' | 'failed';
  /** In words, e.g. `ok at batch 2: loss 1.0312, 2.4 s`. */
  detail: string;
  /** Matmul FLOP/s of the measured step (null when not measured). */
  flopsPerSecond: number | null;
  /** Tensor bytes at the step's peak: fixed (weights, gradients, moments) + per image (activations); null when not measured. */
  memory: { fixed: number; perImage: number } | null;
}

/** The dry run of one notebook's recipe. */
export interface DryRunRow {
  notebook: string;
  dataset: string;
  /** The folder the dataset was found in, or null when it is missing (see `missing`). */
  found: string | null;
  /** The error naming where it was looked for and how to get it, when it is missing. */
  missing: string | null;
  /** E.g. `vitLarge16 (224 px, patch 16), 329.5 M parameters`. */
  model: string;
  parameters: number;
  /** Arms × seeds. */
  runs: number;
  step: StepCheck;
  /** Matmul FLOPs of one pre-training step at the recipe's batch. */
  flopsPerStep: number;
  /** Matmul FLOPs of one pre-training epoch. */
  epochFlops: number;
  /** Matmul FLOPs of the whole grid: pre-training, fine-tunings and feature extraction of every run. */
  totalFlops: number;
  /** Whether the time here comes from this recipe's own measured step (else from another model's rate on this backend). */
  ownRate: boolean;
  /** Estimated seconds of one pre-training epoch here (null: no rate measured) and on the assumed GPU. */
  epochSeconds: { here: number | null; gpu: number };
  /** Estimated seconds of the whole grid, here and on the assumed GPU. */
  totalSeconds: { here: number | null; gpu: number };
  /** Bytes needed at the recipe's batch, the backend's limit, and the largest micro-batch that fits (for `accumulate`). */
  memory: { needed: number; limit: number; limitSource: string; fitsMicroBatch: number | null };
  /** How the estimates were made. */
  notes: string[];
}

/** What the backend can hold: the wasm heap's ceiling, or the machine's memory. */
function memoryLimit(): { bytes: number; source: string } {
  const heap = wasmHeapLimit();
  if (heap !== null) return { bytes: heap, source: 'the wasm32 heap limit' };
  const report = backendReport();
  if (report?.name === 'tensorflow' && /on a GPU/.test(report.description)) return { bytes: NaN, source: 'the GPU (TF.js does not report its memory)' };
  return { bytes: os.totalmem(), source: 'this machine\'s memory' };
}

/** The model of a recipe's cell, with the dataset's image size and channels, its method and projector. */
function cellModel(spec: GridSpec, arm: string): { config: MaeConfig; method: MethodName; projector: { hidden: number; output: number }; batch: number; epochs: number } {
  const setup = runConfigFromSettings(cellSettings(spec, arm, spec.seeds[0]), `paper recipe ${spec.name}, arm '${arm}'`);
  const info = DATASETS[setup.dataset];
  check(info !== undefined, `paper recipe ${spec.name}: no dataset facts for '${setup.dataset}'`);
  const config = resolveConfig({ ...setup.model, imageSize: setup.dataOptions.size ?? info.side, channels: info.channels });
  const { projector } = resolveTrainerOptions({ ...setup.trainer, totalSteps: 1 }, config.encoderDepth); // totalSteps only satisfies a stretched λ schedule's check
  return { config, method: setup.method as MethodName, projector, batch: setup.batchSize, epochs: setup.epochs };
}

const measured = new Map<string, StepCheck>();

/**
 * Matmul FLOPs of one pre-training step at `batch` images: MAE's masked step; for the two-view
 * methods (SimCLR, VICReg and their M- variants) the unmasked encoder over both views and the
 * projector on their CLS tokens (SimCLR's one hidden layer, VICReg's two), forward + backward.
 */
export function pretrainStepFlops(config: MaeConfig, method: MethodName, batch: number, projector: { hidden: number; output: number }): number {
  if (!isTwoView(method)) return maeStepFlops(config, batch);
  const hiddenLayers = isContrastive(method) ? 1 : 2;
  const projectorFlops = 2 * (config.encoderWidth * projector.hidden + (hiddenLayers - 1) * projector.hidden ** 2 + projector.hidden * projector.output);
  return 2 * (encoderFlops(config, batch, { training: true }) + 3 * batch * projectorFlops);
}

/**
 * One training step at the smallest batch the method takes (2, or 3 with batch-wide terms), after
 * a first one that creates the AdamW moments, timed, in a child process (stepCheck.ts: a step that
 * outgrows the wasm heap aborts the whole module). The tensor bytes between steps (weights,
 * moments) are the memory's fixed part; the rest of the step's peak, per image, its part per
 * image (gradients included, so it errs high). A model whose weights, gradients and AdamW moments
 * alone exceed the backend's limit is not tried; one whose step aborts the wasm module is too
 * large as well (timed, as the untried ones, with another model's measured rate).
 */
function checkStep(config: MaeConfig, method: MethodName, projector: { hidden: number; output: number }, parameters: number, limit: number): StepCheck {
  const key = JSON.stringify({ config, method, projector, backend: backendReport()?.description });
  const cached = measured.get(key);
  if (cached) return cached;
  let result: StepCheck;
  const stateBytes = 16 * parameters; // weights, gradients, two AdamW moments, float32
  if (stateBytes > limit) {
    result = { status: 'too large', detail: `not tried: weights, gradients and AdamW moments alone take ${gb(stateBytes)} > ${gb(limit)}`, flopsPerSecond: null, memory: null };
  } else {
    const child = measureStepInChild(config, method);
    if ('step' in child) { // (`in` narrows also where strictNullChecks is off, as in tslab's check)
      const { batch, loss, seconds, fixed, peak } = child.step;
      result = {
        status: 'ok', detail: `ok at batch ${batch}: loss ${loss.toFixed(4)}, ${seconds.toFixed(1)} s`,
        flopsPerSecond: pretrainStepFlops(config, method, batch, projector) / seconds,
        memory: { fixed, perImage: Math.max(0, peak - fixed) / batch },
      };
    } else if (child.outgrew) {
      result = { status: 'too large', detail: `tried at the smallest batch: ${child.error}`, flopsPerSecond: null, memory: null };
    } else {
      result = { status: 'failed', detail: `failed at the smallest batch: ${child.error}`, flopsPerSecond: null, memory: null };
    }
  }
  measured.set(key, result);
  return result;
}

function gb(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : '?';
}

/** Checks one notebook's paper recipe (see the module comment). Resolves to null for a notebook that trains nothing. */
export async function dryRunRecipe(recipe: PaperRecipe): Promise<DryRunRow | null> {
  const spec = recipe.spec;
  if (!spec) return null;
  const arms = Object.keys(spec.arms);
  const first = cellModel(spec, arms[0]);
  const dataset = spec.data.dataset as string;
  let found: string | null = null;
  let missing: string | null = null;
  try {
    found = await locate(dataset, spec.data.dataDir ? { dir: spec.data.dataDir } : {});
  } catch (e) {
    if (!(e instanceof DataError)) throw e;
    missing = e.message;
  }
  const limit = memoryLimit();
  const parameters = maeParameterCount(first.config);
  // Every model and method the arms train, once each (a recipe's arms may change the decoder, the method, …).
  const checks: StepCheck[] = [];
  const tried = new Set<string>();
  for (const arm of arms) {
    const cell = cellModel(spec, arm);
    const key = JSON.stringify([cell.config, cell.method]);
    if (tried.has(key)) continue;
    tried.add(key);
    checks.push(checkStep(cell.config, cell.method, cell.projector, maeParameterCount(cell.config), limit.bytes));
  }
  const step = checks.find((c) => c.status === 'failed') ?? checks[0];
  const others = checks.length > 1 ? ` (${checks.length} models/methods checked: ${['ok', 'too large', 'failed'].map((s) => `${checks.filter((c) => c.status === s).length} ${s}`).join(', ')})` : '';
  const rate = step.flopsPerSecond ?? 0; // a model not stepped here gets a rate in dryRun, once every recipe is measured
  const info = DATASETS[dataset];
  const epochImages = Math.min(info.epochImages, (spec.data.trainLimit as number | undefined) ?? Infinity);
  // Every arm × seed: pre-training, then its fine-tunings, then features of the train and test images at each evaluation.
  let totalFlops = 0;
  for (const arm of arms) {
    const cell = cellModel(spec, arm);
    const settings = cellSettings(spec, arm, spec.seeds[0]);
    const evaluations = 1 + String(settings.evalEpochs ?? '').split(',').filter(Boolean).length;
    const pretraining = cell.epochs * Math.ceil(epochImages / cell.batch) * pretrainStepFlops(cell.config, cell.method, cell.batch, cell.projector);
    const finetuning = Object.values(spec.evaluate?.finetune ?? {}).reduce((sum, f) => sum + (f.epochs ?? 10) * encoderFlops(cell.config, epochImages, { training: true }), 0);
    const features = evaluations * encoderFlops(cell.config, epochImages * 1.1); // train + test (about a tenth of train)
    totalFlops += spec.seeds.length * (pretraining + finetuning + features);
  }
  const flopsPerStep = pretrainStepFlops(first.config, first.method, first.batch, first.projector);
  const epochFlops = Math.ceil(epochImages / first.batch) * flopsPerStep;
  const needed = step.memory ? step.memory.fixed + first.batch * step.memory.perImage : 16 * parameters;
  let fitsMicroBatch: number | null = null;
  if (step.memory) {
    for (let micro = first.batch; micro >= 1; micro = Math.floor(micro / 2)) {
      if (step.memory.fixed + micro * step.memory.perImage <= limit.bytes && first.batch % micro === 0) {
        fitsMicroBatch = micro;
        break;
      }
    }
  }
  const notes = [
    step.flopsPerSecond
      ? 'time: matmul FLOPs (ml.flops) divided by the FLOP/s of the measured step; a step of 2–3 images runs below the speed of a full batch, so the estimate errs high'
      : `time${OTHER_RATE}: this model was not stepped here; its matmul FLOPs are divided by the fastest FLOP/s measured on this backend (another model's)`,
    `GPU: ${GPU_FLOPS / 1e12} TFLOP/s sustained float32`,
    step.memory ? 'memory: the tensor bytes between steps (weights, AdamW moments) plus, per image, the rest of the measured step\'s peak (TF.js\'s count, which counts a reshaped view of a buffer again, and gradients: it errs high), linear in the batch' : 'memory: weights, gradients and AdamW moments only (16 bytes per parameter); activations not measured',
  ];
  return {
    notebook: recipe.notebook, dataset, found, missing,
    model: `${settingsPreset(spec)} (${first.config.imageSize} px, patch ${first.config.patchSize}), ${(parameters / 1e6).toFixed(1)} M parameters`,
    parameters, runs: arms.length * spec.seeds.length, step: { ...step, detail: step.detail + others }, flopsPerStep, totalFlops,
    ownRate: step.flopsPerSecond !== null, epochFlops,
    epochSeconds: { here: rate > 0 ? epochFlops / rate : null, gpu: epochFlops / GPU_FLOPS },
    totalSeconds: { here: rate > 0 ? totalFlops / rate : null, gpu: totalFlops / GPU_FLOPS },
    memory: { needed, limit: limit.bytes, limitSource: limit.source, fitsMicroBatch },
    notes,
  };
}

function settingsPreset(spec: GridSpec): string {
  return String(spec.train?.preset ?? 'tiny28');
}

/**
 * Checks every recipe (see {@link dryRunRecipe}); a model too large to step here is timed with the
 * fastest rate measured on this backend over all of them.
 * @returns the rows, and the notebooks that train nothing
 */
export async function dryRun(recipes: PaperRecipe[], onRecipe: (notebook: string) => void = () => {}): Promise<{ rows: DryRunRow[]; skipped: string[] }> {
  const rows: DryRunRow[] = [];
  const skipped: string[] = [];
  for (const recipe of recipes) {
    onRecipe(recipe.notebook);
    const row = await dryRunRecipe(recipe);
    if (row) rows.push(row);
    else skipped.push(recipe.notebook);
  }
  const fastest = Math.max(0, ...rows.map((r) => r.step.flopsPerSecond ?? 0));
  for (const r of rows.filter((row) => !row.ownRate && fastest > 0)) {
    r.epochSeconds.here = r.epochFlops / fastest;
    r.totalSeconds.here = r.totalFlops / fastest;
  }
  return { rows, skipped };
}

function duration(seconds: number | null): string {
  if (seconds === null) return '–';
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 86400 * 2) return `${(seconds / 3600).toFixed(1)} h`;
  if (seconds < 86400 * 365) return `${(seconds / 86400).toFixed(1)} d`;
  return `${(seconds / 86400 / 365).toFixed(1)} y`;
}

/** The dry run as a Markdown table, then the datasets missing (where to get them) and how the estimates were made. */
export function formatDryRun(rows: DryRunRow[], skipped: string[] = []): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    '| notebook | dataset | model | runs | one step here | GFLOP per step | epoch: here / GPU | all runs: here / GPU | memory at the batch / limit |',
    '|---|---|---|---:|---|---:|---|---|---|',
    ...rows.map((r) => `| ${[
      r.notebook, r.found ? `${r.dataset}: found` : `${r.dataset}: **missing**`, r.model, String(r.runs), r.step.detail,
      (r.flopsPerStep / 1e9).toFixed(0), `${duration(r.epochSeconds.here)}${r.ownRate ? '' : OTHER_RATE} / ${duration(r.epochSeconds.gpu)}`,
      `${duration(r.totalSeconds.here)}${r.ownRate ? '' : OTHER_RATE} / ${duration(r.totalSeconds.gpu)}`,
      `${gb(r.memory.needed)} / ${gb(r.memory.limit)}${r.memory.needed > r.memory.limit ? (r.memory.fitsMicroBatch ? ` (fits as micro-batches of ${r.memory.fitsMicroBatch})` : ' (does not fit)')
        : r.step.status === 'too large' ? ' (weights and moments alone; with activations not even the smallest step fits)' : ''}`,
    ].map(cell).join(' | ')} |`),
  ];
  const missing = [...new Map(rows.filter((r) => r.missing).map((r) => [r.dataset, r.missing!])).entries()];
  if (missing.length) lines.push('', 'Datasets missing here:', ...missing.map(([name, why]) => `- ${name}: ${why.split('\n').join(' ')}`));
  if (skipped.length) lines.push('', `No training, so nothing to check: ${skipped.join(', ')}.`);
  if (rows.length) lines.push('', 'How the estimates were made:', ...[...new Set(rows.flatMap((r) => r.notes))].map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}
