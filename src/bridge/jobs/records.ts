/**
 * The job records the manager keeps: the job store on disk plus the change
 * listeners (the comm pushes every change to the frontend's job panel).
 */
import type { IJobInfo } from '../../shared/jobs';
import { isJobId } from './bundle';
import type { IJobRecorder } from './context';
import { JobStore } from './store';

export class JobRecords implements IJobRecorder {
  constructor(stateDir?: string) {
    this._store = new JobStore(stateDir);
  }

  get file(): string {
    return this._store.file;
  }

  /** Stores the job and tells every listener (a copy each). */
  put(job: IJobInfo): void {
    this._store.put(job);
    const copy = { ...job };
    for (const listener of [...this._listeners]) {
      try {
        listener(copy);
      } catch {
        // a listener's failure never breaks a job
      }
    }
  }

  /** The recorded job; an error naming the recent ones when it is unknown. */
  get(jobId: string): IJobInfo {
    const job = this._store.get(jobId);
    if (!job) {
      const recent = this._store
        .list()
        .slice(0, 5)
        .map(j => j.id);
      throw new Error(
        `unknown job "${jobId}"` +
          (isJobId(jobId) ? " (not in this machine's job store)" : '') +
          (recent.length
            ? `. Recent jobs: ${recent.join(', ')}`
            : '. No jobs recorded yet.')
      );
    }
    return job;
  }

  list(): IJobInfo[] {
    return this._store.list();
  }

  /** Writes pending changes now. */
  flush(): void {
    this._store.flush();
  }

  onChange(listener: (job: IJobInfo) => void): () => void {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  private _store: JobStore;
  private _listeners = new Set<(job: IJobInfo) => void>();
}
