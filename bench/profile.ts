/**
 * `npm run bench -- --profile`: the time per TF.js kernel of one piece of work (a training step:
 * forward, backward and update; or one batch of feature extraction), summed by kernel name, the
 * top N printed, so the next bottleneck is visible.
 * Timings come from tf.profile, which times each kernel on its own (wasm kernels run
 * synchronously, so each time is the kernel's whole cost); a kernel that calls another directly
 * (a native kernel falling back to wasm's) counts once, under its own name.
 */
import * as tf from '@tensorflow/tfjs';

/** One kernel's share of a step. */
export interface KernelTime {
  name: string;
  /** Calls in the step. */
  calls: number;
  ms: number;
  /** Share of the summed kernel time, %. */
  share: number;
}

/** A profile: kernel times by name, largest first, their sum, and the work's wall time. */
export interface KernelProfile {
  kernels: KernelTime[];
  kernelMs: number;
  wallMs: number;
}

/** Profiles `work` (which must dispose what it makes) kernel by kernel. */
export async function profileKernels(work: () => Promise<void>): Promise<KernelProfile> {
  const check = tf.env().getBool('CHECK_COMPUTATION_FOR_ERRORS');
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false); // it would read every output back
  const start = performance.now();
  let info: Awaited<ReturnType<typeof tf.profile>>;
  try {
    info = await tf.profile(async () => {
      await work();
      return [];
    });
  } finally {
    tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', check);
  }
  const wallMs = performance.now() - start;
  const byName = new Map<string, { calls: number; ms: number }>();
  // tf.profile also lists op and custom-gradient scopes (`forward`, `fusedMatMul__op`) around
  // the kernels they run: keep only the kernels, so nothing counts twice.
  const backend = tf.getBackend();
  for (const k of info.kernels.filter((k) => tf.getKernel(k.name, backend) !== undefined)) {
    const entry = byName.get(k.name) ?? { calls: 0, ms: 0 };
    entry.calls++;
    entry.ms += k.kernelTimeMs as number;
    byName.set(k.name, entry);
  }
  const kernelMs = [...byName.values()].reduce((s, e) => s + e.ms, 0);
  const kernels = [...byName.entries()]
    .map(([name, e]) => ({ name, calls: e.calls, ms: Math.round(e.ms * 10) / 10, share: Math.round((1000 * e.ms) / kernelMs) / 10 }))
    .sort((a, b) => b.ms - a.ms);
  return { kernels, kernelMs: Math.round(kernelMs), wallMs: Math.round(wallMs) };
}

/** The profile as a table: the top `top` kernels and the rest in one line. */
export function formatProfile(p: KernelProfile, top: number): string {
  const lines = [`kernel                      calls        ms      %`];
  for (const k of p.kernels.slice(0, top)) {
    lines.push(`${k.name.padEnd(26)} ${String(k.calls).padStart(7)} ${k.ms.toFixed(1).padStart(9)} ${k.share.toFixed(1).padStart(6)}`);
  }
  const rest = p.kernels.slice(top);
  if (rest.length) {
    const ms = rest.reduce((s, k) => s + k.ms, 0);
    lines.push(`${`(${rest.length} other kernels)`.padEnd(26)} ${String(rest.reduce((s, k) => s + k.calls, 0)).padStart(7)} ${ms.toFixed(1).padStart(9)} ${((100 * ms) / p.kernelMs).toFixed(1).padStart(6)}`);
  }
  lines.push(`sum of kernel times ${p.kernelMs} ms; the profiled work took ${p.wallMs} ms (profiling adds overhead; JS work between kernels is the rest)`);
  return lines.join('\n');
}
