/**
 * Shared setup for the scheduler integration tests: the facts of the real
 * single-node SLURM and Grid Engine (scripts/services/slurm.sh, sge.sh),
 * reached as the test user through the real sshd (scripts/services/sshd.sh).
 * A missing service fails the test with the command that starts it.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import type { IJobRequest } from '../../../src/shared/magic';
import type { ISchedulerDefaults } from '../../../src/shared/config';
import { SshTransport } from '../../../src/bridge/transport/ssh';
import type {
  IExecOptions,
  IExecResult,
  ITransport
} from '../../../src/bridge/transport/types';
import type {
  IJobSpec,
  IScheduler,
  SchedulerState
} from '../../../src/bridge/schedulers/types';
import { shellQuote } from '../../../src/bridge/util/quote';
import { sshCluster, sshd } from '../jobs/helpers';

export const ROOT = path.resolve(__dirname, '..', '..', '..');

export type Kind = 'slurm' | 'sge';

/** KEY=VALUE facts a service script wrote; throws a clear message when the service is not up. */
export function service(kind: Kind): { [key: string]: string } {
  const file = path.join(ROOT, '.cache', 'services', `${kind}.env`);
  const start = `scripts/services/${kind}.sh start`;
  if (!fs.existsSync(file)) {
    throw new Error(
      `${kind} service missing: ${file} not found. Start it with: ${start}`
    );
  }
  const env: { [key: string]: string } = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) {
      env[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  try {
    if (kind === 'slurm') {
      execFileSync('scontrol', ['ping'], {
        stdio: 'pipe',
        env: { ...process.env, SLURM_CONF: env.SLURM_CONF }
      });
    } else {
      execFileSync('qstat', ['-f'], {
        stdio: 'pipe',
        env: { ...process.env, SGE_ROOT: env.SGE_ROOT, SGE_CELL: env.SGE_CELL }
      });
    }
  } catch (err) {
    throw new Error(
      `${kind} service not running (${String(err).split('\n')[0]}). Start it with: ${start}`
    );
  }
  return env;
}

/** The GPUs the test service offers (Grid Engine: 2, ids 0 and 1; SLURM: 1). */
export function gpuCount(kind: Kind): number {
  const facts = service(kind);
  return Number(kind === 'slurm' ? facts.SLURM_GPUS : facts.SGE_GPUS) || 1;
}

/** A transport that counts its exec() calls (to check one scheduler call per poll). */
export class CountingTransport {
  execs: string[] = [];
  constructor(readonly inner: ITransport) {}
  exec(command: string, options?: IExecOptions): Promise<IExecResult> {
    this.execs.push(command);
    return this.inner.exec(command, options);
  }
  asTransport(): ITransport {
    return new Proxy(this.inner, {
      get: (target, prop) =>
        prop === 'exec'
          ? (c: string, o?: IExecOptions) => this.exec(c, o)
          : (target as unknown as { [k: string | symbol]: unknown })[prop]
    });
  }
}

/** SSH to the test user on the real sshd, as a cluster user would come in. */
export async function sshTransport(name: string): Promise<SshTransport> {
  const t = new SshTransport(name, sshCluster(sshd()), {
    agent: null,
    timeoutMs: 8000
  });
  await t.connect();
  return t;
}

/** A job directory of its own under the test user's home; removed by `cleanup`. */
export class JobDirs {
  constructor(
    readonly transport: ITransport,
    readonly base: string
  ) {}

  static async create(transport: ITransport, tag: string): Promise<JobDirs> {
    const home = await transport.home();
    const base = `${home}/.cb-sched-it-${tag}-${process.pid}`;
    return new JobDirs(transport, base);
  }

  /** A spec whose job runs `command` (a shell command line) in a fresh job directory. */
  async spec(
    command: string,
    request: IJobRequest = {},
    defaults: ISchedulerDefaults = {}
  ): Promise<IJobSpec> {
    const id = `cb-it-${++this._n}-${Date.now().toString(36)}`;
    const jobDir = `${this.base}/jobs/${id}`;
    const r = await this.transport.exec(
      `mkdir -p -m 700 ${shellQuote(jobDir)}`
    );
    if (r.code !== 0) {
      throw new Error(`mkdir ${jobDir}: ${r.stderr}`);
    }
    return { id, jobDir, command, request, defaults };
  }

  async exists(dir: string): Promise<boolean> {
    return (await this.transport.exec(`test -e ${shellQuote(dir)}`)).code === 0;
  }

  async read(file: string): Promise<string> {
    const r = await this.transport.exec(`cat ${shellQuote(file)}`);
    return r.stdout;
  }

  async cleanup(): Promise<void> {
    await this.transport.exec(`rm -rf ${shellQuote(this.base)}`);
  }

  private _n = 0;
}

/** Polls states() until `done(state)`; returns every distinct state seen, in order. */
export async function watch(
  scheduler: IScheduler,
  transport: ITransport,
  id: string,
  done: (s: SchedulerState) => boolean,
  timeoutMs = 60000
): Promise<SchedulerState[]> {
  const seen: SchedulerState[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = (await scheduler.states(transport, [id])).get(id)!;
    if (
      !seen.length ||
      JSON.stringify(seen[seen.length - 1]) !== JSON.stringify(state)
    ) {
      seen.push(state);
    }
    if (done(state)) {
      return seen;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `job ${id} still not done after ${timeoutMs} ms; states seen: ${JSON.stringify(seen)}`
      );
    }
    await new Promise(r => setTimeout(r, 200));
  }
}

export const ended = (s: SchedulerState): boolean => s.state === 'ended';
