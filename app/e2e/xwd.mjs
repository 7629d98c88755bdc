// Screenshots from the X server: WebKitWebDriver's own screenshot never
// returns under Xvfb (the web view's snapshot waits for a frame the virtual
// display never presents), so the tests grab the screen with `xwd` and
// convert its ZPixmap dump to PNG here, cropped to the app's window.
import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';

function crcTable() {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}
const CRC = crcTable();
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** Encodes RGB rows as a PNG. */
export function png(width, height, rgb) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    rgb.copy(raw, y * (width * 3 + 1) + 1, y * width * 3, (y + 1) * width * 3);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const shift = (mask) => {
  let s = 0;
  while (mask && !(mask & 1)) { mask >>>= 1; s++; }
  return s;
};

/** Parses a 24/32-bit ZPixmap XWD dump into RGB, cropped to `rect`. */
export function xwdToRgb(dump, rect) {
  const h = (i) => dump.readUInt32BE(i * 4);
  const [headerSize, , format, , width, height] = [h(0), h(1), h(2), h(3), h(4), h(5)];
  const byteOrder = h(7), bpp = h(11), bytesPerLine = h(12);
  const masks = [h(14), h(15), h(16)];
  const ncolors = h(19);
  if (format !== 2 || (bpp !== 32 && bpp !== 24)) throw new Error(`unsupported xwd dump: format ${format}, ${bpp} bits per pixel`);
  const data = headerSize + ncolors * 12;
  const x0 = Math.max(0, Math.min(width - 1, rect.x)), y0 = Math.max(0, Math.min(height - 1, rect.y));
  const w = Math.min(rect.width, width - x0), hh = Math.min(rect.height, height - y0);
  const out = Buffer.alloc(w * hh * 3);
  const shifts = masks.map(shift);
  const step = bpp / 8;
  for (let y = 0; y < hh; y++) {
    for (let x = 0; x < w; x++) {
      const at = data + (y0 + y) * bytesPerLine + (x0 + x) * step;
      const p = byteOrder === 0 ? dump.readUIntLE(at, step) : dump.readUIntBE(at, step);
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) out[o + c] = (p & masks[c]) >>> shifts[c];
    }
  }
  return { width: w, height: hh, rgb: out };
}

/** A PNG of `rect` on the current X display. */
export function grab(rect) {
  const dump = execFileSync('xwd', ['-root', '-silent'], { maxBuffer: 256 * 1024 * 1024 });
  const { width, height, rgb } = xwdToRgb(dump, rect);
  return png(width, height, rgb);
}
