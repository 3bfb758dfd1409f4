/**
 * `ml.analysis`: what a representation looks like, beyond accuracy. The Laplacian spectrum of
 * MAGMA's graph (spectrum.ts), and the diagnostics of feature matrices: singular values and
 * effective rank, row-norm statistics, and linear CKA (representations.ts).
 */
export * from './spectrum';
export * from './representations';
