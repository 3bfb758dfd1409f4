/**
 * `show.gridProgress`: one live view of a whole experiment grid (every arm × seed): which run is
 * going, its phase and step, how far the grid is, elapsed time and ETA, and a table of the runs
 * finished so far. In a tslab cell it is one display updated in place; outside a kernel, one
 * terminal progress line (stderr).
 */
import { randomBytes } from 'crypto';
import { formatDuration, ProgressBar } from '../progress';
import { MIME } from './bundle';
import { FONT_FAMILY } from './grid';
import { inKernel, sendDisplay } from './kernel';

/** A finished run, as the view lists it. */
export interface FinishedRun {
  label: string;
  /** Short results, e.g. `k-NN 77.0 %, probe 78.8 %`, or `failed: …`. */
  summary: string;
}

/** What {@link gridProgress} returns: the grid runner calls these. */
export interface GridProgressHandle {
  /** Run `index` (0-based) of `count` starts; `label` names it (arm and seed). */
  startRun(index: number, count: number, label: string): void;
  /** Work of the grid that is not a run (e.g. the raw-pixel baseline) starts; `count` is the grid's number of runs. */
  startTask(label: string, count: number): void;
  /** The current run is at `done` of `total` in `phase` (`train`, or an evaluation phase). */
  update(phase: string, done: number, total: number, detail?: string): void;
  /** The current run ended. */
  finishRun(run: FinishedRun): void;
  /** Draws the final state. */
  stop(): void;
}

/**
 * The progress view of a grid of runs.
 * @param title e.g. the grid's name
 * @param opts.every seconds between redraws in a notebook (default 1; a run's start and end, and the last state, are always drawn), or between lines in a log (default 10)
 */
export function gridProgress(title: string, opts: { every?: number } = {}): GridProgressHandle {
  const every = opts.every ?? 1;
  const start = performance.now();
  const notebook = inKernel();
  const id = randomBytes(8).toString('hex');
  const bar = notebook ? undefined : new ProgressBar('grid', process.stderr, opts.every ?? 10);
  const finished: FinishedRun[] = [];
  let state = { index: 0, count: 1, label: '', phase: 'starting', done: 0, total: 1, detail: '', task: false };
  let runStart = start;
  /** Seconds the finished runs took that were trained now (runs found done take ~0 s and would skew the ETA). */
  const durations: number[] = [];
  let drawnAt = -Infinity;

  const draw = (final: boolean) => {
    const seconds = (performance.now() - start) / 1000;
    const inRun = state.task || state.phase === 'starting' ? 0 : state.phase === 'train' ? state.done / state.total : 0.95; // evaluation: near the end of the run
    const runsDone = finished.length + (final ? 0 : inRun);
    const perRun = durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length
      : inRun > 0.02 ? (performance.now() - runStart) / 1000 / inRun : Infinity;
    const eta = (state.count - runsDone) * perRun;
    const now = final ? `${finished.length} of ${state.count} runs done in ${formatDuration(seconds)}`
      : `${state.task ? '' : `run ${state.index + 1}/${state.count}: `}${state.label}  ·  ${state.phase} ${state.done}/${state.total}${state.detail ? `  ·  ${state.detail}` : ''}`;
    const times = final ? '' : `${formatDuration(seconds)} elapsed, ETA ${formatDuration(eta)}`;
    if (bar) {
      if (!final && state.label === '') return true; // nothing started yet: no line
      bar.update({ done: Math.floor(runsDone * 1000), total: state.count * 1000, fields: { run: state.task ? state.label : `${state.index + 1}/${state.count} ${state.label}`, [state.phase]: `${state.done}/${state.total}` } });
      if (final) bar.finish();
      return true;
    }
    const text = [`${title}: ${now}`, times].filter(Boolean).join('  ·  ');
    const pct = Math.round((100 * runsDone) / state.count);
    const rows = finished.map((r) => `<tr><td style="padding: 0 12px 0 0; text-align: left">${escape(r.label)}</td><td style="text-align: left">${escape(r.summary)}</td></tr>`).join('');
    const html = `<div style="font-family: '${FONT_FAMILY}', sans-serif; font-size: 13px; line-height: 1.6">` +
      `<div><b>${escape(title)}</b>: ${escape(now)}${times ? `  ·  ${times}` : ''}</div>` +
      `<div style="width: 420px; height: 8px; background: #e4e4e4; border-radius: 4px">` +
      `<div style="width: ${pct}%; height: 100%; background: ${final ? '#54a24b' : '#4c78a8'}; border-radius: 4px"></div></div>` +
      (rows ? `<table style="font-size: 12px; margin-top: 4px">${rows}</table>` : '') + '</div>';
    const text2 = [text, ...finished.map((r) => `  ${r.label}: ${r.summary}`)].join('\n');
    const sent = sendDisplay({ data: { [MIME.html]: html, [MIME.text]: text2 }, metadata: {}, transient: { display_id: id } }, drawnAt > -Infinity);
    if (sent) drawnAt = performance.now();
    return sent;
  };
  const maybeDraw = () => {
    if (performance.now() - drawnAt >= every * 1000) draw(false);
  };

  draw(false);
  return {
    startRun(index, count, label) {
      state = { index, count, label, phase: 'starting', done: 0, total: 1, detail: '', task: false };
      runStart = performance.now();
      draw(false);
    },
    startTask(label, count) {
      state = { index: finished.length, count, label, phase: 'starting', done: 0, total: 1, detail: '', task: true };
      draw(false);
    },
    update(phase, done, total, detail = '') {
      state = { ...state, phase, done, total, detail };
      maybeDraw();
    },
    finishRun(run) {
      const trained = state.phase !== 'starting';
      if (trained) durations.push((performance.now() - runStart) / 1000);
      finished.push(run);
      draw(false);
    },
    stop() {
      if (!draw(true)) setImmediate(() => draw(true));
    },
  };
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
