/**
 * `ml.runs`: run folders in a notebook. `load` opens one run; `compare` puts run folders side by
 * side, or merges a sweep folder (what `magma-lab sweep --merge` prints) into its tables.
 */
import { compare as compareRuns, type RunComparison } from '../eval/runs';
import { mergeSweep, type SweepMerge } from './merge';

export { load } from '../eval/runs';
export type { Run, RunComparison, RunFinetune, RunResults } from '../eval/runs';
export type { CellState, CellStatus, SweepMerge } from './merge';

/**
 * Several run folders side by side (one row each, and their histories), or, given one sweep
 * folder (`<out>/<name>` of `magma-lab sweep`), its merge: one {@link GridResult} per grid
 * (`summary()`, `differences()`), `tables()` for `show.table`, and the cells not done.
 * @example ml.show.table(ml.runs.compare(['runs/a', 'runs/b']).rows)
 * @example const sweep = ml.runs.compare('runs/my-sweep'); ml.show.table(sweep.tables()[0].summary)
 */
export function compare(dirs: string[]): RunComparison;
export function compare(sweepDir: string): SweepMerge;
export function compare(what: string[] | string): RunComparison | SweepMerge {
  return typeof what === 'string' ? mergeSweep(what) : compareRuns(what);
}
