// The bytes every browser upload sends: a deterministic pseudo-random stream (xorshift32), so
// that a part sent twice, dropped or put in the wrong place changes the sha256. The page builds
// its Blob with this module and the Node side hashes the same bytes with it.

export const SEED = 0x7e57b10b;

export function pattern(size, seed = SEED) {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x & 0xff;
    if (i + 1 < size) out[i + 1] = (x >>> 8) & 0xff;
    if (i + 2 < size) out[i + 2] = (x >>> 16) & 0xff;
    if (i + 3 < size) out[i + 3] = x >>> 24;
  }
  return out;
}
