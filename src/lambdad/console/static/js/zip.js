// A zip container reader and writer for a function's code: stored and deflated
// entries (what every zip tool writes for code), inflated and deflated by the
// browser's own DecompressionStream / CompressionStream ("deflate-raw").
// Zip64 archives (over 4 GB or 65,535 entries) are refused: no function's code is that large.
// Each entry keeps its Unix mode (external attributes), so a `bootstrap` stays executable.

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const UTF8_FLAG = 0x0800;
const DEFAULT_MODE = 0o100644;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes) {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

async function through(bytes, stream) {
  const out = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

export class ZipError extends Error {}

/**
 * The entries of a zip archive: [{ name, data: Uint8Array, mode, madeBy, time, date }],
 * directories left out. Throws ZipError on an archive it cannot read.
 */
export async function readZip(buffer) {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === EOCD) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new ZipError("not a zip archive (no end of central directory)");
  const count = view.getUint16(end + 10, true);
  let offset = view.getUint32(end + 16, true);
  if (count === 0xffff || offset === 0xffffffff) throw new ZipError("zip64 archives are not supported");
  const decoder = new TextDecoder();
  const entries = [];
  for (let i = 0; i < count; i++) {
    if (offset + 46 > bytes.length || view.getUint32(offset, true) !== CENTRAL) {
      throw new ZipError("corrupt central directory");
    }
    const madeBy = view.getUint16(offset + 4, true);
    const method = view.getUint16(offset + 10, true);
    const time = view.getUint16(offset + 12, true);
    const date = view.getUint16(offset + 14, true);
    const crc = view.getUint32(offset + 16, true);
    const compressedSize = view.getUint32(offset + 20, true);
    const size = view.getUint32(offset + 24, true);
    const nameLength = view.getUint16(offset + 28, true);
    const extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    const external = view.getUint32(offset + 38, true);
    const localOffset = view.getUint32(offset + 42, true);
    const name = decoder.decode(bytes.subarray(offset + 46, offset + 46 + nameLength));
    offset += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith("/")) continue;
    if (view.getUint32(localOffset, true) !== LOCAL) throw new ZipError(`corrupt entry ${name}`);
    const dataStart =
      localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    const raw = bytes.subarray(dataStart, dataStart + compressedSize);
    let data;
    if (method === 0) data = raw.slice();
    else if (method === 8) data = await through(raw, new DecompressionStream("deflate-raw"));
    else throw new ZipError(`${name}: compression method ${method} is not supported`);
    if (data.length !== size || crc32(data) !== crc) throw new ZipError(`${name}: checksum mismatch`);
    const unixMode = madeBy >> 8 === 3 ? external >>> 16 : 0;
    entries.push({ name, data, mode: unixMode || DEFAULT_MODE, time, date });
  }
  return entries;
}

function dosTime(now) {
  return {
    time: (now.getHours() << 11) | (now.getMinutes() << 5) | (now.getSeconds() >> 1),
    date: ((now.getFullYear() - 1980) << 9) | ((now.getMonth() + 1) << 5) | now.getDate(),
  };
}

/** A local (at 4) or central (at 6) file header: the fields both have, in the same order. */
function header(signature, fixedLength, at, { method, time, date, crc, compressed, size, name }) {
  const bytes = new Uint8Array(fixedLength + name.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, signature, true);
  view.setUint16(at, 20, true); // version needed: 2.0 (deflate)
  view.setUint16(at + 2, UTF8_FLAG, true);
  view.setUint16(at + 4, method, true);
  view.setUint16(at + 6, time, true);
  view.setUint16(at + 8, date, true);
  view.setUint32(at + 10, crc, true);
  view.setUint32(at + 14, compressed, true);
  view.setUint32(at + 18, size, true);
  view.setUint16(at + 22, name.length, true);
  bytes.set(name, fixedLength);
  return bytes;
}

/** A zip archive (Uint8Array) of entries [{ name, data, mode?, time?, date? }], deflated. */
export async function writeZip(entries) {
  const encoder = new TextEncoder();
  const stamp = dosTime(new Date());
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const entry of entries) {
    const name = encoder.encode(entry.name);
    const data = entry.data instanceof Uint8Array ? entry.data : encoder.encode(entry.data);
    const crc = crc32(data);
    const deflated = await through(data, new CompressionStream("deflate-raw"));
    const [method, stored] = deflated.length < data.length ? [8, deflated] : [0, data];
    const time = entry.time ?? stamp.time;
    const date = entry.date ?? stamp.date;
    const fields = { method, time, date, crc, compressed: stored.length, size: data.length, name };
    const local = header(LOCAL, 30, 4, fields);
    const central = header(CENTRAL, 46, 6, fields);
    const cv = new DataView(central.buffer);
    cv.setUint16(4, (3 << 8) | 20, true); // made by Unix: the external attributes hold the mode
    cv.setUint32(38, ((entry.mode ?? DEFAULT_MODE) << 16) >>> 0, true);
    cv.setUint32(42, offset, true);
    locals.push(local, stored);
    centrals.push(central);
    offset += local.length + stored.length;
  }
  const centralSize = centrals.reduce((n, c) => n + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, EOCD, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, centralSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + centralSize + 22);
  let at = 0;
  for (const part of [...locals, ...centrals, end]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Whether bytes look like text a person can edit (UTF-8 without NULs). */
export function isText(data) {
  if (data.length > 1024 * 1024) return false;
  if (data.includes(0)) return false;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(data);
    return true;
  } catch {
    return false;
  }
}
