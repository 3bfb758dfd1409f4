/**
 * `show.table` and `show.compare`: results tables as HTML (notebooks), Markdown (to paste into a
 * report) and aligned plain text (terminals, saved notebooks), from the same cells.
 */
import { type DisplayBundle, escapeHtml, makeBundle, MIME } from './bundle';

/** A table row: column → value. */
export type Row = Record<string, unknown>;

/** Options of {@link table}. */
export interface TableOptions {
  /** Digits after the decimal point of non-integer numbers (very small or large ones use exponents). Default 4. */
  digits?: number;
  /** Column order. Default: the order in which the rows first name them. */
  columns?: string[];
  /**
   * Columns whose numbers all get `digits` decimals, whole ones too (e.g. a paper's 85 beside our
   * 84.73). Default: the columns holding at least one fraction.
   */
  fixedColumns?: string[];
  /** A caption above the table. */
  caption?: string;
}

/**
 * How a cell reads: numbers with `digits` decimals (integers as they are, unless `decimals`, the
 * column holding fractions; very small or large numbers with an exponent), nested values as JSON,
 * missing ones as an en dash.
 */
function formatCell(v: unknown, digits: number, decimals: boolean): string {
  if (v === undefined || v === null) return '–';
  if (typeof v === 'number') {
    if ((Number.isInteger(v) && !decimals) || !Number.isFinite(v)) return String(v);
    return v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6) ? v.toExponential(2) : v.toFixed(digits);
  }
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Flattens nested plain objects into `a.b.c` → value rows of two columns. */
function keyValueRows(obj: Row, prefix = ''): Row[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v)
      ? keyValueRows(v as Row, `${prefix}${k}.`)
      : [{ key: `${prefix}${k}`, value: v }]);
}

/**
 * A table (HTML + Markdown + text/plain).
 * @param rows one object per row; or one (nested) object, shown as key → value rows
 * @example show.table(runs.map((r) => ({method: r.method, knn: r.report.knn.cosine?.accuracy})))
 */
export function table(rows: Row[] | Row, opts: TableOptions = {}): DisplayBundle {
  const list = Array.isArray(rows) ? rows : keyValueRows(rows);
  const columns = opts.columns ?? [...new Set(list.flatMap((r) => Object.keys(r)))];
  const digits = opts.digits ?? 4;
  const decimals = columns.map((c) => opts.fixedColumns?.includes(c) || list.some((r) => typeof r[c] === 'number' && !Number.isInteger(r[c])));
  const cells = list.map((r) => columns.map((c, i) => formatCell(r[c], digits, decimals[i])));
  const numeric = columns.map((c) => list.every((r) => typeof r[c] === 'number' || r[c] === undefined || r[c] === null));
  const caption = opts.caption ? [opts.caption] : [];

  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const pad = (s: string, i: number) => (numeric[i] ? s.padStart(widths[i]) : s.padEnd(widths[i]));
  const text = [...caption, columns.map(pad).join('  '), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map((r) => r.map(pad).join('  '))];

  const md = (s: string) => s.replace(/\|/g, '\\|');
  const markdown = [
    ...caption.map((c) => `**${md(c)}**\n`),
    `| ${columns.map(md).join(' | ')} |`,
    `| ${numeric.map((n) => (n ? '---:' : ':---')).join(' | ')} |`,
    ...cells.map((r) => `| ${r.map(md).join(' | ')} |`),
  ];

  const align = (i: number) => ` style="text-align: ${numeric[i] ? 'right' : 'left'}"`;
  const html = [
    '<table>',
    ...caption.map((c) => `<caption>${escapeHtml(c)}</caption>`),
    `<thead><tr>${columns.map((c, i) => `<th${align(i)}>${escapeHtml(c)}</th>`).join('')}</tr></thead>`,
    `<tbody>${cells.map((r) => `<tr>${r.map((v, i) => `<td${align(i)}>${escapeHtml(v)}</td>`).join('')}</tr>`).join('')}</tbody>`,
    '</table>',
  ];
  return makeBundle({ [MIME.html]: html.join('\n'), [MIME.markdown]: markdown.join('\n'), [MIME.text]: text.join('\n') });
}

/** Options of {@link compare}. */
export interface CompareOptions extends Omit<TableOptions, 'columns'> {
  /** Header of our column, e.g. `ours (1 epoch)`. Default `ours`. */
  ours?: string;
  /** Header of the paper's column, e.g. `paper (Table 2)`. Default `paper`. */
  paper?: string;
}

/**
 * Our numbers beside the paper's (or any reference's), with the difference ours − paper in a
 * last column; metrics missing (or undefined) on one side show a dash.
 * @example show.compare({'k-NN': 71.2, 'linear probe': 74.0}, {'k-NN': 86.9, 'linear probe': 88.1}, {ours: 'ours (1 epoch)'})
 */
export function compare(ours: Record<string, number | undefined>, paper: Record<string, number | undefined>, opts: CompareOptions = {}): DisplayBundle {
  const { ours: oursName = 'ours', paper: paperName = 'paper', ...tableOpts } = opts;
  const difference = `${oursName} − ${paperName}`;
  const metrics = [...new Set([...Object.keys(ours), ...Object.keys(paper)])];
  const rows = metrics.map((m) => {
    const [a, b] = [ours[m], paper[m]];
    return { metric: m, [oursName]: a, [paperName]: b, [difference]: a !== undefined && b !== undefined ? a - b : undefined };
  });
  const numbers = [oursName, paperName, difference];
  const fractions = rows.some((r) => numbers.some((c) => typeof r[c] === 'number' && !Number.isInteger(r[c])));
  return table(rows, { ...tableOpts, columns: ['metric', ...numbers], fixedColumns: fractions ? numbers : [] });
}
