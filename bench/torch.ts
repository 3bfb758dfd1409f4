/**
 * The PyTorch side of `npm run bench -- --vs-pytorch`: installs Debian's python3-torch and
 * OpenBLAS when missing (as root), starts bench/mae_torch.py as a child process that keeps its
 * model between commands (so the two frameworks can take turns in one process tree), checks that
 * it computes the same loss as magma-lab for the same weights (exchanged as safetensors in
 * models_mae.py naming), images and masks, and times steps.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import * as tf from '@tensorflow/tfjs';
import type { MaeConfig } from '../src/config';
import { magma } from '../src/losses/magma';
import { meanPatchTokens, type Mae } from '../src/nn/mae';
import { visibleIndices, type Masking } from '../src/nn/masking';
import { SafetensorsFile, writeSafetensors } from '../src/safetensors';

/** Debian's Python, where apt installs python3-torch. */
const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(__dirname, 'mae_torch.py');
const PACKAGES = ['python3-torch', 'libopenblas0-openmp'];

/** What the PyTorch process reports about itself. */
export interface TorchInfo {
  torch: string;
  threads: number;
  /** BLAS libraries mapped into the process after a matmul. */
  blas: string[];
  parameters: number;
}

/** Loss of one batch in both frameworks, for the same weights, images and masks. */
export interface SameModelCheck {
  tfjs: { loss: number; reconstruction: number; magma: number; gradNorm: number };
  torch: { loss: number; reconstruction: number; magma: number; gradNorm: number };
  /** Largest relative difference of the four numbers. */
  maxRelativeDifference: number;
}

/** Whether Debian's Python can import torch. */
export function torchImportable(): boolean {
  return spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

function openblasInstalled(): boolean {
  return spawnSync('dpkg-query', ['-W', '-f=${Status}', 'libopenblas0-openmp'], { encoding: 'utf8' }).stdout?.includes('install ok installed') ?? false;
}

/**
 * Makes Debian's PyTorch with OpenBLAS available: installs the packages with apt-get when run as
 * root and something is missing. Returns why PyTorch cannot be used, or null when it can.
 */
export function ensurePytorch(log: (line: string) => void): string | null {
  if (torchImportable() && openblasInstalled()) return null;
  if (process.getuid?.() !== 0) {
    return torchImportable()
      ? null // usable, but maybe on the slow reference BLAS: the info command says which
      : `PyTorch is not installed and this is not root; install it with: sudo apt-get install -y ${PACKAGES.join(' ')}`;
  }
  log(`installing ${PACKAGES.join(' ')} with apt-get…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES], { env, encoding: 'utf8' });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { env, stdio: 'ignore' });
    r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES], { env, encoding: 'utf8' });
  }
  if (r.status !== 0) return `apt-get install ${PACKAGES.join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ')}`;
  return torchImportable() ? null : `${PYTHON} cannot import torch after installing ${PACKAGES.join(' ')}`;
}

/** Settings of the PyTorch step; the model is the magma-lab config, the loss M-MAE's. */
export interface TorchStepConfig {
  model: MaeConfig;
  threads: number;
  referenceBlocks: number[];
  targetBlock: number;
  lambda: number;
}

/** A running bench/mae_torch.py. */
export class TorchStep {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterableIterator<string>;
  private readonly reader: Interface;
  private stderr = '';

  constructor(config: TorchStepConfig) {
    const env = { ...process.env, OMP_NUM_THREADS: String(config.threads) };
    this.child = spawn(PYTHON, [SCRIPT, JSON.stringify(config)], { env });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.reader = createInterface({ input: this.child.stdout });
    this.lines = this.reader[Symbol.asyncIterator]();
  }

  private async ask<T>(command: Record<string, unknown>): Promise<T> {
    this.child.stdin.write(`${JSON.stringify(command)}\n`);
    const next = await this.lines.next();
    if (next.done) throw new Error(`the PyTorch process ended: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const answer = JSON.parse(next.value) as T & { error?: string };
    if (answer.error) throw new Error(`PyTorch: ${answer.error}`);
    return answer;
  }

  info(): Promise<TorchInfo> {
    return this.ask({ cmd: 'info' });
  }

  /** Wall time of each of `steps` training steps on `batch` random images, ms. */
  async time(batch: number, steps: number, warmup: number): Promise<number[]> {
    return (await this.ask<{ ms: number[] }>({ cmd: 'time', batch, steps, warmup })).ms;
  }

  /** Best total time of the products [m, k] × [k, n] over `repeats` runs, ms. */
  async matmuls(shapes: [number, number, number][], repeats: number): Promise<number> {
    return (await this.ask<{ ms: number }>({ cmd: 'matmuls', shapes, repeats })).ms;
  }

  /**
   * Loss and gradient norm of one M-MAE batch in both frameworks: magma-lab's model weights,
   * `images` and `masking` are written to a temporary folder and loaded by the PyTorch process.
   */
  async checkSameModel(model: Mae, images: tf.Tensor4D, masking: Masking, config: TorchStepConfig): Promise<SameModelCheck> {
    return this.inFolderWith(model, images, masking, async (dir) => {
      const torch = await this.ask<{ loss: number; parts: { reconstruction: number; magma: number }; gradNorm: number }>({ cmd: 'check', dir });
      const ours = tfjsLoss(model, images, masking, config);
      const theirs = { loss: torch.loss, ...torch.parts, gradNorm: torch.gradNorm };
      const keys = ['loss', 'reconstruction', 'magma', 'gradNorm'] as const;
      const maxRelativeDifference = Math.max(...keys.map((k) => Math.abs(ours[k] - theirs[k]) / Math.max(Math.abs(theirs[k]), 1e-12)));
      return { tfjs: ours, torch: theirs, maxRelativeDifference };
    });
  }

  /**
   * What PyTorch's models_mae.py modules compute with magma-lab's weights for `images` and
   * `masking`: the encoder's latent [B, 1+K, D], the prediction [B, L, P] and the loss.
   */
  async forward(model: Mae, images: tf.Tensor4D, masking: Masking): Promise<{ latent: Float32Array; pred: Float32Array; loss: number }> {
    return this.inFolderWith(model, images, masking, async (dir) => {
      await this.ask({ cmd: 'forward', dir });
      const out = SafetensorsFile.open(path.join(dir, 'outputs.safetensors'));
      return { latent: out.read('latent').values, pred: out.read('pred').values, loss: out.read('loss').values[0] };
    });
  }

  /** Runs `f` on a temporary folder holding the model's weights (models_mae.py names), the images and the masks. */
  private async inFolderWith<T>(model: Mae, images: tf.Tensor4D, masking: Masking, f: (dir: string) => Promise<T>): Promise<T> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'magma-bench-'));
    try {
      model.saveWeights(path.join(dir, 'weights.safetensors'), { layout: 'mae' });
      const { batch, tokens, keep } = masking;
      writeSafetensors(path.join(dir, 'inputs.safetensors'), [
        { name: 'images', shape: images.shape, values: images.dataSync() as Float32Array },
        { name: 'ids_keep', shape: [batch, keep], values: Float32Array.from(visibleIndices(masking)) },
        { name: 'ids_restore', shape: [batch, tokens], values: Float32Array.from(masking.idsRestore) },
        { name: 'mask', shape: [batch, tokens], values: masking.mask },
      ]);
      return await f(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * Has PyTorch write a random model in models_mae.py naming (`dir/weights.safetensors`) and, for
   * `batch` random images and masks, what it computes (`dir/expected.safetensors`: images,
   * ids_keep, ids_restore, mask, latent, blocks.i, pred, loss).
   */
  async writeParity(dir: string, batch: number, seed: number): Promise<void> {
    await this.ask({ cmd: 'parity', dir, batch, seed });
  }

  /** Stops the process. */
  close(): void {
    this.reader.close();
    this.child.stdin.end();
    this.child.kill();
  }
}

/** magma-lab's M-MAE loss of one batch, its parts and the gradient norm over every parameter. */
function tfjsLoss(model: Mae, images: tf.Tensor4D, masking: Masking, config: TorchStepConfig) {
  let reconstruction = 0;
  let regularizer = 0;
  const { value, grads } = tf.variableGrads(() => {
    const out = model.forward(images, masking);
    const target = meanPatchTokens(out.encoder.blocks[config.targetBlock]);
    const terms = config.referenceBlocks.map((r) => magma(meanPatchTokens(out.encoder.blocks[r]), target));
    const reg = tf.div(tf.addN(terms), terms.length) as tf.Scalar;
    reconstruction = out.loss.dataSync()[0];
    regularizer = reg.dataSync()[0];
    return tf.add(out.loss, tf.mul(reg, config.lambda)) as tf.Scalar;
  }, model.params.map((p) => p.variable));
  const gradNorm = Math.sqrt(Object.values(grads).reduce((s, g) => s + tf.tidy(() => tf.sum(tf.square(g)).dataSync()[0]), 0));
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, reconstruction, magma: regularizer, gradNorm };
}
