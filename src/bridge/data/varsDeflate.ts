/**
 * Deflated uploads of values that compress well. Where SSH is CPU-bound
 * (both ends encrypt, copy and frame every byte) fewer bytes through it is
 * the only way past scp, so a file whose samples deflate to under half goes
 * as zblocks: 4 MiB blocks deflated in libuv's threads (a few at once, so
 * compression overlaps the SFTP writes), each stored raw where deflate does
 * not pay. The remote inflates while it decodes (_cb_vars.py
 * ZBlocksReader); the way back, the runner writes the same format
 * (_cb_vars.deflate_in_place, same probe) and the notebook's kernel inflates. Files that do not compress (random floats) skip all this:
 * their probe costs well under 1% of their transfer.
 */
import * as fs from 'fs';
import type { SFTPWrapper } from 'ssh2';
import { promisify } from 'util';
import * as zlib from 'zlib';

import { sftpCall } from '../transport/sftp';

/** The manifest entry's `encoding` of a deflated file. */
export const ZBLOCKS = 'zblocks';
export const BLOCK_BYTES = 4 << 20;
/** Below this a file goes raw: too small for compression to matter. */
export const MIN_DEFLATE_BYTES = 1 << 20;
/** Deflate when the samples shrink to under this fraction. */
export const WORTH_RATIO = 0.5;
const PROBE_SAMPLES = 8;
const PROBE_SAMPLE_BYTES = 128 << 10;
/** Blocks being read and deflated at once; SFTP writes in flight. */
const BLOCKS_IN_FLIGHT = 4;
const WRITES_IN_FLIGHT = 8;

const deflateRaw = promisify(zlib.deflateRaw) as (
  buf: Buffer,
  options: zlib.ZlibOptions
) => Promise<Buffer>;

/** Whether `file` is worth deflating: evenly spread samples, level 1. */
export async function compressesWell(file: string): Promise<boolean> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size < MIN_DEFLATE_BYTES) {
      return false;
    }
    let raw = 0;
    let deflated = 0;
    const stride = Math.floor((size - PROBE_SAMPLE_BYTES) / PROBE_SAMPLES);
    for (let i = 0; i < PROBE_SAMPLES; i++) {
      const sample = Buffer.allocUnsafe(PROBE_SAMPLE_BYTES);
      const { bytesRead } = await handle.read(
        sample,
        0,
        PROBE_SAMPLE_BYTES,
        i * stride
      );
      raw += bytesRead;
      deflated += (
        await deflateRaw(sample.subarray(0, bytesRead), { level: 1 })
      ).length;
    }
    return deflated < raw * WORTH_RATIO;
  } finally {
    await handle.close();
  }
}

/** One block as stored: its header (raw length, stored length: big-endian uint32) and bytes. */
export async function encodeBlock(raw: Buffer): Promise<Buffer> {
  const deflated = await deflateRaw(raw, { level: 1 });
  const stored = deflated.length < raw.length ? deflated : raw;
  const header = Buffer.allocUnsafe(8);
  header.writeUInt32BE(raw.length, 0);
  header.writeUInt32BE(stored.length, 4);
  return Buffer.concat([header, stored]);
}

/**
 * Writes `from` to the remote `to` (0600) as zblocks over `sftp`; returns
 * the bytes that went over the wire.
 */
export async function putDeflated(
  sftp: SFTPWrapper,
  from: string,
  to: string
): Promise<number> {
  const local = await fs.promises.open(from, 'r');
  const remote = await sftpCall<Buffer>(cb =>
    sftp.open(to, 'w', { mode: 0o600 }, cb)
  );
  try {
    const { size } = await local.stat();
    const blocks = Math.ceil(size / BLOCK_BYTES);
    const encodeAt = async (i: number): Promise<Buffer> => {
      const length = Math.min(BLOCK_BYTES, size - i * BLOCK_BYTES);
      const raw = Buffer.allocUnsafe(length);
      const { bytesRead } = await local.read(raw, 0, length, i * BLOCK_BYTES);
      if (bytesRead !== length) {
        throw new Error(`${from} changed while it was sent`);
      }
      return encodeBlock(raw);
    };
    const encoding: Promise<Buffer>[] = [];
    const writing: Promise<void>[] = [];
    let next = 0;
    let position = 0;
    try {
      while (next < Math.min(BLOCKS_IN_FLIGHT, blocks)) {
        encoding.push(encodeAt(next++));
      }
      // In order: a block's place in the file is known once those before it are encoded.
      while (encoding.length) {
        const stored = await encoding.shift()!;
        if (next < blocks) {
          encoding.push(encodeAt(next++));
        }
        const at = position;
        position += stored.length;
        writing.push(
          sftpCall<void>(cb =>
            sftp.write(remote, stored, 0, stored.length, at, err => cb(err))
          )
        );
        if (writing.length >= WRITES_IN_FLIGHT) {
          await writing.shift();
        }
      }
      await Promise.all(writing);
    } catch (err) {
      // Let what is still in flight settle, unobserved, before the handles close.
      await Promise.allSettled([...encoding, ...writing]);
      throw err;
    }
    return position;
  } finally {
    await local.close();
    await sftpCall<void>(cb => sftp.close(remote, err => cb(err))).catch(
      () => undefined
    );
  }
}
