/**
 * Decoding image files (JPEG, PNG, and whatever else libvips reads; the content decides, not the
 * extension) to uint8 size×size×3 sRGB with sharp, on worker threads.
 *
 * One image: grayscale and CMYK are converted to 3-channel sRGB, alpha is dropped, and the
 * shorter side is resized to `size` and the center cropped to size×size (the evaluation
 * transform of ImageNet-style datasets; an image already size×size is decoded as it is).
 *
 * Many images: a pool of `node:worker_threads` workers, each sent tasks of consecutive files and
 * answering with their pixels (transferred, not copied), so the main thread only stores results.
 */
import * as fs from 'fs';
import * as os from 'os';
import sharp, { type OutputInfo } from 'sharp';
import { isMainThread, parentPort, Worker } from 'worker_threads';
import { DataError } from './errors';

/** Channels of every decoded image (RGB). */
export const DECODED_CHANNELS = 3;

/** Files per task sent to a worker. */
const TASK_FILES = 32;
/** Tasks queued per worker, so a worker never waits for the main thread. */
const TASKS_PER_WORKER = 2;

/**
 * Decodes one image file to size×size×3 uint8 sRGB, row-major HWC.
 * @throws DataError naming the file when it cannot be read or decoded
 */
export async function decodeImage(file: string, size: number): Promise<Uint8Array> {
  let result: { data: Buffer; info: OutputInfo };
  try {
    result = await sharp(file, { failOn: 'truncated' })
      .resize(size, size, { fit: 'cover', position: 'centre' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new DataError(file, `cannot decode the image: ${(e as Error).message}`, 'replace the file with the one from the official archive, or delete it');
  }
  const { info, data } = result;
  if (info.width !== size || info.height !== size || info.channels !== DECODED_CHANNELS) {
    throw new DataError(file, `decoded to ${info.width}×${info.height}×${info.channels}, expected ${size}×${size}×${DECODED_CHANNELS}`, 'replace the file with the one from the official archive');
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** A task for a worker: decode `files` (dataset indices first, first+1, …). */
interface DecodeTask {
  first: number;
  files: string[];
  size: number;
}

/** A worker's answer: the task's images one after another, or the first failure. */
type DecodeResult = { first: number; pixels: Uint8Array } | { first: number; error: { path: string; problem: string; fix: string } };

/** Options of {@link decodeFiles}. */
export interface DecodeFilesOptions {
  /** Side of the square output images. */
  size: number;
  /** Worker threads. Default: the number of cores. */
  workers?: number;
  /** Receives decoded images: `pixels` holds images first, first+1, … (k×size×size×3), in any order of `first`. */
  onImages: (first: number, pixels: Uint8Array) => void;
  /** Called after each task with the number of images decoded so far. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Decodes `files` to size×size×3 on a pool of worker threads, handing each run of decoded
 * images to `opts.onImages` as it arrives; memory in flight is bounded by the queued tasks.
 * @throws DataError naming the first file that could not be decoded (the pool is stopped)
 */
export async function decodeFiles(files: string[], opts: DecodeFilesOptions): Promise<void> {
  const tasks: DecodeTask[] = [];
  for (let first = 0; first < files.length; first += TASK_FILES) tasks.push({ first, files: files.slice(first, first + TASK_FILES), size: opts.size });
  if (tasks.length === 0) return;
  const count = Math.max(1, Math.min(opts.workers ?? os.availableParallelism(), tasks.length));
  const workers = Array.from({ length: count }, startWorker);
  let done = 0;
  let next = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      let pending = 0;
      let failed = false;
      const fail = (e: Error) => {
        failed = true;
        reject(e);
      };
      const send = (w: Worker) => {
        if (next >= tasks.length) return;
        pending++;
        w.postMessage(tasks[next++]);
      };
      for (const w of workers) {
        w.on('message', (r: DecodeResult) => {
          pending--;
          if (failed) return;
          if ('error' in r) return fail(new DataError(r.error.path, r.error.problem, r.error.fix));
          try {
            opts.onImages(r.first, r.pixels);
          } catch (e) {
            return fail(e as Error); // e.g. the disk is full: stop the pool instead of throwing in an event handler
          }
          done += r.pixels.length / (opts.size * opts.size * DECODED_CHANNELS);
          opts.onProgress?.(done, files.length);
          send(w);
          if (pending === 0) resolve();
        });
        w.on('error', fail);
        w.on('exit', (code) => fail(new Error(`a decode worker stopped (exit code ${code}) with ${pending} tasks pending`)));
        for (let t = 0; t < TASKS_PER_WORKER; t++) send(w);
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * The file of this module for a worker to load: itself (dist/*.js, or src/*.ts under tsx), or,
 * when it does not exist on disk, its .ts source: tslab runs src/*.ts compiled in memory under
 * a .js name.
 */
function moduleFile(): string {
  return fs.existsSync(__filename) ? __filename : __filename.replace(/\.js$/, '.ts');
}

/** A decode worker running this module's {@link serveDecodeTasks} (through tsx when loading the .ts source). */
function startWorker(): Worker {
  const file = moduleFile();
  const load = file.endsWith('.ts') ? `require(${JSON.stringify(require.resolve('tsx/cjs'))});` : '';
  return new Worker(`${load} require(${JSON.stringify(file)}).serveDecodeTasks();`, { eval: true });
}

/**
 * The worker side of {@link decodeFiles}: decodes each task it is sent, one image at a time,
 * and posts the pixels back. Runs only inside a decode worker.
 * @internal
 */
export function serveDecodeTasks(): void {
  if (isMainThread || !parentPort) throw new Error('serveDecodeTasks runs inside a decode worker only');
  const port = parentPort;
  sharp.concurrency(1); // one libvips thread per image: the pool provides the parallelism
  port.on('message', async (task: DecodeTask) => {
    const per = task.size * task.size * DECODED_CHANNELS;
    const pixels = new Uint8Array(task.files.length * per);
    try {
      for (let j = 0; j < task.files.length; j++) pixels.set(await decodeImage(task.files[j], task.size), j * per);
    } catch (e) {
      const { path, problem, fix } = e as DataError;
      port.postMessage({ first: task.first, error: { path, problem, fix } } satisfies DecodeResult);
      return;
    }
    port.postMessage({ first: task.first, pixels } satisfies DecodeResult, [pixels.buffer]);
  });
}
