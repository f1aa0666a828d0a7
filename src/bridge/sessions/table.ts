/**
 * The session table: one record per session (no secrets: the token stays on
 * the remote), in <stateDir>/sessions.json next to the job store, so a new
 * kernel process finds and reattaches the sessions of its notebooks. Saves
 * merge with what is on disk: another kernel's sessions are never lost.
 */
import * as fs from 'fs';
import * as path from 'path';

import type { ISessionInfo } from '../../shared/sessions';
import type { IJobRequest } from '../../shared/magic';
import { defaultStateDir } from '../jobs/store';

/** What the bridge keeps about a session. */
export interface ISessionRecord extends ISessionInfo {
  /** Remote folder: <workDir>/sessions/<id>. */
  remoteDir: string;
  /** The resource options it started with. */
  request: IJobRequest;
  /** A cell was told that this session ended by itself (told once). */
  endNoticed?: boolean;
}

/** Ended sessions kept in the file beyond this count are dropped, oldest first. */
const MAX_ENDED = 50;

export class SessionTable {
  constructor(dir: string = defaultStateDir()) {
    this._file = path.join(dir, 'sessions.json');
    this._records = Private.read(this._file);
  }

  get file(): string {
    return this._file;
  }

  /** All records, newest first, with what other kernels wrote since. */
  list(): ISessionRecord[] {
    this._reload();
    return this._sorted();
  }

  private _sorted(): ISessionRecord[] {
    return [...this._records.values()]
      .sort((a, b) => b.startedAt - a.startedAt)
      .map(r => ({ ...r }));
  }

  get(id: string): ISessionRecord | undefined {
    this._reload();
    const record = this._records.get(id);
    return record ? { ...record } : undefined;
  }

  /** The live session of a notebook on a cluster, if any (per the last known state). */
  find(notebook: string, cluster: string): ISessionRecord | undefined {
    return this.list().find(
      r =>
        r.notebook === notebook && r.cluster === cluster && r.state !== 'ended'
    );
  }

  put(record: ISessionRecord): void {
    this._records.set(record.id, { ...record });
    this._dirty.add(record.id);
    this._save();
  }

  /** Picks up what other kernels wrote (records this process changed win). */
  private _reload(): void {
    for (const [id, record] of Private.read(this._file)) {
      if (!this._dirty.has(id)) {
        this._records.set(id, record);
      }
    }
  }

  private _save(): void {
    this._reload();
    const ended = this._sorted().filter(r => r.state === 'ended');
    for (const old of ended.slice(MAX_ENDED)) {
      this._records.delete(old.id);
    }
    fs.mkdirSync(path.dirname(this._file), { recursive: true, mode: 0o700 });
    const tmp = `${this._file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this._sorted(), null, 1), {
      mode: 0o600
    });
    fs.renameSync(tmp, this._file);
    this._dirty.clear();
  }

  private _file: string;
  private _records: Map<string, ISessionRecord>;
  private _dirty = new Set<string>();
}

namespace Private {
  export function read(file: string): Map<string, ISessionRecord> {
    const records = new Map<string, ISessionRecord>();
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      return records; // missing or torn: start empty, the next save rewrites it
    }
    if (Array.isArray(parsed)) {
      for (const r of parsed as ISessionRecord[]) {
        if (r && typeof r.id === 'string' && typeof r.cluster === 'string') {
          records.set(r.id, r);
        }
      }
    }
    return records;
  }
}
