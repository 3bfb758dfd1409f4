/**
 * Picks the fastest TF.js backend that works here and says why the faster ones were skipped.
 * Order: tfjs-node-gpu, tfjs-node (native TensorFlow; optional dependencies whose installers need
 * to download libtensorflow), wasm with SIMD (plus magma-lab's native BLAS kernels when they are
 * built, src/native.ts), pure-JS cpu. `MAGMA_LAB_BACKEND=tensorflow|wasm|cpu` forces one, and
 * `MAGMA_LAB_NATIVE=0` keeps wasm's own kernels. Model code never branches on the backend's name:
 * it asks {@link computeStrategy} what runs fast.
 */
import * as tf from '@tensorflow/tfjs';
import { disableNativeKernels, enableNativeKernels, nativeKernels, type NativeInfo } from './native';

/** A backend magma-lab can run on. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** What {@link useBestBackend} chose, and why. */
export interface BackendReport {
  /** The backend now active. */
  name: BackendName;
  /** e.g. `wasm (SIMD, 1 thread)` or `tensorflow (tfjs-node-gpu)`. */
  description: string;
  /** One line per faster backend that was not used, with the reason. */
  skipped: string[];
  /** Whether MAGMA_LAB_BACKEND chose it. */
  forced: boolean;
  /** The native BLAS kernels registered on wasm, or null (the reason is in `skipped`). */
  native: NativeInfo | null;
}

let current: BackendReport | null = null;
/** What the current report was chosen for: the forced backend and whether native kernels were wanted. */
let currentRequest = '';

/** The backend chosen by the last {@link useBestBackend} call, if any. */
export function backendReport(): BackendReport | null {
  return current;
}

/**
 * Selects and initializes the best available backend. Safe to call again: a repeated call with
 * the same `force` returns the same report without re-initializing.
 * @param force a backend to use instead of the best one (default: `$MAGMA_LAB_BACKEND`)
 */
export async function useBestBackend(force: string | undefined = process.env.MAGMA_LAB_BACKEND): Promise<BackendReport> {
  if (force !== undefined && force !== '' && !['tensorflow', 'wasm', 'cpu'].includes(force)) {
    throw new Error(`MAGMA_LAB_BACKEND='${force}' is not a backend; use tensorflow, wasm or cpu (or unset it to pick the best)`);
  }
  const wanted = (force || undefined) as BackendName | undefined;
  const useNative = nativeWanted();
  const request = `${wanted ?? 'best'} native=${useNative}`;
  if (current && request === currentRequest) {
    if (tf.getBackend() !== current.name) await quietly(() => tf.setBackend(current!.name));
    return current;
  }
  const skipped: string[] = [];
  const order: BackendName[] = wanted ? [wanted] : ['tensorflow', 'wasm', 'cpu'];
  for (const name of order) {
    const reason = await tryBackend(name, useNative, skipped);
    if (typeof reason !== 'string') {
      current = { name, description: reason.description, skipped, forced: !!wanted, native: name === 'wasm' ? nativeKernels() : null };
      currentRequest = request;
      return current;
    }
    skipped.push(`${name}: ${reason}`);
  }
  throw new Error(`no TF.js backend could start:\n  ${skipped.join('\n  ')}`);
}

/** One line for logs: `backend: wasm + native (OpenBLAS 0.3.21, 2 threads; …); skipped tensorflow: ...`. */
export function describeBackend(r: BackendReport): string {
  const forced = r.forced ? ' (forced by MAGMA_LAB_BACKEND)' : '';
  const skipped = r.skipped.length ? `; skipped ${r.skipped.join('; ')}` : '';
  return `backend: ${r.description}${forced}${skipped}`;
}

/** Whether a `MAGMA_LAB_NATIVE` value allows the native kernels: `0`, `off`, `false` and `no` keep wasm's own. */
export function nativeWanted(setting: string | undefined = process.env.MAGMA_LAB_NATIVE): boolean {
  return !['0', 'off', 'false', 'no'].includes((setting ?? '').toLowerCase());
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

async function tryBackend(name: BackendName, useNative: boolean, skipped: string[]): Promise<{ description: string } | string> {
  try {
    if (name === 'tensorflow') return await startNative();
    if (name === 'wasm') {
      require('@tensorflow/tfjs-backend-wasm');
      shareDataInWasmIdentity();
      if (!(await quietly(() => tf.setBackend('wasm')))) return 'failed to initialize';
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const wasm = require('@tensorflow/tfjs-backend-wasm') as { getThreadsCount(): number };
      const own = `${simd ? 'SIMD' : 'no SIMD'}, ${plural(wasm.getThreadsCount(), 'thread')}`;
      if (!useNative) {
        disableNativeKernels();
        skipped.push('native kernels: turned off by MAGMA_LAB_NATIVE');
        return { description: `wasm (${own})` };
      }
      const native = enableNativeKernels();
      if (typeof native === 'string') {
        skipped.push(`native kernels: ${native}`);
        return { description: `wasm (${own})` };
      }
      const threads = native.threads > 0 ? `, ${plural(native.threads, 'thread')}` : '';
      return { description: `wasm + native (${native.blas}${threads}; other kernels wasm ${own})` };
    }
    if (!(await quietly(() => tf.setBackend('cpu')))) return 'failed to initialize';
    return { description: 'cpu (pure JavaScript, slow: for tests and as a last resort)' };
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

/**
 * Autograd saves every tensor a gradient needs through the Identity kernel, which on wasm copies
 * the data (hundreds of copies per training step, and as many extra buffers in the heap); the cpu
 * backend's Identity shares the data instead, as wasm's own Reshape does. Tensors are immutable
 * (a variable's assign swaps its data, never writes it), so sharing is safe: register wasm's
 * Identity as cpu's.
 */
function shareDataInWasmIdentity(): void {
  const kernel = tf.getKernel('Identity', 'wasm');
  if (kernel?.kernelFunc === shareData) return;
  if (kernel) tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ kernelName: 'Identity', backendName: 'wasm', kernelFunc: shareData });
}

function shareData({ inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  (backend as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

async function startNative(): Promise<{ description: string } | string> {
  // tfjs-node(-gpu) bundle their own tfjs-core; they register the 'tensorflow' backend in it.
  // Each package is tried on its own: a tfjs-node-gpu whose require throws (no CUDA) must not stop
  // tfjs-node from being tried.
  const failures: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require.resolve(pkg);
    } catch {
      continue;
    }
    try {
      require(pkg);
      if (await quietly(() => tf.setBackend('tensorflow'))) {
        return { description: tensorflowDescription(pkg, (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice) };
      }
      failures.push(`${pkg} failed to initialize`);
    } catch (e) {
      failures.push(`${pkg}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (failures.length) return failures.join('; ');
  return 'not installed (optional dependencies @tensorflow/tfjs-node-gpu / tfjs-node; their installer downloads libtensorflow)';
}

/**
 * `tensorflow (tfjs-node-gpu, on a GPU)`, or a warning when tfjs-node-gpu found no CUDA device and
 * so runs on the CPU: the backend's own `isUsingGpuDevice` says which.
 */
export function tensorflowDescription(pkg: string, usingGpu: boolean | undefined): string {
  const name = pkg.split('/')[1];
  if (usingGpu) return `tensorflow (${name}, on a GPU)`;
  if (name === 'tfjs-node-gpu') return `tensorflow (${name}, but no GPU device was found: running on the CPU; check CUDA and cuDNN)`;
  return `tensorflow (${name}, CPU)`;
}

/** Runs `f` with console.warn silenced: the cpu backend prints a "you are running in Node.js" banner on stderr. */
async function quietly<T>(f: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = () => {};
  try {
    const result = await f();
    await tf.ready();
    tf.scalar(0).dispose(); // the banner comes with the backend's first tensor
    return result;
  } finally {
    console.warn = warn;
  }
}

/**
 * What runs fast on the active backend; the model picks its code paths from it, never from the
 * backend's name.
 */
export interface ComputeStrategy {
  /**
   * A matMul with transpose flags or batch dims runs as fast as a plain one (native BLAS or
   * TensorFlow). When false (XNNPACK-wasm, whose transposed and batched products take a scalar
   * loop 10× slower), `linear`'s gradient transposes explicitly.
   */
  fastTransposedProducts: boolean;
  /** Attention's batched products are written as depthwise convolutions (XNNPACK's only fast batched path). */
  batchedProductsAsConvolution: boolean;
  /** Tensors live in main memory, so copying rows in JS beats a gather kernel (wasm's runs ~50× slower). */
  hostMemory: boolean;
  /**
   * Elementwise kernels beat a JavaScript loop over the same values (wasm's SIMD kernels,
   * TensorFlow, GPUs; not the pure-JS cpu backend, 20× slower than a loop): AdamW updates by
   * tensor ops where this holds.
   */
  fastElementwiseKernels: boolean;
  /** The fused GELU and LayerNorm kernels of src/native.ts are registered (one kernel forward, one backward each). */
  fusedKernels: boolean;
}

let strategy: { backend: string; native: boolean; value: ComputeStrategy } | null = null;

/** The {@link ComputeStrategy} of the active TF.js backend (worked out once per backend). */
export function computeStrategy(): ComputeStrategy {
  const backend = tf.getBackend();
  const native = backend === 'wasm' && nativeKernels() !== null;
  if (strategy && strategy.backend === backend && strategy.native === native) return strategy.value;
  const hostMemory = backend === 'wasm' || backend === 'cpu';
  const value: ComputeStrategy = backend === 'wasm'
    ? { fastTransposedProducts: native, batchedProductsAsConvolution: !native, hostMemory, fastElementwiseKernels: true, fusedKernels: native }
    : { fastTransposedProducts: !hostMemory, batchedProductsAsConvolution: false, hostMemory, fastElementwiseKernels: backend !== 'cpu', fusedKernels: false };
  strategy = { backend, native, value };
  return value;
}

/**
 * The most bytes the wasm backend's tensors can ever take (its heap grows up to the wasm32
 * ceiling, 4 GiB − 64 KiB: tfjs-backend-wasm's getHeapMax), or null when wasm is not the active
 * backend.
 */
export function wasmHeapLimit(): number | null {
  return tf.getBackend() === 'wasm' ? 4_294_901_760 : null;
}
