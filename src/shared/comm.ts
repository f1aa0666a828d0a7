/**
 * The `cluster_bridge` comm: structured requests from the frontend to the
 * bridge kernel. Every request carries an `id`; the reply echoes it.
 * The kernel also pushes `{ event: 'clusters' | 'jobs' | 'cellStatus', ... }` updates unasked.
 */
import type { IClusterInfo, IClustersFile } from './config';
import type { IVarsLocalStep } from './data';
import type { IDoctorLine } from './doctor';
import type { IJobInfo, IRankLogs } from './jobs';
import type { IStatusPayload } from './mime';
import type { ISessionInfo } from './sessions';

export const COMM_TARGET = 'cluster_bridge';

export type CommRequest =
  | { id: string; op: 'clusters' }
  | { id: string; op: 'jobs' }
  | { id: string; op: 'cancel'; jobId: string }
  /** The jobs panel's Ranks view: each rank's last `lines` (default 200). */
  | { id: string; op: 'rankLogs'; jobId: string; lines?: number }
  | { id: string; op: 'test'; cluster: string }
  | { id: string; op: 'sessions' }
  | {
      id: string;
      op: 'session';
      action: 'stop' | 'restart';
      sessionId: string;
    }
  /** The notebook's own kernel was shut down on purpose: stop its sessions. */
  | { id: string; op: 'notebookClosed'; notebook: string }
  /** `--in`/push: a private folder and the code that writes `names` into it (src/shared/data.ts). */
  | { id: string; op: 'varsExport'; names: string[]; notebook: string }
  | {
      id: string;
      op: 'settings';
      clusters: IClustersFile['clusters'];
      defaultCluster?: string;
      gpuCard?: boolean;
    };

export type CommOp = CommRequest['op'];

/** The `clusters` and `settings` answer: what the picker shows. */
export interface IClustersResult {
  clusters: IClusterInfo[];
  defaultCluster?: string;
}

/** The `result` of a successful reply, per operation. */
export interface ICommResults {
  clusters: IClustersResult;
  jobs: IJobInfo[];
  cancel: null;
  rankLogs: IRankLogs;
  /** The doctor checklist. */
  test: IDoctorLine[];
  sessions: ISessionInfo[];
  session: ISessionInfo | null;
  notebookClosed: null;
  varsExport: IVarsLocalStep;
  settings: IClustersResult;
}

export type CommResult<Op extends CommOp = CommOp> = ICommResults[Op];

export type CommReply =
  | { id: string; ok: true; result: CommResult }
  | { id: string; ok: false; error: string };

export type CommPush =
  | { event: 'clusters'; clusters: IClusterInfo[]; defaultCluster?: string }
  | { event: 'jobs'; jobs: IJobInfo[] }
  | { event: 'sessions'; sessions: ISessionInfo[] }
  /**
   * The live status of the job a cell runs, kept out of the cell's outputs:
   * keyed by the execute_request's msg_id and the cellId of its metadata.
   */
  | {
      event: 'cellStatus';
      msgId: string;
      cellId?: string;
      status: IStatusPayload;
    };
