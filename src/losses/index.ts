/** Loss functions: pure functions of tensors, each checked against ../shared/fixtures/golden-losses.json. */
export { maeLoss as mae, type MaeLossOptions } from './mae';
export { magma, magmaGraph, type MagmaGraph, type MagmaOptions } from './magma';
export { uniformity } from './uniformity';
export { ntXent } from './ntxent';
export { vicreg, type VicregWeights } from './vicreg';
