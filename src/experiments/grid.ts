/**
 * `ml.experiments.grid`: every arm of a comparison trained with every seed, each run a normal
 * run folder (runs/<grid>/<arm>-s<seed>/, as `magma-lab train` writes it), under one live
 * progress display, returning a typed result table.
 *
 * The grid is described by plain data ({@link GridSpec}: JSON-serializable), in the train
 * command's own vocabulary, so that the command line can run the same description across
 * processes. Within a seed, every arm starts from the same initial weights and sees the same
 * images in the same order with the same augmentations and masks, wherever the arm allows (a
 * different mask ratio draws different masks): the seed drives all of them. Evaluation is one
 * fixed protocol for every run (the probe, and each fine-tuning's head, data order and
 * augmentation, from seed 0 unless its settings give one), so that differences between runs come
 * from pre-training; a fine-tuning from random weights (`init: 'random'`) stands in for
 * pre-training, so the run's seed draws it. An interrupted grid resumes where it stopped:
 * finished runs are read back, a run with a checkpoint continues from it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { backendReport, type BackendReport, useBestBackend } from '../backend';
import { check } from '../config';
import { interruptible } from '../interrupt';
import { load } from '../data/load';
import { finetune, type FinetuneOptions } from '../eval/finetune';
import { knn } from '../eval/knn';
import { linearProbe } from '../eval/linearProbe';
import { pixelFeatures } from '../eval/rawPixels';
import type { RunResults } from '../eval/runs';
import { formatMeanStd, pairedDifference, type PairedDifference, signed, summarize } from '../eval/seeds';
import { lockFolder, writeJsonAtomic } from '../io';
import { readRunConfig, type RunConfig } from '../train/runFolder';
import { loadCheckpoint } from '../train/trainer';
import { gridProgress, type GridProgressHandle } from '../show/gridProgress';
import { epochResultsFile, labelledDataOptions, runConfigFromSettings, type RunReporter, trainRun, type TrainSettings, writeFinetuneResult } from './run';

/** Fine-tuning settings of a grid (every {@link FinetuneOptions} but the callback). */
export type FinetuneSettings = Omit<FinetuneOptions, 'onProgress'>;

/** A grid of runs. Plain data: it can be written as JSON and run elsewhere. */
export interface GridSpec {
  /** The grid's folder, `<runsDir>/<name>`, which holds one run folder per arm and seed. */
  name: string;
  /** Default `runs`. */
  runsDir?: string;
  /** Seeds; seed s fixes every arm's initial weights, data order, augmentations and masks. */
  seeds: number[];
  /** The data of every run: the train command's `dataset`, `trainLimit`, `testLimit`, `dataDir`, `imageSize`. */
  data: Pick<TrainSettings, 'dataset' | 'trainLimit' | 'testLimit' | 'dataDir' | 'imageSize'>;
  /** Settings every run shares: the train command's options in camelCase (`epochs`, `batchSize`, `preset`, `magmaSchedule`, …). */
  train?: TrainSettings;
  /** The arms by name, each with what it changes in `train`, e.g. `{MAE: {method: 'mae'}, 'M-MAE': {method: 'm-mae'}}`. */
  arms: Record<string, TrainSettings>;
  /**
   * After training: the linear probe's epochs (default: the train command's), and fine-tunings to
   * run, by name. A fine-tuning with `init: 'random'` (training from scratch) takes the run's seed.
   */
  evaluate?: { probeEpochs?: number; finetune?: Record<string, FinetuneSettings> };
}

/** The results of one run of the grid. Accuracies are top-1 in %. */
export interface GridRun {
  arm: string;
  seed: number;
  /** Its run folder. */
  dir: string;
  knnCosine: number;
  knnEuclidean: number;
  linearProbe: number;
  /** Fine-tuned top-1 (%) by the names of `evaluate.finetune`. */
  finetune: Record<string, number>;
  /** Loss of the last training step. */
  finalLoss: number;
  /** k-NN and linear probe at the end of each epoch of the train option `evalEpochs`, then at the end of training; in order. */
  atEpochs: EpochResult[];
  steps: number;
  /** Wall time of training and evaluation in this call; 0 for a run found finished. */
  seconds: number;
}

/** A run's k-NN and linear probe (top-1 %) at the end of one epoch. */
export interface EpochResult {
  /** Epochs trained (the last entry: the run's whole length, which may be fractional). */
  epoch: number;
  knnCosine: number;
  knnEuclidean: number;
  linearProbe: number;
}

/** The same k-NN and linear probe on raw pixels (0..1) of the grid's data: what the representations have to beat. */
export interface PixelBaseline {
  knnCosine: number;
  knnEuclidean: number;
  linearProbe: number;
}

/** A metric of {@link GridRun}: its number fields, or `finetune.<name>`. */
export type GridMetric = 'knnCosine' | 'knnEuclidean' | 'linearProbe' | 'finalLoss' | `finetune.${string}`;

/** The typed result table of a grid. */
export class GridResult {
  constructor(readonly spec: GridSpec, readonly runs: GridRun[], readonly pixels: PixelBaseline) {}

  get arms(): string[] {
    return Object.keys(this.spec.arms);
  }

  get seeds(): number[] {
    return this.spec.seeds;
  }

  /**
   * One metric of an arm, seed by seed in the order of `seeds` (what `ml.eval.pairedDifference`
   * takes), over the seeds it has a run of (all of them, but in a merged sweep with runs missing).
   */
  values(arm: string, metric: GridMetric, seeds: number[] = this.seeds): number[] {
    check(arm in this.spec.arms, `no arm '${arm}' in grid ${this.spec.name}; its arms: ${this.arms.join(', ')}`);
    return this.runsOf(arm, seeds).map((run) => {
      const value = metric.startsWith('finetune.') ? run.finetune[metric.slice('finetune.'.length)] : run[metric as Exclude<GridMetric, `finetune.${string}`>];
      check(value !== undefined, `run ${run.dir} has no ${metric}; the grid's metrics: knnCosine, knnEuclidean, linearProbe, finalLoss${Object.keys(this.spec.evaluate?.finetune ?? {}).map((k) => `, finetune.${k}`).join('')}`);
      return value;
    });
  }

  /** The runs of an arm, in the order of `seeds`. */
  private runsOf(arm: string, seeds: number[]): GridRun[] {
    return seeds.flatMap((seed) => this.runs.filter((r) => r.arm === arm && r.seed === seed));
  }

  /** The seeds both arms have a run of: what a paired difference can use. */
  private sharedSeeds(before: string, after: string): number[] {
    const has = (arm: string, seed: number) => this.runs.some((r) => r.arm === arm && r.seed === seed);
    return this.seeds.filter((seed) => has(before, seed) && has(after, seed));
  }

  /**
   * One row per arm: each metric as mean ± std over the seeds (– for an arm without runs), then
   * the raw-pixel row, unless no pixel baseline was measured (for `show.table`).
   */
  summary(metrics: GridMetric[] = this.metrics()): Record<string, string | number>[] {
    const meanStd = (values: number[], m: GridMetric) => (values.length ? formatMeanStd(summarize(values), m === 'finalLoss' ? 4 : 2) : '–');
    const rows: Record<string, string | number>[] = this.arms.map((arm) => ({
      arm, seeds: this.runsOf(arm, this.seeds).length,
      ...Object.fromEntries(metrics.map((m) => [label(m), meanStd(this.values(arm, m), m)])),
    }));
    const pixel = (m: GridMetric) => (m in this.pixels && Number.isFinite(this.pixels[m as keyof PixelBaseline]) ? this.pixels[m as keyof PixelBaseline].toFixed(2) : '–');
    const measured = Object.values(this.pixels).some(Number.isFinite);
    return measured ? [...rows, { arm: 'raw pixels (baseline)', seeds: '–', ...Object.fromEntries(metrics.map((m) => [label(m), pixel(m)])) }] : rows;
  }

  /** `after` − `before` per seed (the seeds both have a run of), with the paired t-test over seeds. */
  difference(before: string, after: string, metric: GridMetric): PairedDifference {
    const seeds = this.sharedSeeds(before, after);
    check(seeds.length > 0, `arms '${before}' and '${after}' of grid ${this.spec.name} have no seed with a run of both: nothing to pair`);
    return pairedDifference(this.values(before, metric, seeds), this.values(after, metric, seeds), metric === 'finalLoss' ? '' : 'points');
  }

  /** The mean of a metric per arm, e.g. `{MAE: 76.5, 'M-MAE': 76.1}` (what `show.compare` takes beside the paper's). */
  means(metric: GridMetric): Record<string, number> {
    return Object.fromEntries(this.arms.map((arm) => [arm, summarize(this.values(arm, metric)).mean]));
  }

  /**
   * One row per change and metric (for `show.table`): the per-seed differences, mean ± std, the
   * 95 % interval, whether the sign holds in every seed, and the paired t-test's p. A change whose
   * arms share no seed with runs (in a merged sweep with runs missing) has no row.
   * @param changes pairs `[before, after]` of arms, e.g. `[['MAE', 'M-MAE']]`
   */
  differences(changes: [string, string][], metrics: GridMetric[] = this.metrics().filter((m) => m !== 'finalLoss')): Record<string, string>[] {
    const paired = changes.filter(([before, after]) => this.sharedSeeds(before, after).length > 0);
    return paired.flatMap(([before, after]) => metrics.map((metric) => {
      const d = this.difference(before, after, metric);
      return {
        change: `${before} → ${after}`, metric: label(metric),
        'per seed': d.values.map((x) => signed(x)).join('  '),
        'mean ± std': formatMeanStd(d, 2, true),
        '95 % interval': d.values.length > 1 ? `[${d.interval95.map((x) => signed(x)).join(', ')}]` : '–',
        'same sign in every seed': d.values.length > 1 ? (d.sameSign ? 'yes' : 'no') : '–',
        'paired t-test p': d.values.length > 1 ? d.p.toPrecision(2) : '–',
      };
    }));
  }

  /** Every metric the runs have, accuracies first. */
  metrics(): GridMetric[] {
    return ['knnCosine', 'knnEuclidean', 'linearProbe', ...Object.keys(this.spec.evaluate?.finetune ?? {}).map((k) => `finetune.${k}` as const), 'finalLoss'];
  }
}

/** Column titles of the metrics. */
function label(m: GridMetric): string {
  const names: Record<string, string> = { knnCosine: 'k-NN cosine (%)', knnEuclidean: 'k-NN euclidean (%)', linearProbe: 'linear probe (%)', finalLoss: 'final loss' };
  return names[m] ?? `fine-tune ${m.slice('finetune.'.length)} (%)`;
}

/** A name usable as a folder: letters, digits, `.`, `_` and `-`; anything else becomes `-`. */
export function folderName(arm: string): string {
  return arm.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'arm';
}

/** The run settings of one cell: the shared settings, the data, the arm's changes, the seed and the folder. */
export function cellSettings(spec: GridSpec, arm: string, seed: number): TrainSettings {
  return {
    ...spec.train, ...spec.data, ...(spec.evaluate?.probeEpochs ? { probeEpochs: spec.evaluate.probeEpochs } : {}),
    ...spec.arms[arm], seed, name: `${folderName(arm)}-s${seed}`, runsDir: path.join(spec.runsDir ?? 'runs', spec.name),
  };
}

/** Checks the description before anything runs; errors name the field and the fix. */
export function checkSpec(spec: GridSpec): void {
  check(typeof spec.name === 'string' && spec.name !== '' && folderName(spec.name) === spec.name,
    `grid name ${JSON.stringify(spec.name)} must be a folder name (letters, digits, '.', '_', '-')`);
  check(Array.isArray(spec.seeds) && spec.seeds.length > 0 && spec.seeds.every(Number.isInteger) && new Set(spec.seeds).size === spec.seeds.length,
    `grid ${spec.name}: seeds must be a non-empty list of distinct integers, got ${JSON.stringify(spec.seeds)}`);
  const arms = Object.keys(spec.arms ?? {});
  check(arms.length > 0, `grid ${spec.name}: give at least one arm, e.g. arms: {MAE: {method: 'mae'}}`);
  const folders = arms.map(folderName);
  const clash = folders.find((f, i) => folders.indexOf(f) !== i);
  check(clash === undefined, `grid ${spec.name}: arms ${arms.filter((a) => folderName(a) === clash).map((a) => `'${a}'`).join(' and ')} would share the run folder ${clash}-s<seed>; rename one`);
  for (const key of ['seed', 'name', 'runsDir', 'resume', 'stopAfter'] as const) {
    for (const [where, settings] of [['train', spec.train ?? {}], ...Object.entries(spec.arms).map(([a, s]) => [`arm '${a}'`, s])] as [string, Record<string, unknown>][]) {
      check(!(key in settings), `grid ${spec.name}: ${where} sets '${key}', which the grid sets itself (seeds, folders, resuming); remove it`);
    }
  }
  // Every cell's settings must be valid before the first run starts.
  for (const arm of arms) runConfigFromSettings(cellSettings(spec, arm, spec.seeds[0]), `grid ${spec.name}, arm '${arm}'`);
}

/** What a run folder already holds: nothing, a partial run (to resume), or a finished one; throws if it holds another run. */
export function runState(dir: string, expected: RunConfig, finetunes: string[]): 'new' | 'partial' | 'done' {
  if (!fs.existsSync(path.join(dir, 'config.json'))) return 'new';
  const found = readRunConfig(dir);
  // config.json records the model as resolved for the data (image size, channels): compare the rest.
  const compared: (keyof RunConfig)[] = ['method', 'dataset', 'dataOptions', 'preset', 'trainer', 'epochs', 'batchSize', 'warmupEpochs', 'augment', 'seed', 'evalEpochs'];
  const differing: string[] = compared.filter((k) => JSON.stringify(found[k]) !== JSON.stringify(expected[k]));
  const modelField = (config: RunConfig, key: string) => JSON.stringify((config.model as unknown as Record<string, unknown>)[key]);
  const resolvedByData = ['imageSize', 'channels'];
  differing.push(...Object.keys(expected.model).filter((k) => !resolvedByData.includes(k) && modelField(found, k) !== modelField(expected, k)).map((k) => `model.${k}`));
  check(differing.length === 0, `${dir} holds a run with other settings (${differing.join(', ')}) than this grid's cell; ` +
    'remove that folder to run the cell again, or give the grid another name');
  const finished = [...resultFiles(expected), ...finetunes.map((f) => `finetune-${f}.json`)].every((f) => fs.existsSync(path.join(dir, f)));
  return finished ? 'done' : 'partial'; // with or without a checkpoint: trainRun resumes, or restarts a run stopped before its first one
}

/** Options of {@link grid}. */
export interface GridOptions {
  /** Where the progress goes. Default: one live display (notebook) or line (terminal) for the whole grid. */
  progress?: GridProgressHandle;
}

/**
 * Trains and evaluates every arm with every seed, each as a run folder under
 * `<runsDir>/<name>/`, and returns the typed results. Runs already finished are read back, and
 * a run interrupted after a checkpoint continues from it.
 * @example
 * const result = await ml.experiments.grid({
 *   name: 'mask-ratio', seeds: [0, 1, 2], data: { dataset: 'fashion-mnist', trainLimit: 10000 },
 *   train: { epochs: 1, batchSize: 128 }, arms: { 'mask 50 %': { maskRatio: 0.5 }, 'mask 75 %': { maskRatio: 0.75 } },
 * });
 * ml.show.table(result.summary());
 * result.difference('mask 50 %', 'mask 75 %', 'linearProbe').verdict;
 */
export function grid(spec: GridSpec, opts: GridOptions = {}): Promise<GridResult> {
  return interruptible(() => runGrid(spec, opts)); // Kernel → Interrupt stops it; run it again to resume
}

async function runGrid(spec: GridSpec, opts: GridOptions): Promise<GridResult> {
  checkSpec(spec);
  const cells = spec.seeds.flatMap((seed) => Object.keys(spec.arms).map((arm) => ({ arm, seed })));
  const backend = backendReport() ?? await useBestBackend();
  const progress = opts.progress ?? gridProgress(`grid ${spec.name}`);
  const runs: GridRun[] = [];
  try {
    const pixels = await pixelBaseline(spec, progress);
    for (const [index, { arm, seed }] of cells.entries()) {
      const label = `${arm}, seed ${seed}`;
      progress.startRun(index, cells.length, label);
      const run = await runCell(spec, arm, seed, backend, progress);
      runs.push(run);
      progress.finishRun({ label, summary: runSummary(run) + (run.seconds === 0 ? ' (found finished)' : '') });
    }
    return new GridResult(spec, runs, pixels);
  } finally {
    progress.stop();
  }
}

/** A run's results in one line: `k-NN 77.0 %, probe 78.8 %, fine-tune all 81.2 %`. */
export function runSummary(run: GridRun): string {
  return `k-NN ${run.knnCosine.toFixed(1)} %, probe ${run.linearProbe.toFixed(1)} %` +
    Object.entries(run.finetune).map(([name, accuracy]) => `, fine-tune ${name} ${accuracy.toFixed(1)} %`).join('');
}

/** Where the raw-pixel baseline of a grid is kept, and the evaluation recipe it was measured with. */
function pixelBaselineRecord(spec: GridSpec) {
  const setup = runConfigFromSettings(cellSettings(spec, Object.keys(spec.arms)[0], spec.seeds[0]));
  const file = path.join(spec.runsDir ?? 'runs', spec.name, 'pixels.json');
  return { setup, file, recipe: { dataset: setup.dataset, dataOptions: setup.dataOptions, probeEpochs: setup.probeEpochs } };
}

/** The kept raw-pixel baseline of a grid, or null when none was measured with its recipe. */
export function readPixelBaseline(spec: GridSpec): PixelBaseline | null {
  const { file, recipe } = pixelBaselineRecord(spec);
  if (!fs.existsSync(file)) return null;
  const kept = JSON.parse(fs.readFileSync(file, 'utf8'));
  return JSON.stringify(kept.recipe) === JSON.stringify(recipe) ? kept.pixels : null;
}

/**
 * The raw-pixel k-NN and linear probe of the grid's data (the probe with the runs' recipe),
 * computed once and kept in `<runsDir>/<name>/pixels.json`.
 */
export async function pixelBaseline(spec: GridSpec, progress: GridProgressHandle): Promise<PixelBaseline> {
  const kept = readPixelBaseline(spec);
  if (kept) return kept;
  const { setup, file, recipe } = pixelBaselineRecord(spec);
  progress.startTask('raw-pixel baseline', spec.seeds.length * Object.keys(spec.arms).length);
  const data = await load(setup.dataset, labelledDataOptions(setup));
  const [train, test] = [pixelFeatures(data.train), pixelFeatures(data.test)];
  const neighbours = knn(train, test, { k: 10, onProgress: (done, total) => progress.update('raw-pixel k-NN', done, total) });
  const probe = linearProbe(train, test, { epochs: setup.probeEpochs, seed: 0, onProgress: (done, total) => progress.update('raw-pixel probe', done, total) });
  const pixels = { knnCosine: 100 * neighbours.cosine!.accuracy, knnEuclidean: 100 * neighbours.euclidean!.accuracy, linearProbe: 100 * probe.accuracy };
  writeJsonAtomic(file, { recipe, pixels });
  return pixels;
}

/**
 * Trains (or resumes, or reads back) one cell, then evaluates and fine-tunes what is missing.
 * @param log where the run's news goes (the backend, the data, resuming, where results went); the display shows the rest
 */
export async function runCell(spec: GridSpec, arm: string, seed: number, backend: BackendReport, progress: GridProgressHandle,
  log: (line: string) => void = () => {}): Promise<GridRun> {
  const start = performance.now();
  const finetunes = Object.entries(spec.evaluate?.finetune ?? {});
  const settings = cellSettings(spec, arm, seed);
  const setup = runConfigFromSettings(settings, `grid ${spec.name}, arm '${arm}'`);
  const dir = path.join(settings.runsDir as string, setup.name);
  const state = runState(dir, setup, finetunes.map(([name]) => name));
  const unlock = lockFolder(dir);
  try {
    const reporter: RunReporter = {
      log, // the display shows the state; config.json and the results files keep the details
      step: (r, total) => progress.update('train', r.step, total, `loss ${r.loss.toFixed(4)}`),
      trainingDone: () => {},
      phase: (phase, done, total) => progress.update(phase, done, total),
      report: () => {},
    };
    if (state !== 'done') {
      const needsTraining = !resultFiles(setup).every((f) => fs.existsSync(path.join(dir, f)));
      const trainer = needsTraining
        ? await trainRun(dir, state === 'partial' ? readRunConfig(dir) : setup, { resume: state === 'partial', backend, reporter })
        : loadCheckpoint(dir).trainer;
      try {
        if (finetunes.length) {
          const data = await load(setup.dataset, labelledDataOptions(setup));
          for (const [name, options] of finetunes) {
            const file = path.join(dir, `finetune-${name}.json`);
            if (fs.existsSync(file)) continue;
            // From scratch, the weights replace pre-training, so the seed must vary them as it varies pre-training.
            const seeded = options.init === 'random' ? { ...options, seed } : options;
            const result = await finetune(trainer.model, data, { ...seeded, onProgress: (done, total) => progress.update(`fine-tune ${name}`, done, total) });
            writeFinetuneResult(file, result, trainer.stepCount);
            result.dispose();
          }
        }
      } finally {
        trainer.dispose();
        trainer.model.dispose();
      }
    }
    return readCell(dir, arm, seed, finetunes.map(([name]) => name), state === 'done' ? 0 : (performance.now() - start) / 1000);
  } finally {
    unlock();
  }
}

/** The evaluation files of a run: one per epoch of `evalEpochs`, then results.json (the end). */
function resultFiles(setup: RunConfig): string[] {
  return [...(setup.evalEpochs ?? []).map(epochResultsFile), 'results.json'];
}

/** The results of a finished run folder. */
export function readCell(dir: string, arm: string, seed: number, finetunes: string[], seconds: number): GridRun {
  const read = (file: string) => JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  const pct = (x: number | undefined) => 100 * (x ?? NaN);
  const accuracies = (results: RunResults) => ({
    knnCosine: pct(results.knn?.cosine?.accuracy), knnEuclidean: pct(results.knn?.euclidean?.accuracy), linearProbe: pct(results.linearProbe?.accuracy),
  });
  const setup = readRunConfig(dir);
  const atEpochs = [...(setup.evalEpochs ?? []), setup.epochs].map((epoch, i) => ({ epoch, ...accuracies(read(resultFiles(setup)[i])) }));
  const results: RunResults = read('results.json');
  return {
    arm, seed, dir, ...accuracies(results),
    finetune: Object.fromEntries(finetunes.map((name) => [name, pct(read(`finetune-${name}.json`).accuracy)])),
    finalLoss: results.finalLoss ?? NaN, steps: results.trainedSteps, seconds, atEpochs,
  };
}
