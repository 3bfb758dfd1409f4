/**
 * `magma-lab sweep`: an experiment grid run as independent processes, on this machine
 * (`--jobs N`) or on a cluster (a Slurm job array, or a command list for GNU parallel / xargs).
 *
 * A sweep file is the grid description that `ml.experiments.grid` takes ({@link GridSpec}, as
 * JSON), or a short form that names methods, seeds and datasets, and lists of settings:
 *
 *   {"methods": ["mae", "m-mae"], "seeds": [0, 1, 2], "dataset": "fashion-mnist",
 *    "train": {"epochs": 1, "batchSize": 128, "maskRatio": [0.5, 0.75]}}
 *
 * Every combination of the lists is an arm (`m-mae maskRatio=0.5`), every dataset its own grid.
 * The work is cut into cells: per grid, the raw-pixel baseline, then one cell per arm and seed.
 * A cell is the unit a worker, a Slurm array task or a line of the command list runs, by its
 * index (`--cell K`). Each run cell is a normal run folder, so a cell that is run again resumes
 * from its checkpoint, or is read back when finished. The sweep folder `<out>/<name>/` holds
 * sweep.json (the expanded grids and the cells: what `--merge` reads), the grids' run folders
 * and logs/ (one log per cell of a local or Slurm run).
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { type BackendReport } from '../backend';
import { check } from '../config';
import { FileError, writeFileAtomic, writeJsonAtomic } from '../io';
import { ProgressBar } from '../progress';
import { gridProgress, type GridProgressHandle } from '../show/gridProgress';
import { cellSettings, checkSpec, folderName, type GridSpec, pixelBaseline, readPixelBaseline, runCell, runState, runSummary } from './grid';
import { runConfigFromSettings, type TrainSettings } from './run';

/** A setting of the short form's `train`: one value, or a list whose every value becomes an arm. */
type SweepValue = string | number | boolean;

/** The short form of a sweep file. */
export interface SweepShorthand {
  /** The sweep's folder name under `--out`. Default: the file's name without `.json`. */
  name?: string;
  /** Methods, each an arm (`mae`, `m-mae`, `u-mae`, …). */
  methods: string[];
  seeds: number[];
  /** A dataset, or a list: one grid per dataset. */
  dataset: string | string[];
  /** The train command's options in camelCase; a list stands for one arm per value (every combination). */
  train?: Record<string, SweepValue | SweepValue[]>;
  evaluate?: GridSpec['evaluate'];
  /** Paired comparisons `[before, after]` by arm name. Default: the first method against each other one, setting by setting. */
  compare?: [string, string][];
}

/** A sweep file: a grid description (what `ml.experiments.grid` takes, with an optional `compare`), or the short form. */
export type SweepFile = (GridSpec & { compare?: [string, string][] }) | SweepShorthand;

/** One unit of work: a grid's raw-pixel baseline, or one arm with one seed. */
export type SweepCell = { index: number; grid: number; label: string } & ({ kind: 'pixels' } | { kind: 'run'; arm: string; seed: number });

/** A sweep expanded: its folder, grids, comparisons and cells (written as sweep.json). */
export interface SweepPlan {
  name: string;
  /** The sweep folder, `<out>/<name>`. */
  dir: string;
  grids: GridSpec[];
  /** The paired comparisons of each grid, by arm name. */
  compare: [string, string][][];
  cells: SweepCell[];
}

const SHORTHAND_KEYS = ['name', 'methods', 'seeds', 'dataset', 'train', 'evaluate', 'compare'];
/** Train settings that describe the data: the grid's `data` when they hold one value. */
const DATA_KEYS = ['trainLimit', 'testLimit', 'dataDir'] as const;

/** Reads a sweep file; errors name the file and what is wrong. */
export function readSweepFile(file: string): SweepFile {
  if (!fs.existsSync(file)) throw new FileError(file, 'no such sweep file', 'give the path of a JSON grid description (see magma-lab sweep --help)');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as SweepFile;
  } catch (e) {
    throw new FileError(file, `not valid JSON (${(e as Error).message})`, 'fix the file; a sweep file is one JSON object');
  }
}

/**
 * Expands a sweep file into grids and cells, and checks every cell's settings before anything runs.
 * @param file the file's contents
 * @param opts.name the default name (the file's base name); `opts.out` the folder that holds the sweep folder (default `runs`)
 */
export function planSweep(file: SweepFile, opts: { name: string; out?: string }): SweepPlan {
  check(file !== null && typeof file === 'object' && !Array.isArray(file), 'a sweep file is one JSON object: a grid description ({name, seeds, data, arms, …}) or {methods, seeds, dataset, train}');
  const out = opts.out ?? 'runs';
  let name: string;
  let grids: GridSpec[];
  let compare: [string, string][][];
  if ('arms' in file) {
    // A grid description, as notebooks give ml.experiments.grid: its run folders are the notebook's.
    const { compare: pairs, ...spec } = file;
    name = spec.name;
    grids = [{ ...spec, runsDir: out }];
    compare = [pairs ?? Object.keys(spec.arms).slice(1).map((arm) => [Object.keys(spec.arms)[0], arm] as [string, string])];
  } else {
    ({ name, grids, compare } = expandShorthand(file, opts.name, out));
  }
  for (const [i, grid] of grids.entries()) {
    checkSpec(grid);
    for (const pair of compare[i]) {
      check(Array.isArray(pair) && pair.length === 2 && pair.every((arm) => arm in grid.arms),
        `sweep ${name}: compare ${JSON.stringify(pair)} must name two arms of the grid; its arms: ${Object.keys(grid.arms).map((a) => `'${a}'`).join(', ')}`);
    }
  }
  check(folderName(name) === name, `sweep name ${JSON.stringify(name)} must be a folder name (letters, digits, '.', '_', '-'); set "name" in the sweep file`);
  const cells: SweepCell[] = [];
  for (const [g, grid] of grids.entries()) {
    const where = grids.length > 1 ? `${grid.name}: ` : '';
    cells.push({ index: cells.length, grid: g, kind: 'pixels', label: `${where}raw-pixel baseline` });
    for (const seed of grid.seeds) {
      for (const arm of Object.keys(grid.arms)) cells.push({ index: cells.length, grid: g, kind: 'run', arm, seed, label: `${where}${arm}, seed ${seed}` });
    }
  }
  return { name, dir: path.join(out, name), grids, compare, cells };
}

function expandShorthand(file: SweepShorthand, defaultName: string, out: string): Pick<SweepPlan, 'name' | 'grids' | 'compare'> {
  const name = file.name ?? defaultName;
  const unknown = Object.keys(file).filter((k) => !SHORTHAND_KEYS.includes(k));
  check(unknown.length === 0, `sweep ${name}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; ` +
    `a sweep file has ${SHORTHAND_KEYS.join(', ')} (or is a grid description with arms)`);
  check(Array.isArray(file.methods) && file.methods.length > 0 && file.methods.every((m) => typeof m === 'string'),
    `sweep ${name}: methods must be a non-empty list of method names, e.g. ["mae", "m-mae"]`);
  check(new Set(file.methods).size === file.methods.length, `sweep ${name}: methods ${JSON.stringify(file.methods)} name a method twice`);
  const datasets = Array.isArray(file.dataset) ? file.dataset : [file.dataset];
  check(datasets.length > 0 && datasets.every((d) => typeof d === 'string' && d !== ''), `sweep ${name}: dataset must be a dataset name or a list of them, e.g. "fashion-mnist"`);
  const train = { ...file.train };
  for (const key of ['method', 'dataset'] as const) {
    check(!(key in train), `sweep ${name}: train sets '${key}'; give ${key === 'method' ? 'methods' : 'dataset'} at the top of the file instead`);
  }
  // The lists of train: every combination is an arm (the first key varies slowest).
  const listed = Object.entries(train).filter((e): e is [string, SweepValue[]] => Array.isArray(e[1]));
  for (const [key, values] of listed) check(values.length > 0, `sweep ${name}: train.${key} is an empty list; give at least one value`);
  let combinations: [string, SweepValue][][] = [[]];
  for (const [key, values] of listed) combinations = combinations.flatMap((c) => values.map((v) => [...c, [key, v] as [string, SweepValue]]));
  const shared = Object.fromEntries(Object.entries(train).filter(([, v]) => !Array.isArray(v))) as TrainSettings;
  const data = Object.fromEntries(DATA_KEYS.filter((k) => k in shared).map((k) => [k, shared[k]]));
  for (const k of DATA_KEYS) delete shared[k];
  const armName = (method: string, combination: [string, SweepValue][]) => [method, ...combination.map(([k, v]) => `${k}=${v}`)].join(' ');
  const arms: Record<string, TrainSettings> = {};
  for (const combination of combinations) {
    for (const method of file.methods) arms[armName(method, combination)] = { method, ...Object.fromEntries(combination) };
  }
  const compare = file.compare ?? (file.methods.length > 1
    ? combinations.flatMap((c) => file.methods.slice(1).map((m) => [armName(file.methods[0], c), armName(m, c)] as [string, string]))
    : Object.keys(arms).slice(1).map((arm) => [Object.keys(arms)[0], arm] as [string, string]));
  const grids = datasets.map((dataset): GridSpec => ({
    name: folderName(dataset), runsDir: path.join(out, name), seeds: file.seeds,
    data: { dataset, ...data }, train: shared, arms, ...(file.evaluate ? { evaluate: file.evaluate } : {}),
  }));
  return { name, grids, compare: grids.map(() => compare) };
}

/** The sweep's manifest, `<dir>/sweep.json`: the expanded grids and cells, what `--merge` reads. */
export function manifestPath(dir: string): string {
  return path.join(dir, 'sweep.json');
}

/**
 * Writes sweep.json, or checks that the one there describes the same sweep (a sweep folder never
 * takes another sweep's runs). The grids' folders are kept relative to the sweep folder, so that
 * a sweep folder can be merged where it was copied to, and `--out runs` and `--out /abs/runs`
 * name one sweep.
 */
export function writeManifest(plan: SweepPlan): void {
  const file = manifestPath(plan.dir);
  const manifest = JSON.stringify(portable(plan));
  if (fs.existsSync(file)) {
    check(JSON.stringify(portable(readManifest(plan.dir))) === manifest,
      `${plan.dir} holds another sweep (its sweep.json describes other grids or cells than this file); ` +
      'give this sweep another name (its "name" field, or the file name) or another --out, or remove that folder');
    return;
  }
  writeJsonAtomic(file, { ...portable(plan), createdAt: new Date().toISOString() });
}

/** The plan as sweep.json holds it: grid folders relative to the sweep folder. */
function portable(plan: SweepPlan) {
  const grids = plan.grids.map((g) => ({ ...g, runsDir: path.relative(plan.dir, g.runsDir ?? 'runs') || '.' }));
  return { name: plan.name, grids, compare: plan.compare, cells: plan.cells };
}

/** Reads a sweep folder's sweep.json (grid folders resolved from `dir`, wherever it now is). */
export function readManifest(dir: string): SweepPlan {
  const file = manifestPath(dir);
  if (!fs.existsSync(file)) throw new FileError(file, `${dir} is not a sweep folder (no sweep.json)`, 'give the folder magma-lab sweep wrote, <out>/<name>');
  let kept: SweepPlan;
  try {
    kept = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FileError(file, `not valid JSON (${(e as Error).message})`, 'delete it and run the sweep again to rewrite it (its runs are kept)');
  }
  return { name: kept.name, dir, grids: kept.grids.map((g) => ({ ...g, runsDir: path.join(dir, g.runsDir ?? '.') })), compare: kept.compare, cells: kept.cells };
}

/** The run folder of a run cell, or the grid folder of a pixel cell. */
export function cellDir(plan: SweepPlan, cell: SweepCell): string {
  const grid = plan.grids[cell.grid];
  const gridDir = path.join(grid.runsDir ?? 'runs', grid.name);
  return cell.kind === 'pixels' ? gridDir : path.join(gridDir, `${folderName(cell.arm)}-s${cell.seed}`);
}

/** Where a cell that failed says why (removed when the cell is run again). */
export function failedFile(plan: SweepPlan, cell: SweepCell): string {
  return path.join(cellDir(plan, cell), cell.kind === 'pixels' ? 'pixels-failed.json' : 'failed.json');
}

/** What a run cell's folder holds: nothing, a partial run, or a finished one; throws if it holds another run. */
export function runCellState(plan: SweepPlan, cell: Extract<SweepCell, { kind: 'run' }>): ReturnType<typeof runState> {
  const grid = plan.grids[cell.grid];
  return runState(cellDir(plan, cell), runConfigFromSettings(cellSettings(grid, cell.arm, cell.seed)), Object.keys(grid.evaluate?.finetune ?? {}));
}

/** Whether a cell's work is all done (its results are on disk). */
export function cellDone(plan: SweepPlan, cell: SweepCell): boolean {
  return cell.kind === 'pixels' ? readPixelBaseline(plan.grids[cell.grid]) !== null : runCellState(plan, cell) === 'done';
}

/**
 * Runs one cell in this process: the pixel baseline, or trains, evaluates and fine-tunes one run
 * (resuming it, or reading it back when finished), reporting to `progress` (whose run the
 * caller has started) and `log` (the run's news: its data, resuming). A failure is recorded in the cell's failed.json for `--merge`, then thrown.
 * @returns a one-line summary of the cell's results
 */
export async function runSweepCell(plan: SweepPlan, cell: SweepCell, backend: BackendReport, progress: GridProgressHandle,
  log: (line: string) => void = () => {}): Promise<string> {
  const failed = failedFile(plan, cell);
  fs.rmSync(failed, { force: true });
  try {
    const grid = plan.grids[cell.grid];
    if (cell.kind === 'pixels') {
      const pixels = await pixelBaseline(grid, progress);
      return `raw pixels: k-NN ${pixels.knnCosine.toFixed(1)} %, probe ${pixels.linearProbe.toFixed(1)} %`;
    }
    return runSummary(await runCell(grid, cell.arm, cell.seed, backend, progress, log));
  } catch (e) {
    recordFailure(failed, (e as Error).message ?? String(e));
    throw e;
  }
}

function recordFailure(file: string, error: string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeJsonAtomic(file, { error, at: new Date().toISOString() });
  } catch {
    // the disk itself may be what failed: the error still reaches the terminal and the exit status
  }
}

/** Parses `--cell`: one index of the plan's cells. */
export function cellAt(plan: SweepPlan, index: number): SweepCell {
  check(Number.isInteger(index) && index >= 0 && index < plan.cells.length,
    `--cell ${index} is not a cell of sweep ${plan.name}: it has cells 0 to ${plan.cells.length - 1} (magma-lab sweep <file> --list shows them)`);
  return plan.cells[index];
}

/** How to start the command line again for one cell (workers, Slurm tasks, command lists). */
export interface CellCommand {
  /** The program and its first arguments, e.g. `[process.execPath, '/abs/bin/magma-lab.js']`. */
  program: string[];
  /** The sweep file, absolute. */
  file: string;
  /** The `--out` folder, absolute. */
  out: string;
}

function cellArgs(command: CellCommand, index: number | string): string[] {
  return [...command.program.slice(1), 'sweep', command.file, '--out', command.out, '--cell', String(index)];
}

/** What {@link runLocal} reports. */
export interface LocalSweepResult {
  /** Cells run now (the others were found done). */
  ran: number;
  /** Cells that failed, with the end of their log. */
  failed: { cell: SweepCell; why: string }[];
  seconds: number;
}

/**
 * Runs every cell that is not done with `jobs` worker processes at once (each `magma-lab sweep
 * <file> --cell K`, its output in `<dir>/logs/`), showing one progress line. A worker that fails
 * or is killed is recorded (failed.json) and the others go on; running the sweep again resumes.
 */
export async function runLocal(plan: SweepPlan, command: CellCommand, jobs: number, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<LocalSweepResult> {
  const start = performance.now();
  const pending = plan.cells.filter((cell) => !cellDone(plan, cell));
  log(`sweep ${plan.name}: ${plan.cells.length} cells, ${plan.cells.length - pending.length} already done; running ${pending.length} with ${jobs} worker${jobs > 1 ? 's' : ''} (logs in ${path.join(plan.dir, 'logs')})`);
  const logs = path.join(plan.dir, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  // N workers share the cores: each gets its share of BLAS threads, unless the user chose.
  const env = { ...process.env };
  if (jobs > 1 && env.OPENBLAS_NUM_THREADS === undefined) env.OPENBLAS_NUM_THREADS = String(Math.max(1, Math.floor(os.cpus().length / jobs)));
  if (env.OPENBLAS_NUM_THREADS !== process.env.OPENBLAS_NUM_THREADS) log(`each worker runs OpenBLAS with ${env.OPENBLAS_NUM_THREADS} thread(s) (${os.cpus().length} cores / ${jobs} workers; set OPENBLAS_NUM_THREADS to choose)`);
  const bar = new ProgressBar('sweep', process.stderr, 5);
  const running = new Map<number, { cell: SweepCell; logFile: string }>();
  const failed: LocalSweepResult['failed'] = [];
  let finished = 0;
  const draw = () => bar.update({
    done: finished, total: pending.length,
    fields: { running: [...running.values()].map(({ cell, logFile }) => `${cell.label} [${lastLine(logFile)}]`).join('; ') || '–', failed: String(failed.length) },
  });
  const timer = setInterval(draw, 1000);
  const queue = [...pending];
  const worker = async () => {
    for (let cell = queue.shift(); cell; cell = queue.shift()) {
      const logFile = path.join(logs, `cell-${cell.index}.log`);
      running.set(cell.index, { cell, logFile });
      draw();
      const status = await runWorker(command, cell.index, logFile, env);
      running.delete(cell.index);
      finished++;
      if (status.code !== 0) {
        const why = status.signal ? `worker killed by ${status.signal}` : `worker exited with status ${status.code}: ${lastLine(logFile, /^error: /)}`;
        // A killed worker could not say so itself.
        if (status.signal) recordFailure(failedFile(plan, cell), `${why}; its log: ${logFile}`);
        failed.push({ cell, why });
        log(`\nsweep ${plan.name}: cell ${cell.index} (${cell.label}) failed: ${why}; log: ${logFile}`);
      }
      draw();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, Math.max(1, pending.length)) }, worker));
  } finally {
    clearInterval(timer);
    bar.finish();
  }
  return { ran: pending.length, failed, seconds: (performance.now() - start) / 1000 };
}

/** Starts one worker; resolves with its exit code or the signal that ended it. */
function runWorker(command: CellCommand, index: number, logFile: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const out = fs.openSync(logFile, 'a');
  fs.writeSync(out, `== ${new Date().toISOString()}: ${[command.program[0], ...cellArgs(command, index)].join(' ')}\n`);
  const child = spawn(command.program[0], cellArgs(command, index), { stdio: ['ignore', out, out], env });
  fs.closeSync(out);
  return new Promise((resolve) => {
    child.on('error', (e) => {
      fs.appendFileSync(logFile, `error: could not start the worker: ${e.message}\n`);
      resolve({ code: 1, signal: null });
    });
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** The last line of a log (matching `pattern`, when given), shortened for a progress line. */
function lastLine(file: string, pattern?: RegExp): string {
  let text = '';
  try {
    const fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const buffer = Buffer.alloc(Math.min(size, 4096));
    fs.readSync(fd, buffer, 0, buffer.length, size - buffer.length);
    fs.closeSync(fd);
    text = buffer.toString('utf8');
  } catch {
    return '';
  }
  const lines = text.split(/[\r\n]+/).map((l) => l.trim()).filter((l) => l && (!pattern || pattern.test(l)));
  const line = lines[lines.length - 1] ?? '';
  return line.length > 90 ? `${line.slice(0, 87)}…` : line;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * A Slurm batch script: one array task per cell (`--array=0-<N-1>`), each running its cell, with
 * `--requeue`: a requeued or preempted task resumes its run from the last checkpoint. Written to
 * `<dir>/sweep.sbatch`; resources are left to the user's `sbatch` options.
 */
export function emitSlurm(plan: SweepPlan, command: CellCommand): string {
  const file = path.join(plan.dir, 'sweep.sbatch');
  const logs = path.resolve(plan.dir, 'logs');
  const lines = [
    '#!/bin/bash',
    `# magma-lab sweep ${plan.name}: ${plan.cells.length} cells, one Slurm array task each. Submit with:`,
    `#   sbatch [--partition=… --time=… --cpus-per-task=…] ${path.resolve(file)}`,
    '# (a GPU box: add --gres=gpu:1, with @tensorflow/tfjs-node-gpu installed; see the README).',
    '# A task that is requeued or preempted resumes its run from the last checkpoint; one that is',
    '# submitted again after it finished reads its results back. Merge with:',
    `#   ${[command.program[0], ...command.program.slice(1), 'sweep', '--merge', path.resolve(plan.dir)].map(shellQuote).join(' ')}`,
    `#SBATCH --job-name=${folderName(plan.name)}`,
    `#SBATCH --array=0-${plan.cells.length - 1}`,
    `#SBATCH --output=${logs}/cell-%a.log`,
    '#SBATCH --open-mode=append',
    '#SBATCH --requeue',
    '#',
    '# The cells (array index: what it runs, where):',
    ...plan.cells.map((c) => `#   ${c.index}: ${c.label} -> ${path.resolve(cellDir(plan, c))}`),
    'set -euo pipefail',
    `exec ${[command.program[0], ...cellArgs(command, '__TASK__')].map(shellQuote).join(' ').replace('__TASK__', '"$SLURM_ARRAY_TASK_ID"')}`,
    '',
  ];
  fs.mkdirSync(logs, { recursive: true }); // Slurm opens --output before the script runs, and does not create folders
  writeFileAtomic(file, lines.join('\n'), { mode: 0o755 });
  return file;
}

/**
 * One shell command per cell, for GNU parallel (`parallel -j 4 < sweep.commands`) or xargs
 * (`tr '\n' '\0' < sweep.commands | xargs -0 -P 4 -n 1 sh -c`). Written to `<dir>/sweep.commands`.
 */
export function emitParallel(plan: SweepPlan, command: CellCommand): string {
  const file = path.join(plan.dir, 'sweep.commands');
  const lines = plan.cells.map((c) => [command.program[0], ...cellArgs(command, c.index)].map(shellQuote).join(' '));
  writeFileAtomic(file, `${lines.join('\n')}\n`);
  return file;
}

/** The progress of one cell in a worker, started: plain lines every 2 s (the parent shows the last one). */
export function cellProgress(plan: SweepPlan, cell: SweepCell): GridProgressHandle {
  const progress = gridProgress(`sweep ${plan.name}`, { every: 2 });
  progress.startRun(0, 1, `cell ${cell.index} of ${plan.cells.length}: ${cell.label}`); // this worker's one run: its ETA is the cell's
  return progress;
}
