/**
 * The job store: IJobInfo records (no secrets) in
 * $CLUSTER_BRIDGE_STATE_DIR/jobs.json or ~/.local/share/cluster-bridge/jobs.json,
 * written atomically, so detached jobs survive a kernel restart.
 *
 * Several kernels (and the CLI) share the file. Every save is a
 * read-modify-write under a lock file: records are keyed by job id and the
 * newest `updatedAt` wins, so a kernel never writes back its stale copy of a
 * job another kernel has since changed (attached, cancelled, finished).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { IJobInfo } from '../../shared/jobs';

/** Finished jobs kept in the file beyond this count are dropped, oldest first. */
const MAX_FINISHED = 200;

export function defaultStateDir(): string {
  if (process.env.CLUSTER_BRIDGE_STATE_DIR) {
    return process.env.CLUSTER_BRIDGE_STATE_DIR;
  }
  const dataHome =
    process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(dataHome, 'cluster-bridge');
}

export class JobStore {
  constructor(dir: string = defaultStateDir()) {
    this._file = path.join(dir, 'jobs.json');
    this._refresh();
  }

  get file(): string {
    return this._file;
  }

  list(): IJobInfo[] {
    this._refresh();
    return [...this._jobs.values()]
      .sort((a, b) => b.submittedAt - a.submittedAt)
      .map(j => ({ ...j }));
  }

  get(id: string): IJobInfo | undefined {
    this._refresh();
    const job = this._jobs.get(id);
    return job ? { ...job } : undefined;
  }

  /** Records a job, stamped with `updatedAt`; the file is written soon after (coalesced). */
  put(job: IJobInfo): void {
    this._jobs.set(job.id, { ...job, updatedAt: Private.stamp() });
    this._scheduleSave();
  }

  /** Writes pending changes now. */
  flush(): void {
    if (this._timer) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    this._save();
  }

  /** Takes in what other writers changed since we last looked (cheap when the file did not change). */
  private _refresh(): void {
    const seen = Private.signature(this._file);
    if (seen === this._seen) {
      return;
    }
    this._merge(new JobStore.Reader(this._file).jobs());
    this._seen = seen;
  }

  /** Per job id, the newest record wins; on a tie ours (it may not be written yet). */
  private _merge(onDisk: IJobInfo[]): void {
    for (const job of onDisk) {
      if (this._dropped.has(job.id)) {
        continue;
      }
      const mine = this._jobs.get(job.id);
      if (!mine || (job.updatedAt ?? 0) > (mine.updatedAt ?? 0)) {
        this._jobs.set(job.id, job);
      }
    }
  }

  private _scheduleSave(): void {
    if (!this._timer) {
      // Coalesce the bursts of updates a running job makes; unref: never keeps the kernel alive.
      this._timer = setTimeout(() => {
        this._timer = null;
        this._save();
      }, 50);
      this._timer.unref?.();
    }
  }

  private _save(): void {
    try {
      fs.mkdirSync(path.dirname(this._file), { recursive: true, mode: 0o700 });
      Private.withLock(`${this._file}.lock`, () => {
        this._merge(new JobStore.Reader(this._file).jobs());
        this._write(this._trimmed());
        this._seen = Private.signature(this._file);
      });
    } catch (err) {
      // The store is a convenience; a read-only home must not fail cells.
      if (!this._warned) {
        this._warned = true;
        console.error(
          `cluster-bridge: cannot write the job store ${this._file}: ${(err as Error).message}`
        );
      }
    }
  }

  /** All jobs, newest first, without the finished ones beyond MAX_FINISHED (dropped for good). */
  private _trimmed(): IJobInfo[] {
    const jobs = [...this._jobs.values()].sort(
      (a, b) => b.submittedAt - a.submittedAt
    );
    const finished = jobs.filter(j => j.endState);
    for (const old of finished.slice(MAX_FINISHED)) {
      this._jobs.delete(old.id);
      this._dropped.add(old.id);
    }
    return jobs.filter(j => this._jobs.has(j.id));
  }

  private _write(jobs: IJobInfo[]): void {
    const tmp = `${this._file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ version: 1, jobs }, null, 1), {
      mode: 0o600
    });
    fs.renameSync(tmp, this._file);
  }

  private _file: string;
  private _jobs = new Map<string, IJobInfo>();
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _warned = false;
  private _dropped = new Set<string>();
  /** The file as last read or written (inode, size, mtime); '' when missing. */
  private _seen: string | null = null;
}

export namespace JobStore {
  /** Reads the file; missing or corrupt means no jobs (a corrupt file is replaced on save). */
  export class Reader {
    constructor(private readonly _file: string) {}

    jobs(): IJobInfo[] {
      try {
        const data = JSON.parse(fs.readFileSync(this._file, 'utf8')) as {
          jobs?: IJobInfo[];
        };
        return (data.jobs ?? []).filter(j => j && typeof j.id === 'string');
      } catch {
        return [];
      }
    }
  }
}

namespace Private {
  /** A lock held longer than this is left over from a crashed writer (a save takes milliseconds). */
  const STALE_MS = 10_000;
  const RETRY_MS = 5;

  let lastStamp = 0;

  /** Unix ms, strictly increasing within this process (two puts in one ms still order). */
  export function stamp(): number {
    lastStamp = Math.max(Date.now(), lastStamp + 1);
    return lastStamp;
  }

  export function signature(file: string): string {
    try {
      const st = fs.statSync(file);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return '';
    }
  }

  /**
   * Runs `body` holding an exclusive lock file (O_EXCL create, which works
   * where flock does not, e.g. NFS homes). A lock whose writer died (same
   * host, pid gone) or that is older than STALE_MS is broken.
   */
  export function withLock<T>(lock: string, body: () => T): T {
    const mine = `${os.hostname()} ${process.pid} ${stamp()}`;
    for (;;) {
      try {
        fs.writeFileSync(lock, mine, { flag: 'wx', mode: 0o600 });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw err;
        }
      }
      if (isStale(lock)) {
        fs.rmSync(lock, { force: true });
        continue;
      }
      // The save is synchronous (it also runs at exit); the holder needs milliseconds.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RETRY_MS);
    }
    try {
      return body();
    } finally {
      // Another writer may have judged us stale and taken over: never remove its lock.
      if (readText(lock) === mine) {
        fs.rmSync(lock, { force: true });
      }
    }
  }

  function isStale(lock: string): boolean {
    let st: fs.Stats;
    try {
      st = fs.statSync(lock);
    } catch {
      return false; // gone already: just try again
    }
    if (Date.now() - st.mtimeMs > STALE_MS) {
      return true;
    }
    const [host, pid] = (readText(lock) ?? '').split(' ');
    return host === os.hostname() && /^\d+$/.test(pid) && !alive(Number(pid));
  }

  function alive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  }

  function readText(file: string): string | undefined {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  }
}
