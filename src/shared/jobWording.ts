/**
 * The one wording of a job's status, used by the bridge (the status line's
 * text/plain fallback) and the frontend (the status renderer, the jobs panel).
 * Pure functions, so the sentences are unit-tested in one place.
 */
import type { IStatusPayload } from './mime';
import { endStateOf, isJobOver } from './jobState';

/** The three parts of a status line. */
export interface IStatusWords {
  /** The phase sentence: "Queued on hpc as SLURM job 42 (reason: Resources)". */
  text: string;
  /** "0:12": elapsed while running, total once over. */
  elapsed: string;
  /** "job 20261128-ab12 · SLURM 42". */
  ids: string;
}

export function statusWords(p: IStatusPayload, now: number): IStatusWords {
  const end = isJobOver(p) ? (p.endedAt ?? now) : now;
  return {
    text: statusSentence(p),
    elapsed: formatDuration(end - (Number(p.startedAt) || end)),
    ids: [
      p.jobId ? `job ${p.jobId}` : '',
      schedulerIdText(p),
      sessionText(p, now)
    ]
      .filter(Boolean)
      .join(' · ')
  };
}

/** "session s-1 (54m 10s left)" while a session cell runs; '' for one-off jobs. */
export function sessionText(p: IStatusPayload, now: number): string {
  if (!p.session) {
    return '';
  }
  const left =
    p.deadline !== undefined && !isJobOver(p)
      ? ` (${formatDuration(p.deadline - now)} left)`
      : '';
  return `session ${p.session}${left}`;
}

/** One line: "Running on hpc, node g17 · 0:12 · job j-1 · SLURM 42". */
export function statusLine(p: IStatusPayload, now: number): string {
  const w = statusWords(p, now);
  return [w.text, w.elapsed, w.ids].filter(Boolean).join(' · ');
}

/** What the job is doing, or how it ended, as a sentence. */
export function statusSentence(p: IStatusPayload): string {
  const where = p.node ? `${p.cluster}, node ${p.node}` : p.cluster;
  const detail = p.detail ? ` (${p.detail})` : '';
  switch (p.phase) {
    case 'connecting':
      return `Connecting to ${p.cluster}…`;
    case 'uploading':
      return `Uploading the runtime to ${p.cluster}…`;
    case 'preparing':
      return `Preparing the environment on ${p.cluster}${detail}`;
    case 'submitted':
      return `Submitted to ${schedulerName(p.scheduler)} on ${p.cluster}${
        p.schedulerId ? ` as job ${p.schedulerId}` : ''
      }`;
    case 'queued':
      return `Queued on ${p.cluster}${
        p.schedulerId
          ? ` as ${schedulerName(p.scheduler)} job ${p.schedulerId}`
          : ''
      }${p.detail ? ` (reason: ${p.detail})` : ''}`;
    case 'starting':
      return `Starting on ${where}${detail}`;
    case 'running':
      return `Running on ${where}${detail}`;
    case 'done':
    case 'failed':
    case 'cancelled':
      return Private.endSentence(p);
    default:
      return `${String(p.phase)} on ${p.cluster}${detail}`;
  }
}

/** "SLURM", "Grid Engine", "PBS"; direct runs have no scheduler to name. */
export function schedulerName(kind: string | undefined): string {
  switch (kind) {
    case 'slurm':
      return 'SLURM';
    case 'sge':
      return 'Grid Engine';
    case 'pbs':
      return 'PBS';
    case undefined:
    case '':
    case 'direct':
      return 'the host';
    default:
      return kind;
  }
}

/** "SLURM 42", or "pid 4242" for a direct run; '' without a scheduler id. */
export function schedulerIdText(job: {
  scheduler?: string;
  schedulerId?: string;
}): string {
  if (!job.schedulerId) {
    return '';
  }
  const kind =
    job.scheduler && job.scheduler !== 'direct'
      ? schedulerName(job.scheduler)
      : 'pid';
  return `${kind} ${job.schedulerId}`;
}

/** 0:07, 3:05, 1:02:03. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor((Number.isFinite(ms) ? ms : 0) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

namespace Private {
  export function endSentence(p: IStatusPayload): string {
    const where = p.node
      ? ` on ${p.cluster}, node ${p.node}`
      : ` on ${p.cluster}`;
    const exit =
      p.exitCode !== undefined && p.exitCode !== null && p.exitCode !== 0
        ? ` (exit code ${p.exitCode})`
        : '';
    const detail = p.detail ? `: ${p.detail}` : '';
    switch (endStateOf(p)) {
      case 'completed':
        return `Done${where}`;
      case 'cancelled':
        return `Cancelled${where}${detail}`;
      case 'timeout':
        return `Time limit reached${where}${detail}`;
      case 'out_of_memory':
        return `Out of memory${where}${detail}`;
      case 'node_fail':
        return `Node failure${where}${detail}`;
      case 'rejected':
        return `Rejected by ${schedulerName(p.scheduler)} on ${p.cluster}${detail}`;
      case 'lost':
        return `Lost track of the job${where}${detail}`;
      case 'failed':
      default:
        return `Failed${where}${exit}${detail}`;
    }
  }
}
