import { spawnSync } from 'child_process';
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';

import {
  BLOCK_BYTES,
  compressesWell,
  encodeBlock,
  MIN_DEFLATE_BYTES
} from './varsDeflate';

const RUNTIME = path.resolve(__dirname, '../../runtime');

/** The runtime's reader (the remote side of the format), run by the real Python. */
function readWithRuntime(file: string): {
  bytes?: number;
  sha?: string;
  error?: string;
} {
  const code = [
    'import hashlib, json, sys',
    `sys.path.insert(0, ${JSON.stringify(RUNTIME)})`,
    'import _cb_vars',
    'h = hashlib.sha256(); n = 0',
    'try:',
    `    with open(${JSON.stringify(file)}, 'rb') as f:`,
    '        r = _cb_vars.ZBlocksReader(f)',
    '        while True:',
    '            b = r.read(1 << 20)',
    '            if not b: break',
    '            h.update(b); n += len(b)',
    '    print(json.dumps({"bytes": n, "sha": h.hexdigest()}))',
    'except _cb_vars.ZBlocksError as e:',
    '    print(json.dumps({"error": str(e)}))'
  ].join('\n');
  const r = spawnSync('/usr/bin/python3', ['-c', code], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(r.stderr);
  }
  return JSON.parse(r.stdout);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('varsDeflate', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-deflate-spec-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('deflates what compresses and leaves random bytes and small files alone', async () => {
    const ones = path.join(dir, 'ones');
    fs.writeFileSync(ones, Buffer.alloc(3 * MIN_DEFLATE_BYTES, 7));
    const random = path.join(dir, 'random');
    fs.writeFileSync(random, randomBytes(3 * MIN_DEFLATE_BYTES));
    const small = path.join(dir, 'small');
    fs.writeFileSync(small, Buffer.alloc(MIN_DEFLATE_BYTES - 1));
    expect(await compressesWell(ones)).toBe(true);
    expect(await compressesWell(random)).toBe(false);
    expect(await compressesWell(small)).toBe(false);
  });

  it('stores a block deflated, or raw where deflate does not pay', async () => {
    const zeros = Buffer.alloc(BLOCK_BYTES);
    const packed = await encodeBlock(zeros);
    expect(packed.readUInt32BE(0)).toBe(BLOCK_BYTES);
    expect(packed.readUInt32BE(4)).toBe(packed.length - 8);
    expect(packed.length).toBeLessThan(BLOCK_BYTES / 100);
    expect(zlib.inflateRawSync(packed.subarray(8)).equals(zeros)).toBe(true);

    const noise = randomBytes(100_000);
    const kept = await encodeBlock(noise);
    expect(kept.readUInt32BE(4)).toBe(noise.length);
    expect(kept.subarray(8).equals(noise)).toBe(true);
  });

  it('writes what the runtime reads back byte for byte, and a cut file is an error there', async () => {
    const plain = Buffer.concat([
      Buffer.alloc(BLOCK_BYTES, 1),
      randomBytes(BLOCK_BYTES),
      Buffer.alloc(12345, 2)
    ]);
    const blocks: Buffer[] = [];
    for (let at = 0; at < plain.length; at += BLOCK_BYTES) {
      blocks.push(await encodeBlock(plain.subarray(at, at + BLOCK_BYTES)));
    }
    const file = path.join(dir, 'a.npy');
    fs.writeFileSync(file, Buffer.concat(blocks));
    expect(readWithRuntime(file)).toEqual({
      bytes: plain.length,
      sha: sha(plain)
    });

    fs.truncateSync(file, fs.statSync(file).size - 10);
    expect(readWithRuntime(file).error).toMatch(/ends inside a block/);
  });
});
