/** Loss functions: pure functions of tensors, each checked against ../shared/fixtures/golden-losses.json. */
export { maeLoss as mae, type MaeLossOptions } from './mae';
