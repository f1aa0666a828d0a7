/**
 * The cluster registry: which clusters exist, their effective config and
 * connection state. Sources, later ones overriding earlier ones field by
 * field: the built-in `local` cluster, Host aliases of ~/.ssh/config, the
 * JSON file named by CLUSTER_BRIDGE_CONFIG, and JupyterLab settings pushed by
 * the frontend.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  ConnectionState,
  IClusterConfig,
  IClusterInfo,
  IClustersFile,
  IResolvedCluster,
  LOCAL_CLUSTER_NAME
} from '../../shared/config';
import { parseClustersFile, validateClustersFile } from './validate';
import { readSshConfigHosts } from './sshConfigHosts';

export interface IClusterRegistryOptions {
  /** ~/.ssh/config path; null to ignore ssh config. */
  sshConfigPath?: string | null;
  /** Clusters file; default $CLUSTER_BRIDGE_CONFIG; null for none. */
  configFile?: string | null;
}

/** A cluster name the registry does not know; the message lists the known ones. */
export class UnknownClusterError extends Error {
  constructor(
    readonly cluster: string,
    readonly known: string[],
    problems: string[] = []
  ) {
    // A clusters file that failed to load is the likely reason: say so.
    super(
      `unknown cluster "${cluster}". Known clusters: ${known.join(', ') || '(none)'}` +
        (problems.length
          ? `. Some clusters could not be read: ${problems.join('; ')}`
          : '')
    );
    // The ename a notebook shows.
    this.name = 'UnknownCluster';
  }

  /** Where clusters come from: a second line under the message. */
  readonly hint =
    'Add clusters to ~/.ssh/config, the file named by CLUSTER_BRIDGE_CONFIG, or the settings.';
}

interface IConnection {
  state: ConnectionState;
  error?: string;
}

export class ClusterRegistry {
  constructor(options: IClusterRegistryOptions = {}) {
    this._sshConfigPath =
      options.sshConfigPath === undefined
        ? path.join(os.homedir(), '.ssh', 'config')
        : options.sshConfigPath;
    this._configFile =
      options.configFile === undefined
        ? process.env.CLUSTER_BRIDGE_CONFIG || null
        : options.configFile;
    this.reload();
  }

  /** Problems found while reading the sources (shown by `%cluster list`/doctor). */
  get problems(): string[] {
    return [...this._problems];
  }

  /** Re-reads ~/.ssh/config and the clusters file. */
  reload(): void {
    this._stamp = this._readStamp();
    this._checkedAt = Date.now();
    this._problems = [];
    this._sshHosts = {};
    if (this._sshConfigPath) {
      try {
        for (const host of readSshConfigHosts(this._sshConfigPath)) {
          this._sshHosts[host.alias] = host.config;
        }
      } catch (err) {
        this._problems.push(
          `${this._sshConfigPath}: ${(err as Error).message}`
        );
      }
    }
    this._file = { clusters: {} };
    if (this._configFile) {
      try {
        const text = fs.readFileSync(this._configFile, 'utf8');
        this._file = parseClustersFile(text, this._configFile);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        this._problems.push(
          e.code === 'ENOENT'
            ? `${this._configFile}: CLUSTER_BRIDGE_CONFIG names a file that does not exist`
            : e.message
        );
      }
    }
    this._emit();
  }

  /**
   * Clusters from JupyterLab settings (the frontend's `settings` comm op).
   * Invalid settings are rejected as a whole with the problems listed.
   */
  setSettings(
    clusters: IClustersFile['clusters'] | undefined,
    defaultCluster?: string
  ): void {
    const candidate: IClustersFile = { clusters: clusters ?? {} };
    if (defaultCluster) {
      candidate.default = defaultCluster;
    }
    const problems = validateClustersFile(candidate);
    if (problems.length > 0) {
      throw new Error(`invalid cluster settings:\n  ${problems.join('\n  ')}`);
    }
    // A new default from the frontend (the picker moved) is the latest choice: it replaces
    // an earlier `%cluster use`. The same default sent again (other settings changed) does not.
    if (candidate.default !== this._settings.default) {
      this._override = undefined;
    }
    this._settings = candidate;
    this._emit();
  }

  /** Every cluster, sorted with `local` first, then by name. */
  list(): IResolvedCluster[] {
    this._reloadIfChanged();
    const merged = new Map<string, IResolvedCluster>();
    const layer = (
      source: IResolvedCluster['source'],
      clusters: { [name: string]: IClusterConfig }
    ) => {
      for (const name of Object.keys(clusters)) {
        const previous = merged.get(name);
        const config = {
          ...(previous?.config ?? {}),
          ...clusters[name]
        } as IClusterConfig;
        // A host of ~/.ssh/config keeps resolving through its alias.
        if (config.type === 'ssh' && !config.host) {
          config.host = name;
        }
        merged.set(name, { name, source, config });
      }
    };
    layer('builtin', {
      [LOCAL_CLUSTER_NAME]: { type: 'local', description: 'this machine' }
    });
    layer('ssh-config', this._sshHosts);
    layer('file', this._file.clusters);
    layer('settings', this._settings.clusters);
    return [...merged.values()].sort((a, b) =>
      a.name === LOCAL_CLUSTER_NAME
        ? -1
        : b.name === LOCAL_CLUSTER_NAME
          ? 1
          : a.name.localeCompare(b.name)
    );
  }

  names(): string[] {
    return this.list().map(c => c.name);
  }

  get(name: string): IResolvedCluster | undefined {
    return this.list().find(c => c.name === name);
  }

  /** The default cluster: settings, then the file, then `local`. */
  get defaultCluster(): string {
    const names = new Set(this.names());
    for (const candidate of [
      this._override,
      this._settings.default,
      this._file.default
    ]) {
      if (candidate && names.has(candidate)) {
        return candidate;
      }
    }
    return LOCAL_CLUSTER_NAME;
  }

  /**
   * `%cluster use NAME`: the kernel's own choice, above settings and file
   * until the frontend sends a different default.
   */
  use(name: string): IResolvedCluster {
    const cluster = this.resolve(name);
    this._override = cluster.name;
    this._emit();
    return cluster;
  }

  /** The named cluster (or the default); throws {@link UnknownClusterError}. */
  resolve(name?: string): IResolvedCluster {
    const wanted = name || this.defaultCluster;
    const cluster = this.get(wanted);
    if (!cluster) {
      throw new UnknownClusterError(wanted, this.names(), this._problems);
    }
    return cluster;
  }

  setConnectionState(
    name: string,
    state: ConnectionState,
    error?: string
  ): void {
    const previous = this._connections.get(name);
    if (previous?.state === state && previous.error === error) {
      return;
    }
    this._connections.set(name, { state, error });
    this._emit();
  }

  /** What the frontend's picker shows. */
  info(): IClusterInfo[] {
    return this.list().map(c => {
      const connection = this._connections.get(c.name);
      const info: IClusterInfo = {
        name: c.name,
        source: c.source,
        type: c.config.type,
        scheduler: c.config.scheduler ?? 'direct',
        state: connection?.state ?? 'disconnected'
      };
      if (c.config.description) {
        info.description = c.config.description;
      }
      if (connection?.error) {
        info.error = connection.error;
      }
      return info;
    });
  }

  /** Fires after any change of clusters, default or connection state. */
  onChange(listener: () => void): () => void {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  /** Edits of the files take effect without a restart (checked at most once a second). */
  private _reloadIfChanged(): void {
    const now = Date.now();
    if (now - this._checkedAt < 1000) {
      return;
    }
    this._checkedAt = now;
    if (this._readStamp() !== this._stamp) {
      this.reload();
    }
  }

  private _readStamp(): string {
    return [this._sshConfigPath, this._configFile]
      .map(file => {
        if (!file) {
          return '';
        }
        try {
          const st = fs.statSync(file);
          return `${st.mtimeMs}:${st.size}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
  }

  private _emit(): void {
    for (const listener of [...this._listeners]) {
      try {
        listener();
      } catch {
        // A listener's failure must not break the registry.
      }
    }
  }

  private _sshConfigPath: string | null;
  private _configFile: string | null;
  private _sshHosts: { [name: string]: IClusterConfig } = {};
  private _file: IClustersFile = { clusters: {} };
  private _settings: IClustersFile = { clusters: {} };
  private _override: string | undefined;
  private _problems: string[] = [];
  private _stamp = '';
  private _checkedAt = 0;
  private _connections = new Map<string, IConnection>();
  private _listeners = new Set<() => void>();
}
