/**
 * The copier on this machine's file system (real files in a temp folder):
 * folders, resume after a write failure injected by a wrapping endpoint,
 * source changes, links and clashes. The SFTP side: tests/integration/data/transfer.test.ts.
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { TransferStopped } from './transferCopy';
import { LocalEndpoint, type IEndpoint } from './transferEndpoint';
import { partFiles } from './transferPaths';
import { copyTree, type ITreeOptions } from './transferTree';

const KiB = 1024;

/** Fails every write once `limit` bytes were written (fault injection). */
function failingAfter(limit: number): IEndpoint & { written: number } {
  const ep = new LocalEndpoint('flaky') as LocalEndpoint & { written: number };
  ep.written = 0;
  const write = ep.write.bind(ep);
  ep.write = async (h, buf, length, position) => {
    if (ep.written + length > limit) {
      throw new Error('injected: connection lost');
    }
    ep.written += length;
    return write(h, buf, length, position);
  };
  return ep;
}

/** Buffer.equals: toEqual walks a big Buffer byte by byte (seconds per MiB). */
function expectSame(a: Buffer, b: Buffer): void {
  expect([a.length, a.equals(b)]).toEqual([b.length, true]);
}

describe('copyTree', () => {
  let dir: string;
  const local = new LocalEndpoint();
  const notices: string[] = [];
  const opts = (extra: Partial<ITreeOptions> = {}): ITreeOptions => ({
    notice: t => notices.push(t),
    chunkSize: 16 * KiB,
    concurrency: 4,
    recordEvery: 64 * KiB,
    recordMs: 0,
    ...extra
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-transfer-'));
    notices.length = 0;
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('copies a folder with its content and times; a rerun finds it complete', async () => {
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'sub/deeper'), { recursive: true });
    fs.writeFileSync(path.join(src, 'a.bin'), randomBytes(300 * KiB + 7));
    fs.writeFileSync(path.join(src, 'sub/b.txt'), 'b');
    fs.writeFileSync(path.join(src, 'sub/deeper/empty'), '');
    const to = path.join(dir, 'out/copy');
    const r = await copyTree(local, src, local, to, opts());
    expect(r).toMatchObject({ kind: 'dir', files: 3, upToDate: 0 });
    for (const f of ['a.bin', 'sub/b.txt', 'sub/deeper/empty']) {
      expectSame(
        fs.readFileSync(path.join(to, f)),
        fs.readFileSync(path.join(src, f))
      );
      expect(Math.floor(fs.statSync(path.join(to, f)).mtimeMs / 1000)).toBe(
        Math.floor(fs.statSync(path.join(src, f)).mtimeMs / 1000)
      );
    }
    expect(fs.readdirSync(path.join(to))).toEqual(['a.bin', 'sub']);
    const again = await copyTree(local, src, local, to, opts());
    expect(again).toMatchObject({ files: 0, upToDate: 3, bytes: 0 });
  });

  it('continues an interrupted copy from its recorded prefix, byte-identical', async () => {
    const from = path.join(dir, 'big.bin');
    const data = randomBytes(1024 * KiB + 123);
    fs.writeFileSync(from, data);
    const to = path.join(dir, 'big.copy');
    const flaky = failingAfter(600 * KiB);
    await expect(copyTree(local, from, flaky, to, opts())).rejects.toThrow(
      /injected/
    );
    const { part, sidecar } = partFiles(to);
    expect(fs.existsSync(to)).toBe(false);
    const record = JSON.parse(fs.readFileSync(sidecar, 'utf8'));
    expect(record.done).toBeGreaterThan(0);
    expect(record.done).toBeLessThanOrEqual(600 * KiB);
    let moved = 0;
    const r = await copyTree(
      local,
      from,
      local,
      to,
      opts({ onBytes: n => (moved += n) })
    );
    expect(r.resumed).toBe(record.done);
    expect(r.bytes).toBe(data.length - record.done);
    expect(moved).toBe(data.length - record.done);
    expectSame(fs.readFileSync(to), data);
    expect(fs.existsSync(part) || fs.existsSync(sidecar)).toBe(false);
  });

  it('starts over when the source changed, or the part was altered', async () => {
    const from = path.join(dir, 'f.bin');
    fs.writeFileSync(from, randomBytes(512 * KiB));
    const to = path.join(dir, 'f.copy');
    await expect(
      copyTree(local, from, failingAfter(200 * KiB), to, opts())
    ).rejects.toThrow(/injected/);
    // Same size, other content and time: a changed source.
    const changed = randomBytes(512 * KiB);
    fs.writeFileSync(from, changed);
    fs.utimesSync(from, 1e9, 1e9);
    const r = await copyTree(local, from, local, to, opts());
    expect(r.resumed).toBe(0);
    expect(notices.join('\n')).toMatch(/started over \(the source changed/);
    expectSame(fs.readFileSync(to), changed);

    fs.rmSync(to);
    await expect(
      copyTree(local, from, failingAfter(200 * KiB), to, opts())
    ).rejects.toThrow(/injected/);
    const fd = fs.openSync(partFiles(to).part, 'r+');
    fs.writeSync(fd, Buffer.from('XXXX'), 0, 4, 0);
    fs.closeSync(fd);
    const r2 = await copyTree(local, from, local, to, opts());
    expect(r2.resumed).toBe(0);
    expect(notices.join('\n')).toMatch(/the unfinished copy was changed/);
    expectSame(fs.readFileSync(to), changed);
  });

  it('stops on its signal leaving a resumable part', async () => {
    const from = path.join(dir, 's.bin');
    const data = randomBytes(2048 * KiB);
    fs.writeFileSync(from, data);
    const to = path.join(dir, 's.copy');
    const stop = new AbortController();
    let seen = 0;
    await expect(
      copyTree(
        local,
        from,
        local,
        to,
        opts({
          signal: stop.signal,
          onBytes: n => {
            seen += n;
            if (seen >= 400 * KiB) {
              stop.abort();
            }
          }
        })
      )
    ).rejects.toBeInstanceOf(TransferStopped);
    expect(fs.existsSync(to)).toBe(false);
    const r = await copyTree(local, from, local, to, opts());
    expect(r.resumed).toBeGreaterThanOrEqual(400 * KiB);
    expectSame(fs.readFileSync(to), data);
  });

  it('skips links out of the tree and to folders, copies links to files inside', async () => {
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'd'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'secret'), 'outside');
    fs.writeFileSync(path.join(src, 'real.txt'), 'inside');
    fs.symlinkSync(path.join(dir, 'secret'), path.join(src, 'out-link'));
    fs.symlinkSync('real.txt', path.join(src, 'in-link'));
    fs.symlinkSync('d', path.join(src, 'dir-link'));
    fs.symlinkSync('/nonexistent', path.join(src, 'dangling'));
    const to = path.join(dir, 'dst');
    const r = await copyTree(local, src, local, to, opts());
    expect(fs.readdirSync(to).sort()).toEqual(['d', 'in-link', 'real.txt']);
    expect(fs.lstatSync(path.join(to, 'in-link')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(to, 'in-link'), 'utf8')).toBe('inside');
    expect(r.files).toBe(2);
    const text = notices.join('\n');
    expect(text).toMatch(/skipped the link .*out-link: it points out/);
    expect(text).toMatch(/skipped the link .*dangling/);
    expect(text).toMatch(/skipped the link .*dir-link: it points to a folder/);
  });

  it('never writes through a link below the destination', async () => {
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'sub/x'), 'x');
    fs.writeFileSync(path.join(src, 'y'), 'y');
    const elsewhere = path.join(dir, 'elsewhere');
    fs.mkdirSync(elsewhere);
    const to = path.join(dir, 'dst');
    fs.mkdirSync(to);
    fs.symlinkSync(elsewhere, path.join(to, 'sub'));
    await expect(copyTree(local, src, local, to, opts())).rejects.toThrow(
      /dst\/sub is a link \(nothing is written through links\)/
    );
    expect(fs.readdirSync(elsewhere)).toEqual([]);
    fs.rmSync(path.join(to, 'sub'));
    fs.symlinkSync(path.join(elsewhere, 'y'), path.join(to, 'y'));
    await expect(copyTree(local, src, local, to, opts())).rejects.toThrow(
      /dst\/y is a link/
    );
    expect(fs.existsSync(path.join(elsewhere, 'y'))).toBe(false);
  });

  it('refuses to replace a folder with a file and a file with a folder', async () => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'f');
    const folder = path.join(dir, 'd');
    fs.mkdirSync(folder);
    await expect(copyTree(local, file, local, folder, opts())).rejects.toThrow(
      /is a folder; a file will not replace it. End the destination with \//
    );
    await expect(copyTree(local, folder, local, file, opts())).rejects.toThrow(
      /is a file; a folder will not replace it/
    );
    await expect(
      copyTree(local, path.join(dir, 'nope'), local, folder, opts())
    ).rejects.toThrow(/nope does not exist/);
  });
});
