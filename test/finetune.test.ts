import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { load } from '../src/data/load';
import { finetune, trainableParams } from '../src/eval/finetune';
import { createMae } from '../src/nn/mae';
import { runCli, tempDir, testConfig, useBackend } from './helpers';

describe('fine-tuning', function () {
  this.timeout(120_000);
  before(() => useBackend('wasm'));

  it('each blocks setting trains exactly its parameters (and the head); the given model never changes', async () => {
    const data = await load('synthetic', { size: 16, channels: 3, trainSize: 32, testSize: 16 });
    const model = createMae(testConfig, { seed: 1 }); // 2 encoder blocks
    const original = model.params.map((p) => p.variable.dataSync().slice());
    const expected: Record<string, (name: string) => boolean> = {
      0: () => false,
      mlp: (n) => n.startsWith('blocks.1.mlp.') || n.startsWith('norm.'),
      1: (n) => n.startsWith('blocks.1.') || n.startsWith('norm.'),
      all: (n) => !n.startsWith('decoder') && n !== 'mask_token',
    };
    for (const [setting, trains] of Object.entries(expected)) {
      const blocks = setting === 'mlp' || setting === 'all' ? setting : Number(setting);
      const count = tf.memory().numTensors;
      const r = await finetune(model, data, { blocks, pool: 'cls', epochs: 1, batchSize: 8, baseLr: 0.05, warmupEpochs: 0 });
      assert.deepEqual(r.trained.filter((n) => !n.startsWith('head.')), model.params.map((p) => p.name).filter(trains), `blocks ${setting}`);
      assert.deepEqual(r.trained.filter((n) => n.startsWith('head.')), ['head.weight', 'head.bias']);
      r.model.params.forEach((p, i) => {
        const changed = Array.from(p.variable.dataSync()).some((v, j) => v !== original[i][j]);
        assert.equal(changed, trains(p.name), `blocks ${setting}: ${p.name} ${changed ? 'changed' : 'did not change'}`);
      });
      assert.ok(r.accuracy >= 0 && r.accuracy <= 1);
      assert.equal(r.history.length, 1);
      assert.ok(Number.isFinite(r.history[0].loss));
      assert.match(r.recipe, /label smoothing 0\.1; random-resized crop \(scale 0\.08–1\) \+ horizontal flip/);
      r.dispose();
      assert.equal(tf.memory().numTensors, count, `blocks ${setting}: tensors leaked`);
    }
    model.params.forEach((p, i) => assert.deepEqual(p.variable.dataSync(), original[i], `${p.name} of the given model changed`));
    assert.throws(() => trainableParams(model, -1 as 0), /blocks must be 0, 'mlp', a number of blocks from the top or 'all'/);
    model.dispose();
  });

  it('from scratch trains every encoder parameter from a fresh initialization; bad options are named', async () => {
    const data = await load('synthetic', { size: 16, channels: 3, trainSize: 16, testSize: 8 });
    const model = createMae(testConfig, { seed: 1 });
    const r = await finetune(model, data, { init: 'random', blocks: 0, epochs: 1, batchSize: 8, seed: 5 });
    assert.match(r.recipe, /trained from scratch/);
    assert.ok(r.trained.includes('patch_embed.weight') && r.trained.includes('blocks.0.attn.qkv.weight'));
    r.dispose();
    // Global pooling (the default): the mean patch token through a fresh fc_norm, which trains in
    // place of the final LayerNorm; with the encoder frozen it stays as initialized.
    const mean = await finetune(model, data, { blocks: 1, epochs: 1, batchSize: 8 });
    assert.ok(mean.trained.includes('blocks.1.attn.qkv.weight') && !mean.trained.some((n) => n.startsWith('norm.')));
    assert.deepEqual(mean.trained.filter((n) => !n.startsWith('blocks.')), ['head.weight', 'head.bias', 'fc_norm.weight', 'fc_norm.bias']);
    assert.match(mean.recipe, /the last 1 of 2 blocks and the head; linear head on the mean patch token of the last block through a fresh LayerNorm \(fc_norm, ε 1e-6, trained\)/);
    mean.dispose();
    const probe = await finetune(model, data, { blocks: 0, epochs: 1, batchSize: 8 });
    assert.deepEqual(probe.trained, ['head.weight', 'head.bias']);
    assert.match(probe.recipe, /fc_norm, ε 1e-6, frozen\) through a BatchNorm without affine parameters/);
    probe.dispose();
    await assert.rejects(finetune(model, data, { batchSize: 64 }), /batch size 64 is larger than .* \(16 images\)/);
    await assert.rejects(finetune(model, data, { labelSmoothing: 1 }), /labelSmoothing must be in \[0, 1\)/);
    model.dispose();
  });

  it('magma-lab finetune <run> --blocks 1 writes finetune-1.json; a bad --blocks exits 2', () => {
    const runs = tempDir();
    const train = runCli(['train', '--dataset', 'synthetic', '--train-limit', '64', '--test-limit', '32', '--batch-size', '16', '--no-eval', '--runs-dir', runs, '--name', 'ft']);
    assert.equal(train.status, 0, train.stderr);
    const dir = path.join(runs, 'ft');
    const r = runCli(['finetune', dir, '--blocks', '1', '--epochs', '1', '--batch-size', '16', '--train-limit', '64', '--test-limit', '32']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /fine-tuned top-1 \d+\.\d\d % on 32 test images/);
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'finetune-1.json'), 'utf8'));
    assert.ok(saved.accuracy >= 0 && saved.accuracy <= 1 && saved.trained.includes('blocks.3.mlp.fc1.weight') && !saved.trained.includes('blocks.2.mlp.fc1.weight'));
    // Again: the first result is kept, the second goes beside it; --name names the file.
    const again = runCli(['finetune', dir, '--blocks', '1', '--epochs', '1', '--batch-size', '16', '--train-limit', '64', '--test-limit', '32', '--base-lr', '1e-2']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /finetune-1\.json exists \(an earlier fine-tuning\); this one goes to .*finetune-1-2\.json/);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'finetune-1.json'), 'utf8')), saved);
    assert.match(JSON.parse(fs.readFileSync(path.join(dir, 'finetune-1-2.json'), 'utf8')).recipe, /base 0\.01 ×/);
    const named = runCli(['finetune', dir, '--blocks', '0', '--epochs', '1', '--batch-size', '16', '--train-limit', '64', '--test-limit', '32', '--name', 'probe']);
    assert.equal(named.status, 0, named.stderr);
    assert.ok(fs.existsSync(path.join(dir, 'finetune-probe.json')));
    assert.equal(runCli(['finetune', dir, '--name', 'a/b']).status, 2);
    const bad = runCli(['finetune', dir, '--blocks', 'last']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /error: --blocks last is not valid; give 0, mlp, a number of blocks from the top, or all/);
  });
});
