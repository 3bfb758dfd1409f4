/**
 * The bench's regression guard: this run's TF.js step times beside those of the latest earlier
 * results file (bench/results/<date>T<HHMM>.json, or <date>.json for older runs).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What the guard reads of a case of a results file. */
export interface CaseResult {
  batch: number;
  accumulate: number;
  tfjs: { msMedian: number };
}

/** Slower than the previous results by more than this (run-to-run drift here is ~10 %): flagged. */
const REGRESSION = 0.15;

/** The CPU a results file was measured on: the model name and its SIMD flags. */
export interface CpuIdentity {
  cpu?: string;
  cpuFlags?: string[];
}

const sameCpu = (a: CpuIdentity, b: CpuIdentity) => a.cpu === b.cpu && (a.cpuFlags ?? []).join(' ') === (b.cpuFlags ?? []).join(' ');

/**
 * The regression guard: the TF.js medians beside those of the latest earlier results file in
 * `dir` (files are named by date) measured on the same CPU (model and SIMD flags; times on
 * another CPU say nothing about a regression), with a warning where a case got more than 15 %
 * slower.
 */
export function compareWithPrevious(dir: string, current: string, results: CaseResult[], cpu: CpuIdentity): string[] {
  const earlier = fs.readdirSync(dir).filter((f) => /^\d{4}-\d{2}-\d{2}(T\d{4})?\.json$/.test(f) && f < current).sort()
    .filter((f) => sameCpu(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as CpuIdentity, cpu));
  if (!earlier.length) return [`no earlier results from this CPU (${cpu.cpu}; ${(cpu.cpuFlags ?? []).join(' ')}) to compare with`];
  const name = earlier[earlier.length - 1];
  const before = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as { results: CaseResult[] };
  return results.flatMap((r) => {
    const old = before.results.find((b) => b.batch === r.batch && b.accumulate === r.accumulate);
    if (!old) return [];
    const change = r.tfjs.msMedian / old.tfjs.msMedian - 1;
    return [`batch ${r.batch} vs ${name}: tfjs ${old.tfjs.msMedian} → ${r.tfjs.msMedian} ms (${change >= 0 ? '+' : ''}${(100 * change).toFixed(1)} %)` +
      (change > REGRESSION ? ` — SLOWER by more than ${100 * REGRESSION} %: a regression, or a busier machine (see loadAverage)` : '')];
  });
}

