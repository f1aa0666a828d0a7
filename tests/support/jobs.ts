import type { Duplex } from 'stream';
/**
 * Shared set-up of the job unit specs (src/bridge/jobs/*.spec.ts): a sink
 * that records every call, a scripted in-memory transport whose streams a
 * test drives by hand (emit lines, exit, drop the connection), and a direct
 * job's context over them.
 */
import type {
  ConnectionState,
  IResolvedCluster
} from '../../src/shared/config';
import type { IJobInfo } from '../../src/shared/jobs';
import type { IJobContext } from '../../src/bridge/jobs/context';
import { StatusLine } from '../../src/bridge/jobs/status';
import type { IOutputSink } from '../../src/bridge/jobs/types';
import { DirectScheduler } from '../../src/bridge/schedulers/direct';
import type {
  IExecOptions,
  IExecResult,
  IStreamHandle,
  IStreamOptions,
  ITransport
} from '../../src/bridge/transport/types';

/** Records every sink call in order. */
export function recordingSink(): IOutputSink & {
  calls: [string, ...unknown[]][];
  text(name: 'stdout' | 'stderr'): string;
} {
  const calls: [string, ...unknown[]][] = [];
  return {
    calls,
    text: name =>
      calls
        .filter(c => c[0] === 'stream' && c[1] === name)
        .map(c => c[2])
        .join(''),
    stream: (name, text) => void calls.push(['stream', name, text]),
    display: (data, metadata, displayId) =>
      void calls.push(['display', data, metadata, displayId]),
    updateDisplay: (data, metadata, displayId) =>
      void calls.push(['update', data, metadata, displayId]),
    result: (data, metadata) => void calls.push(['result', data, metadata]),
    error: (ename, evalue, traceback) =>
      void calls.push(['error', ename, evalue, traceback])
  };
}

/** One line of events.jsonl. */
export const eventLine = (event: object): string =>
  JSON.stringify({ seq: 0, t: 1, ...event }) + '\n';

/** A stream the test drives: output, exit, or a dropped connection. */
export class FakeStream implements IStreamHandle {
  constructor(
    readonly command: string,
    readonly stdin: string | undefined,
    private readonly _options: IStreamOptions,
    private readonly _transport: FakeTransport
  ) {
    this.done = new Promise<IExecResult>((resolve, reject) => {
      this._resolve = resolve;
      this._reject = reject;
    });
    this.done.catch(() => undefined);
  }

  readonly done: Promise<IExecResult>;
  closed = false;

  emit(text: string): void {
    this._options.onStdout(Buffer.from(text, 'utf8'));
  }

  /** Raw bytes, as a chunk boundary may cut them (inside a character). */
  emitBytes(bytes: Buffer): void {
    this._options.onStdout(bytes);
  }

  exit(code: number | null, stderr = ''): void {
    if (stderr) {
      this._options.onStderr?.(Buffer.from(stderr, 'utf8'));
    }
    this._resolve({ stdout: '', stderr: '', code });
  }

  /** The connection drops: the transport is disconnected, the stream rejects. */
  drop(): void {
    this._transport.state = 'disconnected';
    this._reject(
      Object.assign(new Error('connection lost'), { kind: 'disconnected' })
    );
  }

  close(): void {
    this.closed = true;
    this._resolve({ stdout: '', stderr: '', code: null });
  }

  private _resolve!: (result: IExecResult) => void;
  private _reject!: (err: unknown) => void;
}

/** An in-memory ITransport: exec() answers from `answer`, stream() hands the stream to the test. */
export class FakeTransport implements ITransport {
  readonly cluster = 'fake';
  state: ConnectionState = 'connected';
  execs: { command: string; stdin?: string; priority?: boolean }[] = [];
  streams: FakeStream[] = [];
  connects = 0;
  /** connect() rejects while this is set. */
  connectError: Error | null = null;
  answer: (command: string, stdin?: string) => Partial<IExecResult> =
    () => ({});

  async connect(): Promise<void> {
    this.connects += 1;
    if (this.connectError) {
      this.state = 'error';
      throw this.connectError;
    }
    this.state = 'connected';
  }

  async exec(
    command: string,
    options: IExecOptions = {}
  ): Promise<IExecResult> {
    const stdin = options.stdin?.toString();
    this.execs.push({
      command,
      stdin,
      ...(options.priority ? { priority: true } : {})
    });
    return { stdout: '', stderr: '', code: 0, ...this.answer(command, stdin) };
  }

  tunnel(host: string, port: number): Promise<Duplex> {
    return Promise.reject(
      new Error(`fake transport: no tunnel to ${host}:${port}`)
    );
  }

  execDuplex(command: string): Promise<Duplex> {
    return Promise.reject(
      new Error(`fake transport: no exec stream for ${command}`)
    );
  }

  stream(command: string, options: IStreamOptions): IStreamHandle {
    const stream = new FakeStream(
      command,
      options.stdin?.toString(),
      options,
      this
    );
    this.streams.push(stream);
    const waiters = this._waiters.splice(0);
    for (const resolve of waiters) {
      resolve(stream);
    }
    return stream;
  }

  /** The stream opened after `count` streams (the next one by default). */
  async nextStream(count = this.streams.length): Promise<FakeStream> {
    while (this.streams.length <= count) {
      await new Promise<FakeStream>(resolve => this._waiters.push(resolve));
    }
    return this.streams[count];
  }

  async writeFile(): Promise<void> {
    return undefined;
  }

  async readFile(): Promise<Buffer> {
    return Buffer.alloc(0);
  }

  async home(): Promise<string> {
    return '/home/fake';
  }

  async close(): Promise<void> {
    this.state = 'disconnected';
  }

  private _waiters: ((stream: FakeStream) => void)[] = [];
}

/** A direct job `cb-test-1` in /w/jobs on the fake cluster, over a FakeTransport. */
export function fakeJobContext(): {
  ctx: IJobContext;
  transport: FakeTransport;
  sink: ReturnType<typeof recordingSink>;
  job: IJobInfo;
} {
  const transport = new FakeTransport();
  const sink = recordingSink();
  const job: IJobInfo = {
    id: 'cb-test-1',
    cluster: 'fake',
    scheduler: 'direct',
    remoteDir: '/w/jobs/cb-test-1',
    phase: 'starting',
    detached: false,
    submittedAt: 1,
    title: 'x',
    offset: 0
  };
  const ctx: IJobContext = {
    cluster: { name: 'fake', config: {} } as unknown as IResolvedCluster,
    transport,
    runtime: {
      workDir: '/w',
      runtimeDir: '/w/runtime/h',
      python: '/w/venv1/bin/python',
      pythonVersion: '3.11.2',
      notices: []
    },
    agent: { python: '/w/venv1/bin/python', runtimeDir: '/w/runtime/h' },
    job,
    scheduler: new DirectScheduler(),
    sink,
    status: new StatusLine(
      sink,
      { jobId: job.id, cluster: 'fake', phase: 'starting', startedAt: 1 },
      0
    )
  };
  return { ctx, transport, sink, job };
}
