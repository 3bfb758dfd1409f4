/**
 * Picks the fastest TF.js backend that works here and says why the faster ones were skipped.
 * Order: tfjs-node-gpu, tfjs-node (native TensorFlow; optional dependencies whose installers need
 * to download libtensorflow), wasm with SIMD, pure-JS cpu. `MAGMA_LAB_BACKEND=tensorflow|wasm|cpu`
 * forces one. Model code never branches on the backend's name.
 */
import * as tf from '@tensorflow/tfjs';

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
}

let current: BackendReport | null = null;

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
  if (current && current.forced === !!wanted && (!wanted || wanted === current.name)) return current;
  const skipped: string[] = [];
  const order: BackendName[] = wanted ? [wanted] : ['tensorflow', 'wasm', 'cpu'];
  for (const name of order) {
    const reason = await tryBackend(name);
    if (typeof reason !== 'string') {
      current = { name, description: reason.description, skipped, forced: !!wanted };
      return current;
    }
    skipped.push(`${name}: ${reason}`);
  }
  throw new Error(`no TF.js backend could start:\n  ${skipped.join('\n  ')}`);
}

/** One line for logs: `backend: wasm (SIMD, 1 thread); skipped tensorflow: ...`. */
export function describeBackend(r: BackendReport): string {
  const why = r.forced ? ' (forced by MAGMA_LAB_BACKEND)' : r.skipped.length ? `; skipped ${r.skipped.join('; ')}` : '';
  return `backend: ${r.description}${why}`;
}

async function tryBackend(name: BackendName): Promise<{ description: string } | string> {
  try {
    if (name === 'tensorflow') return await startNative();
    if (name === 'wasm') {
      require('@tensorflow/tfjs-backend-wasm');
      shareDataInWasmIdentity();
      if (!(await quietly(() => tf.setBackend('wasm')))) return 'failed to initialize';
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const wasm = require('@tensorflow/tfjs-backend-wasm') as { getThreadsCount(): number };
      return { description: `wasm (${simd ? 'SIMD' : 'no SIMD'}, ${wasm.getThreadsCount()} thread${wasm.getThreadsCount() === 1 ? '' : 's'})` };
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
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require.resolve(pkg);
    } catch {
      continue;
    }
    require(pkg);
    if (await quietly(() => tf.setBackend('tensorflow'))) return { description: `tensorflow (${pkg.split('/')[1]})` };
  }
  return 'not installed (optional dependencies @tensorflow/tfjs-node-gpu / tfjs-node; their installer downloads libtensorflow)';
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
