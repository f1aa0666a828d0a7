/**
 * The job store: IJobInfo records (no secrets) in
 * $CLUSTER_BRIDGE_STATE_DIR/jobs.json or ~/.local/share/cluster-bridge/jobs.json,
 * written atomically, so detached jobs survive a kernel restart.
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
    this._load();
  }

  get file(): string {
    return this._file;
  }

  list(): IJobInfo[] {
    return [...this._jobs.values()]
      .sort((a, b) => b.submittedAt - a.submittedAt)
      .map(j => ({ ...j }));
  }

  get(id: string): IJobInfo | undefined {
    const job = this._jobs.get(id);
    return job ? { ...job } : undefined;
  }

  /** Records a job; the file is written soon after (coalesced). */
  put(job: IJobInfo): void {
    this._jobs.set(job.id, { ...job });
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

  private _load(): void {
    for (const job of new JobStore.Reader(this._file).jobs()) {
      this._jobs.set(job.id, job);
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
    // Another kernel may share the file: keep the jobs it recorded that we do not know.
    const onDisk = new JobStore.Reader(this._file).jobs();
    for (const job of onDisk) {
      if (!this._jobs.has(job.id) && !this._dropped.has(job.id)) {
        this._jobs.set(job.id, job);
      }
    }
    const jobs = [...this._jobs.values()].sort(
      (a, b) => b.submittedAt - a.submittedAt
    );
    const finished = jobs.filter(j => j.endState);
    for (const old of finished.slice(MAX_FINISHED)) {
      this._jobs.delete(old.id);
      this._dropped.add(old.id);
    }
    const keep = jobs.filter(j => this._jobs.has(j.id));
    try {
      fs.mkdirSync(path.dirname(this._file), { recursive: true, mode: 0o700 });
      const tmp = `${this._file}.${process.pid}.tmp`;
      fs.writeFileSync(
        tmp,
        JSON.stringify({ version: 1, jobs: keep }, null, 1),
        { mode: 0o600 }
      );
      fs.renameSync(tmp, this._file);
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

  private _file: string;
  private _jobs = new Map<string, IJobInfo>();
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _warned = false;
  private _dropped = new Set<string>();
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
