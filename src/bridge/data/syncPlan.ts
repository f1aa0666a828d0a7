/**
 * What one `--sync` sends: the local entries (with content hashes) against
 * the record of the remote mirror give the puts and deletes, cut into
 * requests of bounded size for the agent's `sync-apply` (a big file travels
 * as pieces). Pure: no I/O.
 */
import type { SyncKind } from './syncWalk';

/** A remote mirror entry as recorded: kind, hash (files) or target (links), mode. */
export type RemoteEntry = [SyncKind, string, number];

export interface IRemoteRecord {
  [path: string]: RemoteEntry;
}

/** A local entry ready to be compared: files carry their content hash. */
export interface IHashedEntry {
  path: string;
  kind: SyncKind;
  size: number;
  mode: number;
  /** Files: sha256 hex. Links: the target. Folders: ''. */
  id: string;
}

export interface IPlan {
  puts: IHashedEntry[];
  deletes: string[];
  /** The record once the plan is applied. */
  next: IRemoteRecord;
}

/** One piece of a put as the agent reads it (`put` of the header). */
export interface IPutPiece {
  p: string;
  k: SyncKind;
  h?: string;
  t?: string;
  m?: number;
  n?: number;
  o?: number;
  len?: number;
}

export interface IRequest {
  delete: string[];
  put: IPutPiece[];
  /** Bytes of file content that follow the header. */
  bytes: number;
}

/** Most file bytes one request carries: bounds the bridge's memory per exec. */
export const REQUEST_BYTES = 16 * 1024 * 1024;

export function entryOf(e: IHashedEntry): RemoteEntry {
  return [e.kind, e.id, e.kind === 'f' ? e.mode : 0];
}

export function plan(local: IHashedEntry[], remote: IRemoteRecord): IPlan {
  const puts: IHashedEntry[] = [];
  const next: IRemoteRecord = {};
  for (const e of local) {
    const want = entryOf(e);
    const have = remote[e.path];
    if (
      !have ||
      have[0] !== want[0] ||
      have[1] !== want[1] ||
      have[2] !== want[2]
    ) {
      puts.push(e);
    }
    next[e.path] = want;
  }
  const deletes = Object.keys(remote).filter(p => !(p in next));
  // Folders before what they hold: the agent makes parents as it goes.
  puts.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { puts, deletes, next };
}

/** The plan as requests: deletes with the first, file bytes at most `limit` per request. */
export function requests(p: IPlan, limit = REQUEST_BYTES): IRequest[] {
  const out: IRequest[] = [];
  let current: IRequest = { delete: p.deletes, put: [], bytes: 0 };
  const flush = () => {
    out.push(current);
    current = { delete: [], put: [], bytes: 0 };
  };
  for (const e of p.puts) {
    if (e.kind !== 'f') {
      current.put.push(
        e.kind === 'l' ? { p: e.path, k: 'l', t: e.id } : { p: e.path, k: 'd' }
      );
      continue;
    }
    let offset = 0;
    do {
      if (current.bytes >= limit) {
        flush();
      }
      const len = Math.min(e.size - offset, limit - current.bytes);
      current.put.push({
        p: e.path,
        k: 'f',
        h: e.id,
        m: e.mode,
        n: e.size,
        o: offset,
        len
      });
      current.bytes += len;
      offset += len;
    } while (offset < e.size);
  }
  if (current.put.length || current.delete.length || out.length === 0) {
    out.push(current);
  }
  return out;
}
