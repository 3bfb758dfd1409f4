/**
 * `ml.experiments`: comparisons of arms × seeds as run folders (grid), the same grids as
 * independent processes or cluster jobs (sweep, merge), and single runs in run folders as the
 * command line makes them (trainRun).
 */
export { cellSettings, grid, GridResult } from './grid';
export type { EpochResult, FinetuneSettings, GridMetric, GridOptions, GridRun, GridSpec } from './grid';
export { runConfigFromSettings, terminalReporter, trainOptions, trainRun } from './run';
export type { RunReporter, TrainRunOptions, TrainSettings } from './run';
export { mergeSweep, SweepMerge } from './merge';
export type { CellState, CellStatus } from './merge';
export { planSweep, readManifest } from './sweep';
export type { SweepCell, SweepFile, SweepPlan, SweepShorthand } from './sweep';
export { dryRun, dryRunRecipe, formatDryRun, GPU_FLOPS } from './dryRun';
export type { DryRunRow, StepCheck } from './dryRun';
export { paperRecipe, paperRecipes } from './paper';
export type { PaperRecipe } from './paper';
