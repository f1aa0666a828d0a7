/**
 * The `cluster_bridge` comm: structured requests from the frontend to the
 * bridge kernel. Every request carries an `id`; the reply echoes it.
 * The kernel also pushes `{ event: 'clusters' | 'jobs', ... }` updates unasked.
 */
import type { IClusterInfo, IClustersFile } from './config';
import type { IJobInfo } from './jobs';

export const COMM_TARGET = 'cluster_bridge';

export type CommRequest =
  | { id: string; op: 'clusters' }
  | { id: string; op: 'jobs' }
  | { id: string; op: 'cancel'; jobId: string }
  | { id: string; op: 'test'; cluster: string }
  | {
      id: string;
      op: 'settings';
      clusters: IClustersFile['clusters'];
      defaultCluster?: string;
      gpuCard?: boolean;
    };

/** One line of `%cluster doctor`, also the answer of the `test` op (a list of them). */
export interface IDoctorLine {
  /** connection, python, venv, conda, scheduler, gpus, ... */
  check: string;
  verdict: 'ok' | 'warn' | 'fail' | 'skip';
  detail: string;
}

export type CommReply =
  | { id: string; ok: true; result: unknown }
  | { id: string; ok: false; error: string };

export type CommPush =
  | { event: 'clusters'; clusters: IClusterInfo[]; defaultCluster?: string }
  | { event: 'jobs'; jobs: IJobInfo[] };
