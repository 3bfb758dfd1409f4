/**
 * `npm run bench [-- options]`: speed and memory of one training step of the tiny32 M-MAE (the
 * model of ../shared/research/BACKEND.md: MAE + MAGMA between blocks 2 and 3) at batch 64, and at
 * batch 256 as exactly accumulated micro-batches of 64 (the wasm32 heap, at most 4 GiB, cannot
 * hold 256 at once);
 * the linear layers' matrix products of one step alone; one AdamW update by tensor ops and by a
 * JavaScript loop; then evaluation speed. With
 * `--vs-pytorch`, the same model and step in PyTorch (bench/mae_torch.py, Debian's python3-torch on
 * OpenBLAS, all cores) takes turns with TF.js, round by round, after a check that both compute the
 * same loss for the same weights, images and masks.
 *
 * `--profile [--profile-batch 64] [--top 15]` only profiles, kernel by kernel (bench/profile.ts),
 * one training step and one batch of feature extraction on the active backend
 * (MAGMA_LAB_NATIVE=0 for the plain wasm kernels).
 *
 * Options: --vs-pytorch, --rounds N (default 5), --steps N (timed steps per round, default 3),
 * --warmup N (default 2), --cases 64,256, --micro-batch N (TF.js micro-batch size, default 64),
 * --torch-threads N (default: every core), --eval-images N (default 70000; 0 skips evaluation),
 * --out DIR (default bench/results; the JSON goes to DIR/<date>T<HHMM>.json, UTC).
 * Prints one summary line per case and the JSON.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, useBestBackend } from '../src/backend';
import { presets } from '../src/config';
import { writeFileAtomic } from '../src/io';
import { createMae } from '../src/nn/mae';
import { Rng } from '../src/random';
import { AdamW } from '../src/train/optimizer';
import { createTrainer, type Trainer } from '../src/train/trainer';
import { measureEvalSpeed, type EvalSpeed } from './evalSpeed';
import { maeStepFlops } from '../src/nn/flops';
import { linearProducts, timeTfjsProducts } from './matmuls';
import { measurePeak, type MachinePeak } from './peak';
import { formatProfile, profileKernels } from './profile';
import { compareWithPrevious } from './regression';
import { ensurePytorch, TorchStep, type SameModelCheck, type TorchInfo, type TorchStepConfig } from './torch';

const CONFIG = presets.tiny32;
/** M-MAE with the library's defaults: reference block −2, target −1, λ 1. */
const MAGMA = { referenceBlocks: [CONFIG.encoderDepth - 2], targetBlock: CONFIG.encoderDepth - 1, lambda: 1 };

interface Timing {
  msMin: number;
  msMedian: number;
  gflopPerSecond: number;
  /** Share of the measured all-core FP32 peak, %. */
  peakShare: number | null;
}

interface CaseResult {
  batch: number;
  /** TF.js micro-batches per step (PyTorch runs the whole batch at once). */
  accumulate: number;
  gflopPerStep: number;
  tfjs: Timing & { imagesPerSecond: number; numTensorsFirst: number; numTensorsLast: number; wasmHeapMB: number | null; rssMB: number };
  torch?: Timing;
  /** tfjs median / torch median. */
  ratio?: number;
}

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const log = (line: string) => process.stderr.write(`${line}\n`);

function wasmHeapMB(): number | null {
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } };
  return backend.wasm ? Math.round(backend.wasm.HEAPU8.length / 1e6) : null;
}

function timing(ms: number[], flops: number, peak: MachinePeak | null): Timing {
  const sorted = [...ms].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const gflopPerSecond = flops / 1e9 / (median / 1000);
  return {
    msMin: round1(sorted[0]), msMedian: round1(median), gflopPerSecond: round1(gflopPerSecond),
    peakShare: peak ? round1((100 * gflopPerSecond) / peak.allCores) : null,
  };
}

/** `steps` timed TF.js steps (after `warmup` untimed ones), ms each. */
async function timeTfjs(trainer: Trainer, images: tf.Tensor4D, steps: number, warmup: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const r = await trainer.step(images);
    if (i >= warmup) ms.push(r.ms);
  }
  return ms;
}

/** Random images [B, H, W, C] from a seeded Rng (never tf's own random ops). */
function randomImages(batch: number): tf.Tensor4D {
  const rng = new Rng(7);
  const { imageSize: s, channels: c } = CONFIG;
  return tf.tensor4d(Float32Array.from({ length: batch * s * s * c }, () => rng.normal()), [batch, s, s, c]);
}

async function runCase(batch: number, microBatch: number, rounds: number, steps: number, warmup: number, torch: TorchStep | null, peak: MachinePeak | null): Promise<CaseResult> {
  const accumulate = Math.max(1, Math.ceil(batch / microBatch));
  const model = createMae(CONFIG, { seed: 0 });
  const trainer = createTrainer(model, {
    method: 'm-mae', seed: 0, lr: 1.5e-4, accumulate,
    magma: { reference: MAGMA.referenceBlocks, target: MAGMA.targetBlock, schedule: `constant:${MAGMA.lambda}` },
  });
  const images = randomImages(batch);
  const tfjsMs: number[] = [];
  const torchMs: number[] = [];
  let numTensorsFirst = 0;
  for (let r = 0; r < rounds; r++) {
    tfjsMs.push(...(await timeTfjs(trainer, images, steps, r === 0 ? warmup : 0)));
    if (r === 0) numTensorsFirst = tf.memory().numTensors;
    if (torch) torchMs.push(...(await torch.time(batch, steps, r === 0 ? warmup : 0)));
    log(`  round ${r + 1}/${rounds}: tfjs ${tfjsMs.slice(-steps).map(Math.round).join(' ')} ms` +
      (torch ? `; torch ${torchMs.slice(-steps).map(Math.round).join(' ')} ms` : ''));
  }
  const flops = maeStepFlops(CONFIG, batch);
  const tfjs = timing(tfjsMs, flops, peak);
  const result: CaseResult = {
    batch, accumulate, gflopPerStep: round1(flops / 1e9),
    tfjs: {
      ...tfjs, imagesPerSecond: round1((1000 * batch) / tfjs.msMedian),
      numTensorsFirst, numTensorsLast: tf.memory().numTensors, wasmHeapMB: wasmHeapMB(), rssMB: Math.round(process.memoryUsage().rss / 1e6),
    },
  };
  if (torch) {
    result.torch = timing(torchMs, flops, peak);
    result.ratio = Math.round((100 * tfjs.msMedian) / result.torch.msMedian) / 100;
  }
  images.dispose();
  trainer.dispose();
  model.dispose();
  return result;
}

/**
 * One AdamW update of every tiny32 parameter (2.22 M), median ms of `repeats`, by tensor ops and
 * by a JavaScript loop: which is faster on this backend.
 */
function timeOptimizer(repeats: number): { tensorOpsMs: number; javascriptMs: number } {
  const model = createMae(CONFIG, { seed: 0 });
  const rng = new Rng(5);
  const grads = new Map(model.params.map((p) => [p.name, tf.tensor(Float32Array.from({ length: p.variable.size }, () => 1e-3 * rng.normal()), p.variable.shape)]));
  const median = (moments: 'tensors' | 'javascript') => {
    const opt = new AdamW(model.params, { moments });
    const ms: number[] = [];
    for (let i = 0; i < repeats + 1; i++) {
      const start = performance.now();
      opt.apply(grads, 1e-4);
      model.params[0].variable.dataSync(); // wait for the update (GPU backends run asynchronously)
      if (i > 0) ms.push(performance.now() - start); // the first update warms up
    }
    opt.dispose();
    return round1(ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)]);
  };
  const result = { tensorOpsMs: median('tensors'), javascriptMs: median('javascript') };
  tf.dispose([...grads.values()]);
  model.dispose();
  return result;
}

/** Starts PyTorch and checks it computes magma-lab's loss; null (with the reason logged) when unavailable. */
async function startTorch(threads: number): Promise<{ torch: TorchStep; info: TorchInfo; check: SameModelCheck } | null> {
  const problem = ensurePytorch(log);
  if (problem) {
    log(`PyTorch: not available (${problem}); reporting TF.js alone`);
    return null;
  }
  const config: TorchStepConfig = { model: CONFIG, threads, ...MAGMA };
  const torch = new TorchStep(config);
  const info = await torch.info();
  const openblas = info.blas.some((lib) => lib.includes('openblas'));
  log(`PyTorch ${info.torch}, ${info.threads} threads, BLAS: ${info.blas.join(', ') || 'none found'}` +
    (openblas ? ' (OpenBLAS)' : ' — NOT OpenBLAS: install libopenblas0-openmp, or the torch numbers are ~20× slow'));
  const model = createMae(CONFIG, { seed: 0 });
  const images = randomImages(16);
  const check = await torch.checkSameModel(model, images, model.randomMasking(new Rng(3), 16), config);
  images.dispose();
  model.dispose();
  log(`same model: loss tfjs ${check.tfjs.loss.toPrecision(7)} / torch ${check.torch.loss.toPrecision(7)}, ` +
    `gradient norm ${check.tfjs.gradNorm.toPrecision(6)} / ${check.torch.gradNorm.toPrecision(6)} (largest relative difference ${check.maxRelativeDifference.toExponential(1)})`);
  if (check.maxRelativeDifference > 1e-3) throw new Error('PyTorch and TF.js disagree on the loss of the same weights: the comparison would not be of the same model');
  if (info.parameters !== createParameterCount()) throw new Error(`PyTorch model has ${info.parameters} parameters, magma-lab's ${createParameterCount()}`);
  return { torch, info, check };
}

function createParameterCount(): number {
  const model = createMae(CONFIG, { seed: 0 });
  const n = model.parameterCount;
  model.dispose();
  return n;
}

/** The CPU's SIMD flags that decide the speed of these kernels (from /proc/cpuinfo; [] elsewhere). */
function simdFlags(): string[] {
  let info = '';
  try {
    info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return [];
  }
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(' '));
  return ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512_bf16', 'amx_tile', 'asimd', 'sve'].filter((f) => flags.has(f));
}

/**
 * Prints the kernel profiles of one tiny32 M-MAE training step and of one batch of tiny28
 * feature extraction (the evaluation's forward pass), each after two warm-up runs.
 */
async function profile(batch: number, top: number): Promise<void> {
  const model = createMae(CONFIG, { seed: 0 });
  const trainer = createTrainer(model, {
    method: 'm-mae', seed: 0, lr: 1.5e-4,
    magma: { reference: MAGMA.referenceBlocks, target: MAGMA.targetBlock, schedule: `constant:${MAGMA.lambda}` },
  });
  const images = randomImages(batch);
  const step = () => trainer.step(images).then(() => undefined);
  for (let i = 0; i < 2; i++) await step();
  log(`kernel profile of one tiny32 M-MAE step at batch ${batch}:`);
  console.log(formatProfile(await profileKernels(step), top));
  tf.dispose(images);
  trainer.dispose();
  model.dispose();

  const encoder = createMae(presets.tiny28, { seed: 0 });
  const digits = tf.randomUniform([256, 28, 28, 1], 0, 1, 'float32', 0) as tf.Tensor4D;
  const extract = async () => { const f = encoder.features(digits); await f.data(); f.dispose(); };
  for (let i = 0; i < 2; i++) await extract();
  log('kernel profile of the features of 256 tiny28 images (one evaluation batch):');
  console.log(formatProfile(await profileKernels(extract), top));
  digits.dispose();
  encoder.dispose();
}

async function main(): Promise<void> {
  const backend = await useBestBackend();
  log(describeBackend(backend));
  if (process.argv.includes('--profile')) return profile(Number(option('profile-batch', '64')), Number(option('top', '15')));
  const vsPytorch = process.argv.includes('--vs-pytorch');
  const rounds = Number(option('rounds', '5'));
  const steps = Number(option('steps', '3'));
  const warmup = Number(option('warmup', '2'));
  const cases = option('cases', '64,256').split(',').map(Number);
  const microBatch = Number(option('micro-batch', '64'));
  const evalImages = Number(option('eval-images', '70000'));
  const outDir = option('out', path.join(__dirname, 'results'));

  const peak = measurePeak(log);
  if (peak) log(`machine FP32 peak (measured): ${peak.oneCore} GFLOP/s on 1 core, ${peak.allCores} on ${peak.cores}`);
  const torch = vsPytorch ? await startTorch(Number(option('torch-threads', String(os.cpus().length)))) : null;
  const results: CaseResult[] = [];
  let matmuls: { batch: number; products: number; gflop: number; tfjsMs: number; torchMs: number | null } | null = null;
  try {
    for (const batch of cases) {
      log(`tiny32 M-MAE, batch ${batch}${batch > microBatch ? ` (TF.js: ${Math.ceil(batch / microBatch)} accumulated micro-batches)` : ''}:`);
      results.push(await runCase(batch, microBatch, rounds, steps, warmup, torch?.torch ?? null, peak));
    }
    // The linear layers' products alone (forward and backward of one batch-64 step): how much of
    // the gap is matmul speed.
    const products = linearProducts(CONFIG, 64);
    matmuls = {
      batch: 64, products: products.length, gflop: round1(products.reduce((s, [m, k, n]) => s + 2 * m * k * n, 0) / 1e9),
      tfjsMs: round1(timeTfjsProducts(products, 5)), torchMs: torch ? round1(await torch.torch.matmuls(products, 5)) : null,
    };
  } finally {
    torch?.torch.close();
  }
  const optimizer = timeOptimizer(5);
  let evaluation: EvalSpeed | null = null;
  if (evalImages > 0) {
    log(`evaluation: features of ${evalImages} images (tiny28), k-NN…`);
    evaluation = await measureEvalSpeed(evalImages, log);
  }

  const out = {
    date: new Date().toISOString(), backend: backend.description, tfjs: tf.version.tfjs, node: process.version,
    cpu: os.cpus()[0]?.model, cpuFlags: simdFlags(), cores: os.cpus().length, loadAverage: os.loadavg().map(round1),
    model: 'tiny32 M-MAE (MAGMA reference block 2, target 3, λ 1)', rounds, steps, warmup,
    peak, torch: torch ? { ...torch.info, sameModel: torch.check } : null, results, matmuls, optimizer, evaluation,
  };
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${out.date.slice(0, 10)}T${out.date.slice(11, 16).replace(':', '')}.json`); // never overwrites an earlier run
  const previous = compareWithPrevious(outDir, path.basename(file), results, out);
  writeFileAtomic(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(JSON.stringify(out, null, 2));
  for (const r of results) {
    const t = r.tfjs;
    console.log(`batch ${r.batch}: ` + (r.torch ? `tfjs_ms / torch_ms = ${t.msMedian} / ${r.torch.msMedian} = ${r.ratio}` : `tfjs ${t.msMedian} ms`) +
      ` (medians; GFLOP/s tfjs ${t.gflopPerSecond}${r.torch ? `, torch ${r.torch.gflopPerSecond}` : ''}` +
      (peak ? ` of a ${peak.allCores} GFLOP/s peak` : '') + ')');
  }
  if (matmuls) {
    console.log(`linear-layer matmuls of a batch-64 step (${matmuls.products} products, ${matmuls.gflop} GFLOP): tfjs ${matmuls.tfjsMs} ms` +
      (matmuls.torchMs !== null ? `, torch ${matmuls.torchMs} ms` : ''));
  }
  console.log(`AdamW update of the ${createParameterCount()} tiny32 parameters: by tensor ops ${optimizer.tensorOpsMs} ms, by a JavaScript loop ${optimizer.javascriptMs} ms ` +
    `(the default here: ${new AdamW([]).moments})`);
  if (evaluation) {
    console.log(`evaluation: features ${evaluation.featureImages} images ${evaluation.featureSeconds.toFixed(1)} s ` +
      `(${evaluation.featureImagesPerSecond.toFixed(0)} img/s); k-NN ${evaluation.knnTest}×${evaluation.knnTrain} ${evaluation.knnSeconds.toFixed(1)} s`);
  }
  for (const line of previous) console.log(line);
  log(`written ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
