/**
 * Charts: a vega-lite 5 spec becomes ONE bundle {vega-lite spec, PNG, text/plain}. JupyterLab
 * draws the live chart from the spec; an HTML export (which cannot run vega) shows the PNG, drawn
 * here by vega's headless canvas renderer (through the `canvas` alias of @napi-rs/canvas) at twice
 * the size for sharp text. Rendering is asynchronous in vega, so chart helpers return promises.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { type DisplayBundle, makeBundle, MIME } from './bundle';
import { FONT_FAMILY } from './grid';

/** A vega-lite 5 specification (vega-lite's own type). */
export type VegaLiteSpec = TopLevelSpec;

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
/** PNG pixels per chart pixel. */
const PNG_SCALE = 2;

/** The spec with its schema and the font every chart uses (see STACK.md: the default resolves to a serif font). */
export function withDefaults(spec: VegaLiteSpec): VegaLiteSpec {
  return { $schema: SCHEMA, ...spec, config: { font: FONT_FAMILY, ...spec.config } } as VegaLiteSpec;
}

/** Runs `f` on a headless vega view of the spec, then frees the view. */
async function withView<T>(spec: VegaLiteSpec, f: (view: vega.View) => Promise<T>): Promise<T> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await f(view);
  } finally {
    view.finalize();
  }
}

/** Draws a vega-lite spec to PNG bytes at {@link PNG_SCALE}× (with the chart's size in CSS pixels). */
export function renderPng(spec: VegaLiteSpec): Promise<{ png: Buffer; width: number; height: number }> {
  return withView(spec, async (view) => {
    // Under Node, vega draws on a `canvas` package canvas (here @napi-rs/canvas), not a DOM element.
    const canvas = (await view.toCanvas(PNG_SCALE)) as unknown as { width: number; height: number; toBuffer(mime: 'image/png'): Buffer };
    return { png: canvas.toBuffer('image/png'), width: canvas.width / PNG_SCALE, height: canvas.height / PNG_SCALE };
  });
}

/** Draws an SVG of a vega-lite spec (for saving to .svg). */
export function renderSvg(spec: VegaLiteSpec): Promise<string> {
  return withView(spec, (view) => view.toSVG());
}

/** A chart bundle: {vega-lite spec, PNG, text/plain}. */
export async function chartBundle(spec: VegaLiteSpec, text: string): Promise<DisplayBundle> {
  const full = withDefaults(spec);
  const { png, width, height } = await renderPng(full);
  return makeBundle(
    { [MIME.vegaLite]: full, [MIME.png]: png.toString('base64'), [MIME.text]: text },
    { [MIME.png]: { width, height } },
  );
}
