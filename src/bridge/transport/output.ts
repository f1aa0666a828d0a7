/** Collects a command's output as Buffers, decoded once at the end (no split UTF-8). */
import type { IExecResult, IStreamHandle, IStreamOptions } from './types';

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
 * exec() for every transport: collects both streams up to `max` bytes each.
 * The first stream past its cap closes the command and the result is
 * undefined (the caller reports the overflow its own way).
 */
export function collectOutput(
  max: number,
  start: (sinks: IOutputSinks) => IRunningCommand
): Promise<IExecResult | undefined> {
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
  return run.done.then(r =>
    overflow
      ? undefined
      : { ...r, stdout: stdout.text(), stderr: stderr.text() }
  );
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
