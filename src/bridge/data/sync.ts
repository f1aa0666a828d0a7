/**
 * `--sync DIR` (or a cluster's `sync` setting): before the cell, DIR (relative
 * to the notebook's folder) is mirrored to `<workDir>/sync/<key>/<name>` on
 * the cluster, incrementally: walk + ignore rules (syncWalk.ts), content
 * hashes cached by (size, mtime, inode) (syncCache.ts), the delta against the
 * record of the remote (syncPlan.ts), one exec of the agent's `sync-apply`
 * per 16 MiB (syncApply.ts). The cell then runs in the mirror (bundle
 * `syncDir`). Syncs of one mirror run one after another.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { IResolvedCluster } from '../../shared/config';
import type { IJobRequest } from '../../shared/magic';
import { OpenAborted } from '../jobs/connector';
import type { IOpenCluster } from '../jobs/context';
import type { StatusLine } from '../jobs/status';
import type { IOutputSink } from '../jobs/types';
import { UnsupportedOptionError } from '../schedulers/options';
import type { IAgentInvocation } from '../schedulers/types';
import type { ITransport } from '../transport/types';
import { applyRequest, ChangedWhileSyncing } from './syncApply';
import { cacheFile, SyncCache } from './syncCache';
import { entryOf, plan, requests, type IHashedEntry } from './syncPlan';
import { walkProject, type ILocalEntry } from './syncWalk';

export interface ISyncTarget {
  cluster: string;
  transport: ITransport;
  agent: IAgentInvocation;
  /** Absolute remote work directory. */
  workDir: string;
}

export interface ISyncOptions {
  /** DIR as the user wrote it. */
  dir: string;
  /** The notebook key (`<serverRoot>/<path>`, `kernel:<id>`), absent for the CLI. */
  notebook?: string;
  /** The bridge's state folder (the hash cache lives in its `sync/`). */
  stateDir: string;
  /** Progress, called only once the sync has taken longer than `slowMs`. */
  onSlow?: (detail: string) => void;
  /** A line for the cell (skipped links, big files, a slow sync's time). */
  notice: (text: string) => void;
  signal?: AbortSignal;
  slowMs?: number;
}

export interface ISyncResult {
  /** The mirror on the remote: the cell's working directory. */
  remoteDir: string;
  files: number;
  sent: number;
  deleted: number;
  bytes: number;
  ms: number;
}

/** A sync that takes longer than this shows its progress and its time. */
export const SLOW_SYNC_MS = 1000;

/** The folder a cell syncs: the line's `--sync`, else the cluster's `sync` setting. */
export function syncDirOf(
  request: IJobRequest,
  cluster: IResolvedCluster
): string | undefined {
  return request.dryRun ? undefined : (request.sync ?? cluster.config.sync);
}

/** `%cluster session NAME --sync DIR`: refused, a sync happens before each cell that asks for it. */
export function refuseSyncOnSession(request: IJobRequest): void {
  if (request.sync !== undefined) {
    throw new UnsupportedOptionError(
      '--sync belongs on a %%cluster cell (the folder is synced before each cell that asks); %cluster session takes resource options'
    );
  }
}

/** A cell's sync before it runs: the mirror's remote folder (its cwd), or undefined without one. */
export async function syncForCell(
  open: IOpenCluster,
  request: IJobRequest,
  cell: {
    notebook?: string;
    stateDir: string;
    status: StatusLine;
    sink: IOutputSink;
    signal?: AbortSignal;
  }
): Promise<string | undefined> {
  const dir = syncDirOf(request, open.cluster);
  if (dir === undefined) {
    return undefined;
  }
  try {
    const result = await syncProject(
      {
        cluster: open.cluster.name,
        transport: open.transport,
        agent: open.agent,
        workDir: open.runtime.workDir
      },
      {
        dir,
        notebook: cell.notebook,
        stateDir: cell.stateDir,
        signal: cell.signal,
        onSlow: detail => cell.status.set({ phase: 'preparing', detail }),
        notice: text => cell.sink.stream('stderr', `[cluster-bridge] ${text}\n`)
      }
    );
    return result.remoteDir;
  } catch (err) {
    if (cell.signal?.aborted) {
      throw new OpenAborted();
    }
    throw err;
  }
}

export function syncProject(
  target: ISyncTarget,
  options: ISyncOptions
): Promise<ISyncResult> {
  const local = localRoot(options.dir, options.notebook);
  const key = mirrorKey(options.notebook, local);
  const file = cacheFile(options.stateDir, target.cluster, target.workDir, key);
  // One sync of a mirror at a time: two cells must not interleave their deltas.
  const before = Private.running.get(file) ?? Promise.resolve();
  const run = before
    .catch(() => undefined)
    .then(() => Private.sync(target, options, local, key, file));
  Private.running.set(file, run);
  void run
    .finally(() => {
      if (Private.running.get(file) === run) {
        Private.running.delete(file);
      }
    })
    .catch(() => undefined);
  return run;
}

/**
 * The local folder DIR names: relative to the notebook's folder (the folder
 * of `<serverRoot>/<path>`; a Cluster Bridge kernel's notebook and the CLI:
 * the kernel's working folder, where Jupyter starts it). A `..` above the
 * notebook is allowed (a project root); the whole home folder or `/` is not.
 */
export function localRoot(dir: string, notebook?: string): string {
  let base: string;
  if (notebook === undefined || notebook.startsWith('kernel:')) {
    base = process.cwd();
  } else if (path.isAbsolute(notebook)) {
    base = path.dirname(notebook);
  } else {
    throw new Error(
      `--sync: the folder of notebook "${notebook}" is not known here (its server root was not sent); ` +
        'reload the page, or give the cluster a "sync" setting only where the folder is known'
    );
  }
  const wanted = path.resolve(base, dir);
  let real: string;
  try {
    real = fs.realpathSync(wanted);
  } catch {
    throw new Error(`--sync: there is no folder ${wanted}`);
  }
  if (!fs.statSync(real).isDirectory()) {
    throw new Error(`--sync: ${wanted} is not a folder`);
  }
  if (real === '/' || real === fs.realpathSync(os.homedir())) {
    throw new Error(
      `--sync: ${wanted} is ${real === '/' ? 'the root folder' : 'your whole home folder'}; sync a project folder instead`
    );
  }
  return real;
}

/** One mirror per (machine, notebook, folder). */
export function mirrorKey(notebook: string | undefined, local: string): string {
  return createHash('sha256')
    .update(`${os.hostname()}\0${notebook ?? ''}\0${local}`)
    .digest('hex')
    .slice(0, 16);
}

/** The mirror's folder name: the local folder's, when it is a plain name. */
export function mirrorName(local: string): string {
  const base = path.basename(local);
  return /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/.test(base) ? base : 'project';
}

namespace Private {
  export const running = new Map<string, Promise<ISyncResult>>();

  const YIELD_BYTES = 32 * 1024 * 1024;
  /** One read buffer for every hash: hashing is synchronous, so nothing shares it at once. */
  const READ_BUFFER = Buffer.allocUnsafe(1 << 20);

  /** Notices already shown per mirror: a skipped link is named once, not in every cell. */
  const shown = new Map<string, Set<string>>();

  function once(file: string, notice: (text: string) => void) {
    let seen = shown.get(file);
    if (!seen) {
      seen = new Set();
      shown.set(file, seen);
    }
    const known = seen;
    return (text: string) => {
      if (!known.has(text)) {
        known.add(text);
        notice(text);
      }
    };
  }

  export async function sync(
    target: ISyncTarget,
    options: ISyncOptions,
    local: string,
    key: string,
    file: string
  ): Promise<ISyncResult> {
    const started = Date.now();
    const slowMs = options.slowMs ?? SLOW_SYNC_MS;
    let progress = `syncing ${options.dir}`;
    const slow = setTimeout(() => options.onSlow?.(progress), slowMs);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const result = await syncOnce(
            target,
            options,
            local,
            key,
            file,
            text => {
              progress = `syncing ${options.dir}: ${text}`;
              if (Date.now() - started >= slowMs) {
                options.onSlow?.(progress);
              }
            }
          );
          result.ms = Date.now() - started;
          if (result.ms >= slowMs) {
            options.notice(
              `synced ${options.dir}: ${result.sent} of ${result.files} files sent ` +
                `(${megabytes(result.bytes)}), ${result.deleted} removed, in ${(result.ms / 1000).toFixed(1)} s`
            );
          }
          return result;
        } catch (err) {
          if (!(err instanceof ChangedWhileSyncing) || attempt >= 3) {
            if (err instanceof ChangedWhileSyncing) {
              throw new Error(
                `--sync: ${err.message} keeps changing while it is synced; run the cell again once it is written`
              );
            }
            throw err;
          }
        }
      }
    } finally {
      clearTimeout(slow);
    }
  }

  async function syncOnce(
    target: ISyncTarget,
    options: ISyncOptions,
    local: string,
    key: string,
    file: string,
    onProgress: (text: string) => void
  ): Promise<ISyncResult> {
    const walked = walkProject(local);
    const say = once(file, options.notice);
    for (const link of walked.outside) {
      say(`--sync skipped the link ${link}: it leads out of ${options.dir}`);
    }
    for (const name of walked.odd) {
      say(
        `--sync skipped ${name}: a name with control characters or not in UTF-8`
      );
    }
    for (const big of walked.big) {
      say(
        `--sync: ${big.path} is ${megabytes(big.size)}; big data is better put once with %cluster put`
      );
    }
    const cache = new SyncCache(file);
    const { hashed, fresh } = await hashAll(
      local,
      walked.entries,
      cache,
      onProgress
    );
    let unsaved = fresh > 0;
    const syncDir = `${target.workDir}/sync/${key}`;
    const name = mirrorName(local);
    const result: ISyncResult = {
      remoteDir: `${syncDir}/${name}`,
      files: hashed.filter(e => e.kind === 'f').length,
      sent: 0,
      deleted: 0,
      bytes: 0,
      ms: 0
    };
    // At most: the delta, a full compare when the remote's record differs, a resend of drifted files.
    for (let round = 0; round < 4; round++) {
      const p = plan(hashed, cache.remote);
      const batches = requests(p);
      let answerToken: string | null = cache.token;
      let redo = false;
      for (const [i, request] of batches.entries()) {
        if (batches.length > 1) {
          onProgress(`part ${i + 1} of ${batches.length}`);
        }
        const answer = await applyRequest(
          target,
          syncDir,
          { base: answerToken, name },
          request,
          local,
          options.signal
        );
        if (!answer.ok) {
          // The remote is not what we recorded: compare with what it has.
          cache.token = answer.token;
          cache.remote = answer.entries;
          redo = true;
          break;
        }
        answerToken = answer.token;
        result.remoteDir = answer.dir;
        result.sent += answer.written;
        result.deleted += answer.deleted;
        result.bytes += answer.bytes;
        // Record what landed; pieces of an unfinished big file are not recorded yet.
        const landed = new Set(
          request.put
            .filter(x => (x.o ?? 0) + (x.len ?? 0) === (x.n ?? 0))
            .map(x => x.p)
        );
        const byPath = new Map(hashed.map(e => [e.path, e]));
        for (const d of request.delete) {
          delete cache.remote[d];
        }
        for (const x of request.put) {
          const e = byPath.get(x.p);
          if (e && (x.k !== 'f' || landed.has(x.p))) {
            cache.remote[x.p] = entryOf(e);
          }
        }
        for (const d of answer.drifted) {
          delete cache.remote[d];
          redo = true;
        }
        if (unsaved || cache.token !== answer.token) {
          cache.token = answer.token;
          cache.save(); // an unchanged tree with an unchanged remote writes nothing
          unsaved = false;
        }
      }
      if (!redo) {
        return result;
      }
    }
    throw new Error(
      `--sync: the mirror on ${target.cluster} keeps changing under the sync (${syncDir}); is another kernel syncing it?`
    );
  }

  /**
   * Content hashes: from the cache where size, mtime and inode match, else
   * read now, yielding to the event loop every 32 MiB (the kernel keeps
   * answering heartbeats while a first sync hashes a big tree).
   */
  async function hashAll(
    local: string,
    entries: ILocalEntry[],
    cache: SyncCache,
    onProgress: (text: string) => void
  ): Promise<{ hashed: IHashedEntry[]; fresh: number }> {
    const hashes = new Map<string, string>();
    const out: IHashedEntry[] = [];
    let fresh = 0;
    let unyielded = 0;
    for (const e of entries) {
      let id = e.target ?? '';
      if (e.kind === 'f') {
        id = cache.hashOf(e) ?? '';
        if (!id) {
          id = hashFile(path.join(local, e.path));
          unyielded += e.size + 4096;
          if (unyielded > YIELD_BYTES) {
            unyielded = 0;
            onProgress(`hashed ${fresh} of ${entries.length} files`);
            await new Promise(resolve => setImmediate(resolve));
          }
          fresh++;
        }
        hashes.set(e.path, id);
      }
      out.push({ path: e.path, kind: e.kind, size: e.size, mode: e.mode, id });
    }
    cache.setHashes(entries, hashes);
    return { hashed: out, fresh };
  }

  function hashFile(file: string): string {
    const hash = createHash('sha256');
    const buf = READ_BUFFER;
    const fd = fs.openSync(file, 'r');
    try {
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) {
          break;
        }
        hash.update(n === buf.length ? buf : buf.subarray(0, n));
      }
    } finally {
      fs.closeSync(fd);
    }
    return hash.digest('hex');
  }

  export function megabytes(bytes: number): string {
    return bytes < 1024 * 1024
      ? `${(bytes / 1024).toFixed(0)} KB`
      : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }
}
