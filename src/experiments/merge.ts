/**
 * `magma-lab sweep --merge <dir>` and `ml.runs.compare(<dir>)`: every cell of a sweep folder read
 * back into one table per grid (mean ± std per arm, the raw-pixel row, paired differences with
 * their 95 % intervals), with the cells missing, failed or unfinished listed by name.
 */
import * as fs from 'fs';
import * as path from 'path';
import { lockHolder, writeFileAtomic, writeJsonAtomic } from '../io';
import { table } from '../show/table';
import { GridResult, type GridRun, readCell, readPixelBaseline } from './grid';
import { cellDir, failedFile, readManifest, runCellState, type SweepCell, type SweepPlan } from './sweep';

/** Where a cell stands: finished, failed (with why), started but not finished, running now, or not started. */
export type CellState = 'done' | 'failed' | 'incomplete' | 'running' | 'missing';

/** A cell of the sweep and where it stands. */
export interface CellStatus {
  cell: SweepCell;
  /** Its run folder (or grid folder, for a pixel baseline). */
  dir: string;
  state: CellState;
  /** Why it is not done, in words. */
  why?: string;
}

/** A merged sweep: one {@link GridResult} per grid, and the state of every cell. */
export class SweepMerge {
  constructor(readonly plan: SweepPlan, readonly grids: GridResult[], readonly cells: CellStatus[]) {}

  /** The cells that are not done. */
  get problems(): CellStatus[] {
    return this.cells.filter((c) => c.state !== 'done');
  }

  /** Per grid: the summary rows and the paired differences of its comparisons (for `show.table`). */
  tables(): { grid: string; dataset: string; summary: Record<string, string | number>[]; differences: Record<string, string>[] }[] {
    return this.grids.map((g, i) => ({
      grid: g.spec.name, dataset: g.spec.data.dataset as string,
      summary: g.summary(), differences: g.differences(this.plan.compare[i]),
    }));
  }

  /** The whole merge as Markdown: a status line, each grid's tables, and the cells not done. */
  markdown(): string {
    const done = this.cells.length - this.problems.length;
    const parts = [`# Sweep ${this.plan.name}`, '', `${done} of ${this.cells.length} cells done (${this.plan.dir}).`];
    for (const t of this.tables()) {
      parts.push('', `## ${t.grid} (${t.dataset})`, '', mdTable(t.summary));
      if (t.differences.length) parts.push('', 'Paired differences over seeds (after − before):', '', mdTable(t.differences));
    }
    if (this.problems.length) {
      parts.push('', '## Cells not done', '', mdTable(this.problems.map((p) => ({ cell: p.cell.index, what: p.cell.label, state: p.state, why: p.why ?? '', folder: p.dir }))));
    }
    return `${parts.join('\n')}\n`;
  }

  /** Plain data for merged.json. */
  toJSON() {
    return {
      name: this.plan.name, dir: this.plan.dir, mergedAt: new Date().toISOString(),
      cells: { total: this.cells.length, done: this.cells.length - this.problems.length },
      grids: this.tables().map((t, i) => ({ ...t, pixels: this.grids[i].pixels, runs: this.grids[i].runs })),
      problems: this.problems.map((p) => ({ cell: p.cell.index, label: p.cell.label, state: p.state, why: p.why, dir: p.dir })),
    };
  }
}

function mdTable(rows: Record<string, unknown>[]): string {
  return table(rows).data['text/markdown'] as string;
}

/** Reads every cell of a sweep folder back (nothing is trained or evaluated). */
export function mergeSweep(dir: string): SweepMerge {
  const plan = readManifest(dir);
  const cells: CellStatus[] = [];
  const runs: GridRun[][] = plan.grids.map(() => []);
  for (const cell of plan.cells) {
    const status = cellStatus(plan, cell);
    cells.push(status);
    if (status.state === 'done' && cell.kind === 'run') {
      runs[cell.grid].push(readCell(status.dir, cell.arm, cell.seed, Object.keys(plan.grids[cell.grid].evaluate?.finetune ?? {}), 0));
    }
  }
  const missing = { knnCosine: NaN, knnEuclidean: NaN, linearProbe: NaN };
  const grids = plan.grids.map((spec, i) => new GridResult(spec, runs[i], readPixelBaseline(spec) ?? missing));
  return new SweepMerge(plan, grids, cells);
}

function cellStatus(plan: SweepPlan, cell: SweepCell): CellStatus {
  const dir = cellDir(plan, cell);
  const failed = failedFile(plan, cell);
  const status = (state: CellState, why?: string): CellStatus => ({ cell, dir, state, ...(why ? { why } : {}) });
  const holder = lockHolder(dir);
  if (cell.kind === 'run' && holder) return status('running', `process ${holder.pid} on ${holder.host} since ${holder.since}`);
  if (fs.existsSync(failed)) {
    try {
      return status('failed', JSON.parse(fs.readFileSync(failed, 'utf8')).error);
    } catch {
      return status('failed', `see ${failed}`);
    }
  }
  if (cell.kind === 'pixels') return readPixelBaseline(plan.grids[cell.grid]) ? status('done') : status('missing', 'not measured yet');
  let state: ReturnType<typeof runCellState>;
  try {
    state = runCellState(plan, cell);
  } catch (e) {
    return status('failed', (e as Error).message);
  }
  if (state === 'done') return status('done');
  if (state === 'partial') return status('incomplete', 'started, not finished (stopped or killed); run its cell again to resume from the last checkpoint');
  return status('missing', 'not started');
}

/** Writes `<dir>/merged.json` and `<dir>/merged.md`; returns their paths. */
export function writeMerge(merge: SweepMerge): { json: string; markdown: string } {
  const json = path.join(merge.plan.dir, 'merged.json');
  const markdown = path.join(merge.plan.dir, 'merged.md');
  writeJsonAtomic(json, merge.toJSON());
  writeFileAtomic(markdown, merge.markdown());
  return { json, markdown };
}
