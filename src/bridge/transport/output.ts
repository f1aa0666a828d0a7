/** Collects a command's output as Buffers, decoded once at the end (no split UTF-8). */
import { abortError, TransportError } from './errors';
import type {
  IExecOptions,
  IExecResult,
  IStreamHandle,
  IStreamOptions
} from './types';

/** Default cap on what exec() collects per stream: 64 MiB. */
export const DEFAULT_MAX_BUFFER = 64 * 1024 * 1024;

export class OutputCollector {
  constructor(private readonly _max: number) {}

  /** Returns false once the cap is exceeded (the caller stops the command). */
  push(chunk: Buffer): boolean {
    if (this._size + chunk.length > this._max) {
      return false;
    }
    this._chunks.push(chunk);
    this._size += chunk.length;
    return true;
  }

  buffer(): Buffer {
    return Buffer.concat(this._chunks, this._size);
  }

  text(): string {
    return this.buffer().toString('utf8');
  }

  private _chunks: Buffer[] = [];
  private _size = 0;
}

/** Where a transport's command runner sends each output chunk. */
export interface IOutputSinks {
  onStdout: (chunk: Buffer) => void;
  onStderr: (chunk: Buffer) => void;
}

/** A command a transport has started. */
export interface IRunningCommand {
  done: Promise<IExecResult>;
  close: () => void;
}

/**
 * exec() for every transport: collects both streams up to
 * `options.maxBuffer` bytes each (default 64 MiB). The first stream past its
 * cap closes the command, which then rejects with an `overflow`
 * TransportError worded by the transport; with `errors.aborted`, a command
 * whose signal was aborted rejects with an AbortError of that name.
 */
export async function collectOutput(
  options: IExecOptions,
  start: (sinks: IOutputSinks) => IRunningCommand,
  errors: { overflow: (max: number) => string; aborted?: string }
): Promise<IExecResult> {
  const max = options.maxBuffer ?? DEFAULT_MAX_BUFFER;
  const stdout = new OutputCollector(max);
  const stderr = new OutputCollector(max);
  let overflow = false;
  const sink =
    (collector: OutputCollector) =>
    (chunk: Buffer): void => {
      if (!collector.push(chunk)) {
        overflow = true;
        run.close();
      }
    };
  const run = start({ onStdout: sink(stdout), onStderr: sink(stderr) });
  const result = await run.done;
  if (errors.aborted !== undefined && options.signal?.aborted) {
    throw abortError(errors.aborted);
  }
  if (overflow) {
    throw new TransportError('overflow', errors.overflow(max));
  }
  return { ...result, stdout: stdout.text(), stderr: stderr.text() };
}

/**
 * stream() for every transport: stderr goes to options.onStderr, or is
 * collected into the result when there is none.
 */
export function streamOutput(
  options: IStreamOptions,
  start: (sinks: IOutputSinks) => IRunningCommand
): IStreamHandle {
  const stderr = new OutputCollector(DEFAULT_MAX_BUFFER);
  const run = start({
    onStdout: options.onStdout,
    onStderr: options.onStderr ?? (chunk => void stderr.push(chunk))
  });
  return {
    done: run.done.then(r => ({ ...r, stderr: stderr.text() })),
    close: run.close
  };
}
