/**
 * `ml.runs`: run folders written by `magma-lab train` (and `finetune`), opened in a notebook.
 * `load` gives one run's config, step history, results and model; `compare` puts several side by
 * side, as rows for `show.table` and histories for `show.curves`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { FileError } from '../io';
import { readMetrics, readRunConfig, type RunConfig } from '../train/runFolder';
import { checkpointPath, loadCheckpoint, type LoadedCheckpoint, type StepRecord } from '../train/trainer';
import type { EvaluationReport } from './evaluate';

/** results.json: the evaluation report and what it was measured on. */
export type RunResults = EvaluationReport & { trainedSteps: number; finalLoss?: number; evaluatedAt: string };

/** One fine-tuning result, `finetune-<blocks>[-scratch].json`. */
export interface RunFinetune {
  accuracy: number;
  history: { epoch: number; loss: number; lr: number }[];
  trained: string[];
  recipe: string;
}

/** What {@link load} returns. */
export interface Run {
  dir: string;
  name: string;
  config: RunConfig;
  /** Every step record of metrics.jsonl. */
  history: StepRecord[];
  /** results.json, or null when the run was not evaluated. */
  results: RunResults | null;
  /** Fine-tuning results by file suffix (`all`, `1`, `all-scratch`, …). */
  finetune: Record<string, RunFinetune>;
  /** The model and trainer of the checkpoint, or null without `{model: true}` or without a checkpoint. Free with `trainer.dispose(); model.dispose()`. */
  checkpoint: LoadedCheckpoint | null;
}

function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new FileError(file, `not valid JSON (${(e as Error).message})`, 'rewrite it (magma-lab eval or finetune), or delete it');
  }
}

/**
 * Opens a run folder. With `{model: true}` also loads its checkpoint (the model and trainer,
 * ready to evaluate or to continue).
 */
export function load(dir: string, opts: { model?: boolean } = {}): Run {
  const config = readRunConfig(dir);
  const metrics = path.join(dir, 'metrics.jsonl');
  const results = path.join(dir, 'results.json');
  const finetune = Object.fromEntries(fs.readdirSync(dir)
    .filter((f) => /^finetune-.+\.json$/.test(f))
    .map((f) => [f.slice('finetune-'.length, -'.json'.length), readJson<RunFinetune>(path.join(dir, f))]));
  return {
    dir,
    name: config.name ?? path.basename(dir),
    config,
    history: fs.existsSync(metrics) ? readMetrics(metrics) : [],
    results: fs.existsSync(results) ? readJson<RunResults>(results) : null,
    finetune,
    checkpoint: opts.model && fs.existsSync(checkpointPath(dir)) ? loadCheckpoint(dir) : null,
  };
}

/** What {@link compare} returns: one row per run, and the histories by run name. */
export interface RunComparison {
  /** For `show.table`: run, method, dataset, steps, final loss, k-NN, linear probe, fine-tuning (%). */
  rows: Record<string, string | number>[];
  /** For `show.curves`. */
  histories: Record<string, StepRecord[]>;
}

/** Several run folders side by side (no model is loaded). */
export function compare(dirs: string[]): RunComparison {
  const runs = dirs.map((d) => load(d));
  const pct = (x: number | undefined) => (x === undefined ? '–' : Number((100 * x).toFixed(2)));
  const rows = runs.map((r) => ({
    run: r.name,
    method: r.config.method,
    dataset: r.config.dataset,
    steps: r.history.length,
    'final loss': r.history.length ? Number(r.history[r.history.length - 1].loss.toFixed(4)) : '–',
    'k-NN cosine (%)': pct(r.results?.knn.cosine?.accuracy),
    'linear probe (%)': pct(r.results?.linearProbe.accuracy),
    ...Object.fromEntries(Object.entries(r.finetune).map(([k, f]) => [`fine-tune ${k} (%)`, pct(f.accuracy)])),
  }));
  return { rows, histories: Object.fromEntries(runs.map((r) => [r.name, r.history])) };
}
