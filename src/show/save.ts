/**
 * `show.save`: writes a bundle to a file, the format chosen by the extension: `.png` (the
 * bundle's PNG), `.svg` (a chart drawn again as vector graphics, or the PNG embedded in an SVG)
 * and `.html` (a standalone page with the bundle's HTML, or its PNG, or its text).
 */
import * as fs from 'fs';
import * as path from 'path';
import { bundleBytes, describe, type DisplayBundle, escapeHtml, MIME } from './bundle';
import { renderSvg, type VegaLiteSpec } from './chart';

/** Width and height of a PNG, read from its IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** The file contents of a bundle in the format of `ext`. */
async function encode(bundle: DisplayBundle, ext: string): Promise<Buffer | string> {
  const png = bundleBytes(bundle, MIME.png);
  const spec = bundle.data[MIME.vegaLite] as VegaLiteSpec | undefined;
  const pngUrl = png && `data:image/png;base64,${png.toString('base64')}`;
  switch (ext) {
    case '.png':
      if (!png) throw new Error(`this bundle has no image/png (it has ${Object.keys(bundle.data).join(', ')}); save it as .html`);
      return png;
    case '.svg': {
      if (spec) return renderSvg(spec);
      if (!png) throw new Error(`this bundle has no image to save as SVG (it has ${Object.keys(bundle.data).join(', ')}); save it as .html`);
      const { width, height } = pngSize(png);
      return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><image width="${width}" height="${height}" href="${pngUrl}"/></svg>\n`;
    }
    case '.html': {
      const html = bundle.data[MIME.html];
      const body = typeof html === 'string' ? html : pngUrl ? `<img src="${pngUrl}" alt="${escapeHtml(describe(bundle))}">` : `<pre>${escapeHtml(describe(bundle))}</pre>`;
      return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body style="font-family: 'DejaVu Sans', sans-serif">\n${body}\n</body></html>\n`;
    }
    default:
      throw new Error(`cannot save a display as '${ext || 'no extension'}': use .png, .svg or .html`);
  }
}

/**
 * Saves a bundle to `file` (.png, .svg or .html), creating the folder.
 * @returns the file written
 * @example await show.save(await show.curves(run.history), 'figures/curves.svg')
 */
export async function save(bundle: DisplayBundle, file: string): Promise<string> {
  const content = await encode(bundle, path.extname(file).toLowerCase());
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}
