/**
 * Records for the frontend's job panel specs (src/frontend/jobs/*.spec.ts):
 * a job, and a 2-rank job's rank logs whose rank 1 failed.
 */
import type { IJobInfo, IRankLogs } from '../../src/shared/jobs';

/** Remote output that must stay text. */
export const INJECTED = '<img src=x onerror="window.__pwned=1">';

/** A running SLURM job, changed by `over`. */

export function jobInfo(over: Partial<IJobInfo> = {}): IJobInfo {
  return {
    id: 'j',
    cluster: 'hpc',
    scheduler: 'slurm',
    remoteDir: '/home/u/.cluster-bridge/jobs/j',
    phase: 'running',
    detached: false,
    submittedAt: Date.UTC(2026, 10, 28, 12),
    title: 'train()',
    offset: 0,
    ...over
  };
}

/** The comm `rankLogs` answer of a 2-rank job whose rank 1 failed. */
export function twoRankLogs(over: Partial<IRankLogs> = {}): IRankLogs {
  return {
    jobId: 'j',
    found: true,
    worldSize: 2,
    failedRank: 1,
    ranks: [
      {
        rank: 0,
        node: 'n1',
        state: 'cancelled',
        lines: [{ text: '[rank 0] hello' }],
        truncated: false
      },
      {
        rank: 1,
        node: 'n1',
        state: 'error',
        failed: true,
        lines: [
          { text: `[rank 1] ${INJECTED}` },
          { text: '[rank 1] ValueError: bad', stderr: true }
        ],
        truncated: true
      }
    ],
    ...over
  };
}
