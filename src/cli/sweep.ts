/**
 * `magma-lab sweep <grid.json>`: an experiment grid as independent runs (src/experiments/sweep.ts),
 * in this process, with local workers (`--jobs N`), or as a Slurm job array / command list
 * (`--emit`); `magma-lab sweep --merge <dir>` collects the results into one table.
 */
import * as path from 'path';
import { type BackendReport, describeBackend } from '../backend';
import { check } from '../config';
import { mergeSweep, writeMerge } from '../experiments/merge';
import { cellAt, cellDir, cellDone, type CellCommand, cellProgress, emitParallel, emitSlurm, planSweep, readSweepFile, runLocal, runSweepCell, type SweepPlan, writeManifest } from '../experiments/sweep';
import { gridProgress } from '../show/gridProgress';
import { type OptionSpecs, parseArgs } from '../options';

/** What `magma-lab sweep --help` says above the options. */
export const sweepHelp = `Run an experiment grid as independent runs, each a normal run folder under <out>/<name>/.
The grid file is what ml.experiments.grid takes in a notebook ({name, seeds, data, train, arms, evaluate}, as JSON),
or the short form {"methods": ["mae", "m-mae"], "seeds": [0, 1, 2], "dataset": "fashion-mnist", "train": {"epochs": 1}},
where train takes the train command's options in camelCase, and a list (in train, or as dataset) stands for one arm
(or grid) per value. The work is cut into cells (per grid: the raw-pixel baseline, then each arm × seed); a cell run
again resumes from its checkpoint, or is read back when finished. Add "compare": [["mae", "m-mae"]] for the paired
differences of the merge (default: the first method against each other one).

  magma-lab sweep grid.json --jobs 2            every cell, 2 worker processes at once, then the merged table
  magma-lab sweep grid.json --emit slurm        runs/<name>/sweep.sbatch: sbatch it (one array task per cell)
  magma-lab sweep grid.json --emit parallel     runs/<name>/sweep.commands: parallel -j N < it
  magma-lab sweep grid.json --cell 3            one cell (what each task or command line runs)
  magma-lab sweep --merge runs/<name>           merged.json + merged.md: mean ± std per arm, paired
                                                differences with 95 % intervals, cells missing or failed`;

/** Options of `magma-lab sweep`. */
export const sweepOptions = {
  out: { type: 'string', default: 'runs', help: 'the sweep folder is <out>/<name> (name: the file\'s "name" field, or its base name)' },
  jobs: { type: 'integer', min: 1, default: 1, help: 'worker processes at once on this machine (each uses the native BLAS threads too: on 2 cores, 2 workers)' },
  cell: { type: 'integer', min: 0, help: 'run only this cell (what a Slurm array task or a line of the command list runs); --list shows the cells' },
  emit: { type: 'string', choices: ['slurm', 'parallel'], help: 'write <sweep>/sweep.sbatch (a Slurm job array) or <sweep>/sweep.commands (GNU parallel / xargs) instead of running' },
  list: { type: 'boolean', help: 'list the cells (index, what, folder, done or not) and stop' },
  merge: { type: 'string', help: 'collect the results of the sweep folder DIR into DIR/merged.json and merged.md, and print them' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies OptionSpecs;

/** The program that runs one cell: this command line, started again by node. */
function cellCommand(file: string, out: string): CellCommand {
  return { program: [process.execPath, path.resolve(__dirname, '..', '..', 'bin', 'magma-lab.js')], file: path.resolve(file), out: path.resolve(out) };
}

/**
 * Runs `magma-lab sweep`; resolves to the exit status (1 when cells failed). The backend is asked
 * for only when cells run in this process.
 */
export async function sweepCommand(argv: string[], backend: () => Promise<BackendReport>): Promise<number> {
  const { options: o, positional } = parseArgs(argv, sweepOptions, 'sweep');
  if (o.merge !== undefined) {
    check(positional.length === 0, `--merge reads the sweep folder it is given; drop ${positional.join(' ')}`);
    return printMerge(o.merge as string);
  }
  check(positional.length === 1, `sweep needs one grid file, e.g. 'magma-lab sweep grid.json', got ${positional.length ? positional.join(' ') : 'none'} (or --merge <dir>)`);
  const file = positional[0];
  const plan = planSweep(readSweepFile(file), { name: path.basename(file).replace(/\.json$/i, ''), out: o.out as string });
  writeManifest(plan);
  const command = cellCommand(file, o.out as string);

  if (o.list) {
    for (const cell of plan.cells) console.log(`${String(cell.index).padStart(3)}  ${cellDone(plan, cell) ? 'done   ' : 'not yet'}  ${cell.label}  ${cellDir(plan, cell)}`);
    return 0;
  }
  if (o.emit === 'slurm') {
    const script = emitSlurm(plan, command);
    console.log(`wrote ${script}: ${plan.cells.length} array tasks. Submit with: sbatch ${script}; then: magma-lab sweep --merge ${plan.dir}`);
    return 0;
  }
  if (o.emit === 'parallel') {
    const list = emitParallel(plan, command);
    console.log(`wrote ${list}: ${plan.cells.length} commands, one per cell. Run them with GNU parallel: parallel -j 4 < ${list}\n` +
      `or with xargs: tr '\\n' '\\0' < ${list} | xargs -0 -P 4 -n 1 sh -c\nthen: magma-lab sweep --merge ${plan.dir}`);
    return 0;
  }
  if (o.cell !== undefined) {
    const cell = cellAt(plan, o.cell as number);
    const report = await backend();
    process.stderr.write(`${describeBackend(report)}\ncell ${cell.index} of sweep ${plan.name}: ${cell.label}\n`);
    const progress = cellProgress(plan, cell);
    try {
      const summary = await runSweepCell(plan, cell, report, progress, (line) => process.stderr.write(`${line}\n`));
      console.log(`cell ${cell.index} (${cell.label}): ${summary}`);
    } finally {
      progress.stop();
    }
    return 0;
  }

  const start = performance.now();
  const failed = (o.jobs as number) > 1 ? (await runLocal(plan, command, o.jobs as number)).failed.length : await runHere(plan, await backend());
  process.stderr.write(`sweep ${plan.name}: ran in ${((performance.now() - start) / 1000).toFixed(0)} s\n`);
  const status = printMerge(plan.dir);
  if (failed) {
    process.stderr.write(`error: ${failed} cell${failed > 1 ? 's' : ''} of sweep ${plan.name} failed (listed above, logs in ${path.join(plan.dir, 'logs')} with --jobs); ` +
      'fix the cause and run the same command again: finished cells are read back, the others resume from their checkpoints\n');
    return 1;
  }
  return status;
}

/** Every cell not done, one after the other in this process, under one progress line; resolves to the number that failed. */
async function runHere(plan: SweepPlan, backend: BackendReport): Promise<number> {
  process.stderr.write(`${describeBackend(backend)}\n`);
  const pending = plan.cells.filter((cell) => !cellDone(plan, cell));
  process.stderr.write(`sweep ${plan.name}: ${plan.cells.length} cells, ${plan.cells.length - pending.length} already done; running ${pending.length} here (--jobs N runs N at once)\n`);
  let failed = 0;
  const progress = gridProgress(`sweep ${plan.name}`);
  try {
    for (const [i, cell] of pending.entries()) {
      progress.startRun(i, pending.length, `cell ${cell.index}: ${cell.label}`);
      try {
        progress.finishRun({ label: cell.label, summary: await runSweepCell(plan, cell, backend, progress) });
      } catch (e) {
        failed++;
        progress.finishRun({ label: cell.label, summary: `failed: ${(e as Error).message}` });
        process.stderr.write(`\ncell ${cell.index} (${cell.label}) failed: ${(e as Error).message}\n`);
      }
    }
  } finally {
    progress.stop();
  }
  return failed;
}

/** Merges a sweep folder, writes merged.json / merged.md, prints the Markdown; 0 when every cell is done. */
function printMerge(dir: string): number {
  const merge = mergeSweep(dir);
  const files = writeMerge(merge);
  process.stdout.write(merge.markdown());
  process.stderr.write(`merged ${merge.cells.length - merge.problems.length} of ${merge.cells.length} cells into ${files.json} and ${files.markdown}\n`);
  return 0;
}
