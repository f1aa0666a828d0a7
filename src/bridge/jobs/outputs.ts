/**
 * Events -> outputs: turns the remote event log into IOutputSink calls and
 * status-line changes for one job. Pure logic; no I/O.
 */
import type {
  IDoneEvent,
  IGpuEvent,
  IJobEvent,
  IStatusEvent
} from '../../shared/events';
import { GPU_MIME, IGpuPayload } from '../../shared/mime';
import { EnvProgress } from './envProgress';
import { RanksView } from './ranks';
import { hasCellStatus } from './status';
import type { IOutputSink } from './types';

export interface IEventMapperOptions {
  jobId: string;
  sink: IOutputSink;
  /** Status events (phase, node, message) for the status line. */
  onStatus?: (event: IStatusEvent) => void;
  /** Show GPU cards (the frontend's `gpuCard` setting). */
  gpuCard?: boolean;
}

export class EventMapper {
  constructor(options: IEventMapperOptions) {
    this._options = options;
    this._env = new EnvProgress(options.sink, `cb-env-${options.jobId}`);
  }

  /** The `done` event once it arrived. */
  get done(): IDoneEvent | null {
    return this._done;
  }

  /** True once the cell raised (an `error` event). */
  get raised(): boolean {
    return this._raised;
  }

  handle(event: IJobEvent): void {
    const sink = this._options.sink;
    switch (event.type) {
      case 'stream':
        if (event.text) {
          sink.stream(
            event.name === 'stderr' ? 'stderr' : 'stdout',
            event.text
          );
        }
        break;
      case 'display':
        if (event.update && event.displayId) {
          sink.updateDisplay(event.data, event.metadata, event.displayId);
        } else {
          sink.display(event.data, event.metadata, event.displayId);
        }
        break;
      case 'result':
        sink.result(event.data, event.metadata);
        break;
      case 'error':
        this._raised = true;
        sink.error(event.ename, event.evalue, event.traceback ?? []);
        break;
      case 'gpu':
        this._gpu(event);
        break;
      case 'notice':
        sink.stream('stderr', `[cluster-bridge] ${Private.line(event.text)}`);
        break;
      case 'env':
        if (hasCellStatus(sink)) {
          // A build log is not the cell's output: its latest line is the status detail.
          const line = Private.lastLine(event.text ?? '');
          if (line) {
            this._options.onStatus?.({
              type: 'status',
              seq: event.seq,
              t: event.t,
              phase: 'preparing',
              message: line
            });
          }
        } else {
          // Environment build progress (conda/pip), shown as it happens.
          this._env.add(event.text ?? '');
        }
        break;
      case 'status':
        if (event.phase !== 'preparing') {
          this._env.settle(true);
        }
        this._options.onStatus?.(event);
        break;
      case 'ranks':
      case 'rank':
        // A distributed cell's other ranks: one output kept current in place.
        this._ranks ??= new RanksView({
          jobId: this._options.jobId,
          sink: this._options.sink
        });
        this._ranks.handle(event);
        break;
      case 'done':
        this._env.settle(false);
        this._ranks?.finish();
        this._done = event;
        if (this._gpuPayload && typeof event.duration === 'number') {
          this._gpuPayload.duration = event.duration;
          sink.updateDisplay(
            Private.gpuBundle(this._gpuPayload),
            undefined,
            this._gpuId()
          );
        }
        break;
      default:
        // Unknown event types from a newer runtime are ignored, never fatal.
        break;
    }
  }

  private _gpu(event: IGpuEvent): void {
    if (this._options.gpuCard === false) {
      return;
    }
    const payload: IGpuPayload = {
      devices: event.devices ?? [],
      source: event.source
    };
    if (event.host) {
      payload.host = event.host;
    }
    if (event.cudaVisibleDevices !== undefined) {
      payload.cudaVisibleDevices = event.cudaVisibleDevices;
    }
    if (event.nodes) {
      payload.nodes = event.nodes;
    }
    const first = this._gpuPayload === null;
    this._gpuPayload = payload;
    if (first) {
      this._options.sink.display(
        Private.gpuBundle(payload),
        undefined,
        this._gpuId()
      );
    } else {
      this._options.sink.updateDisplay(
        Private.gpuBundle(payload),
        undefined,
        this._gpuId()
      );
    }
  }

  private _gpuId(): string {
    return `cb-gpu-${this._options.jobId}`;
  }

  private _options: IEventMapperOptions;
  private _env: EnvProgress;
  private _done: IDoneEvent | null = null;
  private _raised = false;
  private _gpuPayload: IGpuPayload | null = null;
  private _ranks: RanksView | undefined;
}

/** Plain-text GPU summary for frontends without the GPU card renderer. */
export function gpuSummary(payload: IGpuPayload): string {
  const gib = (n?: number) =>
    typeof n === 'number' ? `${(n / 2 ** 30).toFixed(1)} GiB` : '?';
  const head =
    `GPU${payload.devices.length === 1 ? '' : 's'}` +
    (payload.host ? ` on ${payload.host}` : '') +
    (payload.cudaVisibleDevices !== undefined
      ? ` (CUDA_VISIBLE_DEVICES=${payload.cudaVisibleDevices})`
      : '') +
    (typeof payload.duration === 'number'
      ? `, ran ${payload.duration.toFixed(1)} s`
      : '');
  // A distributed cell: one line per node of the job.
  const nodes = (payload.nodes ?? []).map(
    n =>
      `  node ${n.host} (rank${n.ranks.length === 1 ? '' : 's'} ${n.ranks.join(', ')}): ` +
      `${n.devices.length} GPU${n.devices.length === 1 ? '' : 's'}` +
      (n.cudaVisibleDevices
        ? ` (CUDA_VISIBLE_DEVICES=${n.cudaVisibleDevices})`
        : '')
  );
  if (payload.devices.length === 0) {
    return [`${head}: none visible`, ...nodes].join('\n');
  }
  const lines = payload.devices.map(d => {
    const peak =
      typeof d.memoryPeak === 'number' ? `, peak ${gib(d.memoryPeak)}` : '';
    return `  [${d.index}] ${d.name}: ${gib(d.memoryUsed)} used${peak} of ${gib(d.memoryTotal)}`;
  });
  return [`${head}:`, ...lines, ...nodes].join('\n');
}

namespace Private {
  /** The last non-blank line of a chunk of build output, at most 200 characters. */
  export function lastLine(text: string): string {
    const lines = text.split(/\r?\n|\r/).filter(l => l.trim());
    return (lines.pop() ?? '').trim().slice(0, 200);
  }

  export function line(text: string): string {
    return text.endsWith('\n') ? text : text + '\n';
  }

  export function gpuBundle(payload: IGpuPayload): { [mime: string]: unknown } {
    return { [GPU_MIME]: payload, 'text/plain': gpuSummary(payload) };
  }
}
