import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from '../src/options';
import { trainOptions } from '../src/cli/train';
import { pretrainingSet, runConfigFromSettings } from '../src/experiments/run';
import { Dataset } from '../src/data/dataset';
import { ConfigError, presets, resolveConfig, upgradeConfig } from '../src/config';
import { loadCheckpoint } from '../src/train/trainer';
import { runCli, tempDir, useBackend } from './helpers';

describe('configuration errors', () => {
  it('name the field, the value and what is valid', () => {
    assert.throws(() => resolveConfig('tiny99' as 'tiny28'), /unknown preset 'tiny99'; valid presets: tiny28, tiny32, vitSmallCifar, vitBase16/);
    assert.throws(() => resolveConfig({ patchSize: 5 }), /imageSize 28 is not a multiple of patchSize 5/);
    assert.throws(() => resolveConfig({ maskRatio: 1 }), /maskRatio must be in \[0, 1\), got 1/);
    assert.throws(() => resolveConfig({ encoderHeads: 3 }), /encoderWidth 128 is not divisible by encoderHeads 3/);
    assert.throws(() => resolveConfig({ maskSampling: 'checker' as 'grid' }), /maskSampling must be 'random', 'block' or 'grid'/);
    assert.throws(() => resolveConfig({ depth: 3 } as object), (e: Error) => e instanceof ConfigError && /unknown MaeConfig field 'depth'/.test(e.message));
    assert.throws(() => resolveConfig({ lossOnAllPatches: 'yes' as never }), /lossOnAllPatches must be true or false, got "yes"/);
  });

  it('a config written before the later fields existed gets their old behaviour', () => {
    const { encoderNormEps, decoderNormEps, lossOnAllPatches, ...written } = presets.tiny28;
    assert.deepEqual([encoderNormEps, decoderNormEps, lossOnAllPatches], [1e-6, 1e-5, false]);
    assert.deepEqual(upgradeConfig(written), presets.tiny28);
    assert.equal(upgradeConfig({ ...written, lossOnAllPatches: true }).lossOnAllPatches, true);
    assert.throws(() => upgradeConfig({ ...written, maskRatio: 2 }), /maskRatio must be in \[0, 1\)/);
  });
});

describe('command-line options', () => {
  it('parses kebab-case flags, --no-flags and --flag=value, with defaults', () => {
    const { options } = parseArgs(['--batch-size', '32', '--no-eval', '--mask-ratio=0.9'], trainOptions, 'train');
    assert.equal(options.batchSize, 32);
    assert.equal(options.eval, false);
    assert.equal(options.maskRatio, 0.9);
    assert.equal(options.dataset, 'fashion-mnist');
  });

  it('rejects unknown flags, bad numbers and bad choices with the valid choices', () => {
    assert.throws(() => parseArgs(['--bacth-size', '3'], trainOptions, 'train'), /unknown option --bacth-size for 'train'; valid options: .*--batch-size/);
    assert.throws(() => parseArgs(['--batch-size', '2.5'], trainOptions, 'train'), /--batch-size must be an integer, got '2.5'/);
    assert.throws(() => parseArgs(['--epochs', '-1'], trainOptions, 'train'), /--epochs must be greater than 0, got -1/);
    assert.throws(() => parseArgs(['--dataset', 'cifar'], trainOptions, 'train'), /--dataset cifar is not valid; choose one of: fashion-mnist, mnist, synthetic/);
    assert.throws(() => parseArgs(['--seed'], trainOptions, 'train'), /--seed needs a value/);
  });

  it('--image-size decodes the image folders at that size; the other datasets keep theirs; a patch is checked against the data, not the preset', () => {
    assert.equal(runConfigFromSettings({ dataset: 'tiny-imagenet', imageSize: 32 }).dataOptions.size, 32);
    assert.equal(runConfigFromSettings({ dataset: 'imagenet100' }).dataOptions.size, undefined);
    assert.throws(() => runConfigFromSettings({ dataset: 'cifar100', imageSize: 64 }), /imageSize 64 applies to the datasets \(synthetic, tiny-imagenet, imagenet100\).*cifar100 is read at its stored size/);
    // Patch 12 cuts STL-10's 96 px into 8 × 8 tokens, though not tiny28's 28 px: the data's side is what counts (trainRun checks it).
    assert.equal(runConfigFromSettings({ dataset: 'stl10', patchSize: 12 }).model.patchSize, 12);
  });
});

describe('magma-lab command', function () {
  this.timeout(300_000);
  before(() => useBackend('wasm'));
  const runs = tempDir();
  const common = ['--dataset', 'synthetic', '--train-limit', '128', '--test-limit', '64', '--batch-size', '32', '--probe-epochs', '5', '--runs-dir', runs];

  it('--help documents every option; a bad option exits 2 with one clear line', () => {
    const help = runCli(['train', '--help']);
    assert.equal(help.status, 0);
    for (const name of ['--method', '--dataset', '--epochs', '--batch-size', '--resume', '--[no-]eval']) assert.ok(help.stdout.includes(name), name);
    const bad = runCli(['train', '--mask-sampling', 'checker']);
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.trim(), 'error: --mask-sampling checker is not valid; choose one of: random, block, grid');
    assert.equal(runCli(['frobnicate']).status, 2);
    const block = runCli(['train', '--method', 'm-mae', '--magma-reference', '7', ...common]);
    assert.equal(block.status, 2);
    assert.match(block.stderr, /MAGMA block 7 does not exist: the encoder has blocks 0\.\.3/);
    const schedule = runCli(['train', '--method', 'm-mae', '--magma-schedule', 'warmup:0,1', ...common]);
    assert.match(schedule.stderr, /warmup takes 4 numbers, got 2; valid forms: constant:W/);
  });

  it('schedule prints a λ schedule epoch by epoch', () => {
    const r = runCli(['schedule', 'warmup:0,1,1,2', '--epochs', '4']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').slice(2).map((l) => l.trim().split(/\s+/).map(Number)), [[0, 0], [1, 1], [2, 1], [3, 0]]);
  });

  it('train writes config.json, metrics.jsonl, a checkpoint and results.json with every number; eval re-evaluates', () => {
    const r = runCli(['train', ...common, '--epochs', '2', '--name', 'e2e']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^backend: wasm/m);
    const config = JSON.parse(fs.readFileSync(path.join(runs, 'e2e', 'config.json'), 'utf8'));
    assert.equal(config.model.imageSize, 28, 'the model takes the data\'s image size');
    const dir = path.join(runs, 'e2e');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['checkpoint.ckpt', 'config.json', 'metrics.jsonl', 'results.json']);
    const steps = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(steps.map((s) => s.step), [1, 2, 3, 4, 5, 6, 7, 8]);
    const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
    for (const value of [results.knn.cosine.accuracy, results.knn.euclidean.accuracy, results.linearProbe.accuracy,
      results.pixelKnn.cosine.accuracy, results.pixelKnn.euclidean.accuracy]) {
      assert.ok(value >= 0 && value <= 1, `accuracy ${value}`);
    }
    assert.match(results.linearProbe.recipe, /standardized/);
    assert.match(r.stdout, /k-NN \(k=10\)\s+cosine/);

    const again = runCli(['train', ...common, '--name', 'e2e']);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /run folder .*e2e exists; choose another --name, or continue it with --resume/);

    const ev = runCli(['eval', dir, '--probe-epochs', '5']);
    assert.equal(ev.status, 0, ev.stderr);
    const reevaluated = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
    assert.equal(reevaluated.knn.cosine.accuracy, results.knn.cosine.accuracy, 'the same checkpoint gives the same k-NN');
  });

  it('the image size and channels follow the dataset, the widths and patch the preset', () => {
    const r = runCli(['train', ...common, '--preset', 'tiny32', '--epochs', '0.25', '--no-eval', '--name', 'sized']);
    assert.equal(r.status, 0, r.stderr);
    const { model } = JSON.parse(fs.readFileSync(path.join(runs, 'sized', 'config.json'), 'utf8'));
    assert.deepEqual([model.imageSize, model.channels, model.patchSize, model.encoderWidth], [28, 1, 4, 192]);
  });

  it('a NaN loss stops training with exit 1, naming the step and part, and keeps the last good checkpoint', () => {
    const r = runCli(['train', ...common, '--lr', '1e30', '--weight-decay', '0', '--epochs', '2', '--checkpoint-every', '1', '--no-eval', '--name', 'nan']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /error: step 2: loss part 'reconstruction' is NaN; the step was not applied/);
    assert.match(r.stderr, /the last checkpoint in .*nan is intact; continue from it with --resume/);
    const { trainer } = loadCheckpoint(path.join(runs, 'nan'));
    assert.equal(trainer.stepCount, 1);
    assert.ok(trainer.params.every((p) => p.variable.dataSync().every(Number.isFinite)));
    trainer.dispose();
    trainer.model.dispose();
  });

  it('--resume continues an interrupted run with the losses of the uninterrupted one', () => {
    const args = [...common, '--epochs', '2', '--no-eval'];
    assert.equal(runCli(['train', ...args, '--name', 'full']).status, 0);
    const stopped = runCli(['train', ...args, '--name', 'part', '--stop-after', '3']);
    assert.equal(stopped.status, 0, stopped.stderr);
    assert.match(stopped.stderr, /stopped after step 3 of 8; continue with --resume/);
    // As after a crash: metrics written past the last checkpoint must not be kept twice.
    const partDir = path.join(runs, 'part');
    fs.appendFileSync(path.join(partDir, 'metrics.jsonl'), `${JSON.stringify({ step: 4, loss: -1 })}\n`);
    const resumed = runCli(['train', '--resume', partDir]);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming .* at step 3 \(epoch 0, batch 3\)/);
    const losses = (name: string) => fs.readFileSync(path.join(runs, name, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);
    const expected = losses('full');
    const got = losses('part');
    assert.equal(got.length, 8);
    got.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= 1e-6, `step ${i + 1}: ${v} vs ${expected[i]}`));
  });
});

describe('training data of the command line', () => {
  before(() => useBackend('cpu'));

  it('STL-10 pre-trains on unlabeled + train images (ConcatStorage reads across the parts)', async () => {
    const shape: [number, number, number] = [2, 2, 1];
    const split = (name: string, first: number, n: number, label: number) =>
      new Dataset(name, Uint8Array.from({ length: 4 * n }, (_, i) => first + Math.floor(i / 4)), new Int32Array(n).fill(label), shape, ['a']);
    const data = { name: 'stl10', train: split('train', 100, 2, 0), test: split('test', 200, 1, 0), unlabeled: split('unlabeled', 0, 3, -1), classNames: ['a'], source: 'test' };
    const set = pretrainingSet(data);
    assert.equal(set.size, 5);
    assert.deepEqual(Array.from(set.labels), [-1, -1, -1, 0, 0]);
    assert.deepEqual(Array.from(set.gather([4, 0, 3]).images), [101, 101, 101, 101, 0, 0, 0, 0, 100, 100, 100, 100]);
    assert.equal(pretrainingSet({ ...data, unlabeled: undefined }), data.train);
  });
});
