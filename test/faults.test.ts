/**
 * Fault injection: full disks, kills during writes, torn and damaged files, crafted checkpoint
 * headers, concurrent writers and bad API use. Each test produces the fault, then checks that
 * nothing that was good is lost and that the message names the file and the fix.
 */
import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from '../src/options';
import { trainOptions } from '../src/cli/train';
import { readIdx, writeIdx } from '../src/data/idx';
import { FileError, lockFolder, writeFileAtomic } from '../src/io';
import { createMae, maeParameterCount } from '../src/nn/mae';
import { presets, resolveConfig } from '../src/config';
import { Rng } from '../src/random';
import { CheckpointError, previousCheckpointPath, readCheckpointFile, writeCheckpointFile } from '../src/train/checkpoint';
import { resolveTrainerOptions } from '../src/train/options';
import { createTrainer, loadCheckpoint, NonFiniteLossError } from '../src/train/trainer';
import { runCli, tempDir, testConfig, useBackend } from './helpers';
const quick = ['--dataset', 'synthetic', '--train-limit', '64', '--test-limit', '32', '--batch-size', '16', '--probe-epochs', '2'];

/** A stack trace in CLI output: what users must never see for an expected fault. */
const STACK = /\n\s+at \S+ \(/;

/** Mounts a tmpfs of `size` at a new folder (root only); returns it, or null with the reason. */
function tmpfs(size: string): { dir: string; unmount(): void } | string {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  const dir = tempDir('magma-lab-tmpfs-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}`;
  return { dir, unmount: () => spawnSync('umount', ['-l', dir]) };
}

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  return spawnSync('true').pid as number;
}

describe('fault injection', function () {
  this.timeout(300_000);
  before(() => useBackend('wasm'));

  describe('file writes', () => {
    it('a full disk: the write fails with a clear error, the previous file is intact, no temp file is left', function () {
      const fs4 = tmpfs('1m');
      if (typeof fs4 === 'string') return this.skip();
      try {
        const file = path.join(fs4.dir, 'checkpoint.ckpt');
        const small = { header: { note: 'good' }, tensors: [{ name: 't', shape: [1000], values: new Float32Array(1000).fill(1) }] };
        writeCheckpointFile(file, small);
        const big = { header: { note: 'too big' }, tensors: [{ name: 't', shape: [400_000], values: new Float32Array(400_000) }] }; // 1.6 MB
        assert.throws(() => writeCheckpointFile(file, big), (e: Error) =>
          e instanceof FileError && /^no space left on the device .*\(.*checkpoint\.ckpt\): the previous version of the file, if any, is intact; free some space/.test(e.message));
        assert.equal(readCheckpointFile<{ note: string }>(file).header.note, 'good');
        assert.deepEqual(fs.readdirSync(fs4.dir).filter((f) => f.includes('.tmp-')), []);
      } finally {
        fs4.unmount();
      }
    });

    it('a full disk during training: exit 2, one line naming the checkpoint and the fix, no stack', function () {
      const fs4 = tmpfs('4m'); // a tiny28 checkpoint needs ~12 MB
      if (typeof fs4 === 'string') return this.skip();
      try {
        const r = runCli(['train', ...quick, '--runs-dir', fs4.dir, '--name', 'full', '--checkpoint-every', '1', '--no-eval']);
        assert.equal(r.status, 2, r.stderr);
        assert.match(r.stderr, /error: no space left on the device .*\(.*full.checkpoint\.ckpt\): .*free some space or write elsewhere \(e\.g\. --runs-dir\)/);
        assert.doesNotMatch(r.stderr, STACK);
      } finally {
        fs4.unmount();
      }
    });

    it('temp files of killed writers are removed by the next write; a live writer\'s are kept', () => {
      const dir = tempDir();
      const file = path.join(dir, 'checkpoint.ckpt');
      const sleeper = spawn('sleep', ['30']);
      try {
        fs.writeFileSync(`${file}.tmp-${deadPid()}`, 'half a checkpoint');
        const threadId = fs.existsSync(`/proc/${process.pid}/task`) && fs.readdirSync(`/proc/${process.pid}/task`).map(Number).find((tid) => tid !== process.pid);
        if (threadId) fs.writeFileSync(`${file}.tmp-${threadId}`, 'a thread id, as a reused pid may be'); // kill(tid, 0) succeeds: not a process
        fs.writeFileSync(`${file}.tmp-${sleeper.pid}`, 'being written');
        writeFileAtomic(file, 'new');
        assert.deepEqual(fs.readdirSync(dir).sort(), ['checkpoint.ckpt', `checkpoint.ckpt.tmp-${sleeper.pid}`]);
      } finally {
        sleeper.kill();
      }
    });

    it('a kill between keeping the previous checkpoint and replacing the current one: the next write still cleans up', () => {
      const dir = tempDir();
      const file = path.join(dir, 'checkpoint.ckpt');
      const contents = (round: number) => ({ header: { round }, tensors: [{ name: 't', shape: [4], values: new Float32Array(4).fill(round) }] });
      writeCheckpointFile(file, contents(1));
      fs.linkSync(file, previousCheckpointPath(file)); // the state such a kill leaves: both names, one file
      writeCheckpointFile(file, contents(2));
      assert.deepEqual(fs.readdirSync(dir).sort(), ['checkpoint.ckpt', 'checkpoint.prev.ckpt']);
      assert.equal(readCheckpointFile<{ round: number }>(file).header.round, 2);
      assert.equal(readCheckpointFile<{ round: number }>(previousCheckpointPath(file)).header.round, 1);
    });

    it('kills at random moments while checkpoints are written never leave a bad checkpoint', async () => {
      const dir = tempDir();
      const file = path.join(dir, 'checkpoint.ckpt');
      const values = (v: number) => new Float32Array(2_000_000).fill(v); // 8 MB: writes take long enough to be hit
      writeCheckpointFile(file, { header: { round: 0 }, tensors: [{ name: 't', shape: [2_000_000], values: values(0) }] });
      const script = `require('tsx/cjs'); const { writeCheckpointFile } = require(${JSON.stringify(path.join(__dirname, '..', 'src', 'train', 'checkpoint.ts'))});
        for (let round = 1; ; round++) writeCheckpointFile(process.argv[1], { header: { round }, tensors: [{ name: 't', shape: [2000000], values: new Float32Array(2000000).fill(round) }] });`;
      for (let kill = 0; kill < 5; kill++) {
        const child = spawn(process.execPath, ['-e', script, file], { stdio: 'ignore', cwd: path.join(__dirname, '..') });
        await new Promise((resolve) => setTimeout(resolve, 700 + 150 * kill));
        child.kill('SIGKILL');
        await new Promise((resolve) => child.on('exit', resolve));
        for (const f of [file, previousCheckpointPath(file)].filter((f) => fs.existsSync(f))) {
          const { header, tensors } = readCheckpointFile<{ round: number }>(f); // checksums verified
          assert.ok(tensors[0].values.every((v) => v === header.round), `${f}: values of another round`);
        }
      }
      // The next write removes the killed writers' temp files (of the checkpoint and of the kept previous one).
      writeCheckpointFile(file, { header: { round: 99 }, tensors: [{ name: 't', shape: [1], values: values(99).subarray(0, 1) }] });
      const left = fs.readdirSync(dir).filter((f) => f.includes('.tmp-'));
      const who = left.map((f) => { const pid = f.split('.tmp-')[1]; try { return `${f}: ${fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').slice(0, 9).join(' | ')}`; } catch { return `${f}: no /proc`; } });
      assert.deepEqual(fs.readdirSync(dir).sort(), ['checkpoint.ckpt', 'checkpoint.prev.ckpt'], who.join('\n'));
    });
  });

  describe('checkpoints', () => {
    it('flipped bytes are found by the checksum; the error says how to roll back to the kept previous checkpoint', async () => {
      const dir = tempDir();
      const model = createMae(testConfig);
      const trainer = createTrainer(model, { lr: 1e-3 });
      const x = tf.randomNormal([8, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      await trainer.step(x);
      const first = trainer.save(dir);
      await trainer.step(x);
      trainer.save(dir);
      const previous = previousCheckpointPath(first);
      assert.ok(fs.existsSync(previous), 'the replaced checkpoint is kept');
      const bytes = fs.readFileSync(first);
      for (let i = 0; i < 64; i++) bytes[bytes.length - 5000 + i] ^= 0xff;
      fs.writeFileSync(first, bytes);
      const count = tf.memory().numTensors;
      assert.throws(() => loadCheckpoint(dir), (e: Error) => e instanceof CheckpointError &&
        /tensor .* fails its checksum \(the file is corrupt\) \(.*checkpoint\.ckpt\): the checkpoint before it is kept: roll back with `mv .*checkpoint\.prev\.ckpt .*checkpoint\.ckpt`/.test(e.message));
      assert.equal(tf.memory().numTensors, count, 'nothing allocated for a corrupt file');
      fs.renameSync(previous, first); // the advice, followed
      const rolledBack = loadCheckpoint(dir);
      assert.equal(rolledBack.trainer.stepCount, 1);
      rolledBack.trainer.dispose();
      rolledBack.model.dispose();
      tf.dispose(x);
      trainer.dispose();
      model.dispose();
    });

    it('a crafted header is refused before anything is allocated: a config bigger than the data, an invalid config', () => {
      const dir = tempDir();
      const file = path.join(dir, 'crafted.ckpt');
      const header = (config: object) => ({ kind: 'magma-lab trainer', config, options: {}, rng: {}, optimizerStep: 0, history: [], meta: {} });
      const tensors = [{ name: 'param/patch_embed.weight', shape: [4], values: new Float32Array(4) }];
      const count = tf.memory().numTensors;
      writeCheckpointFile(file, { header: header({ ...presets.tiny28, encoderWidth: 40_000, encoderDepth: 40 }), tensors });
      const start = performance.now();
      assert.throws(() => loadCheckpoint(file), /its config describes a model of \d+ parameter values, but the file holds 4: the header does not match the data \(.*crafted\.ckpt\)/);
      assert.ok(performance.now() - start < 2000, 'refused at once');
      writeCheckpointFile(file, { header: header({ ...presets.tiny28, patchSize: 5 }), tensors });
      assert.throws(() => loadCheckpoint(file), /its model config is invalid: imageSize 28 is not a multiple of patchSize 5/);
      writeCheckpointFile(file, { header: header({ ...presets.tiny28 }), tensors: [] });
      fs.writeFileSync(file, fs.readFileSync(file).toString('latin1').replace('"tensors":[]', '"tensors":{}'), 'latin1');
      assert.throws(() => loadCheckpoint(file), /has no tensor index|header is not JSON/);
      assert.equal(tf.memory().numTensors, count, 'no tensor leaked');
    });

    it('the parameter count of a config is known before the model is built', () => {
      for (const config of [presets.tiny28, presets.tiny32, presets.vitSmallCifar, { ...presets.tiny28, maskTokenInEncoder: true, mlpRatio: 2 }]) {
        const model = createMae(resolveConfig(config));
        assert.equal(maeParameterCount(model.config), model.parameterCount);
        model.dispose();
      }
    });
  });

  describe('the training API', () => {
    it('a batch too small for MAGMA is refused up front: no tensor leaks, step count and random stream unchanged', async () => {
      const model = createMae(testConfig);
      const trainer = createTrainer(model, { method: 'm-mae', lr: 1e-3, magma: { reference: [0], target: 1 } });
      const one = tf.randomNormal([1, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const count = tf.memory().numTensors;
      await assert.rejects(trainer.step(one), /m-mae needs at least 3 images for its batch-wide terms, got 1; use a larger batch/);
      assert.equal(tf.memory().numTensors, count);
      assert.equal(trainer.stepCount, 0);
      tf.dispose(one);
      trainer.dispose();
      model.dispose();
    });

    it('a step refused for a NaN loss leaves the random stream as it was: the next step is the one a fresh trainer takes', async () => {
      const x = tf.randomNormal([8, 16, 16, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
      const bad = tf.fill([8, 16, 16, 3], NaN) as tf.Tensor4D;
      const losses: number[] = [];
      for (const refuseFirst of [false, true]) {
        const model = createMae(testConfig);
        const trainer = createTrainer(model, { lr: 1e-3 });
        if (refuseFirst) await assert.rejects(trainer.step(bad), NonFiniteLossError);
        losses.push((await trainer.step(x)).loss);
        trainer.dispose();
        model.dispose();
      }
      assert.equal(losses[1], losses[0]);
      tf.dispose([x, bad]);
    });

    it('an update that would blow up the weights (lr × weight decay ≥ 1) is refused before any weight changes', async () => {
      const model = createMae(testConfig);
      const trainer = createTrainer(model, { lr: 1e4 });
      const x = tf.randomNormal([8, 16, 16, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      const before = model.params.map((p) => p.variable.dataSync().slice());
      await assert.rejects(trainer.step(x), /lr 10000 × weight decay 0\.05 = 500 ≥ 1 would flip and grow every decayed weight/);
      model.params.forEach((p, i) => assert.deepEqual(p.variable.dataSync(), before[i]));
      assert.equal(trainer.stepCount, 0);
      tf.dispose(x);
      trainer.dispose();
      model.dispose();
    });

    it('step after dispose says so, and counts nothing; a masking drawn for another batch is refused', async () => {
      const model = createMae(testConfig);
      const trainer = createTrainer(model, { lr: 1e-3 });
      trainer.dispose();
      const x = tf.randomNormal([4, 16, 16, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
      await assert.rejects(trainer.step(x), /this trainer was disposed; create a new one with createTrainer/);
      assert.equal(trainer.stepCount, 0);
      const masking = model.randomMasking(new Rng(0), 2);
      assert.throws(() => model.forwardEncoder(x, masking), /a masking drawn for 2 images of 16 patches was given 4 images of 16 patches; draw it for this batch with model\.randomMasking\(rng, 4\)/);
      tf.dispose(x);
      model.dispose();
    });

    it('bad values: --epochs 0, a block that does not exist (as written), a negative λ', () => {
      assert.throws(() => parseArgs(['--epochs', '0'], trainOptions, 'train'), /--epochs must be greater than 0, got 0/);
      assert.throws(() => resolveTrainerOptions({ method: 'm-mae', magma: { reference: [-9] } }, 4), /MAGMA block -9 does not exist: the encoder has blocks 0\.\.3 \(or -4\.\.-1 counted from the end\)/);
      assert.throws(() => resolveTrainerOptions({ method: 'm-mae', magma: { schedule: 'constant:-5' } }, 4), /λ schedule 'constant:-5': λ must not be negative/);
      assert.throws(() => resolveTrainerOptions({ method: 'm-mae', magma: { schedule: 'interval:0-5=1,5-9=-1' } }, 4), /λ must not be negative/);
    });
  });

  describe('run folders (the command line)', () => {
    const runs = tempDir();

    it('a torn last metrics line is dropped on --resume with a warning; a damaged config.json names the file', () => {
      const first = runCli(['train', ...quick, '--runs-dir', runs, '--name', 'torn', '--stop-after', '2', '--checkpoint-every', '1']);
      assert.equal(first.status, 0, first.stderr);
      const dir = path.join(runs, 'torn');
      const metrics = path.join(dir, 'metrics.jsonl');
      fs.appendFileSync(metrics, '{"step":3,"epoch":0,"lo'); // a kill mid-append
      const resumed = runCli(['train', '--resume', dir, '--stop-after', '3']);
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.match(resumed.stderr, /warning: dropped the torn last line of .*metrics\.jsonl/);
      const steps = fs.readFileSync(metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
      assert.deepEqual(steps, [1, 2, 3]);
      fs.writeFileSync(path.join(dir, 'config.json'), '{"name": "torn", "meth');
      const broken = runCli(['train', '--resume', dir]);
      assert.equal(broken.status, 2);
      assert.match(broken.stderr, /^error: not valid JSON .*\(.*torn.config\.json\): restore it from a backup, or start a new run/m);
      assert.doesNotMatch(broken.stderr, STACK);
    });

    it('--resume refuses options that would change the run, and names them', () => {
      const r = runCli(['train', '--resume', path.join(runs, 'torn'), '--lr', '1', '--epochs', '3']);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /--lr, --epochs would change the run\. Drop them/);
    });

    it('a run killed before its first checkpoint resumes as a fresh start', () => {
      const first = runCli(['train', ...quick, '--runs-dir', runs, '--name', 'early', '--stop-after', '1']);
      assert.equal(first.status, 0, first.stderr);
      const dir = path.join(runs, 'early');
      fs.rmSync(path.join(dir, 'checkpoint.ckpt')); // the state a kill before the first checkpoint leaves
      const again = runCli(['train', '--resume', dir, '--stop-after', '2']);
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stderr, /has no checkpoint yet .*: starting it afresh from its config\.json/);
      const loaded = loadCheckpoint(dir);
      assert.equal(loaded.trainer.stepCount, 2);
      loaded.trainer.dispose();
      loaded.model.dispose();
    });

    it('a run folder in use by a live process is refused; a lock left by a dead one is taken over', () => {
      const dir = tempDir();
      const release = lockFolder(dir);
      assert.throws(() => lockFolder(dir), new RegExp(`the run folder is in use by process ${process.pid} on .* \\(.*\\.lock\\): wait for that run to finish`));
      release();
      fs.writeFileSync(path.join(dir, '.lock'), JSON.stringify({ pid: deadPid(), host: require('os').hostname(), since: 'earlier' }));
      const again = lockFolder(dir); // stale: taken over
      again();
      assert.ok(!fs.existsSync(path.join(dir, '.lock')), 'released');
      // Two processes on one folder: the second exits 2 without touching it.
      const sleeper = spawn('sleep', ['30']);
      try {
        fs.writeFileSync(path.join(runs, 'early', '.lock'), JSON.stringify({ pid: sleeper.pid, host: require('os').hostname(), since: 'now' }));
        const second = runCli(['train', '--resume', path.join(runs, 'early'), '--stop-after', '4']);
        assert.equal(second.status, 2);
        assert.match(second.stderr, new RegExp(`error: the run folder is in use by process ${sleeper.pid}`));
      } finally {
        sleeper.kill();
        fs.rmSync(path.join(runs, 'early', '.lock'), { force: true });
      }
    });

    it('a truncated checkpoint: eval exits 2 with the problem and the fix, no stack', () => {
      const dir = path.join(runs, 'early');
      const file = path.join(dir, 'checkpoint.ckpt');
      const saved = fs.readFileSync(file);
      try {
        fs.truncateSync(file, Math.floor(saved.length / 2) + 1);
        const r = runCli(['eval', dir]);
        assert.equal(r.status, 2);
        assert.match(r.stderr, /error: not a valid magma-lab checkpoint: tensor .* ends at value \d+ but the file holds \d+ \(truncated\) \(.*checkpoint\.ckpt\): no earlier checkpoint is kept; retrain, or use another checkpoint/);
        assert.doesNotMatch(r.stderr, STACK);
      } finally {
        fs.writeFileSync(file, saved);
      }
    });

    it('eval into a read-only folder stops before computing, naming the folder', function () {
      const ro = tmpfs('64m');
      if (typeof ro === 'string') return this.skip();
      try {
        const dir = path.join(ro.dir, 'early');
        fs.cpSync(path.join(runs, 'early'), dir, { recursive: true });
        assert.equal(spawnSync('mount', ['-o', 'remount,ro', ro.dir]).status, 0);
        const r = runCli(['eval', dir]);
        assert.equal(r.status, 2, r.stderr);
        assert.match(r.stderr, /error: cannot write here \(EROFS\) \(.*early.*\): .*make the folder writable or choose another one/);
        assert.doesNotMatch(r.stderr, /k-NN/, 'nothing computed');
      } finally {
        ro.unmount();
      }
    });
  });

  describe('datasets', () => {
    it('an empty test split is refused before training; an empty training set says so, not "lower --batch-size"', () => {
      const dir = tempDir();
      for (const [prefix, n] of [['train', 64], ['t10k', 0]] as const) {
        writeIdx(path.join(dir, `${prefix}-images-idx3-ubyte`), new Uint8Array(n * 28 * 28), [n, 28, 28]);
        writeIdx(path.join(dir, `${prefix}-labels-idx1-ubyte`), new Uint8Array(n), [n]);
      }
      const r = runCli(['train', '--dataset', 'fashion-mnist', '--data-dir', dir, '--batch-size', '16', '--runs-dir', tempDir()]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /has no test images .*which the evaluation after training needs; fix the dataset, or train with --no-eval/);
      assert.doesNotMatch(r.stderr, /^train /m, 'no training happened');
      for (const kind of ['images', 'labels']) fs.rmSync(path.join(dir, `train-${kind}-idx${kind === 'images' ? 3 : 1}-ubyte`));
      writeIdx(path.join(dir, 'train-images-idx3-ubyte'), new Uint8Array(0), [0, 28, 28]);
      writeIdx(path.join(dir, 'train-labels-idx1-ubyte'), new Uint8Array(0), [0]);
      const empty = runCli(['train', '--dataset', 'fashion-mnist', '--data-dir', dir, '--no-eval', '--runs-dir', tempDir()]);
      assert.equal(empty.status, 2, empty.stderr);
      assert.match(empty.stderr, /has no training images|no images/);
      assert.doesNotMatch(empty.stderr, /lower --batch-size/);
    });

    it('a gzip bomb is stopped at 200× its size, before it can fill memory', () => {
      const file = path.join(tempDir(), 'train-images-idx3-ubyte.gz');
      fs.writeFileSync(file, zlib.gzipSync(Buffer.alloc(300 << 20), { level: 9 })); // 300 MB of zeros in ~300 KB
      assert.ok(fs.statSync(file).size < 1 << 20);
      assert.throws(() => readIdx(file, 'images'), /decompresses to more than \d+ bytes, 200× its \d+ compressed bytes: not an IDX file \(a gzip bomb\?\)/);
    });
  });
});
