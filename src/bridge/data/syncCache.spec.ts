import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { cacheFile, SyncCache } from './syncCache';
import type { ILocalEntry } from './syncWalk';

describe('--sync hash cache', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-sync-cache-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const old = (BigInt(Date.now() - 60000) * 1_000_000n).toString();
  const entry = (p: string, mtimeNs = old, size = 3): ILocalEntry => ({
    path: p,
    kind: 'f',
    size,
    mtimeNs,
    ino: '42',
    mode: 0o644
  });

  it('trusts a hash while size, mtime and inode match, across saves', () => {
    const file = cacheFile(dir, 'c', '/w', 'k1');
    const cache = new SyncCache(file);
    expect(cache.token).toBeNull();
    cache.setHashes(
      [entry('a'), entry('b')],
      new Map([
        ['a', 'ha'],
        ['b', 'hb']
      ])
    );
    cache.token = 't1';
    cache.remote = { a: ['f', 'ha', 0o644] };
    cache.save();
    const again = new SyncCache(file);
    expect(again.token).toBe('t1');
    expect(again.remote).toEqual({ a: ['f', 'ha', 0o644] });
    expect(again.hashOf(entry('a'))).toBe('ha');
    expect(again.hashOf(entry('a', old, 4))).toBeUndefined();
    expect(again.hashOf({ ...entry('a'), ino: '43' })).toBeUndefined();
    expect(
      again.hashOf(entry('a', (BigInt(old) + 1n).toString()))
    ).toBeUndefined();
  });

  it('keeps no hash of a file written in the last seconds', () => {
    const cache = new SyncCache(cacheFile(dir, 'c', '/w', 'k2'));
    const now = (BigInt(Date.now()) * 1_000_000n).toString();
    cache.setHashes([entry('new', now)], new Map([['new', 'h']]));
    expect(cache.hashOf(entry('new', now))).toBeUndefined();
  });

  it('starts over from an unreadable file', () => {
    const file = cacheFile(dir, 'c', '/w', 'k3');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '{not json');
    expect(new SyncCache(file).remote).toEqual({});
  });

  it('names one file per cluster, work dir and mirror', () => {
    expect(cacheFile(dir, 'a', '/w', 'k')).not.toBe(
      cacheFile(dir, 'b', '/w', 'k')
    );
    expect(cacheFile(dir, 'a', '/w', 'k')).not.toBe(
      cacheFile(dir, 'a', '/v', 'k')
    );
  });
});
