import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { compare, load } from '../src/eval/runs';
import * as show from '../src/show';
import { runCli, tempDir, useBackend } from './helpers';

describe('ml.runs', function () {
  this.timeout(120_000);
  before(() => useBackend('wasm'));
  const runs = tempDir();
  const quick = ['--dataset', 'synthetic', '--train-limit', '64', '--test-limit', '32', '--batch-size', '16', '--probe-epochs', '2', '--runs-dir', runs];

  it('load: config, history, results, fine-tuning results and (on request) the checkpoint of a CLI run', () => {
    assert.equal(runCli(['train', ...quick, '--name', 'a']).status, 0);
    const dir = path.join(runs, 'a');
    assert.equal(runCli(['finetune', dir, '--blocks', '1', '--epochs', '1', '--batch-size', '16']).status, 0);
    const run = load(dir, { model: true });
    assert.equal(run.name, 'a');
    assert.equal(run.config.method, 'mae');
    assert.deepEqual(run.history.map((r) => r.step), [1, 2, 3, 4]);
    assert.ok(run.results && run.results.linearProbe.accuracy >= 0);
    assert.deepEqual(Object.keys(run.finetune), ['1']);
    assert.equal(run.checkpoint?.trainer.stepCount, 4);
    run.checkpoint!.trainer.dispose();
    run.checkpoint!.model.dispose();
    assert.equal(load(dir).checkpoint, null, 'no model unless asked');
  });

  it('compare: rows for show.table and histories for show.curves; a damaged file is named', async () => {
    assert.equal(runCli(['train', ...quick, '--name', 'b', '--method', 'm-mae', '--no-eval']).status, 0);
    const c = compare([path.join(runs, 'a'), path.join(runs, 'b')]);
    assert.deepEqual(c.rows.map((r) => [r.run, r.method, r.steps, r['linear probe (%)']]).map((r) => r.slice(0, 3)), [['a', 'mae', 4], ['b', 'm-mae', 4]]);
    assert.equal(c.rows[1]['linear probe (%)'], '–');
    assert.match(show.table(c.rows).data[show.MIME.text] as string, /fine-tune 1 \(%\)/);
    assert.ok((await show.curves(c.histories, { keys: ['loss'] })).data[show.MIME.png]);
    fs.writeFileSync(path.join(runs, 'b', 'results.json'), '{"knn":');
    assert.throws(() => load(path.join(runs, 'b')), /not valid JSON .*\(.*b.results\.json\): rewrite it/);
  });
});
