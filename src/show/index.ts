/**
 * Everything a notebook displays. Every helper returns a {@link DisplayBundle}: a plain object
 * holding one output in several MIME representations, shown when it is a tslab cell's value or
 * passed to {@link display}, saved with {@link save}, and testable without a kernel. Helpers that
 * draw vega-lite charts (curves, similarity) are async: `await show.curves(run.history)`.
 *
 * ```ts
 * show.images(data.test.take(16), {cols: 8});
 * show.reconstructions(model, data.test.take(8), {maskRatio: 0.75, seed: 0});
 * await show.curves({mae: a.history, 'm-mae': b.history});
 * show.layerPca(model, data.test.take(1));  show.attention(model, data.test.take(1), {block: -1});
 * show.layerPcaTop({MAE: a, 'M-MAE': b}, data.test.take(2));  show.attentionCompare({MAE: a, 'M-MAE': b}, data.test.take(2));
 * show.compare({'k-NN': 81.2}, {'k-NN': 86.9}, {ours: 'ours (1 epoch)'});
 * const bar = show.progress(run, {totalSteps: 100});
 * ```
 * @packageDocumentation
 */
export { describe, display, makeBundle, MIME } from './bundle';
export type { DisplayBundle } from './bundle';
export { inKernel } from './kernel';
export { save } from './save';
export { images } from './images';
export type { ImagesOptions } from './images';
export { foregroundPatches } from './raster';
export type { ForegroundOptions, ImageArray, Raster } from './raster';
export { reconstruct, reconstructions } from './reconstructions';
export type { ReconstructionOptions, ReconstructionPanels } from './reconstructions';
export { chartBundle } from './chart';
export type { VegaLiteSpec } from './chart';
export { curves } from './curves';
export type { CurvesOptions } from './curves';
export { layerPca, layerPcaCompare, layerPcaTop, pcaMaps, principalScores, topComponents } from './layerPca';
export type { LayerPcaOptions, LayerPcaTopOptions, PcaMap, TopComponent, TopComponentOptions } from './layerPca';
export { attention, attentionCompare, clsAttention } from './attention';
export type { AttentionCompareOptions, AttentionOptions, ClsAttention } from './attention';
export { similarity } from './similarity';
export type { Matrix, SimilarityOptions } from './similarity';
export { compare, table } from './table';
export type { CompareOptions, Row, TableOptions } from './table';
export { progress } from './progress';
export { gridProgress } from './gridProgress';
export type { FinishedRun, GridProgressHandle } from './gridProgress';
export type { ProgressHandle, ProgressOptions } from './progress';
export { sweep } from './sweep';
export type { SweepOptions, SweepSeries } from './sweep';
export { cka, spectrum } from './representations';
export type { SpectrumOptions } from './representations';
