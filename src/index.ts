/**
 * magma-lab: masked autoencoders (MAE) and the MAGMA regularizer in TensorFlow.js, cell by cell.
 *
 * ```ts
 * import * as ml from 'magma-lab';
 * await ml.useBestBackend();                                   // wasm (SIMD) here; reports why
 * const data = await ml.data.load('fashion-mnist');
 * const model = ml.createMae(ml.presets.tiny28, { seed: 0 });
 * const run = ml.createTrainer(model, { seed: 0, totalSteps: 400 });
 * for (const batch of data.train.batches(128, { seed: 0, epoch: 0 })) await run.step(batch);
 * const report = await ml.eval.evaluate(model, data);          // k-NN, linear probe, pixel baseline
 * run.save('runs/mae-seed0');
 * ```
 * @packageDocumentation
 */
import { installInterruptHandler } from './interrupt';
import { inKernel } from './show/kernel';

// In a notebook kernel, Kernel → Interrupt stops the running fit, grid, evaluation or
// fine-tuning, not only the cell that awaits it (see interrupt.ts). Installed on the next turn of
// the event loop: tslab runs a cell's synchronous part (this import) with breakOnSigint, and a
// SIGINT listener added inside it leaves the process with the default action, so that the
// interrupt would kill the kernel.
if (inKernel()) setImmediate(installInterruptHandler);

export { backendReport, describeBackend, useBestBackend } from './backend';
export { InterruptedError } from './interrupt';
export type { BackendName, BackendReport } from './backend';
export { ConfigError, presets, resolveConfig, upgradeConfig, validateConfig } from './config';
export type { MaeConfig, MaskSampling, PresetName } from './config';
export { Rng } from './random';
export type { RngState } from './random';
export { clsToken, createMae, Mae, maeParameterCount, meanPatchTokens } from './nn/mae';
export type { CreateMaeOptions, EncoderOutput, MaeOutput, Representations, WeightsLayout, WeightsOrigin } from './nn/mae';
export { loadPretrained, PretrainedError } from './nn/pretrained';
export type { LoadPretrainedOptions } from './nn/pretrained';
export { SafetensorsError, SafetensorsFile, writeSafetensors } from './safetensors';
export type { SafetensorsDtype, SafetensorsEntry, StoredTensor } from './safetensors';
export { patchify, sinCosPositionalEmbedding, unpatchify } from './nn/patches';
export { keptCount, sampleMasking } from './nn/masking';
export type { Masking } from './nn/masking';
export type { Param } from './nn/params';
export { createTrainer, loadCheckpoint, NonFiniteLossError, Trainer } from './train/trainer';
export { resolveTrainerOptions } from './train/options';
export type { FitOptions, LoadedCheckpoint, StepRecord } from './train/trainer';
export type { MagmaOptions, ResolvedTrainerOptions, TrainerOptions } from './train/options';
export { createMethod, methodNames } from './train/methods';
export type { BatchTerms, Forward, MagmaSettings, Method, MethodName, MethodSettings, PreparedBatch } from './train/methods';
export { formatSchedule, lambdaAt, parseSchedule, scheduleEpochOf, scheduleTable, schedules } from './train/schedules';
export type { LambdaSchedule } from './train/schedules';
export type { LayerDynamics, ProbeRecord } from './train/dynamics';
export { scaledLr, warmupCosineLr } from './train/lr';
export type { LrScheduleOptions } from './train/lr';
export { AdamW, NonFiniteGradientError } from './train/optimizer';
export { CheckpointError, previousCheckpointPath } from './train/checkpoint';
export { FileError } from './io';
export type { AdamWOptions, AdamWState } from './train/optimizer';
export * as data from './data/index';
export * as flops from './nn/flops';
export * as losses from './losses/index';
// `export * as eval` compiles to `var eval` with esbuild (tsx), a syntax error: alias instead.
import * as evaluation from './eval/index';
export { evaluation as eval };
export * as analysis from './eval/analysis';
export * as runs from './experiments/runs';
export * as experiments from './experiments/index';
export type { RunConfig } from './train/runFolder';
export * as show from './show/index';
