import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { encoderFlops, maeStepFlops } from '../src/nn/flops';
import { resolveConfig } from '../src/config';
import { dryRunRecipe, formatDryRun, pretrainStepFlops } from '../src/experiments/dryRun';
import { measureStepInChild } from '../src/experiments/stepCheck';
import { methodNames } from '../src/train/methods';
import { checkSpec } from '../src/experiments/grid';
import { paperRecipe, paperRecipes } from '../src/experiments/paper';
import { useBackend } from './helpers';

const NOTEBOOKS = path.join(__dirname, '..', 'notebooks');

describe('paper recipes and their dry run', function () {
  this.timeout(600_000);
  before(() => useBackend('wasm'));

  it('every notebook has a paper recipe, and every recipe is a valid grid', () => {
    for (const file of fs.readdirSync(NOTEBOOKS).filter((f) => f.endsWith('.ipynb'))) {
      const recipe = paperRecipe(path.basename(file, '.ipynb'));
      if (recipe.spec) checkSpec(recipe.spec);
      assert.ok(recipe.paper.length > 20, `${file}: the paper's setting in words`);
    }
    assert.throws(() => paperRecipe('99-nothing'), /no paper recipe for notebook '99-nothing'; notebooks with one: 00-quickstart/);
    // The released MAGMA recipe (SPEC §5) as the grid runs it.
    const magma = paperRecipes['02-mae-vs-magma'].spec!;
    assert.deepEqual([magma.data.dataset, magma.train!.preset, magma.train!.epochs, magma.train!.batchSize, magma.train!.magmaSchedule, magma.train!.magmaReference],
      ['imagenet100', 'vitBase16', 400, 256, 'warmup:0,10,1,100', '10']);
  });

  it('16-qualitative-figures trains notebook 02\'s paper grid restricted to its four arms, so that 02\'s runs are read back', () => {
    const [ours, theirs] = [paperRecipes['16-qualitative-figures'].spec!, paperRecipes['02-mae-vs-magma'].spec!];
    const arms = ['MAE', 'M-MAE', 'U-MAE', 'MU-MAE'];
    assert.deepEqual(Object.keys(ours.arms), arms);
    assert.deepEqual(ours, { ...theirs, arms: Object.fromEntries(arms.map((arm) => [arm, theirs.arms[arm]])) });
  });

  it('checks a recipe without training it: data found, one step per model and method, FLOPs, estimates, memory', async () => {
    const before = tf.memory().numTensors;
    const row = (await dryRunRecipe({
      notebook: 'small', paper: 'a small check', choices: [],
      spec: {
        name: 'small', seeds: [0, 1], data: { dataset: 'synthetic' }, train: { preset: 'tiny28', epochs: 2, batchSize: 64 },
        arms: { MAE: { method: 'mae' }, 'M-MAE': { method: 'm-mae' }, 'deeper decoder': { method: 'mae', decoderDepth: 3 }, SimCLR: { method: 'simclr', projectorHidden: 256, projectorOutput: 64 } },
      },
    }))!;
    assert.equal(tf.memory().numTensors, before, 'tensors left behind');
    assert.equal(typeof row.found, 'string');
    assert.equal(row.missing, null);
    assert.equal(row.runs, 8);
    assert.equal(row.step.status, 'ok');
    assert.match(row.step.detail, /^ok at batch 2: loss [\d.]+, [\d.]+ s \(4 models\/methods checked: 4 ok, 0 too large, 0 failed\)$/);
    const config = resolveConfig({ preset: 'tiny28', imageSize: 28, channels: 1 });
    assert.equal(row.flopsPerStep, maeStepFlops(config, 64));
    // SimCLR: the unmasked encoder and the projector (128 → 256 → 64) on both views, forward + backward.
    const projector = 2 * (128 * 256 + 256 * 64);
    assert.equal(pretrainStepFlops(config, 'simclr', 64, { hidden: 256, output: 64 }), 2 * (encoderFlops(config, 64, { training: true }) + 3 * 64 * projector));
    assert.ok(row.epochSeconds.here! > 0 && row.epochSeconds.gpu > 0 && row.totalSeconds.here! > row.epochSeconds.here!);
    assert.equal(row.memory.limit, 4_294_901_760, 'the wasm32 heap ceiling');
    assert.ok(row.memory.needed > 16 * row.parameters && row.memory.needed < row.memory.limit);
  });

  it('a dataset that is not here is named with where to get it; a model too large for the wasm heap is not stepped', async () => {
    const row = (await dryRunRecipe({ notebook: 'big', paper: 'ViT-L on ImageNet-100', choices: [], spec: { name: 'big', seeds: [0], data: { dataset: 'imagenet100', dataDir: '/nonexistent' }, train: { preset: 'vitLarge16' }, arms: { MAE: {} } } }))!;
    assert.equal(row.found, null);
    assert.match(row.missing!, /dataset not found[\s\S]*\/nonexistent[\s\S]*image-net\.org/);
    assert.equal(row.step.status, 'too large');
    assert.match(row.step.detail, /not tried: weights, gradients and AdamW moments alone take 4\.9 GiB > 4\.0 GiB/);
    const table = formatDryRun([row], ['11-magma-loss']);
    assert.match(table, /\| big \| imagenet100: \*\*missing\*\* \| vitLarge16 \(224 px, patch 16\), 329\.2 M parameters \| 1 \|/);
    assert.match(table, /Datasets missing here:\n- imagenet100: /);
    assert.match(table, /No training, so nothing to check: 11-magma-loss\./);
  });

  it('a step that outgrows the wasm heap (in its own process) is too large; one that fails names its error', async () => {
    const row = (await dryRunRecipe({
      notebook: 'huge images', paper: 'tiny28 on 1024-pixel images', choices: [],
      spec: { name: 'huge', seeds: [0], data: { dataset: 'synthetic', imageSize: 1024 }, train: { preset: 'tiny28' }, arms: { MAE: {} } },
    }))!;
    assert.equal(row.step.status, 'too large', row.step.detail);
    assert.match(row.step.detail, /^tried at the smallest batch: the step ran out of the wasm heap \(.+\)$/);
    assert.match(formatDryRun([row]), /with activations not even the smallest step fits/);
    const failed = measureStepInChild(resolveConfig({ preset: 'tiny28', imageSize: 28, channels: 1 }), 'byol' as 'mae');
    assert.deepEqual(failed, { ok: false, outgrew: false, error: `Error: unknown method 'byol'; valid methods: ${methodNames.join(', ')}` });
  });

  it('npm run notebooks -- --scale paper --dry-run: a row per notebook that trains, exit 0 (what CI runs)', () => {
    const root = path.join(__dirname, '..');
    const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(root, 'scripts', 'run-notebooks.ts'), '--scale', 'paper', '--dry-run'],
      { cwd: root, encoding: 'utf8', env: { ...process.env, MAGMA_LAB_BACKEND: 'wasm' } });
    assert.equal(r.status, 0, r.stderr);
    const notebooks = fs.readdirSync(NOTEBOOKS).filter((f) => f.endsWith('.ipynb')).map((f) => path.basename(f, '.ipynb'));
    for (const name of notebooks) {
      const trains = paperRecipes[name].spec !== null;
      assert.equal(new RegExp(`^\\| ${name} \\|`, 'm').test(r.stdout), trains, `${name}: ${trains ? 'a row' : 'no row'} in\n${r.stdout}`);
    }
    assert.doesNotMatch(r.stdout, /\| failed:/);
    assert.match(r.stdout, /How the estimates were made:/);
    // Paper scale itself runs only notebooks whose parameter cell has it.
    const refused = spawnSync(process.execPath, [path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(root, 'scripts', 'run-notebooks.ts'), '--dry-run'], { cwd: root, encoding: 'utf8' });
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /--dry-run checks the paper recipes: give --scale paper/);
  });
});
