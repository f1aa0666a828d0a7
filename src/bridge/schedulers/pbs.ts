/**
 * PBS Professional / OpenPBS (and Torque's text output): `#PBS` script with
 * `-l select=1:ncpus=N:ngpus=G:mem=M` and walltime (a distributed cell:
 * `select=NODES:ncpus=T*C:mpiprocs=T`, `place=scatter`), `qsub`, states from
 * `qstat -x -f -F json` (finished jobs included, PBS Pro 19+), falling back
 * to the text form of `qstat -f` (Torque, older PBS). Cancel is `qdel`
 * (SIGTERM, then SIGKILL after kill_delay).
 *
 * Not tested against a live PBS server: there is none here. Script
 * generation and state parsing are tested on recorded outputs
 * (tests/fixtures/pbs/).
 */
import type { JobEndState } from '../../shared/events';
import { shellQuote } from '../util/quote';
import type { ITransport } from '../transport/types';
import {
  BatchScheduler,
  endedState,
  commandMessage,
  signalText
} from './batch';
import {
  assembleScript,
  formatHms,
  formatMem,
  jobArray,
  JobScriptError,
  qsubCommand,
  resolveResources
} from './script';
import { unhonoured } from './options';
import { ranksShape } from '../jobs/ranksPlan';
import { SchedulerError, type IJobSpec, type SchedulerState } from './types';

export class PbsScheduler extends BatchScheduler {
  readonly kind = 'pbs' as const;
  protected readonly jobIds = {
    name: 'PBS',
    pattern: /^\d+(\[\d*\])?(\.[\w.-]+)?$/
  };

  script(spec: IJobSpec): string {
    const res = resolveResources(spec);
    const d: string[] = [
      `#PBS -N ${res.name.slice(0, 236)}`,
      '#PBS -S /bin/bash'
    ];
    if (res.partition) {
      d.push(`#PBS -q ${res.partition}`);
    }
    if (res.account) {
      d.push(`#PBS -A ${res.account}`);
    }
    if (res.qos) {
      throw new JobScriptError(`qos ${res.qos}: ${unhonoured('pbs', 'qos')}`);
    }
    if (res.timeSeconds !== undefined) {
      d.push(`#PBS -l walltime=${formatHms(res.timeSeconds)}`);
    }
    // A distributed cell: one chunk a node, its ranks as MPI slots ($PBS_NODEFILE lines).
    const ranks = ranksShape(spec.request);
    const chunk = ranks
      ? [
          `select=${ranks.nodes}`,
          `ncpus=${ranks.tasksPerNode * (res.cpus ?? 1)}`,
          `mpiprocs=${ranks.tasksPerNode}`
        ]
      : ['select=1', `ncpus=${res.cpus ?? 1}`];
    const gpus = ranks ? ranks.gpusPerNode : res.gpus;
    if (gpus) {
      chunk.push(`ngpus=${gpus}`);
    }
    if (res.memMiB !== undefined) {
      // Per chunk, so per node (as SLURM's --mem).
      chunk.push(`mem=${formatMem(res.memMiB, { m: 'mb', g: 'gb' })}`);
    }
    if (res.constraint) {
      // Host-level custom resources go into the chunk (`gpu_model=a100`, `host=n1`).
      chunk.push(res.constraint);
    }
    d.push(`#PBS -l ${chunk.join(':')}`);
    if (ranks) {
      d.push('#PBS -l place=scatter');
    }
    const array = jobArray(spec);
    if (array) {
      d.push(`#PBS -J 0-${array.count - 1}`);
    }
    return assembleScript(spec, res, d);
  }

  protected submitCommand(spec: IJobSpec): string {
    return qsubCommand(spec, ['qsub']);
  }

  protected parseSubmit(stdout: string): string | null {
    // `1234.server` (or `1234[].server` for arrays).
    const m = /^(\d+(?:\[\d*\])?(?:\.[\w.-]+)?)\s*$/m.exec(stdout.trim());
    return m ? m[1] : null;
  }

  protected cancelCommand(schedulerId: string): string {
    return `qdel ${shellQuote(schedulerId)}`;
  }

  protected alreadyGone(message: string): boolean {
    return /Unknown Job Id|Job has finished|already finished|does not exist/i.test(
      message
    );
  }

  protected async queryStates(
    transport: ITransport,
    ids: string[]
  ): Promise<Map<string, SchedulerState>> {
    const list = ids.map(shellQuote).join(' ');
    if (this._format !== 'text') {
      // "Unknown Job Id" lines for forgotten jobs go to stderr; the others still print.
      const result = await transport.exec(`qstat -x -f -F json ${list}`);
      const text = result.stdout.trim();
      const parsed = text
        ? Private.tryJson(text)
        : !result.stderr.trim() || /Unknown Job Id/i.test(result.stderr)
          ? { Jobs: {} }
          : null;
      if (parsed) {
        this._format = 'json';
        return parseQstatJson(parsed, ids);
      }
      // No -F json (Torque, old PBS), or JSON that older PBS versions print unescaped.
      if (this._format === 'unknown') {
        this._format = 'text';
      }
    }
    const result = await transport.exec(`qstat -f ${list} 2>&1`);
    if (result.code !== 0 && !/Job Id:/.test(result.stdout)) {
      if (/Unknown Job Id/i.test(result.stdout)) {
        return new Map();
      }
      throw new SchedulerError(
        'pbs',
        'command',
        `qstat: ${commandMessage(result)}`
      );
    }
    return parseQstatText(result.stdout, ids);
  }

  /** json once qstat -F json worked; text after it did not (Torque). */
  private _format: 'unknown' | 'json' | 'text' = 'unknown';
}

/** The job attributes we read, as `qstat -f` names them (JSON and text). */
export interface IPbsJob {
  job_state?: string;
  exec_host?: string;
  comment?: string;
  Exit_status?: number | string;
  exit_status?: number | string;
  estimated?: { start_time?: string; exec_vnode?: string };
  'estimated.start_time'?: string;
  Resource_List?: { walltime?: string; mem?: string };
  'Resource_List.walltime'?: string;
  resources_used?: { walltime?: string; mem?: string };
  'resources_used.walltime'?: string;
  [key: string]: unknown;
}

/** `qstat -x -f -F json` (PBS Pro 19+, OpenPBS): `{ "Jobs": { "123.server": {...} } }`. */
export function parseQstatJson(
  doc: { Jobs?: { [id: string]: IPbsJob } },
  ids: string[]
): Map<string, SchedulerState> {
  const jobs = doc.Jobs ?? {};
  const out = new Map<string, SchedulerState>();
  for (const id of ids) {
    const job = Private.find(jobs, id);
    if (job) {
      out.set(id, pbsState(job));
    }
  }
  return out;
}

/** `qstat -f` text: `Job Id: 123.server` then indented `name = value` lines (continuations tab-indented). */
export function parseQstatText(
  text: string,
  ids: string[]
): Map<string, SchedulerState> {
  const jobs: { [id: string]: IPbsJob } = {};
  let current: IPbsJob | null = null;
  let lastKey = '';
  for (const raw of text.split('\n')) {
    const head = /^Job Id:\s*(\S+)/.exec(raw);
    if (head) {
      current = {};
      jobs[head[1]] = current;
      continue;
    }
    if (!current) {
      continue;
    }
    const kv = /^\s+([\w.]+) = (.*)$/.exec(raw);
    if (kv) {
      lastKey = kv[1];
      current[lastKey] = kv[2];
    } else if (/^\t/.test(raw) && lastKey) {
      current[lastKey] = `${current[lastKey] as string}${raw.trim()}`;
    }
  }
  return parseQstatJson({ Jobs: jobs }, ids);
}

/** One PBS job's attributes as our state. */
export function pbsState(job: IPbsJob): SchedulerState {
  const s = String(job.job_state ?? '').trim();
  const exitRaw = job.Exit_status ?? job.exit_status;
  const comment = typeof job.comment === 'string' ? job.comment : undefined;
  switch (s) {
    case 'Q':
    case 'H':
    case 'W':
    case 'T':
    case 'M':
    case 'S':
    case 'U': {
      const pending: SchedulerState = { state: 'pending' };
      const why = [Private.STATE_WORDS[s], Private.notRunning(comment)].filter(
        Boolean
      );
      if (why.length > 0) {
        pending.reason = why.join(': ');
      }
      const start = job.estimated?.start_time ?? job['estimated.start_time'];
      if (start) {
        pending.expectedStart = String(start);
      }
      return pending;
    }
    case 'R':
    case 'E':
    case 'B': {
      const node = Private.node(job.exec_host);
      return node ? { state: 'running', node } : { state: 'running' };
    }
    case 'F':
    case 'X':
    case 'C':
      return pbsEnd(
        exitRaw === undefined ? undefined : parseInt(String(exitRaw), 10),
        job
      );
  }
  return { state: 'unknown' };
}

/**
 * PBS Pro's Exit_status: >= 0 the script's exit code; > 256 killed by signal
 * (256 + N; Torque: 128 + N); < 0 PBS itself ended the job (JOB_EXEC_* codes,
 * PBS Professional Administrator's Guide, "Job Exit Status Codes").
 */
export function pbsEnd(
  exit: number | undefined,
  job: IPbsJob = {}
): SchedulerState {
  if (exit === undefined || Number.isNaN(exit)) {
    return {
      state: 'ended',
      end: 'lost',
      reason: 'finished without an exit status'
    };
  }
  const walltime = job.Resource_List?.walltime ?? job['Resource_List.walltime'];
  const used = job.resources_used?.walltime ?? job['resources_used.walltime'];
  const overTime =
    walltime !== undefined &&
    used !== undefined &&
    Private.hms(String(used)) >= Private.hms(String(walltime));
  let end: JobEndState;
  let reason: string | undefined;
  if (exit === 0) {
    end = 'completed';
  } else if (exit < 0) {
    // Torque (lower-case exit_status) numbers a few codes differently from PBS Pro.
    const torque =
      job.Exit_status === undefined && job.exit_status !== undefined;
    const known =
      (torque && Private.TORQUE_CODES[exit]) || Private.EXEC_CODES[exit];
    end = known ? known[0] : 'failed';
    reason = known ? known[1] : `PBS exit status ${exit}`;
  } else if (exit > 256 || (exit > 128 && overTime)) {
    const signal = exit > 256 ? exit - 256 : exit - 128;
    if (overTime) {
      end = 'timeout';
      reason = `walltime ${walltime} exceeded`;
    } else {
      end = signal === 15 || signal === 9 ? 'cancelled' : 'failed';
      reason = signalText(signal);
    }
  } else {
    end = 'failed';
    reason = `exit code ${exit}`;
  }
  return endedState(end, exit, reason);
}

namespace Private {
  export const STATE_WORDS: { [s: string]: string } = {
    Q: '',
    H: 'held',
    W: 'waiting for its start time',
    T: 'being moved',
    M: 'moved to another server',
    S: 'suspended',
    U: 'suspended (workstation busy)'
  };

  /** JOB_EXEC_* codes (negative Exit_status) that say more than "failed". */
  export const EXEC_CODES: { [code: number]: [JobEndState, string] } = {
    [-1]: [
      'failed',
      'job exec failed, before files, no retry (JOB_EXEC_FAIL1)'
    ],
    [-2]: ['failed', 'job exec failed, after files, no retry (JOB_EXEC_FAIL2)'],
    [-3]: ['failed', 'job exec failed, do retry (JOB_EXEC_RETRY)'],
    [-4]: ['node_fail', 'job aborted on MOM initialization (JOB_EXEC_INITABT)'],
    [-5]: [
      'node_fail',
      'job aborted on MOM init, checkpoint, no migrate (JOB_EXEC_INITRST)'
    ],
    [-6]: [
      'node_fail',
      'job aborted on MOM init, checkpoint, ok migrate (JOB_EXEC_INITRMG)'
    ],
    [-7]: ['failed', 'job restart failed (JOB_EXEC_BADRESRT)'],
    [-10]: [
      'failed',
      'standard output/error files could not be created (JOB_EXEC_FAILUID)'
    ],
    [-11]: ['node_fail', 'job was rerun (JOB_EXEC_RERUN)'],
    [-12]: ['failed', 'job was checkpointed and killed (JOB_EXEC_CHKP)'],
    [-13]: [
      'failed',
      'job failed due to a bad password (JOB_EXEC_FAIL_PASSWORD)'
    ],
    [-14]: [
      'node_fail',
      'job was requeued after a sister node failed (JOB_EXEC_RERUN_ON_SIS_FAIL)'
    ],
    [-15]: ['failed', 'requeue of the job failed (JOB_EXEC_QUERST)'],
    [-16]: [
      'failed',
      'a hook failed and the job was requeued (JOB_EXEC_FAILHOOK_RERUN)'
    ],
    [-17]: [
      'failed',
      'a hook failed and the job was deleted (JOB_EXEC_FAILHOOK_DELETE)'
    ],
    [-18]: ['failed', 'a hook requested a rerun (JOB_EXEC_HOOK_RERUN)'],
    [-19]: ['failed', 'a hook requested deletion (JOB_EXEC_HOOK_DELETE)'],
    [-20]: [
      'node_fail',
      'the mother superior node went down (JOB_EXEC_RERUN_MS_FAIL)'
    ],
    [-23]: ['failed', 'ncpus burst limit exceeded (JOB_EXEC_KILL_NCPUS_BURST)'],
    [-24]: ['failed', 'ncpus sum limit exceeded (JOB_EXEC_KILL_NCPUS_SUM)'],
    [-25]: ['out_of_memory', 'vmem limit exceeded (JOB_EXEC_KILL_VMEM)'],
    [-27]: ['out_of_memory', 'mem limit exceeded (JOB_EXEC_KILL_MEM)'],
    [-28]: ['timeout', 'cput limit exceeded (JOB_EXEC_KILL_CPUT)'],
    [-29]: ['timeout', 'walltime limit exceeded (JOB_EXEC_KILL_WALLTIME)']
  };

  /** Torque's own JOB_EXEC_* values where they differ from PBS Pro's. */
  export const TORQUE_CODES: { [code: number]: [JobEndState, string] } = {
    [-8]: ['failed', 'exec() of the job failed (JOB_EXEC_CMDFAIL)'],
    [-9]: [
      'failed',
      'the standard output file could not be created (JOB_EXEC_STDOUTFAIL)'
    ],
    [-10]: ['out_of_memory', 'memory limit exceeded (JOB_EXEC_OVERLIMIT_MEM)'],
    [-11]: ['timeout', 'walltime limit exceeded (JOB_EXEC_OVERLIMIT_WT)'],
    [-12]: ['timeout', 'cpu time limit exceeded (JOB_EXEC_OVERLIMIT_CPUT)']
  };

  /** Our id may be `123` or `123.server`; qstat always says `123.server`. */
  export function find(
    jobs: { [id: string]: IPbsJob },
    id: string
  ): IPbsJob | undefined {
    if (jobs[id]) {
      return jobs[id];
    }
    const short = id.split('.')[0];
    const key = Object.keys(jobs).find(k => k.split('.')[0] === short);
    return key ? jobs[key] : undefined;
  }

  /** `node01/0*2+node02/0*2` -> `node01` (the first host runs the script). */
  export function node(execHost: unknown): string | undefined {
    if (typeof execHost !== 'string' || !execHost) {
      return undefined;
    }
    return execHost.split('+')[0].split('/')[0] || undefined;
  }

  /** The scheduler's reason from `comment`: `Not Running: Insufficient amount of resource: ngpus`. */
  export function notRunning(comment: string | undefined): string | undefined {
    if (!comment) {
      return undefined;
    }
    const m = /^Not Running:\s*(.*)$/.exec(comment.trim());
    return m
      ? m[1]
      : comment.startsWith('Job run at')
        ? undefined
        : comment.trim();
  }

  export function hms(text: string): number {
    const parts = text.split(':').map(p => parseInt(p, 10) || 0);
    return parts.reduce((acc, p) => acc * 60 + p, 0);
  }

  export function tryJson(
    text: string
  ): { Jobs?: { [id: string]: IPbsJob } } | null {
    try {
      const v = JSON.parse(text) as { Jobs?: { [id: string]: IPbsJob } };
      return v && typeof v === 'object' ? v : null;
    } catch {
      return null;
    }
  }
}
