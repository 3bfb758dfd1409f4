/**
 * The data API: `load(name, opts)` for datasets, the {@link Dataset} type with seeded batching,
 * augmentations, and `batchToTensor` to turn a uint8 batch into a standardized tensor.
 *
 * ```ts
 * import * as data from './data'; // from src/
 * const { train, test } = await data.load('fashion-mnist', { trainLimit: 5000 });
 * const augment = data.compose(data.randomResizedCrop(), data.horizontalFlip());
 * for (const batch of train.batches(128, { seed: 0, epoch, transform: augment })) {
 *   const x = data.batchToTensor(batch); // [128, 28, 28, 1], standardized with train.stats
 * }
 * ```
 */
export { Dataset, channelStats } from './dataset';
export type { Batch, BatchOptions, BatchTransform, CacheReport, ChannelStats, DatasetSplits } from './dataset';
export { MemoryStorage, FileStorage } from './storage';
export type { ImageStorage } from './storage';
export { load, locate, datasetNames, datasetOptionKeys, isDatasetName } from './load';
export type { DatasetName, DatasetOptions, LoadOptions, RawSplit, RawSplits } from './load';
export { FASHION_MNIST_CLASSES, MNIST_CLASSES, DEBIAN_FASHION_MNIST_DIR, fashionMnistDirs } from './mnist';
export type { FashionMnistOptions } from './mnist';
export type { SyntheticOptions } from './synthetic';
export type { Stl10Options } from './stl10';
export type { DecodedOptions } from './imagefolder';
export { IMAGENET100_LIST, imagenet100Wnids } from './imagenet100';
export { decodeImage } from './decode';
export { readIdx, readIdxPair, parseIdx, encodeIdx, writeIdx } from './idx';
export type { IdxArray, IdxKind, IdxPair, ReadIdxOptions, ReadIdxPairOptions } from './idx';
export { randomResizedCrop, randomFixedCrop, horizontalFlip, compose } from './augment';
export { colorJitter, randomGrayscale } from './color';
export type { ColorJitterOptions } from './color';
export type { RandomResizedCropOptions } from './augment';
export { batchToTensor } from './tensor';
export { DataError } from './errors';
