/**
 * The `%%cluster` cell magic and `%cluster` line magics: parsing only, no I/O.
 * Shared by the frontend (routing a cell) and the bridge kernel (running it).
 *
 * OWNER: kernel helper. The exported names and shapes below are the contract;
 * the implementation and its spec (magic.spec.ts) are to be filled in.
 */
import type { SchedulerKind } from './config';

/** What one `%%cluster` line asks for. Unset fields fall back to cluster defaults. */
export interface IJobRequest {
  /** Cluster name; undefined means the notebook's picked/default cluster. */
  cluster?: string;
  gpus?: number;
  cpus?: number;
  /** Memory, e.g. `16G`, `500M`. */
  mem?: string;
  /** Time limit HH:MM:SS (also MM:SS, D-HH:MM:SS as SLURM accepts). */
  time?: string;
  partition?: string;
  account?: string;
  qos?: string;
  constraint?: string;
  /** Named env from the cluster config. */
  env?: string;
  /** Extra pip/conda packages for VENV2. */
  packages?: string[];
  scheduler?: SchedulerKind;
  /** Return after submission; the job keeps running, reattach later. */
  detach?: boolean;
  /** Show the job script and commands, submit nothing. */
  dryRun?: boolean;
  /** Job name for the scheduler. */
  name?: string;
}

export type LineCommand =
  | 'list'
  | 'use'
  | 'jobs'
  | 'attach'
  | 'cancel'
  | 'doctor'
  | 'help';

export type ParsedCell =
  /** No magic: plain code (runs on the default cluster in a bridge-kernel notebook). */
  | { kind: 'code'; code: string }
  /** `%%cluster ...` + body. `lineOffset` = 1: body line 1 is cell line 2. */
  | { kind: 'cluster'; request: IJobRequest; code: string; lineOffset: number }
  /** `%cluster CMD args` */
  | { kind: 'line'; command: LineCommand; args: string[] }
  /** Malformed magic: never run anything. */
  | { kind: 'invalid'; error: string; usage: string };

export const CELL_MAGIC = '%%cluster';
export const LINE_MAGIC = '%cluster';

/** True when the cell is routed to the bridge (first non-blank line starts with %%cluster). */
export function isClusterCell(source: string): boolean {
  const first = source.replace(/^\s*\n/, '').split('\n', 1)[0] ?? '';
  return /^%%cluster(\s|$)/.test(first.trimStart());
}
