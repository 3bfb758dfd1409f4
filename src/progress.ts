/**
 * A terminal progress bar: step, loss, images/s and ETA on one line redrawn in place on a TTY,
 * or one plain line every few seconds when the output is a file or a CI log.
 */

/** What the bar shows for one update. */
export interface ProgressState {
  done: number;
  total: number;
  /** Extra fields shown after the counts, e.g. `{loss: '0.812', 'img/s': '96'}`. */
  fields?: Record<string, string>;
}

/** Formats seconds as `1h02m`, `3m05s` or `42s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** A progress bar writing to a stream (default stderr). */
export class ProgressBar {
  private readonly start = Date.now();
  private lastPlain = 0;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainEverySeconds = 10,
  ) {}

  /** Redraws the bar (TTY) or prints a line when enough time has passed (not a TTY). */
  update(state: ProgressState): void {
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = state.done > 0 ? (elapsed / state.done) * (state.total - state.done) : Infinity;
    const fields = Object.entries(state.fields ?? {}).map(([k, v]) => `${k} ${v}`).join('  ');
    const counts = `${state.done}/${state.total}`;
    const times = `${formatDuration(elapsed)} elapsed, ETA ${formatDuration(eta)}`;
    if (this.stream.isTTY) {
      const width = 24;
      const filled = Math.round((width * state.done) / Math.max(1, state.total));
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
      this.stream.write(`\r\x1b[K${this.label} ${bar} ${counts}  ${fields}  ${times}`);
      return;
    }
    const now = Date.now();
    if (now - this.lastPlain >= this.plainEverySeconds * 1000 || state.done === state.total) {
      this.lastPlain = now;
      this.stream.write(`${this.label} ${counts}  ${fields}  ${times}\n`);
    }
  }

  /** Ends the bar's line on a TTY. */
  finish(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}
