/**
 * TransportPool: one transport per cluster, created on first use and reused
 * by every cell (so an SSH connection, and its one auth prompt, is shared).
 * A cluster whose effective config changed gets a fresh transport; the old
 * one is closed once its running commands are done with it.
 */
import type { IResolvedCluster } from '../../shared/config';
import { LocalTransport } from './local';
import { SshTransport, type ISshTransportOptions } from './ssh';
import type { ITransport } from './types';

export interface ITransportPoolOptions {
  /** Passed to every SshTransport (tests point these at their own files). */
  ssh?: ISshTransportOptions;
}

export class TransportPool {
  constructor(private readonly _options: ITransportPoolOptions = {}) {}

  /** The transport of this cluster; does not connect (call connect() or just exec()). */
  get(cluster: IResolvedCluster): ITransport {
    const key = JSON.stringify(cluster.config);
    const entry = this._entries.get(cluster.name);
    if (entry && entry.key === key) {
      return entry.transport;
    }
    if (entry) {
      void entry.transport.close();
    }
    const transport: ITransport =
      cluster.config.type === 'local'
        ? new LocalTransport(cluster.name)
        : new SshTransport(cluster.name, cluster.config, this._options.ssh);
    this._entries.set(cluster.name, { key, transport });
    return transport;
  }

  /** The transport of a cluster if one was created, without creating it. */
  peek(name: string): ITransport | undefined {
    return this._entries.get(name)?.transport;
  }

  /** Closes and forgets one cluster's transport (e.g. "reconnect" from the UI). */
  async drop(name: string): Promise<void> {
    const entry = this._entries.get(name);
    this._entries.delete(name);
    await entry?.transport.close();
  }

  /** Closes every connection (kernel shutdown). Detached remote jobs keep running. */
  async closeAll(): Promise<void> {
    const entries = [...this._entries.values()];
    this._entries.clear();
    await Promise.all(
      entries.map(e => e.transport.close().catch(() => undefined))
    );
  }

  private _entries = new Map<string, { key: string; transport: ITransport }>();
}
