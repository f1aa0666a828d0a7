/**
 * Views of the status line and the GPU card, from the bridge's mime payloads
 * (src/shared/mime.ts): the status words come from src/shared/jobWording.ts,
 * the tone and the GPU texts are the frontend's own. Pure functions, so they
 * are unit-tested.
 */
import type { IGpuDevice } from '../../shared/events';
import type { IGpuPayload, IStatusPayload } from '../../shared/mime';
import { endStateOf, isJobOver } from '../../shared/jobState';
import {
  formatDuration,
  IStatusWords,
  statusWords
} from '../../shared/jobWording';

export type StatusTone = 'waiting' | 'active' | 'ok' | 'error' | 'cancelled';

export interface IStatusView extends IStatusWords {
  tone: StatusTone;
  terminal: boolean;
}

export function formatStatus(p: IStatusPayload, now: number): IStatusView {
  return {
    ...statusWords(p, now),
    tone: Private.toneOf(p),
    terminal: isJobOver(p)
  };
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

  export function toneOf(p: IStatusPayload): StatusTone {
    if (isJobOver(p)) {
      const end = endStateOf(p);
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
