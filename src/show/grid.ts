/**
 * Draws rasters as a labelled grid (column titles, row labels, a caption under each tile) with
 * `canvas` (@napi-rs/canvas) and returns it as a PNG display bundle. Pixels are upscaled by an
 * integer factor with nearest neighbour, so every image pixel stays exact in the PNG.
 */
import { type Canvas, createCanvas, ImageData, type SKRSContext2D } from '@napi-rs/canvas';
import { type DisplayBundle, makeBundle, MIME } from './bundle';
import { type Raster, rgbaBytes } from './raster';

/** The font of every label (the generic sans-serif resolves to a serif font here). */
export const FONT_FAMILY = 'DejaVu Sans';
const FONT = `12px "${FONT_FAMILY}"`;
const GAP = 4;
const LINE = 16;
/** The colour bar: its height and its longest length in pixels. */
const BAR = 10;
const BAR_LENGTH = 240;

/** What {@link drawGrid} draws. */
export interface GridLayout {
  /** rows × columns; null leaves a cell empty. */
  tiles: (Raster | null)[][];
  /** One title above each column. */
  colTitles?: string[];
  /** One label left of each row. */
  rowLabels?: string[];
  /** rows × columns captions under the tiles. */
  captions?: string[][];
  /** Integer upscaling of every pixel (see {@link defaultScale}). */
  scale: number;
  /** A colour bar under the grid, for tiles coloured on one shared scale. */
  colorBar?: ColorBar;
}

/** The scale of tiles coloured by a colormap: what values its two ends stand for. */
export interface ColorBar {
  /** What the colours measure, e.g. `'CLS attention weight'`. */
  label: string;
  /** The values drawn at the colormap's ends (0 and 1). */
  min: number;
  max: number;
  /** RGB in 0..1 of a position 0..1 along the bar (e.g. raster.ts's `viridis`). */
  colormap: (v: number) => [number, number, number];
  /**
   * How values map to positions along the bar: `'linear'` (default), or `'sqrt'`, position
   * √((v − min) / (max − min)), which spreads the low values (the tick labels follow).
   */
  transform?: 'linear' | 'sqrt';
}

/** An upscaling that draws an image of this side at about 96 pixels (at least 1). */
export function defaultScale(side: number): number {
  return Math.max(1, Math.round(96 / side));
}

/** The grid on a white canvas. */
export function drawGrid(layout: GridLayout): Canvas {
  const { tiles, colTitles, rowLabels, captions, scale, colorBar } = layout;
  const all = tiles.flat().filter((t): t is Raster => t !== null);
  const measure = createCanvas(1, 1).getContext('2d');
  measure.font = FONT;
  const textWidth = (texts: string[] = []) => Math.ceil(Math.max(0, ...texts.map((t) => measure.measureText(t).width)));
  // A column is as wide as its widest tile or title; tiles are centered in it.
  const cellW = Math.max(1, ...all.map((t) => t.width * scale), textWidth(colTitles) + GAP);
  const cellH = Math.max(1, ...all.map((t) => t.height)) * scale;
  const cols = Math.max(0, ...tiles.map((r) => r.length));
  const left = rowLabels ? textWidth(rowLabels) + 2 * GAP : 0;
  const top = colTitles ? LINE + GAP : 0;
  const rowH = cellH + (captions ? LINE : 0) + GAP;
  const gridW = left + cols * (cellW + GAP) + GAP;
  const barLength = Math.min(BAR_LENGTH, Math.max(160, gridW - left - 2 * GAP));
  const bottom = top + tiles.length * rowH + GAP; // where the colour bar goes
  const canvas = createCanvas(Math.max(gridW, colorBar ? left + Math.max(barLength, textWidth([colorBar.label])) + 2 * GAP : 0), bottom + (colorBar ? 2 * LINE + BAR + GAP : 0));
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = 'white';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.font = FONT;
  ctx.fillStyle = '#222';
  ctx.textBaseline = 'middle';
  colTitles?.forEach((title, c) => centered(ctx, title, left + GAP + c * (cellW + GAP), cellW, LINE / 2 + 2));
  tiles.forEach((row, r) => {
    const y = top + GAP + r * rowH;
    if (rowLabels) {
      ctx.textAlign = 'left';
      ctx.fillText(rowLabels[r] ?? '', GAP, y + cellH / 2);
    }
    row.forEach((tile, c) => {
      const x = left + GAP + c * (cellW + GAP);
      if (tile) ctx.putImageData(new ImageData(rgbaBytes(tile, scale), tile.width * scale, tile.height * scale), x + Math.floor((cellW - tile.width * scale) / 2), y);
      if (captions) centered(ctx, captions[r]?.[c] ?? '', x, cellW, y + cellH + LINE / 2);
    });
  });
  if (colorBar) drawColorBar(ctx, colorBar, left + GAP, bottom, barLength);
  return canvas;
}

/** The label, then the colormap from min to max as a framed bar, then min, middle and max under it. */
function drawColorBar(ctx: SKRSContext2D, bar: ColorBar, x: number, y: number, length: number): void {
  ctx.textAlign = 'left';
  ctx.fillText(bar.label, x, y + LINE / 2);
  for (let i = 0; i < length; i++) {
    const [r, g, b] = bar.colormap(i / (length - 1));
    ctx.fillStyle = `rgb(${Math.round(255 * r)}, ${Math.round(255 * g)}, ${Math.round(255 * b)})`;
    ctx.fillRect(x + i, y + LINE, 1, BAR);
  }
  ctx.strokeStyle = '#222';
  ctx.lineWidth = 1;
  ctx.strokeRect(x - 0.5, y + LINE - 0.5, length + 1, BAR + 1); // around the bar, not over its end colours
  ctx.fillStyle = '#222';
  const tickY = y + LINE + BAR + LINE / 2;
  const value = (v: number) => Number(v.toPrecision(2)).toString();
  const at = (position: number) => bar.min + (bar.max - bar.min) * (bar.transform === 'sqrt' ? position * position : position); // the value drawn at a position
  ([['left', 0, bar.min], ['center', length / 2, at(0.5)], ['right', length, bar.max]] as const).forEach(([align, dx, v]) => {
    ctx.textAlign = align;
    ctx.fillText(value(v), x + dx, tickY);
  });
}

/** A grid as a bundle: the PNG and a text/plain description. */
export function gridBundle(layout: GridLayout, text: string): DisplayBundle {
  return pngBundle(drawGrid(layout), text);
}

/** A canvas as a bundle {image/png, text/plain}. */
export function pngBundle(canvas: Canvas, text: string): DisplayBundle {
  return makeBundle({ [MIME.png]: canvas.toBuffer('image/png').toString('base64'), [MIME.text]: text });
}

/** Draws text centered in [x, x + width], shortened with … to fit. */
function centered(ctx: SKRSContext2D, text: string, x: number, width: number, y: number): void {
  let s = text;
  while (s.length > 1 && ctx.measureText(s).width > width) s = s.slice(0, -2) + '…';
  ctx.textAlign = 'center';
  ctx.fillText(s, x + width / 2, y);
}
