import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { maeStepFlops } from '../src/nn/flops';
import { linearProducts } from '../bench/matmuls';
import { compareWithPrevious } from '../bench/regression';
import { presets } from '../src/config';
import { tempDir } from './helpers';

describe('bench', () => {
  it('the linear products of a step are its matmul FLOPs minus attention and the patch embedding input gradient', () => {
    const c = presets.tiny32;
    const batch = 64;
    const linear = linearProducts(c, batch).reduce((s, [m, k, n]) => s + 2 * m * k * n, 0);
    const encoderTokens = 1 + 16;
    const decoderTokens = 1 + 64;
    const attention = c.encoderDepth * 4 * encoderTokens ** 2 * c.encoderWidth + c.decoderDepth * 4 * decoderTokens ** 2 * c.decoderWidth;
    const patchEmbedInputGradient = 2 * 64 * 48 * c.encoderWidth; // not needed: images take no gradient
    assert.equal(maeStepFlops(c, batch) - linear, batch * (3 * attention + patchEmbedInputGradient));
  });

  it('regression guard: compares with the latest earlier results file of the same CPU and flags > 15 % slower cases', () => {
    const dir = tempDir();
    const cpu = { cpu: 'Example CPU', cpuFlags: ['avx', 'avx2', 'fma'] };
    const file = (date: string, ms: number[], on = cpu) =>
      fs.writeFileSync(path.join(dir, `${date}.json`), JSON.stringify({ ...on, results: ms.map((m, i) => ({ batch: [64, 256][i], accumulate: [1, 4][i], tfjs: { msMedian: m } })) }));
    const now = [{ batch: 64, accumulate: 1, tfjs: { msMedian: 1200 } }, { batch: 256, accumulate: 4, tfjs: { msMedian: 5000 } }];
    assert.deepEqual(compareWithPrevious(dir, '2026-11-22.json', now, cpu), ['no earlier results from this CPU (Example CPU; avx avx2 fma) to compare with']);
    file('2026-11-01', [2000, 8000]);
    file('2026-11-10', [1000, 5100]);
    file('2026-11-15', [500, 2000], { cpu: 'Example CPU', cpuFlags: ['avx', 'avx2', 'avx512f', 'fma'] }); // another CPU: ignored
    file('2026-12-01', [100, 100]); // later than this run: ignored
    const lines = compareWithPrevious(dir, '2026-11-22.json', now, cpu);
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^batch 64 vs 2026-11-10\.json: tfjs 1000 → 1200 ms \(\+20\.0 %\) — SLOWER by more than 15 %/);
    assert.match(lines[1], /^batch 256 vs 2026-11-10\.json: tfjs 5100 → 5000 ms \(-2\.0 %\)$/);
    // Files named with the time of day (<date>T<HHMM>) sort after that day's plain <date>.json.
    file('2026-11-22T0800', [1100, 5000]);
    const later = compareWithPrevious(dir, '2026-11-22T1200.json', now, cpu);
    assert.match(later[0], /^batch 64 vs 2026-11-22T0800\.json: tfjs 1100 → 1200 ms/);
  });
});
