/**
 * Texts of the status line and the GPU card, from the bridge's mime payloads
 * (src/shared/mime.ts). Pure functions, so the wording is unit-tested.
 */
import type { IGpuDevice } from '../../shared/events';
import type { IGpuPayload, IStatusPayload } from '../../shared/mime';

export type StatusTone = 'waiting' | 'active' | 'ok' | 'error' | 'cancelled';

export interface IStatusView {
  /** The phase sentence: "Queued on hpc as SLURM job 42 (reason: Resources)". */
  text: string;
  /** "0:12": elapsed while running, total once terminal. */
  elapsed: string;
  /** "job 20261128-ab12 · SLURM 42". */
  ids: string;
  tone: StatusTone;
  terminal: boolean;
}

const TERMINAL_PHASES = new Set(['done', 'failed', 'cancelled']);

export function isTerminal(
  p: Pick<IStatusPayload, 'phase' | 'endState'>
): boolean {
  return TERMINAL_PHASES.has(p.phase) || !!p.endState;
}

export function formatStatus(p: IStatusPayload, now: number): IStatusView {
  const terminal = isTerminal(p);
  const end = terminal ? (p.endedAt ?? now) : now;
  return {
    text: phaseText(p),
    elapsed: formatDuration(end - (Number(p.startedAt) || end)),
    ids: Private.idsText(p),
    tone: Private.toneOf(p),
    terminal
  };
}

/** One line for text/plain-like uses (aria labels, tests). */
export function statusLine(p: IStatusPayload, now: number): string {
  const v = formatStatus(p, now);
  return [v.text, v.elapsed, v.ids].filter(Boolean).join(' · ');
}

export function phaseText(p: IStatusPayload): string {
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
      return Private.endText(p);
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

/** 0:07, 3:05, 1:02:03. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor((Number.isFinite(ms) ? ms : 0) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** 1.5 GiB, 512 MiB, 900 B. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || bytes === null || !Number.isFinite(bytes)) {
    return '?';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

export interface IGpuDeviceView {
  label: string;
  /** "3.2 GiB used · peak 5.0 GiB of 80.0 GiB" */
  memory: string;
  /** Fractions of total in [0, 1], or null when the total is unknown. */
  used: number | null;
  peak: number | null;
}

export interface IGpuView {
  title: string;
  details: string;
  devices: IGpuDeviceView[];
}

export function formatGpu(p: IGpuPayload): IGpuView {
  const devices = Array.isArray(p.devices) ? p.devices : [];
  const details = [
    p.host ? `on ${p.host}` : '',
    p.cudaVisibleDevices !== undefined
      ? `CUDA_VISIBLE_DEVICES=${p.cudaVisibleDevices || '(empty)'}`
      : '',
    typeof p.duration === 'number'
      ? `ran ${formatDuration(p.duration * 1000)}`
      : '',
    p.source ? `via ${p.source}` : ''
  ]
    .filter(Boolean)
    .join(' · ');
  return {
    title: devices.length
      ? `GPU${devices.length > 1 ? `s (${devices.length})` : ''}`
      : 'No GPU visible to the job',
    details,
    devices: devices.map(Private.deviceView)
  };
}

namespace Private {
  export function defaultEnd(phase: string): string {
    switch (phase) {
      case 'done':
        return 'completed';
      case 'cancelled':
        return 'cancelled';
      default:
        return 'failed';
    }
  }

  export function deviceView(d: IGpuDevice): IGpuDeviceView {
    const total = d.memoryTotal;
    const frac = (v: number | undefined) =>
      total && v !== undefined && v !== null
        ? Math.min(1, Math.max(0, v / total))
        : null;
    const parts: string[] = [];
    if (d.memoryUsed !== undefined) {
      parts.push(`${formatBytes(d.memoryUsed)} used`);
    }
    if (d.memoryPeak !== undefined) {
      parts.push(`peak ${formatBytes(d.memoryPeak)}`);
    }
    const memory = total
      ? `${parts.join(' · ') || 'memory'} of ${formatBytes(total)}`
      : parts.join(' · ');
    return {
      label: `${d.index}: ${d.name || 'unknown device'}`,
      memory,
      used: frac(d.memoryUsed),
      peak: frac(d.memoryPeak)
    };
  }

  export function endText(p: IStatusPayload): string {
    const where = p.node
      ? ` on ${p.cluster}, node ${p.node}`
      : ` on ${p.cluster}`;
    const exit =
      p.exitCode !== undefined && p.exitCode !== null && p.exitCode !== 0
        ? ` (exit code ${p.exitCode})`
        : '';
    const detail = p.detail ? `: ${p.detail}` : '';
    switch (p.endState ?? defaultEnd(p.phase)) {
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

  export function idsText(p: IStatusPayload): string {
    const parts = [p.jobId ? `job ${p.jobId}` : ''];
    if (p.schedulerId) {
      const kind =
        p.scheduler && p.scheduler !== 'direct'
          ? schedulerName(p.scheduler)
          : 'pid';
      parts.push(`${kind} ${p.schedulerId}`);
    }
    return parts.filter(Boolean).join(' · ');
  }

  export function toneOf(p: IStatusPayload): StatusTone {
    if (isTerminal(p)) {
      const end = p.endState ?? defaultEnd(p.phase);
      if (end === 'completed') {
        return 'ok';
      }
      return end === 'cancelled' ? 'cancelled' : 'error';
    }
    return p.phase === 'running' || p.phase === 'starting'
      ? 'active'
      : 'waiting';
  }
}
