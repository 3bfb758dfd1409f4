import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ConfigError } from '../src/config';
import { GridResult } from '../src/experiments/grid';
import { mergeSweep } from '../src/experiments/merge';
import { planSweep, type SweepShorthand } from '../src/experiments/sweep';
import * as runs from '../src/experiments/runs';
import { runCli, tempDir } from './helpers';

const BIN = path.join(__dirname, '..', 'bin', 'magma-lab.js');

/** The merged numbers of a sweep folder, without folders and times (what must not depend on how the sweep ran). */
function mergedNumbers(dir: string) {
  const merged = JSON.parse(fs.readFileSync(path.join(dir, 'merged.json'), 'utf8'));
  return merged.grids.map((g: { summary: unknown; differences: unknown; pixels: unknown; runs: Record<string, unknown>[] }) => ({
    summary: g.summary, differences: g.differences, pixels: g.pixels,
    runs: g.runs.map(({ dir: _dir, seconds: _seconds, ...numbers }) => numbers),
  }));
}

describe('sweep: a grid file expanded into cells', () => {
  const file: SweepShorthand = {
    methods: ['mae', 'm-mae'], seeds: [0, 1], dataset: ['synthetic', 'mnist'],
    train: { epochs: 1, trainLimit: 64, maskRatio: [0.5, 0.75] },
  };

  it('every method × list combination is an arm, every dataset a grid; per grid the pixel baseline then arm × seed', () => {
    const plan = planSweep(file, { name: 'demo', out: 'out' });
    assert.equal(plan.dir, path.join('out', 'demo'));
    assert.deepEqual(plan.grids.map((g) => [g.name, g.runsDir, g.data]), [
      ['synthetic', path.join('out', 'demo'), { dataset: 'synthetic', trainLimit: 64 }],
      ['mnist', path.join('out', 'demo'), { dataset: 'mnist', trainLimit: 64 }],
    ]);
    assert.deepEqual(plan.grids[0].arms, {
      'mae maskRatio=0.5': { method: 'mae', maskRatio: 0.5 }, 'm-mae maskRatio=0.5': { method: 'm-mae', maskRatio: 0.5 },
      'mae maskRatio=0.75': { method: 'mae', maskRatio: 0.75 }, 'm-mae maskRatio=0.75': { method: 'm-mae', maskRatio: 0.75 },
    });
    assert.deepEqual(plan.grids[0].train, { epochs: 1 });
    // The paired comparisons: the first method against the others, setting by setting.
    assert.deepEqual(plan.compare[0], [['mae maskRatio=0.5', 'm-mae maskRatio=0.5'], ['mae maskRatio=0.75', 'm-mae maskRatio=0.75']]);
    assert.equal(plan.cells.length, 2 * (1 + 4 * 2));
    assert.deepEqual(plan.cells.slice(0, 3).map((c) => c.label), ['synthetic: raw-pixel baseline', 'synthetic: mae maskRatio=0.5, seed 0', 'synthetic: m-mae maskRatio=0.5, seed 0']);
    assert.deepEqual(plan.cells.map((c) => c.index), plan.cells.map((_, i) => i));
  });

  it('a grid description (what ml.experiments.grid takes) keeps its own name and run folders', () => {
    const plan = planSweep({ name: 'g', seeds: [3], data: { dataset: 'synthetic' }, arms: { A: { method: 'mae' }, B: { method: 'u-mae' } } }, { name: 'ignored', out: 'runs' });
    assert.equal(plan.name, 'g');
    assert.equal(plan.dir, path.join('runs', 'g'));
    assert.deepEqual(plan.compare, [[['A', 'B']]]);
    assert.deepEqual(plan.cells.map((c) => c.label), ['raw-pixel baseline', 'A, seed 3', 'B, seed 3']);
  });

  it('refuses bad files before anything runs, naming the field and the fix', () => {
    const bad = (f: unknown, pattern: RegExp) => assert.throws(() => planSweep(f as SweepShorthand, { name: 'x' }), (e: Error) => e instanceof ConfigError && pattern.test(e.message));
    bad({ ...file, method: 'mae' }, /unknown field 'method'.*methods, seeds, dataset/);
    bad({ ...file, methods: [] }, /methods must be a non-empty list/);
    bad({ ...file, train: { maskRatio: [] } }, /train.maskRatio is an empty list/);
    bad({ ...file, train: { method: 'mae' } }, /give methods at the top/);
    bad({ ...file, train: { epochs: [1, 'x'] } }, /epochs must be a number/);
    bad({ ...file, train: { seed: 1 } }, /sets 'seed', which the grid sets itself/);
    bad({ ...file, compare: [['mae', 'vicreg']] }, /compare \["mae","vicreg"\] must name two arms/);
    bad({ ...file, seeds: [0, 0] }, /seeds must be a non-empty list of distinct integers/);
    bad([], /one JSON object/);
  });
});

describe('magma-lab sweep (processes)', function () {
  this.timeout(600_000);
  const dir = tempDir();
  // 2 methods × 2 seeds of synthetic data; 12 steps of 32 images per run, a checkpoint every 4.
  const grid = {
    methods: ['mae', 'm-mae'], seeds: [0, 1], dataset: 'synthetic',
    train: { trainLimit: 384, testLimit: 48, epochs: 1, batchSize: 32, probeEvery: 0, checkpointEvery: 4, probeEpochs: 3 },
  };
  const file = path.join(dir, 'grid.json');
  fs.writeFileSync(file, JSON.stringify(grid));
  const sweepDir = (out: string) => path.join(dir, out, 'grid');
  let reference: unknown;

  it('--jobs 2 runs every cell in worker processes and merges one table', () => {
    const r = runCli(['sweep', file, '--out', path.join(dir, 'a'), '--jobs', '2']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /5 cells, 0 already done; running 5 with 2 workers/);
    for (const log of ['cell-0.log', 'cell-4.log']) assert.ok(fs.existsSync(path.join(sweepDir('a'), 'logs', log)), log);
    assert.match(r.stdout, /\| mae \| 2 \|/);
    assert.match(r.stdout, /\| mae → m-mae \| linear probe \(%\) \|/);
    assert.match(r.stdout, /5 of 5 cells done/);
    reference = mergedNumbers(sweepDir('a'));
    const merged = mergeSweep(sweepDir('a'));
    assert.equal(merged.problems.length, 0);
    assert.equal(merged.grids[0].runs.length, 4);
    assert.ok(merged.grids[0].pixels.linearProbe > 0);
    // Run again: every cell is found done, nothing is trained, the same table.
    const again = runCli(['sweep', file, '--out', path.join(dir, 'a'), '--jobs', '2']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /5 already done; running 0/);
    assert.deepEqual(mergedNumbers(sweepDir('a')), reference);
  });

  it('a worker killed mid-run is reported; the sweep started again resumes it and merges to the same table', async () => {
    const out = path.join(dir, 'b');
    const parent = spawn(process.execPath, [BIN, 'sweep', file, '--out', out, '--jobs', '2'], { env: { ...process.env, MAGMA_LAB_BACKEND: 'wasm' } });
    let stderr = '';
    parent.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((resolve) => parent.on('exit', resolve));
    // Wait until a run has a checkpoint and has not finished, then kill the worker that holds its folder.
    let killed: string | undefined;
    for (let tries = 0; !killed && tries < 6000; tries++) {
      await new Promise((r) => setTimeout(r, 20));
      for (const run of ['mae-s0', 'm-mae-s0', 'mae-s1', 'm-mae-s1']) {
        const runDir = path.join(sweepDir('b'), 'synthetic', run);
        const metrics = path.join(runDir, 'metrics.jsonl');
        const lines = fs.existsSync(metrics) ? fs.readFileSync(metrics, 'utf8').split('\n').filter(Boolean).length : 0;
        if (lines < 5 || lines >= 11 || !fs.existsSync(path.join(runDir, '.lock'))) continue;
        process.kill(JSON.parse(fs.readFileSync(path.join(runDir, '.lock'), 'utf8')).pid, 'SIGKILL');
        killed = run;
        break;
      }
    }
    assert.ok(killed, 'no run was caught mid-way');
    assert.equal(await exited, 1, stderr);
    assert.match(stderr, new RegExp(`failed: worker killed by SIGKILL`));
    const broken = mergeSweep(sweepDir('b'));
    assert.deepEqual(broken.problems.map((p) => [path.basename(p.dir), p.state]), [[killed, 'failed']]);
    assert.match(broken.markdown(), /## Cells not done[\s\S]*worker killed by SIGKILL/);
    assert.equal(broken.grids[0].runs.length, 3, 'the merge keeps the runs that finished');

    const again = runCli(['sweep', file, '--out', out, '--jobs', '2']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /4 already done; running 1/);
    assert.match(fs.readFileSync(path.join(sweepDir('b'), 'logs', `cell-${['mae-s0', 'm-mae-s0', 'mae-s1', 'm-mae-s1'].indexOf(killed!) + 1}.log`), 'utf8'), /resuming .* at step [48]/);
    assert.deepEqual(mergedNumbers(sweepDir('b')), reference);
  });

  it('--emit parallel writes one command per cell; run with xargs -P 2 they merge to the same table', () => {
    const out = path.join(dir, 'c');
    const r = runCli(['sweep', file, '--out', out, '--emit', 'parallel']);
    assert.equal(r.status, 0, r.stderr);
    const list = path.join(sweepDir('c'), 'sweep.commands');
    const commands = fs.readFileSync(list, 'utf8').trim().split('\n');
    assert.equal(commands.length, 5);
    commands.forEach((c, i) => assert.ok(c.endsWith(`--cell ${i}`), c));
    const xargs = spawnSync('sh', ['-c', `tr '\\n' '\\0' < '${list}' | MAGMA_LAB_BACKEND=wasm xargs -0 -P 2 -n 1 sh -c`], { encoding: 'utf8' });
    assert.equal(xargs.status, 0, xargs.stderr);
    const merge = runCli(['sweep', '--merge', sweepDir('c')]);
    assert.equal(merge.status, 0, merge.stderr);
    assert.deepEqual(mergedNumbers(sweepDir('c')), reference);
  });

  it('--emit slurm writes a job array that passes bash -n and names every run; a requeued task takes over its own lock', () => {
    const r = runCli(['sweep', file, '--out', path.join(dir, 'd'), '--emit', 'slurm']);
    assert.equal(r.status, 0, r.stderr);
    const script = path.join(sweepDir('d'), 'sweep.sbatch');
    assert.equal(spawnSync('bash', ['-n', script]).status, 0);
    const text = fs.readFileSync(script, 'utf8');
    assert.match(text, /^#SBATCH --array=0-4$/m);
    assert.match(text, /^#SBATCH --requeue$/m);
    assert.match(text, /--cell "\$SLURM_ARRAY_TASK_ID"$/m);
    for (const run of ['mae-s0', 'm-mae-s0', 'mae-s1', 'm-mae-s1']) assert.match(text, new RegExp(`-> .*/synthetic/${run}$`, 'm'));
    assert.ok(fs.existsSync(path.join(sweepDir('d'), 'logs')), 'the --output folder exists before sbatch opens it');
    assert.ok(fs.statSync(script).mode & 0o100, 'executable');
    // A lock left on another node by this array task before its requeue (same SLURM_JOB_ID) is taken over; another job's is not.
    const runDir = path.join(dir, 'requeued');
    fs.mkdirSync(runDir);
    const lock = (job: string) => fs.writeFileSync(path.join(runDir, '.lock'), JSON.stringify({ pid: 1, host: 'node-17', since: 'then', job }));
    const take = (job: string) => spawnSync(process.execPath, ['-e', `require('tsx/cjs'); require(${JSON.stringify(path.join(__dirname, '..', 'src', 'io.ts'))}).lockFolder(${JSON.stringify(runDir)})`],
      { encoding: 'utf8', env: { ...process.env, SLURM_JOB_ID: job } });
    lock('4242');
    assert.match(take('4343').stderr, /in use by process 1 on node-17/);
    lock('4242');
    assert.equal(take('4242').status, 0);
  });

  it('--merge lists cells not started; a sweep folder is not reused for another sweep; ml.runs.compare shows the merge', () => {
    const out = path.join(dir, 'e');
    const r = runCli(['sweep', file, '--out', out, '--cell', '1']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /cell 1 \(mae, seed 0\): k-NN/);
    const merged = runs.compare(sweepDir('e'));
    assert.deepEqual(merged.problems.map((p) => [p.cell.index, p.state]), [[0, 'missing'], [2, 'missing'], [3, 'missing'], [4, 'missing']]);
    assert.ok(merged.grids[0] instanceof GridResult);
    assert.deepEqual(merged.grids[0].summary().map((row) => row.seeds), [1, 0], 'mae has one seed, m-mae none; no pixel row without a baseline');
    assert.equal(merged.tables()[0].differences.length, 0, 'no pair without a shared seed');
    const other = path.join(dir, 'other', 'grid.json'); // the same name, other seeds
    fs.mkdirSync(path.dirname(other));
    fs.writeFileSync(other, JSON.stringify({ ...grid, seeds: [5] }));
    const clash = runCli(['sweep', other, '--out', out, '--list']);
    assert.equal(clash.status, 2);
    assert.match(clash.stderr, /holds another sweep/);
    assert.match(runCli(['sweep', file, '--out', out, '--cell', '9']).stderr, /--cell 9 is not a cell of sweep grid: it has cells 0 to 4/);
    assert.match(runCli(['sweep', '--merge', path.join(dir, 'nowhere')]).stderr, /is not a sweep folder \(no sweep.json\)/);
  });
});
