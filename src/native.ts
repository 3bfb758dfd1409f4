/**
 * magma-lab's optional native kernels (native/, built by `npm run build:native`): the wasm
 * backend's `BatchMatMul` and `_FusedMatMul` computed by the system BLAS (OpenBLAS, or Accelerate
 * on macOS), its `Softmax`, and fused GELU and LayerNorm kernels, in place on the wasm heap, over
 * every core. The addon receives the heap and each
 * tensor's byte offset inside it, so nothing is copied (../shared/research/bench/native-matmul-probe).
 *
 * XNNPACK-wasm runs only an untransposed, unbatched product fast, on one thread; with these
 * kernels every transpose flag, batch and broadcast runs at BLAS speed. Products these kernels do
 * not cover (non-float32, batch shapes that broadcast in both operands, an activation other than
 * relu, PReLU weights, empty tensors) go to wasm's own kernel.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

/** The addon's functions (native/src/kernels.c). */
interface Addon {
  gemm(
    heap: ArrayBuffer, batch: number, m: number, n: number, k: number, transposeA: number, transposeB: number,
    offsetA: number, strideA: number, offsetB: number, strideB: number, offsetC: number, offsetBias: number, relu: number,
  ): void;
  gelu(heap: ArrayBuffer, n: number, offsetX: number, offsetY: number, offsetCdf: number): void;
  geluGrad(heap: ArrayBuffer, n: number, offsetDy: number, offsetX: number, offsetCdf: number, offsetDx: number): void;
  layerNorm(
    heap: ArrayBuffer, rows: number, d: number, eps: number,
    offsetX: number, offsetWeight: number, offsetBias: number, offsetY: number, offsetXhat: number, offsetRstd: number,
  ): void;
  layerNormGrad(
    heap: ArrayBuffer, rows: number, d: number,
    offsetDy: number, offsetXhat: number, offsetRstd: number, offsetWeight: number, offsetDx: number, offsetDweight: number, offsetDbias: number,
  ): void;
  softmax(heap: ArrayBuffer, rows: number, n: number, offsetX: number, offsetY: number): void;
  info(): { blas: string; threads: number };
}

/**
 * The fused GELU kernels these native kernels add to wasm: `MagmaGelu` maps x to [x·Φ(x), Φ(x)]
 * (Φ is kept for the gradient), `MagmaGeluGrad` maps (dy, x, Φ) to dy·(Φ(x) + x·φ(x)). They
 * replace 5 wasm kernels forward and 7 backward, and run on two threads.
 */
export const GELU_KERNEL = 'MagmaGelu';
export const GELU_GRAD_KERNEL = 'MagmaGeluGrad';

/**
 * The fused LayerNorm kernels these native kernels add to wasm, over the rows of a [rows, d]
 * tensor: `MagmaLayerNorm` maps (x, γ, β; attr `eps`) to [y, x̂, r] with r = 1/√(σ² + ε) of each
 * row ([rows, 1]); `MagmaLayerNormGrad` maps (dy, x̂, r, γ) to [dx, dγ, dβ]. They replace about
 * 10 wasm kernels forward and 12 backward, and run on two threads.
 */
export const LAYER_NORM_KERNEL = 'MagmaLayerNorm';
export const LAYER_NORM_GRAD_KERNEL = 'MagmaLayerNormGrad';

/** The slice of the wasm backend these kernels use. */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/** What the native kernels are, once loaded. */
export interface NativeInfo {
  /** e.g. `OpenBLAS 0.3.21`. */
  blas: string;
  /** BLAS threads (0 when the BLAS does not say, as Accelerate). */
  threads: number;
}

/** The addon's path: built in place by node-gyp. */
export const ADDON_PATH = path.join(__dirname, '..', 'native', 'build', 'Release', 'magma_native.node');

let addon: Addon | null = null;
let loadError: string | null = null;

/** Loads the addon once; returns it, or null with {@link nativeUnavailableReason} saying why. */
function loadAddon(): Addon | null {
  if (addon || loadError) return addon;
  try {
    addon = require(ADDON_PATH) as Addon;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    loadError = err.code === 'MODULE_NOT_FOUND'
      ? 'not built (run `npm run build:native`; it needs a C compiler and libopenblas-dev)'
      : `failed to load ${ADDON_PATH}: ${err.message.split('\n')[0]}`;
  }
  return addon;
}

/** Why the native kernels cannot be used here, or null when they can. */
export function nativeUnavailableReason(): string | null {
  loadAddon();
  return loadError;
}

/** The wasm backend's own kernels, kept to fall back on and to restore. */
const wasmKernels = new Map<string, tf.KernelConfig>();
let active: NativeInfo | null = null;

/** The native kernels now registered on wasm, or null. */
export function nativeKernels(): NativeInfo | null {
  return active;
}

/**
 * Registers the native `BatchMatMul`, `_FusedMatMul` and `Softmax` (and adds the fused GELU and
 * LayerNorm kernels) on the wasm backend (which must be registered already). Returns what was registered, or the reason it could not be.
 */
export function enableNativeKernels(): NativeInfo | string {
  if (active) return active;
  const lib = loadAddon();
  if (!lib) return loadError!;
  for (const name of ['BatchMatMul', '_FusedMatMul', 'Softmax']) {
    const own = tf.getKernel(name, 'wasm');
    if (!own) return `the wasm backend has no ${name} kernel to replace`;
    wasmKernels.set(name, own);
  }
  replaceKernel('BatchMatMul', (args) => product(lib, args, false));
  replaceKernel('_FusedMatMul', (args) => product(lib, args, true));
  replaceKernel('Softmax', (args) => softmax(lib, args));
  for (const [name, kernel] of addedKernels) {
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: ((args: KernelArgs) => kernel(lib, args)) as tf.KernelFunc });
  }
  active = lib.info();
  return active;
}

/** Puts wasm's own matrix-product kernels back. */
export function disableNativeKernels(): void {
  if (!active) return;
  for (const [name, own] of wasmKernels) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(own);
  }
  for (const name of addedKernels.keys()) tf.unregisterKernel(name, 'wasm');
  active = null;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function replaceKernel(name: string, kernelFunc: (args: KernelArgs) => tf.TensorInfo): void {
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: kernelFunc as tf.KernelFunc });
}

const count = (dims: number[]) => dims.reduce((x, y) => x * y, 1);

/** The byte offset of a tensor's data in the wasm heap. */
const offsetIn = (backend: WasmBackend) => (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;

function checkFloat32(kernel: string, inputs: tf.TensorInfo[]): void {
  for (const t of inputs) if (t.dtype !== 'float32') throw new Error(`${kernel}: float32 input expected, got ${t.dtype}`);
}

/** [y, Φ] = MagmaGelu(x). */
function gelu(lib: Addon, { inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const wasm = backend as WasmBackend;
  const x = inputs.x as tf.TensorInfo;
  checkFloat32(GELU_KERNEL, [x]);
  const y = wasm.makeOutput(x.shape, 'float32');
  const cdf = wasm.makeOutput(x.shape, 'float32');
  const offset = offsetIn(wasm);
  lib.gelu(wasm.wasm.HEAPU8.buffer as ArrayBuffer, count(x.shape), offset(x), offset(y), offset(cdf));
  return [y, cdf];
}

/** dx = MagmaGeluGrad(dy, x, Φ). */
function geluGrad(lib: Addon, { inputs, backend }: KernelArgs): tf.TensorInfo {
  const wasm = backend as WasmBackend;
  const { dy, x, cdf } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo; cdf: tf.TensorInfo };
  checkFloat32(GELU_GRAD_KERNEL, [dy, x, cdf]);
  const dx = wasm.makeOutput(x.shape, 'float32');
  const offset = offsetIn(wasm);
  lib.geluGrad(wasm.wasm.HEAPU8.buffer as ArrayBuffer, count(x.shape), offset(dy), offset(x), offset(cdf), offset(dx));
  return dx;
}

/**
 * Softmax over the last axis, the only one tf.softmax takes (its gradient, from the saved output,
 * stays TF.js's own). Other dtypes and empty tensors go to wasm's kernel.
 */
function softmax(lib: Addon, args: KernelArgs): tf.TensorInfo {
  const wasm = args.backend as WasmBackend;
  const logits = args.inputs.logits as tf.TensorInfo;
  const rank = logits.shape.length;
  if (logits.dtype !== 'float32' || rank === 0 || count(logits.shape) === 0) {
    return wasmKernels.get('Softmax')!.kernelFunc(args as never) as tf.TensorInfo;
  }
  const n = logits.shape[rank - 1];
  const y = wasm.makeOutput(logits.shape, 'float32');
  const offset = offsetIn(wasm);
  lib.softmax(wasm.wasm.HEAPU8.buffer as ArrayBuffer, count(logits.shape) / n, n, offset(logits), offset(y));
  return y;
}

/** [y, x̂, r] = MagmaLayerNorm(x [rows, d], γ [d], β [d]; eps). */
function layerNorm(lib: Addon, { inputs, backend, attrs = {} }: KernelArgs): tf.TensorInfo[] {
  const wasm = backend as WasmBackend;
  const { x, weight, bias } = inputs as { x: tf.TensorInfo; weight: tf.TensorInfo; bias: tf.TensorInfo };
  checkFloat32(LAYER_NORM_KERNEL, [x, weight, bias]);
  const [rows, d] = rowsOf(LAYER_NORM_KERNEL, x, [weight, bias]);
  const y = wasm.makeOutput(x.shape, 'float32');
  const xhat = wasm.makeOutput(x.shape, 'float32');
  const rstd = wasm.makeOutput([rows, 1], 'float32');
  const offset = offsetIn(wasm);
  lib.layerNorm(wasm.wasm.HEAPU8.buffer as ArrayBuffer, rows, d, attrs.eps as number,
    offset(x), offset(weight), offset(bias), offset(y), offset(xhat), offset(rstd));
  return [y, xhat, rstd];
}

/** [dx, dγ, dβ] = MagmaLayerNormGrad(dy [rows, d], x̂ [rows, d], r [rows, 1], γ [d]). */
function layerNormGrad(lib: Addon, { inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const wasm = backend as WasmBackend;
  const { dy, xhat, rstd, weight } = inputs as { dy: tf.TensorInfo; xhat: tf.TensorInfo; rstd: tf.TensorInfo; weight: tf.TensorInfo };
  checkFloat32(LAYER_NORM_GRAD_KERNEL, [dy, xhat, rstd, weight]);
  const [rows, d] = rowsOf(LAYER_NORM_GRAD_KERNEL, xhat, [weight], [dy]);
  if (count(rstd.shape) !== rows) throw new Error(`${LAYER_NORM_GRAD_KERNEL}: r has shape [${rstd.shape}], expected [${rows}, 1]`);
  const dx = wasm.makeOutput(xhat.shape, 'float32');
  const dweight = wasm.makeOutput([d], 'float32');
  const dbias = wasm.makeOutput([d], 'float32');
  const offset = offsetIn(wasm);
  lib.layerNormGrad(wasm.wasm.HEAPU8.buffer as ArrayBuffer, rows, d,
    offset(dy), offset(xhat), offset(rstd), offset(weight), offset(dx), offset(dweight), offset(dbias));
  return [dx, dweight, dbias];
}

/** [rows, d] of a 2-D `x`, checked against the [d] `vectors` and the tensors `alike` that must have x's shape. */
function rowsOf(kernel: string, x: tf.TensorInfo, vectors: tf.TensorInfo[], alike: tf.TensorInfo[] = []): [number, number] {
  const [rows, d] = x.shape;
  const ok = x.shape.length === 2 && vectors.every((v) => v.shape.length === 1 && v.shape[0] === d) &&
    alike.every((t) => t.shape.length === 2 && t.shape[0] === rows && t.shape[1] === d);
  if (!ok) {
    const shapes = [x, ...vectors, ...alike].map((t) => `[${t.shape}]`).join(', ');
    throw new Error(`${kernel}: expected a [rows, d] tensor, [d] vectors and [rows, d] tensors, got ${shapes}`);
  }
  return [rows, d];
}

/** The kernels these native kernels add to wasm (rather than replace), by name. */
const addedKernels = new Map<string, (lib: Addon, args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]>([
  [GELU_KERNEL, gelu],
  [GELU_GRAD_KERNEL, geluGrad],
  [LAYER_NORM_KERNEL, layerNorm],
  [LAYER_NORM_GRAD_KERNEL, layerNormGrad],
]);

/**
 * C = op(A)·op(B) over the batch dims, as tf.matMul: a is [...batch, M, K] ([..., K, M] with
 * transposeA), b is [...batch, K, N] ([..., N, K] with transposeB). One operand's batch may be 1
 * (broadcast). With `fused`, also `+ bias` ([N]) and relu / linear activation.
 */
function product(lib: Addon, args: KernelArgs, fused: boolean): tf.TensorInfo {
  const { inputs, attrs = {} } = args;
  const backend = args.backend as WasmBackend;
  const a = inputs.a as tf.TensorInfo;
  const b = inputs.b as tf.TensorInfo;
  const bias = inputs.bias as tf.TensorInfo | undefined;
  const transposeA = attrs.transposeA as boolean;
  const transposeB = attrs.transposeB as boolean;
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  const batchDimsA = a.shape.slice(0, -2);
  const batchDimsB = b.shape.slice(0, -2);
  const batchA = count(batchDimsA);
  const batchB = count(batchDimsB);
  const sameBatch = batchDimsA.length === batchDimsB.length && batchDimsA.every((d, i) => d === batchDimsB[i]);
  const covered = a.dtype === 'float32' && b.dtype === 'float32' && m * n * k > 0 &&
    (sameBatch || batchA === 1 || batchB === 1) &&
    (!fused || ((activation === 'linear' || activation === 'relu') && !inputs.preluActivationWeights &&
      (!bias || (bias.dtype === 'float32' && count(bias.shape) === n && (bias.shape.length === 1 || bias.shape.length === 2)))));
  if (!covered) return wasmKernels.get(fused ? '_FusedMatMul' : 'BatchMatMul')!.kernelFunc(args as never) as tf.TensorInfo;

  const batchDims = batchA >= batchB ? batchDimsA : batchDimsB;
  const batch = Math.max(batchA, batchB);
  const out = backend.makeOutput([...batchDims, m, n], 'float32');
  // Read the heap after makeOutput, which may have grown (and so replaced) it.
  const heap = backend.wasm.HEAPU8.buffer as ArrayBuffer;
  const offset = offsetIn(backend);
  const strideA = batchA === 1 ? 0 : m * k;
  const strideB = batchB === 1 ? 0 : k * n;
  const biasOffset = fused && bias ? offset(bias) : -1;
  const relu = fused && activation === 'relu' ? 1 : 0;
  if (strideB === 0 && !transposeA && batch > 1) {
    // [batch, M, K]·[K, N]: one product of [batch·M, K]·[K, N], which BLAS splits better.
    lib.gemm(heap, 1, batch * m, n, k, 0, transposeB ? 1 : 0, offset(a), 0, offset(b), 0, offset(out), biasOffset, relu);
  } else {
    lib.gemm(heap, batch, m, n, k, transposeA ? 1 : 0, transposeB ? 1 : 0, offset(a), strideA, offset(b), strideB, offset(out), biasOffset, relu);
  }
  return out;
}
