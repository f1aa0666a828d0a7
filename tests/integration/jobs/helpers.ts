/**
 * Shared setup for the jobs integration tests: a recording sink, a
 * JobManager over a temp clusters file, and the facts of the real sshd
 * started by scripts/services/sshd.sh.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { IClusterConfig, IClustersFile } from '../../../src/shared/config';
import { STATUS_MIME, IStatusPayload } from '../../../src/shared/mime';
import { ClusterRegistry } from '../../../src/bridge/clusters';
import { createJobManager, JobManager } from '../../../src/bridge/jobs';
import type { IOutputSink } from '../../../src/bridge/jobs/types';
import { TransportPool } from '../../../src/bridge/transport/pool';
import { loadSshdEnv } from '../transport/sshdEnv';

export const ROOT = path.resolve(__dirname, '..', '..', '..');

export type Call =
  | { kind: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | {
      kind: 'display' | 'update';
      data: { [mime: string]: unknown };
      displayId?: string;
    }
  | { kind: 'result'; data: { [mime: string]: unknown } }
  | { kind: 'error'; ename: string; evalue: string; traceback: string[] };

export class RecordingSink implements IOutputSink {
  calls: Call[] = [];
  private _waiters: { test: () => boolean; resolve: () => void }[] = [];

  stream(name: 'stdout' | 'stderr', text: string): void {
    this._push({ kind: 'stream', name, text });
  }
  display(
    data: { [mime: string]: unknown },
    _m?: unknown,
    displayId?: string
  ): void {
    this._push({ kind: 'display', data, displayId });
  }
  updateDisplay(
    data: { [mime: string]: unknown },
    _m: unknown,
    displayId: string
  ): void {
    this._push({ kind: 'update', data, displayId });
  }
  result(data: { [mime: string]: unknown }): void {
    this._push({ kind: 'result', data });
  }
  error(ename: string, evalue: string, traceback: string[]): void {
    this._push({ kind: 'error', ename, evalue, traceback });
  }

  text(name: 'stdout' | 'stderr'): string {
    return this.calls
      .filter(
        (c): c is Extract<Call, { kind: 'stream' }> =>
          c.kind === 'stream' && c.name === name
      )
      .map(c => c.text)
      .join('');
  }

  /** Status payloads in the order they were shown. */
  statuses(): IStatusPayload[] {
    return this.calls
      .filter(
        c =>
          (c.kind === 'display' || c.kind === 'update') &&
          c.displayId?.startsWith('cb-status-')
      )
      .map(
        c =>
          (c as { data: { [mime: string]: unknown } }).data[
            STATUS_MIME
          ] as IStatusPayload
      );
  }

  /** Non-status displays (rich outputs of the cell). */
  displays(): { [mime: string]: unknown }[] {
    return this.calls
      .filter(
        c => c.kind === 'display' && !c.displayId?.startsWith('cb-status-')
      )
      .map(c => (c as { data: { [mime: string]: unknown } }).data);
  }

  errors(): Extract<Call, { kind: 'error' }>[] {
    return this.calls.filter(
      (c): c is Extract<Call, { kind: 'error' }> => c.kind === 'error'
    );
  }

  until(
    test: (sink: RecordingSink) => boolean,
    timeoutMs = 60000
  ): Promise<void> {
    if (test(this)) {
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out waiting; calls so far: ${JSON.stringify(this.calls).slice(0, 2000)}`
            )
          ),
        timeoutMs
      );
      this._waiters.push({
        test: () => test(this),
        resolve: () => {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  private _push(call: Call): void {
    this.calls.push(call);
    this._waiters = this._waiters.filter(w => {
      if (w.test()) {
        w.resolve();
        return false;
      }
      return true;
    });
  }
}

export interface ISshdFacts {
  host: string;
  port: number;
  user: string;
  home: string;
  key: string;
  wrongKey: string;
  knownHosts: string;
  pidFile: string;
}

/** Facts of the real sshd; fails clearly when the service is not running. */
export function sshd(): ISshdFacts {
  const env = loadSshdEnv();
  const pid = Number(fs.readFileSync(env.SSHD_PID_FILE, 'utf8').trim());
  try {
    process.kill(pid, 0);
  } catch {
    throw new Error(
      `sshd service not running (pid ${pid} from ${env.SSHD_PID_FILE}). Start it with: scripts/services/sshd.sh start`
    );
  }
  return {
    host: env.SSHD_HOST,
    port: Number(env.SSHD_PORT),
    user: env.SSHD_USER,
    home: env.SSHD_HOME,
    key: env.SSHD_KEY,
    wrongKey: env.SSHD_KEY_WRONG,
    knownHosts: env.SSHD_KNOWN_HOSTS,
    pidFile: env.SSHD_PID_FILE
  };
}

/** The ssh cluster config of the test sshd, with a work dir of its own. */
export function sshCluster(
  facts: ISshdFacts,
  extra: Partial<IClusterConfig> = {}
): IClusterConfig {
  return {
    type: 'ssh',
    host: facts.host,
    port: facts.port,
    user: facts.user,
    identityFile: facts.key,
    knownHostsFile: facts.knownHosts,
    ...extra
  };
}

export interface ITestBed {
  manager: JobManager;
  pool: TransportPool;
  dir: string;
  stateDir: string;
  /** Absolute work dir of the local cluster. */
  localWorkDir: string;
  dispose(): Promise<void>;
}

/** A JobManager over a clusters file of its own; state and work dirs are fresh. */
export function testBed(
  clusters: { [name: string]: IClusterConfig },
  options: { stateDir?: string } = {}
): ITestBed {
  const dir = fs.mkdtempSync(path.join(ROOT, '.cache', 'it-jobs-'));
  const localWorkDir = path.join(dir, 'work');
  const file: IClustersFile = {
    clusters: { local: { type: 'local', workDir: localWorkDir }, ...clusters }
  };
  const configFile = path.join(dir, 'clusters.json');
  fs.writeFileSync(configFile, JSON.stringify(file));
  const registry = new ClusterRegistry({ sshConfigPath: null, configFile });
  if (registry.problems.length) {
    throw new Error(registry.problems.join('\n'));
  }
  const pool = new TransportPool({ ssh: { agent: null, timeoutMs: 8000 } });
  const stateDir = options.stateDir ?? path.join(dir, 'state');
  const manager = createJobManager({
    registry,
    pool,
    stateDir,
    timing: {
      directProbeMs: 1000,
      endedGraceMs: 1000,
      cancelWaitMs: 15000,
      reconnectMs: 20000
    }
  });
  return {
    manager,
    pool,
    dir,
    stateDir,
    localWorkDir,
    dispose: async () => {
      await manager.dispose();
    }
  };
}

export function mkCacheDir(): void {
  fs.mkdirSync(path.join(ROOT, '.cache'), { recursive: true });
}

/** Processes whose command line mentions `needle` (by pgrep -f, read only). */
export function processesMatching(needle: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', needle], { encoding: 'utf8' })
      .split('\n')
      .filter(l => l.trim() && !l.includes('pgrep'));
  } catch {
    return [];
  }
}

export async function eventually(
  test: () => boolean,
  timeoutMs = 15000
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (test()) {
      return true;
    }
    await new Promise(r => setTimeout(r, 200));
  }
  return test();
}

/** Kills the sshd processes serving current connections (not the listener): a dropped connection. */
export function dropSshConnections(facts: ISshdFacts): number {
  const master = Number(fs.readFileSync(facts.pidFile, 'utf8').trim());
  const children = (ppid: number): number[] => {
    try {
      return execFileSync('ps', ['-o', 'pid=', '--ppid', String(ppid)], {
        encoding: 'utf8'
      })
        .split('\n')
        .map(s => Number(s.trim()))
        .filter(n => n > 0);
    } catch {
      return [];
    }
  };
  const monitors = children(master);
  const sessions = monitors.flatMap(children).filter(pid => {
    try {
      return fs
        .readFileSync(`/proc/${pid}/comm`, 'utf8')
        .trim()
        .startsWith('sshd');
    } catch {
      return false;
    }
  });
  const victims = [...sessions, ...monitors];
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return victims.length;
}

export const tmpdir = os.tmpdir;
