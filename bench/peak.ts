/**
 * The machine's FP32 peak, measured: a small C program of independent fused multiply-adds on the
 * widest vectors the compiler targets (-march=native), compiled at bench time and run on 1 core and
 * on every core. Shares of this peak put the step's GFLOP/s in context.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Measured FP32 peak, GFLOP/s. */
export interface MachinePeak {
  oneCore: number;
  allCores: number;
  cores: number;
  /** How it was measured. */
  method: string;
}

// 12 independent accumulators of one vector each hide the FMA latency (4 cycles × 2 ports +
// margin); the compiler turns `acc * a + b` into one FMA per vector with -march=native
// -ffp-contract=fast. The vector is as wide as the CPU's: 16 floats with AVX-512, 8 with AVX,
// else 4 (a 16-float vector on an AVX2 CPU is split in two and under-reports the peak).
const SOURCE = String.raw`
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__AVX512F__)
#define VW 16
#elif defined(__AVX__)
#define VW 8
#else
#define VW 4
#endif
typedef float v16 __attribute__((vector_size(VW * 4)));
#define ACC 12
static long ITERS;
volatile float sink[64]; // volatile: keeps the compiler from dropping the work
static void *work(void *arg) {
  v16 a, b, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11;
  for (int i = 0; i < VW; i++) {
    a[i] = 0.999999f; b[i] = 1e-7f;
    c0[i] = i; c1[i] = i + 1; c2[i] = i + 2; c3[i] = i + 3; c4[i] = i + 4; c5[i] = i + 5;
    c6[i] = i + 6; c7[i] = i + 7; c8[i] = i + 8; c9[i] = i + 9; c10[i] = i + 10; c11[i] = i + 11;
  }
  for (long n = 0; n < ITERS; n++) {
    c0 = c0 * a + b; c1 = c1 * a + b; c2 = c2 * a + b; c3 = c3 * a + b; c4 = c4 * a + b; c5 = c5 * a + b;
    c6 = c6 * a + b; c7 = c7 * a + b; c8 = c8 * a + b; c9 = c9 * a + b; c10 = c10 * a + b; c11 = c11 * a + b;
  }
  v16 s = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
  sink[(long)arg % 64] = s[0] + s[VW - 1];
  return 0;
}
static double run(int threads) {
  pthread_t t[256];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < threads; i++) pthread_create(&t[i], 0, work, (void *)i);
  for (int i = 0; i < threads; i++) pthread_join(t[i], 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
  return threads * (double)ITERS * ACC * VW * 2 / s / 1e9;
}
int main(int argc, char **argv) {
  int threads = atoi(argv[1]);
  ITERS = atol(argv[2]);
  double best = 0;
  for (int r = 0; r < 5; r++) { double g = run(threads); if (g > best) best = g; }
  printf("%.1f %d\n", best, VW);
  return 0;
}
`;

/** Compiles and runs the probe; null (with the reason logged) when no C compiler is available. */
export function measurePeak(log: (line: string) => void): MachinePeak | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'magma-peak-'));
  try {
    const src = path.join(dir, 'fma.c');
    const exe = path.join(dir, 'fma');
    fs.writeFileSync(src, SOURCE);
    const flags = ['-O2', '-march=native', '-ffp-contract=fast', '-pthread', '-o', exe, src];
    const cc = spawnSync('gcc', flags, { encoding: 'utf8' });
    if (cc.status !== 0) {
      log(`machine peak not measured: gcc failed (${cc.error?.message ?? cc.stderr.trim().split('\n')[0]})`);
      return null;
    }
    const cores = os.cpus().length;
    const run = (threads: number) => spawnSync(exe, [String(threads), '20000000'], { encoding: 'utf8' }).stdout.trim().split(' ').map(Number);
    const [oneCore, width] = run(1);
    const [allCores] = run(cores);
    return {
      oneCore, allCores, cores,
      method: `gcc -O2 -march=native: 12 independent chains of ${width}-float vector FMAs per thread (the CPU's vector width), best of 5 runs`,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
