/**
 * What the bridge remembers of one mirror, in `<stateDir>/sync/<id>.json`:
 * the remote manifest's token and entries as last applied (trusted while the
 * token matches), and the local content hashes by (size, mtime ns, inode),
 * so an unchanged tree costs stats only. Hashes of files changed in the last
 * two seconds are not kept: a write in the same mtime tick would hide.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

import type { IRemoteRecord } from './syncPlan';
import type { ILocalEntry } from './syncWalk';

/** path -> [size, mtimeNs, ino, sha256] */
interface IHashes {
  [path: string]: [number, string, string, string];
}

interface ISyncState {
  v: 1;
  token: string | null;
  remote: IRemoteRecord;
  hashes: IHashes;
}

/** Hashes of files younger than this are recomputed next time. */
const RACY_NS = 2_000_000_000n;

export class SyncCache {
  constructor(file: string) {
    this.file = file;
    const state = Private.read(file);
    this.token = state.token;
    this.remote = state.remote;
    this._hashes = state.hashes;
  }

  readonly file: string;
  token: string | null;
  remote: IRemoteRecord;

  /** The cached hash of a file, if its size, mtime and inode are unchanged. */
  hashOf(e: ILocalEntry): string | undefined {
    const h = this._hashes[e.path];
    return h && h[0] === e.size && h[1] === e.mtimeNs && h[2] === e.ino
      ? h[3]
      : undefined;
  }

  /** Keeps the hashes of this walk only (files gone are forgotten). */
  setHashes(entries: ILocalEntry[], hashes: Map<string, string>): void {
    const now = BigInt(Date.now()) * 1_000_000n;
    const next: IHashes = {};
    for (const e of entries) {
      const h = hashes.get(e.path);
      if (h && now - BigInt(e.mtimeNs) > RACY_NS) {
        next[e.path] = [e.size, e.mtimeNs, e.ino, h];
      }
    }
    this._hashes = next;
  }

  save(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const state: ISyncState = {
      v: 1,
      token: this.token,
      remote: this.remote,
      hashes: this._hashes
    };
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }

  private _hashes: IHashes;
}

/** The state file of one mirror on one cluster's work dir. */
export function cacheFile(
  stateDir: string,
  cluster: string,
  workDir: string,
  key: string
): string {
  const id = createHash('sha256')
    .update(`${cluster}\0${workDir}\0${key}`)
    .digest('hex')
    .slice(0, 20);
  return path.join(stateDir, 'sync', `${id}.json`);
}

namespace Private {
  export function read(file: string): ISyncState {
    try {
      const state = JSON.parse(fs.readFileSync(file, 'utf8')) as ISyncState;
      if (state.v === 1 && state.remote && state.hashes) {
        return state;
      }
    } catch {
      // missing or unreadable: start over (the remote's token will not match)
    }
    return { v: 1, token: null, remote: {}, hashes: {} };
  }
}
