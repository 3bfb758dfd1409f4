/**
 * Display bundles: what every `show.*` helper returns. A bundle is a plain object holding one
 * output in several representations, keyed by MIME type, exactly as a Jupyter `display_data`
 * message carries it. In a tslab cell it shows when it is the cell's value (tslab prints a cell's
 * value with `console.log`, whose `util.inspect` hook sends the bundle) or when passed to
 * {@link display}; anywhere it can be saved to a file (./save.ts) or inspected in a test.
 */
import { inspect } from 'util';
import { sendDisplay } from './kernel';

/** MIME types used by the helpers. */
export const MIME = {
  png: 'image/png',
  svg: 'image/svg+xml',
  html: 'text/html',
  markdown: 'text/markdown',
  text: 'text/plain',
  vegaLite: 'application/vnd.vegalite.v5+json',
} as const;

/** One output in several representations. */
export interface DisplayBundle {
  /** MIME type → representation: base64 for images, a JSON object for vega-lite, text otherwise. */
  data: Record<string, string | object>;
  /** Per-MIME metadata, e.g. `{'image/png': {width: 640}}` for a PNG drawn at twice that size. */
  metadata?: Record<string, object>;
}

/**
 * Makes a bundle. Its `util.inspect` hook (not enumerable, so the object stays plain data)
 * displays it when a tslab cell's value is printed, and otherwise describes it as its text/plain.
 */
export function makeBundle(data: DisplayBundle['data'], metadata?: DisplayBundle['metadata']): DisplayBundle {
  const bundle: DisplayBundle = metadata ? { data, metadata } : { data };
  Object.defineProperty(bundle, inspect.custom, {
    value: (): string => (display(bundle) ? '' : describe(bundle)),
    enumerable: false,
  });
  return bundle;
}

/**
 * Shows a bundle in the running tslab cell: ONE `display_data` message with all its MIME types,
 * so that the front end picks the richest it can draw (JupyterLab draws vega-lite, an HTML
 * export takes the PNG).
 * @returns true when sent, false outside a kernel (nothing happens then)
 */
export function display(bundle: DisplayBundle): boolean {
  return sendDisplay({ data: bundle.data, metadata: bundle.metadata ?? {}, transient: {} });
}

/** The bundle's text/plain, or the list of its MIME types. */
export function describe(bundle: DisplayBundle): string {
  const text = bundle.data[MIME.text];
  return typeof text === 'string' ? text : `[display bundle: ${Object.keys(bundle.data).join(', ')}]`;
}

/** The bytes of a base64 representation (e.g. `image/png`), or undefined when the bundle lacks it. */
export function bundleBytes(bundle: DisplayBundle, mime: string): Buffer | undefined {
  const value = bundle.data[mime];
  return typeof value === 'string' ? Buffer.from(value, 'base64') : undefined;
}

/** Text made safe inside HTML. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
