/**
 * What the fault, soak and hostile-input benches share: the test sshd's
 * facts, a JobManager on a clusters file of their own, a sink that keeps the
 * text of a cell, the TCP connections of a process, and the results file.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Client } from 'ssh2';

import type { IClusterConfig } from '../src/shared/config';
import { ClusterRegistry } from '../src/bridge/clusters';
import { createJobManager, type JobManager } from '../src/bridge/jobs';
import type { IOutputSink } from '../src/bridge/jobs/types';
import { TransportPool } from '../src/bridge/transport/pool';
import { packageRoot } from '../src/bridge/util/paths';

export const ROOT = packageRoot();

/** KEY=VALUE facts of a test service (scripts/services/NAME.sh), started when it is not running. */
export function serviceFacts(name: string): { [key: string]: string } {
  execFileSync(
    'bash',
    [path.join(ROOT, 'scripts/services', `${name}.sh`), 'start'],
    {
      stdio: 'ignore'
    }
  );
  const facts: { [key: string]: string } = {};
  const text = fs.readFileSync(
    path.join(ROOT, '.cache/services', `${name}.env`),
    'utf8'
  );
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) {
      facts[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  return facts;
}

/** KEY=VALUE facts of the test sshd. */
export function sshdService(): { [key: string]: string } {
  return serviceFacts('sshd');
}

/** scp's options for the test sshd (its key, its known_hosts, never a prompt). */
export function scpArgs(facts: { [key: string]: string }): string[] {
  return [
    '-q',
    '-P',
    facts.SSHD_PORT,
    '-i',
    facts.SSHD_KEY,
    '-o',
    `UserKnownHostsFile=${facts.SSHD_KNOWN_HOSTS}`,
    '-o',
    'BatchMode=yes'
  ];
}

/** The test user on the test sshd as a cluster, working in `workDir`. */
export function sshdCluster(
  facts: { [key: string]: string },
  workDir: string
): IClusterConfig {
  return {
    type: 'ssh',
    host: facts.SSHD_HOST,
    port: Number(facts.SSHD_PORT),
    user: facts.SSHD_USER,
    identityFile: facts.SSHD_KEY,
    knownHostsFile: facts.SSHD_KNOWN_HOSTS,
    workDir
  };
}

/** A JobManager over its own clusters file and job store in `dir`. */
export function benchManager(
  dir: string,
  clusters: { [name: string]: IClusterConfig }
): JobManager {
  const configFile = path.join(dir, 'clusters.json');
  fs.writeFileSync(configFile, JSON.stringify({ clusters }));
  return createJobManager({
    registry: new ClusterRegistry({ sshConfigPath: null, configFile }),
    pool: new TransportPool({ ssh: { agent: null } }),
    stateDir: path.join(dir, 'state')
  });
}

/** Keeps a cell's stdout; tells `onLine` the running count of lines. */
export class TextSink implements IOutputSink {
  stdout = '';
  lines = 0;
  errors: string[] = [];
  onLines?: (lines: number) => void;

  stream(name: 'stdout' | 'stderr', text: string): void {
    if (name !== 'stdout') {
      return;
    }
    this.stdout += text;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
      this.lines++;
    }
    this.onLines?.(this.lines);
  }
  display(): void {}
  updateDisplay(): void {}
  result(): void {}
  error(ename: string, evalue: string): void {
    this.errors.push(`${ename}: ${evalue}`);
  }
}

/** Established TCP connections: local and peer ports, and the pids holding each. */
export interface ITcpConnection {
  localPort: number;
  peerPort: number;
  pids: number[];
}

export function tcpConnections(): ITcpConnection[] {
  const out = execFileSync('ss', ['-tnpH', 'state', 'established'], {
    encoding: 'utf8'
  });
  const rows: ITcpConnection[] = [];
  for (const line of out.split('\n')) {
    const m = /\S+:(\d+)\s+\S+:(\d+)\s*(.*)$/.exec(line.trim());
    if (m) {
      rows.push({
        localPort: Number(m[1]),
        peerPort: Number(m[2]),
        pids: [...m[3].matchAll(/pid=(\d+)/g)].map(p => Number(p[1]))
      });
    }
  }
  return rows;
}

/** The sshd processes serving the connections that process `pid` has open to sshd's `port`. */
export function sshdServing(pid: number, port: number): number[] {
  const all = tcpConnections();
  const ours = new Set(
    all
      .filter(c => c.peerPort === port && c.pids.includes(pid))
      .map(c => c.localPort)
  );
  return [
    ...new Set(
      all
        .filter(c => c.localPort === port && ours.has(c.peerPort))
        .flatMap(c => c.pids)
    )
  ];
}

/** Child processes of `pid` (command names), from /proc. */
export function childrenOf(pid: number): { pid: number; command: string }[] {
  const out: { pid: number; command: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command is in parentheses and may hold spaces: the fields follow the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) {
        out.push({
          pid: Number(entry),
          command: fs
            .readFileSync(`/proc/${entry}/cmdline`, 'utf8')
            .replace(/\0/g, ' ')
            .trim()
        });
      }
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Resident set size of a process in MiB. */
export function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  return Math.round((kib / 1024) * 10) / 10;
}

/** Writes bench/results/NAME.json with the date and machine. */
export function writeResult(name: string, data: object): string {
  const dir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify(
      {
        bench: name,
        date: new Date().toISOString(),
        host: os.hostname(),
        cpus: os.cpus().length,
        ...data
      },
      null,
      2
    ) + '\n'
  );
  return file;
}

export const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const p90 = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[
    Math.min(xs.length - 1, Math.floor(xs.length * 0.9))
  ];

/** ssh2 client of our own: the floor is the library with no bridge code around it. */
export function ssh2Client(facts: { [key: string]: string }): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client
      .on('ready', () => {
        // TCP_NODELAY, as our transport does (field notes: 48 ms -> 3.4 ms per exec).
        (
          client as unknown as { _sock?: { setNoDelay?: (b: boolean) => void } }
        )._sock?.setNoDelay?.(true);
        resolve(client);
      })
      .on('error', reject)
      .connect({
        host: facts.SSHD_HOST,
        port: Number(facts.SSHD_PORT),
        username: facts.SSHD_USER,
        privateKey: fs.readFileSync(facts.SSHD_KEY)
      });
  });
}
