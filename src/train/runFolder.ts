/**
 * A run folder as `magma-lab train` writes it (runs/<name>/): config.json, metrics.jsonl (one
 * JSON step record per line), checkpoint.ckpt, results.json. Reading its parts, with errors that
 * name the file and the fix.
 */
import * as fs from 'fs';
import * as path from 'path';
import { check, LATER_FIELD_DEFAULTS, type MaeConfig, type PresetName } from '../config';
import { FileError } from '../io';
import type { TrainerOptions } from './options';
import type { StepRecord } from './trainer';

/** Everything that defines a run; saved as config.json and read back by --resume and eval. */
export interface RunConfig {
  name: string;
  method: string;
  dataset: string;
  /** What `load(dataset, …)` is given; `size` is the train option imageSize (image-folder datasets only). */
  dataOptions: { dir?: string; trainLimit?: number; testLimit?: number; size?: number; unlabeled?: boolean };
  preset: PresetName;
  model: MaeConfig;
  trainer: TrainerOptions;
  epochs: number;
  batchSize: number;
  warmupEpochs: number;
  /** MAE methods' pre-training augmentation (MAE Table 1e's arms; the default crop-flip is MAE's). */
  augment: 'crop-flip' | 'crop' | 'fixed-crop-flip' | 'crop-flip-jitter' | 'none';
  seed: number;
  checkpointEvery: number;
  eval: boolean;
  probeEpochs: number;
  /** Epochs at whose end the run is evaluated too, into results-epoch-<E>.json (absent: only at the end, into results.json). */
  evalEpochs?: number[];
}

/**
 * Reads a run folder's config.json, with a clear error when it is not a run folder or the file is
 * damaged. A model config written before some of its fields existed gets their old behaviour.
 */
export function readRunConfig(runDir: string): RunConfig {
  const file = path.join(runDir, 'config.json');
  check(fs.existsSync(file), `${runDir} is not a run folder (no config.json); give a folder made by 'magma-lab train'`);
  let config: RunConfig;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as RunConfig;
  } catch (e) {
    throw new FileError(file, `not valid JSON (${(e as Error).message})`, 'restore it from a backup, or start a new run; the settings are also in the header of the run\'s checkpoint.ckpt');
  }
  return { ...config, model: { ...LATER_FIELD_DEFAULTS, ...config.model } };
}

/**
 * The step records of a metrics.jsonl. A last line cut short (a kill mid-append) is dropped, and
 * `onWarning` is told; a damaged line elsewhere is a {@link FileError} naming the line.
 */
export function readMetrics(file: string, onWarning: (message: string) => void = () => {}): StepRecord[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  const records: StepRecord[] = [];
  lines.forEach((line, i) => {
    let record: StepRecord;
    try {
      record = JSON.parse(line);
    } catch {
      if (i === lines.length - 1) return onWarning(`dropped the torn last line of ${file} (the run was stopped while writing it)`);
      throw new FileError(file, `line ${i + 1} is not a JSON record`, 'delete that line (the checkpoint holds every step\'s record in its history), then retry');
    }
    if (typeof record?.step === 'number') records.push(record);
  });
  return records;
}
