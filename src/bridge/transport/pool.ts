/**
 * TransportPool: one transport per cluster, created on first use and reused
 * by every cell (so an SSH connection, and its one auth prompt, is shared).
 * A cluster whose effective config changed gets a fresh transport; the old
 * one is retired: the cells that hold it keep using it, and it is closed once
 * nothing runs on it (never under a running cell, never left open).
 */
import type { Duplex } from 'stream';
import type { IResolvedCluster } from '../../shared/config';
import { LocalTransport } from './local';
import { SshTransport, type ISshTransportOptions } from './ssh';
import type { ITransport } from './types';

/** A retired transport idle this long is closed (a cell's next command usually follows at once). */
const RETIRED_IDLE_MS = 2000;

export interface ITransportPoolOptions {
  /** Passed to every SshTransport (tests point these at their own files). */
  ssh?: ISshTransportOptions;
  /** How long a retired transport may sit idle before it is closed (default 2 s). */
  retiredIdleMs?: number;
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
      this._retire(entry.usage);
    }
    const usage = new Private.Usage(
      cluster.config.type === 'local'
        ? new LocalTransport(cluster.name)
        : new SshTransport(cluster.name, cluster.config, this._options.ssh)
    );
    this._entries.set(cluster.name, { key, transport: usage.tracked, usage });
    return usage.tracked;
  }

  /** The transport of a cluster if one was created, without creating it. */
  peek(name: string): ITransport | undefined {
    return this._entries.get(name)?.transport;
  }

  /** Replaced transports still in use by earlier cells (closed when those are done). */
  get retired(): number {
    return this._retired.size;
  }

  /** Resolves once every retired transport has been closed. */
  async retiredClosed(): Promise<void> {
    await Promise.all([...this._retired].map(u => u.closed));
  }

  /** Closes and forgets one cluster's transport (e.g. "reconnect" from the UI). */
  async drop(name: string): Promise<void> {
    const entry = this._entries.get(name);
    this._entries.delete(name);
    await entry?.transport.close();
  }

  /** Closes every connection, retired ones too (kernel shutdown). Detached remote jobs keep running. */
  async closeAll(): Promise<void> {
    const all = [
      ...[...this._entries.values()].map(e => e.transport),
      ...[...this._retired].map(u => u.tracked)
    ];
    this._entries.clear();
    this._retired.clear();
    await Promise.all(all.map(t => t.close().catch(() => undefined)));
  }

  private _retire(usage: Private.Usage): void {
    this._retired.add(usage);
    usage.retire(this._options.retiredIdleMs ?? RETIRED_IDLE_MS);
    void usage.closed.then(() => this._retired.delete(usage));
  }

  private _entries = new Map<
    string,
    { key: string; transport: ITransport; usage: Private.Usage }
  >();
  private _retired = new Set<Private.Usage>();
}

namespace Private {
  /** The promise-returning methods whose calls count as use until they settle. */
  const CALLS = new Set<PropertyKey>([
    'connect',
    'exec',
    'writeFile',
    'readFile',
    'home'
  ]);

  /**
   * Counts what runs on one transport (calls until they settle, streams until
   * done, tunnels until closed) through a proxy that is the transport to every
   * caller (instanceof and its own properties still work). Once retired, the
   * transport is closed after `idleMs` with nothing running; a late command
   * from a cell that still holds it reopens it, and it is closed again after.
   */
  export class Usage {
    constructor(readonly transport: ITransport) {
      this.tracked = new Proxy(transport, {
        get: (target, prop) => {
          const value = Reflect.get(target, prop, target);
          if (typeof value !== 'function') {
            return value;
          }
          if (CALLS.has(prop)) {
            return (...args: unknown[]) =>
              this._during(value.apply(target, args) as Promise<unknown>);
          }
          if (prop === 'stream') {
            return (...args: unknown[]) => {
              const handle = value.apply(target, args);
              void this._during(handle.done);
              return handle;
            };
          }
          if (prop === 'tunnel' || prop === 'execDuplex') {
            return (...args: unknown[]) =>
              this._tunnel(value.apply(target, args));
          }
          if (prop === 'close') {
            return () => this._close();
          }
          return value.bind(target);
        }
      });
      this.closed = new Promise(resolve => (this._resolveClosed = resolve));
    }

    readonly tracked: ITransport;
    /** Resolves when a retired transport has been closed. */
    readonly closed: Promise<void>;

    retire(idleMs: number): void {
      this._retiredIdleMs = idleMs;
      this._check();
    }

    private _during<T>(work: Promise<T>): Promise<T> {
      this._begin();
      // Settled either way; the caller gets the original promise and its rejection.
      void work.then(
        () => this._end(),
        () => this._end()
      );
      return work;
    }

    private async _tunnel(opening: Promise<Duplex>): Promise<Duplex> {
      this._begin();
      let socket: Duplex;
      try {
        socket = await opening;
      } catch (err) {
        this._end();
        throw err;
      }
      socket.once('close', () => this._end());
      return socket;
    }

    private _begin(): void {
      this._running++;
      if (this._timer) {
        clearTimeout(this._timer);
        this._timer = undefined;
      }
    }

    private _end(): void {
      this._running--;
      this._check();
    }

    private _check(): void {
      if (this._retiredIdleMs === undefined || this._running > 0) {
        return;
      }
      if (this._timer) {
        clearTimeout(this._timer);
      }
      this._timer = setTimeout(() => {
        this._timer = undefined;
        if (this._running === 0) {
          void this._close();
        }
      }, this._retiredIdleMs);
      this._timer.unref?.();
    }

    private async _close(): Promise<void> {
      if (this._timer) {
        clearTimeout(this._timer);
        this._timer = undefined;
      }
      try {
        await this.transport.close();
      } finally {
        if (this._retiredIdleMs !== undefined && this._running === 0) {
          this._resolveClosed();
        }
      }
    }

    private _running = 0;
    private _retiredIdleMs: number | undefined;
    private _timer: ReturnType<typeof setTimeout> | undefined;
    private _resolveClosed: () => void = () => undefined;
  }
}
