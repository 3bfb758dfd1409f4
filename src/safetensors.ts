/**
 * The safetensors file format (https://huggingface.co/docs/safetensors), read and written without
 * dependencies: an 8-byte little-endian header length N, N bytes of JSON, then the raw
 * little-endian tensor data. The header maps each tensor name to
 * `{dtype, shape, data_offsets: [begin, end]}` (offsets into the data part), plus an optional
 * `__metadata__` map of strings. No code is ever executed on load (unlike pickle).
 *
 * Every header is checked against the file before anything is read or allocated: a tensor's
 * bytes must lie inside the file, match its shape and dtype, and not overlap another's. So a
 * crafted or truncated file gives a {@link SafetensorsError} and never a read past its end or an
 * allocation larger than the file.
 */
import * as fs from 'fs';
import { writeFileAtomic } from './io';

/** Element types this reader converts to float32; F32 is what {@link writeSafetensors} writes. */
const DTYPE_BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 } as const;
export type SafetensorsDtype = keyof typeof DTYPE_BYTES;

// Float32Array views are native-endian; safetensors is little-endian, as every platform Node.js runs on.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('magma-lab reads and writes safetensors on little-endian machines only');

/** safetensors' own limit on the header size (100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

/** A tensor as stored: shape and values (converted to float32 on read). */
export interface StoredTensor {
  shape: number[];
  values: Float32Array;
}

/** A tensor's entry in the header, after validation. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte range in the data part, [begin, end). */
  begin: number;
  end: number;
}

/** A malformed or unreadable safetensors file; the message names the file, the problem and the fix. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';

  constructor(readonly file: string, readonly problem: string) {
    super(`${problem} (${file}): this is not a valid safetensors file; write it again ` +
      '(see the README, "Loading PyTorch weights", for a converter from .pth)');
  }
}

/** An open safetensors file: its validated header, and tensors read on demand. */
export class SafetensorsFile {
  /** The tensors in the header, by name. */
  readonly entries: Map<string, SafetensorsEntry>;
  /** The `__metadata__` strings (empty when absent). */
  readonly metadata: Record<string, string>;
  private readonly dataStart: number;

  private constructor(readonly file: string, header: { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string>; dataStart: number }) {
    this.entries = header.entries;
    this.metadata = header.metadata;
    this.dataStart = header.dataStart;
  }

  /** Opens `file` and validates its header against the file size (no tensor data is read yet). */
  static open(file: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new SafetensorsError(file, err.code === 'ENOENT' ? 'no such file' : `cannot be opened: ${err.message}`);
    }
    try {
      return new SafetensorsFile(file, readHeader(file, fd));
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Reads one tensor, converted to float32. */
  read(name: string): StoredTensor {
    const entry = this.entries.get(name);
    if (!entry) throw new SafetensorsError(this.file, `it holds no tensor '${name}'`);
    const bytes = Buffer.alloc(entry.end - entry.begin); // bounded by the file size (checked in readHeader)
    const fd = fs.openSync(this.file, 'r');
    try {
      for (let got = 0; got < bytes.length;) {
        const n = fs.readSync(fd, bytes, got, bytes.length - got, this.dataStart + entry.begin + got);
        if (n === 0) throw new SafetensorsError(this.file, `it ended while reading tensor '${name}' (the file changed since it was opened)`);
        got += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    return { shape: entry.shape, values: toFloat32(bytes, entry.dtype) };
  }
}

/** Reads and validates the header of an open file. */
function readHeader(file: string, fd: number): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string>; dataStart: number } {
  const size = fs.fstatSync(fd).size;
  const bad = (problem: string) => new SafetensorsError(file, problem);
  if (size < 8) throw bad(`it has ${size} bytes, fewer than the 8 of the header length`);
  const lengthBytes = Buffer.alloc(8);
  fs.readSync(fd, lengthBytes, 0, 8, 0);
  const headerLength = lengthBytes.readBigUInt64LE(0);
  if (headerLength > BigInt(size - 8)) throw bad(`its header length ${headerLength} is more than the ${size - 8} bytes after it`);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) throw bad(`its header length ${headerLength} is over safetensors' limit of ${MAX_HEADER_BYTES} bytes`);
  const n = Number(headerLength);
  const headerBytes = Buffer.alloc(n);
  fs.readSync(fd, headerBytes, 0, n, 8);
  let header: unknown;
  try {
    header = JSON.parse(headerBytes.toString('utf8'));
  } catch (e) {
    throw bad(`its header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('its header is not a JSON object');
  const dataBytes = size - 8 - n;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(value, bad);
      continue;
    }
    entries.set(name, checkEntry(name, value, dataBytes, bad));
  }
  // No two tensors may share bytes.
  const sorted = [...entries.values()].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) throw bad(`tensors '${sorted[i - 1].name}' and '${sorted[i].name}' overlap`);
  }
  return { entries, metadata, dataStart: 8 + n };
}

function checkMetadata(value: unknown, bad: (p: string) => SafetensorsError): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) ||
      Object.values(value).some((v) => typeof v !== 'string')) throw bad('its __metadata__ is not a map of strings');
  return value as Record<string, string>;
}

function checkEntry(name: string, value: unknown, dataBytes: number, bad: (p: string) => SafetensorsError): SafetensorsEntry {
  const e = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof e !== 'object' || e === null) throw bad(`tensor '${name}' has no {dtype, shape, data_offsets}`);
  if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) {
    throw bad(`tensor '${name}' has dtype ${JSON.stringify(e.dtype)}; this reader takes ${Object.keys(DTYPE_BYTES).join(', ')}`);
  }
  const dtype = e.dtype as SafetensorsDtype;
  const shape = e.shape;
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad(`tensor '${name}' has shape ${JSON.stringify(shape)}, not a list of sizes ≥ 0`);
  const offsets = e.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || o < 0) || offsets[0] > offsets[1]) {
    throw bad(`tensor '${name}' has data_offsets ${JSON.stringify(offsets)}, not [begin, end] with 0 ≤ begin ≤ end`);
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataBytes) throw bad(`tensor '${name}' ends at byte ${end} of a data part of ${dataBytes} bytes (the file is truncated or its header is wrong)`);
  // The element count, checked step by step so a huge shape cannot overflow past the byte count.
  let count = 1;
  for (const d of shape as number[]) {
    count *= d;
    if (count * DTYPE_BYTES[dtype] > dataBytes) throw bad(`tensor '${name}' of shape [${shape.join(', ')}] needs more bytes than the file holds`);
  }
  if (count * DTYPE_BYTES[dtype] !== end - begin) {
    throw bad(`tensor '${name}' of shape [${shape.join(', ')}] and dtype ${dtype} needs ${count * DTYPE_BYTES[dtype]} bytes, but its data_offsets span ${end - begin}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Little-endian bytes of `dtype` → float32 values. */
function toFloat32(bytes: Buffer, dtype: SafetensorsDtype): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = bytes.length / DTYPE_BYTES[dtype];
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32': new Uint8Array(out.buffer).set(bytes); break; // this reader runs little-endian (checked below)
    case 'F64': for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true); break;
    case 'I32': for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true); break;
    case 'I64': for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(8 * i, true)); break;
    case 'F16': for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true)); break;
    case 'BF16': {
      const word = new Uint32Array(out.buffer); // bfloat16 is the top half of a float32
      for (let i = 0; i < count; i++) word[i] = view.getUint16(2 * i, true) << 16;
      break;
    }
  }
  return out;
}

/** IEEE 754 half precision → number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * Writes float32 tensors as one safetensors file, atomically (the previous file stays whole until
 * the new one is complete). Tensors are stored in the order given; the header is padded with
 * spaces to a multiple of 8 bytes, as the reference writer does.
 */
export function writeSafetensors(file: string, tensors: { name: string; shape: number[]; values: Float32Array }[], metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.values.length) throw new Error(`writeSafetensors: tensor '${t.name}' has ${t.values.length} values for shape [${t.shape.join(', ')}]`);
    if (t.name in header) throw new Error(`writeSafetensors: tensor name '${t.name}' appears twice`);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.from(new ArrayBuffer(8 + headerBytes.length + offset)); // own buffer: aligned at 0
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length; // a multiple of 8, so each tensor starts 4-byte aligned
  for (const t of tensors) {
    new Float32Array(out.buffer, at, t.values.length).set(t.values); // little-endian (checked below)
    at += 4 * t.values.length;
  }
  writeFileAtomic(file, out);
}
