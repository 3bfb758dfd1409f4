/**
 * `show.progress`: a live view of a training loop. In a tslab cell it is one display updated in
 * place (a Jupyter display with a `display_id`, as `tslab.newDisplay()` makes, but carrying HTML
 * and text together): step, loss, images/s, elapsed time, ETA, a bar and a small loss chart. An
 * executed notebook keeps its final state. Outside a kernel it prints the terminal progress line
 * of the command line (stderr by default).
 */
import { randomBytes } from 'crypto';
import { createCanvas } from '@napi-rs/canvas';
import { formatDuration, ProgressBar } from '../progress';
import type { StepRecord, Trainer } from '../train/trainer';
import { MIME } from './bundle';
import { FONT_FAMILY } from './grid';
import { inKernel, sendDisplay } from './kernel';

/** Options of {@link progress}. */
export interface ProgressOptions {
  /** Steps this loop will run (from now on). */
  totalSteps: number;
  /** Seconds between redraws in a notebook (the last step is always drawn). Default 1. */
  every?: number;
  /** Where the line goes outside a kernel. Default process.stderr. */
  stream?: NodeJS.WriteStream;
}

/** What {@link progress} returns. */
export interface ProgressHandle {
  /** Steps seen so far. */
  readonly done: number;
  /** Draws the final state and stops listening (automatic after `totalSteps` steps). Idempotent. */
  stop(): void;
}

/** Steps over which images/s and the ETA are measured. */
const RATE_WINDOW = 10;
const CHART_W = 320;
const CHART_H = 72;

/** A small line chart of the losses (PNG, base64). */
function lossChart(losses: number[]): string {
  const canvas = createCanvas(CHART_W, CHART_H);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = 'white';
  ctx.fillRect(0, 0, CHART_W, CHART_H);
  const finite = losses.filter(Number.isFinite);
  if (finite.length > 1) {
    const lo = Math.min(...finite);
    const hi = Math.max(...finite);
    const [left, right, top, bottom] = [44, CHART_W - 4, 6, CHART_H - 6];
    const y = (v: number) => bottom - ((v - lo) / (hi - lo || 1)) * (bottom - top);
    ctx.strokeStyle = '#4c78a8';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    finite.forEach((v, i) => ctx.lineTo(left + (i / (finite.length - 1)) * (right - left), y(v)));
    ctx.stroke();
    ctx.fillStyle = '#555';
    ctx.font = `10px "${FONT_FAMILY}"`;
    ctx.textBaseline = 'middle';
    ctx.fillText(hi.toPrecision(3), 2, top + 4);
    ctx.fillText(lo.toPrecision(3), 2, bottom - 4);
  }
  return canvas.toBuffer('image/png').toString('base64');
}

/**
 * Shows the progress of the next `totalSteps` steps of `trainer`, updated after each step.
 * @example
 * const bar = show.progress(run, {totalSteps: 100});
 * for (const batch of data.train.batches(64, {seed: 0})) await run.step(batch);
 * bar.stop();
 */
export function progress(trainer: Pick<Trainer, 'onStep'>, opts: ProgressOptions): ProgressHandle {
  const { totalSteps, every = 1 } = opts;
  if (!(Number.isInteger(totalSteps) && totalSteps > 0)) throw new Error(`totalSteps must be a positive integer, got ${totalSteps}`);
  const start = performance.now();
  const losses: number[] = [];
  /** Time and images done after each of the last RATE_WINDOW steps (the first entry: the start). */
  const recent: { at: number; images: number }[] = [{ at: start, images: 0 }];
  let last: StepRecord | undefined;
  let drawnAt = -Infinity;
  let stopped = false;
  const notebook = inKernel();
  const id = randomBytes(8).toString('hex');
  const bar = notebook ? undefined : new ProgressBar('train', opts.stream);

  /** Redraws; false when the kernel's socket was busy and the frame was dropped. */
  const draw = (final: boolean): boolean => {
    const seconds = (performance.now() - start) / 1000;
    const done = losses.length;
    // Speed over the last steps: the first step (compilation, warm-up) must not slow the estimate for long.
    const [first, now] = [recent[0], recent[recent.length - 1]];
    const window = (now.at - first.at) / 1000;
    const rate = window > 0 ? (now.images - first.images) / window : 0;
    const eta = recent.length > 1 ? (window / (recent.length - 1)) * (totalSteps - done) : Infinity;
    const fields: Record<string, string> = last ? { loss: last.loss.toFixed(4), 'img/s': rate.toFixed(0) } : {};
    if (bar) {
      bar.update({ done, total: totalSteps, fields });
      if (final) bar.finish();
      return true;
    }
    const times = final ? `${formatDuration(seconds)} in all` : `${formatDuration(seconds)} elapsed, ETA ${formatDuration(eta)}`;
    const text = [`step ${done}/${totalSteps}`, ...Object.entries(fields).map(([k, v]) => `${k} ${v}`), times].join('  ·  ');
    const pct = Math.round((100 * done) / totalSteps);
    const html = `<div style="font-family: '${FONT_FAMILY}', sans-serif; font-size: 13px; line-height: 1.6">` +
      `<div>${text}${last ? `  ·  epoch ${last.epoch}  ·  lr ${last.lr.toExponential(2)}` : ''}</div>` +
      `<div style="width: ${CHART_W}px; height: 8px; background: #e4e4e4; border-radius: 4px">` +
      `<div style="width: ${pct}%; height: 100%; background: ${final ? '#54a24b' : '#4c78a8'}; border-radius: 4px"></div></div>` +
      (losses.length > 1 ? `<img alt="loss" width="${CHART_W}" height="${CHART_H}" src="data:image/png;base64,${lossChart(losses)}">` : '') +
      '</div>';
    const sent = sendDisplay({ data: { [MIME.html]: html, [MIME.text]: text }, metadata: {}, transient: { display_id: id } }, drawnAt > -Infinity);
    if (sent) drawnAt = performance.now();
    return sent;
  };

  const unsubscribe = trainer.onStep((record) => {
    last = record;
    losses.push(record.loss);
    recent.push({ at: performance.now(), images: recent[recent.length - 1].images + record.batchSize });
    if (recent.length > RATE_WINDOW + 1) recent.shift();
    if (losses.length >= totalSteps) handle.stop();
    else if (performance.now() - drawnAt >= every * 1000) draw(false);
  });
  const handle: ProgressHandle = {
    get done() {
      return losses.length;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      // The final state must arrive: if the socket is busy, try again once the event loop has run.
      if (!draw(true)) setImmediate(() => draw(true));
    },
  };
  draw(false);
  return handle;
}
