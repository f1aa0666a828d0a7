/**
 * Opening a cluster: the one place that connects (pooled transport, the
 * registry's connection state), puts the runtime and VENV1 in place (cached
 * per connection, so a warm cell pays nothing here) and says how to run the
 * agent. Also reconnects a dropped connection for a job being followed.
 */
import type { IResolvedCluster } from '../../shared/config';
import type { ClusterRegistry } from '../clusters/registry';
import type { IPrompter, ITransport } from '../transport/types';
import { firstLine, type IOpenCluster } from './context';
import type { RuntimeInstaller } from './runtime';
import type { IOutputSink } from './types';

/** Where transports come from (TransportPool in production). */
export interface ITransportProvider {
  get(cluster: IResolvedCluster): ITransport;
  closeAll?(): Promise<void>;
}

/** A cell's view of opening: interrupts, and a word while the runtime is checked. */
export interface IOpenProgress {
  /** Aborted after connecting: open() rejects with OpenAborted before preparing. */
  signal?: AbortSignal;
  /** Called when the runtime must be checked (nothing cached for this connection). */
  preparing?(): void;
}

/** open() stopped because its signal was aborted. */
export class OpenAborted extends Error {
  constructor() {
    super('aborted while connecting');
    this.name = 'OpenAborted';
  }
}

export class ClusterConnector {
  constructor(
    private readonly _registry: ClusterRegistry,
    private readonly _pool: ITransportProvider,
    private readonly _runtime: RuntimeInstaller
  ) {}

  /** Connects and prepares; runtime notices go to the sink once per cluster. */
  async open(
    cluster: IResolvedCluster,
    prompter?: IPrompter,
    sink?: IOutputSink,
    progress: IOpenProgress = {}
  ): Promise<IOpenCluster> {
    const transport = await this._connect(cluster, prompter);
    if (progress.signal?.aborted) {
      throw new OpenAborted();
    }
    let runtime = this._runtime.peek(transport, cluster);
    if (!runtime) {
      progress.preparing?.();
      runtime = await this._runtime.ensure(transport, cluster);
      this._notify(cluster, runtime.notices, sink);
    }
    const { python, runtimeDir } = runtime;
    return { cluster, transport, runtime, agent: { python, runtimeDir } };
  }

  /** Reconnects a dropped connection, retrying with backoff for up to `withinMs`. */
  async reconnect(
    cluster: IResolvedCluster,
    transport: ITransport,
    prompter: IPrompter | undefined,
    withinMs: number
  ): Promise<void> {
    this._registry.setConnectionState(
      cluster.name,
      'connecting',
      'connection lost'
    );
    const deadline = Date.now() + withinMs;
    let wait = 250;
    for (;;) {
      try {
        await transport.connect(prompter);
        this._registry.setConnectionState(cluster.name, 'connected');
        return;
      } catch (err) {
        if (Date.now() + wait > deadline) {
          this._registry.setConnectionState(
            cluster.name,
            'error',
            firstLine(err)
          );
          throw err;
        }
      }
      await new Promise(resolve => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 5000);
    }
  }

  /** The agent failed before a job started: the remote may have been wiped. */
  forget(transport: ITransport): void {
    this._runtime.forget(transport);
  }

  async closeAll(): Promise<void> {
    await this._pool.closeAll?.();
  }

  private async _connect(
    cluster: IResolvedCluster,
    prompter?: IPrompter
  ): Promise<ITransport> {
    const transport = this._pool.get(cluster);
    if (transport.state === 'connected') {
      return transport;
    }
    this._registry.setConnectionState(cluster.name, 'connecting');
    try {
      await transport.connect(prompter);
    } catch (err) {
      this._registry.setConnectionState(cluster.name, 'error', firstLine(err));
      throw err;
    }
    this._registry.setConnectionState(cluster.name, 'connected');
    return transport;
  }

  private _notify(
    cluster: IResolvedCluster,
    notices: string[],
    sink?: IOutputSink
  ): void {
    for (const notice of notices) {
      const key = `${cluster.name}\0${notice}`;
      if (sink && !this._noticed.has(key)) {
        this._noticed.add(key);
        sink.stream('stderr', `[cluster-bridge] ${notice}\n`);
      }
    }
  }

  private _noticed = new Set<string>();
}
