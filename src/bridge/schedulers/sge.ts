/**
 * Grid Engine (SGE 8.x, Son of Grid Engine, Univa/Altair GE): `#$` script,
 * `qsub -terse -w e` (jobs that can never run are refused at submit),
 * states from ONE remote command per poll: `qstat -u "$(id -un)" -s prsz -xml` (pending,
 * running, suspended, zombie) plus `qstat -j` for the scheduler's pending
 * reason; ended jobs then from `qacct -j` (exit status, failed code).
 * Cancel is `qdel`. The script asks for `-notify`, so Grid Engine sends
 * SIGUSR2 before its SIGKILL (after the queue's notify time); the script
 * relays that as SIGTERM to the agent, which stops the cell and records
 * `cancelled` before the SIGKILL comes.
 */
import type { JobEndState } from '../../shared/events';
import { shellQuote } from '../util/quote';
import type { ITransport } from '../transport/types';
import {
  BatchScheduler,
  endedState,
  idList,
  commandMessage,
  marker,
  signalText,
  splitSections
} from './batch';
import {
  assembleScript,
  formatHms,
  formatMem,
  jobArray,
  JobScriptError,
  qsubCommand,
  relaySignal,
  resolveResources
} from './script';
import { unhonoured } from './options';
import { SchedulerError, type IJobSpec, type SchedulerState } from './types';
import { sgeRanksSlots } from '../jobs/ranksPlan';

/** A job gone from qstat without an accounting record for this long is reported lost. */
export const SGE_LOST_AFTER_MS = 60_000;

export class SgeScheduler extends BatchScheduler {
  readonly kind = 'sge' as const;
  protected readonly jobIds = {
    name: 'Grid Engine',
    pattern: /^\d+$/
  };

  /** Parallel environment used for --cpus > 1 (sites name it differently; `smp` is usual). */
  constructor(readonly parallelEnvironment = 'smp') {
    super();
  }

  script(spec: IJobSpec): string {
    const res = resolveResources(spec);
    const d: string[] = [`#$ -N ${res.name}`, '#$ -S /bin/bash', '#$ -notify'];
    if (res.partition) {
      d.push(`#$ -q ${res.partition}`);
    }
    if (res.account) {
      d.push(`#$ -A ${res.account}`);
    }
    if (res.qos) {
      throw new JobScriptError(`qos ${res.qos}: ${unhonoured('sge', 'qos')}`);
    }
    if (res.timeSeconds !== undefined) {
      d.push(`#$ -l h_rt=${formatHms(res.timeSeconds)}`);
    }
    // A distributed cell: its ranks' slots from the cluster's parallel environment.
    const ranksSlots = sgeRanksSlots(spec.request, res.cpus);
    const slots = ranksSlots ?? res.cpus ?? 1;
    if (ranksSlots !== undefined) {
      d.push(`#$ -pe ${spec.defaults?.parallelEnvironment ?? ''} ${slots}`);
    } else if (slots > 1) {
      d.push(`#$ -pe ${this.parallelEnvironment} ${slots}`);
    }
    if (res.memMiB !== undefined) {
      // Grid Engine memory limits are per slot.
      d.push(
        `#$ -l h_vmem=${formatMem(Math.ceil(res.memMiB / slots), { m: 'M', g: 'G' })}`
      );
    }
    if (res.gpus) {
      d.push(`#$ -l gpu=${res.gpus}`);
    }
    if (res.constraint) {
      d.push(`#$ -l ${res.constraint}`);
    }
    const array = jobArray(spec);
    if (array) {
      d.push(`#$ -t 1-${array.count}`);
      if (array.maxParallel) {
        d.push(`#$ -tc ${array.maxParallel}`);
      }
    }
    const gpuIds = res.gpus ? Private.GPU_IDS_TO_CUDA : [];
    return assembleScript(
      spec,
      res,
      d,
      [],
      [...gpuIds, ...relaySignal(spec.command, 'USR2')]
    );
  }

  protected submitCommand(spec: IJobSpec): string {
    return qsubCommand(spec, [
      'qsub -terse -w e',
      '-wd',
      shellQuote(spec.jobDir)
    ]);
  }

  protected parseSubmit(stdout: string): string | null {
    // -terse: `123` (arrays: `123.1-10:1`); without it: `Your job 123 ("x") has been submitted`.
    const text = stdout.trim();
    const m =
      /^(\d+)(?:\.\S+)?$/m.exec(text) ??
      /^Your job(?:-array)? (\d+)\b/m.exec(text);
    return m ? m[1] : null;
  }

  protected cancelCommand(schedulerId: string): string {
    return `qdel ${shellQuote(schedulerId)}`;
  }

  protected alreadyGone(message: string): boolean {
    return /does not exist/i.test(message);
  }

  protected async queryStates(
    transport: ITransport,
    ids: string[]
  ): Promise<Map<string, SchedulerState>> {
    const list = idList(ids);
    const command = [
      // Only our own jobs: on a big cluster everyone's would be megabytes per poll.
      'qstat -u "$(id -un)" -s prsz -xml 2>&1',
      'rc=$?',
      marker('jobs'),
      // Only the lines we read: the id, the scheduler's reason, an error state's reason.
      `qstat -j ${list} 2>&1 | grep -E '^(job_number|scheduling info|error reason)|^ {8,}[^ ]'`,
      marker('rc'),
      'echo $rc'
    ].join('\n');
    const result = await transport.exec(command);
    const sections = splitSections(result.stdout);
    const xml = sections.get('') ?? '';
    if ((sections.get('rc') ?? '').trim() !== '0' || !/<job_info/.test(xml)) {
      throw new SchedulerError(
        'sge',
        'command',
        `qstat: ${xml.trim() || commandMessage(result)}`
      );
    }
    const jobs = parseQstatXml(xml);
    const details = parseQstatJ(sections.get('jobs') ?? '');
    const out = new Map<string, SchedulerState>();
    const finished: string[] = [];
    for (const id of ids) {
      const job = jobs.get(id);
      if (!job || job.state.includes('z')) {
        finished.push(id);
        continue;
      }
      out.set(id, sgeState(job, details.get(id)));
    }
    if (finished.length > 0) {
      const acct = await this._accounting(transport, finished);
      for (const id of finished) {
        const state = acct.get(id);
        if (state) {
          out.set(id, state);
          this._gone.delete(id);
        } else {
          out.set(id, this._withoutAccounting(id, jobs.has(id)));
        }
      }
    }
    return out;
  }

  /** `qacct -j` per finished job, all in one remote command. */
  private async _accounting(
    transport: ITransport,
    ids: string[]
  ): Promise<Map<string, SchedulerState>> {
    const command = ids
      .map(id => `${marker(`acct-${id}`)}\nqacct -j ${shellQuote(id)} 2>&1`)
      .join('\n');
    const result = await transport.exec(command);
    const out = new Map<string, SchedulerState>();
    splitSections(result.stdout).forEach((text, name) => {
      const id = name.replace(/^acct-/, '');
      const record = parseQacct(text);
      if (name.startsWith('acct-') && record) {
        out.set(id, qacctState(record));
      }
    });
    return out;
  }

  /**
   * Finished (zombie) or vanished, and no accounting record yet: qacct lags
   * by the accounting flush time, so wait a while before calling it lost.
   */
  private _withoutAccounting(id: string, zombie: boolean): SchedulerState {
    const since = this._gone.get(id) ?? Date.now();
    this._gone.set(id, since);
    if (Date.now() - since < SGE_LOST_AFTER_MS) {
      return { state: 'unknown' };
    }
    return {
      state: 'ended',
      end: 'lost',
      reason: zombie
        ? 'finished; Grid Engine accounting (qacct) has no record of it'
        : 'no longer known to Grid Engine, and qacct has no record of it'
    };
  }

  private _gone = new Map<string, number>();
}

export interface ISgeJob {
  id: string;
  /** qstat state letters: qw, hqw, r, t, Rr, s, S, T, dr, Eqw, z ... */
  state: string;
  queue?: string;
  startTime?: string;
  submissionTime?: string;
}

/** `qstat -u USER -s prsz -xml`: one entry per job (array tasks fold into their job). */
export function parseQstatXml(xml: string): Map<string, ISgeJob> {
  const out = new Map<string, ISgeJob>();
  for (const m of xml.matchAll(/<job_list\b[^>]*>([\s\S]*?)<\/job_list>/g)) {
    const body = m[1];
    const tag = (name: string) => {
      const t = new RegExp(`<${name}>([^<]*)</${name}>`).exec(body);
      return t ? Private.unescape(t[1].trim()) : undefined;
    };
    const id = tag('JB_job_number');
    if (!id || out.has(id)) {
      continue;
    }
    out.set(id, {
      id,
      state: tag('state') ?? '',
      queue: tag('queue_name') || undefined,
      startTime: tag('JAT_start_time'),
      submissionTime: tag('JB_submission_time')
    });
  }
  return out;
}

export interface ISgeJobDetails {
  /** `scheduling info:` lines (why the job is not running). */
  scheduling: string[];
  /** `error reason N:` of a job in error state (Eqw). */
  error?: string;
}

/** The filtered `qstat -j LIST` output: job_number, scheduling info, error reason. */
export function parseQstatJ(text: string): Map<string, ISgeJobDetails> {
  const out = new Map<string, ISgeJobDetails>();
  let current: ISgeJobDetails | undefined;
  let inScheduling = false;
  for (const line of text.split('\n')) {
    const key = /^([a-z_ ]+?)(?:\s+\d+)?:\s*(.*)$/.exec(line);
    if (key && !line.startsWith(' ')) {
      inScheduling = false;
      if (key[1] === 'job_number') {
        current = { scheduling: [] };
        out.set(key[2].trim(), current);
      } else if (key[1] === 'scheduling info' && current) {
        inScheduling = true;
        if (key[2].trim()) {
          current.scheduling.push(key[2].trim());
        }
      } else if (key[1] === 'error reason' && current) {
        current.error = key[2].trim();
      }
    } else if (inScheduling && current && line.trim()) {
      current.scheduling.push(line.trim());
    }
  }
  return out;
}

/** A job still listed by qstat, as ours. */
export function sgeState(
  job: ISgeJob,
  details?: ISgeJobDetails
): SchedulerState {
  const s = job.state;
  if (s.includes('E')) {
    // Error state: it will never run unless an admin clears it.
    return {
      state: 'ended',
      end: 'failed',
      reason: `Grid Engine error state (${s})${details?.error ? `: ${details.error}` : ''}`
    };
  }
  if (/[rt]/.test(s) && !/[sST]/.test(s)) {
    const node = job.queue?.split('@')[1];
    return node ? { state: 'running', node } : { state: 'running' };
  }
  const pending: SchedulerState = { state: 'pending' };
  const why: string[] = [];
  if (s.includes('h')) {
    why.push('held');
  }
  if (/[sST]/.test(s)) {
    why.push('suspended');
  }
  if (details && details.scheduling.length > 0) {
    why.push(details.scheduling.join('; '));
  }
  if (why.length > 0) {
    pending.reason = why.join(', ');
  }
  return pending;
}

export interface IQacctRecord {
  [key: string]: string;
}

/** One `qacct -j ID` record (the last one when a job was rerun); null when none. */
export function parseQacct(text: string): IQacctRecord | null {
  let record: IQacctRecord | null = null;
  for (const line of text.split('\n')) {
    if (/^=+\s*$/.test(line)) {
      record = {};
      continue;
    }
    const m = /^(\w+)\s+(.*?)\s*$/.exec(line);
    if (m && record) {
      record[m[1]] = m[2];
    }
  }
  return record && record.jobnumber ? record : null;
}

/** How a finished job ended, from its accounting record. */
export function qacctState(r: IQacctRecord): SchedulerState {
  const failedCode = parseInt(r.failed ?? '0', 10) || 0;
  const failedText = (r.failed ?? '').replace(/^\d+\s*:?\s*/, '');
  const exit = parseInt(r.exit_status ?? '0', 10) || 0;
  const category = r.category ?? '';
  const limit = (name: string): number | undefined => {
    const m = new RegExp(`\\b${name}=([^,\\s]+)`).exec(category);
    return m ? Private.seconds(m[1]) : undefined;
  };
  const wallclock = Private.seconds((r.ru_wallclock ?? '').replace(/s$/, ''));
  const hRt = limit('h_rt');
  const ranOutOfTime =
    hRt !== undefined && wallclock !== undefined && wallclock + 1 >= hRt;
  const killed = exit === 137 || exit === 9;

  let end: JobEndState;
  let reason: string | undefined;
  if (failedCode === 0 && exit === 0) {
    end = 'completed';
  } else if ((failedCode === 37 || killed) && ranOutOfTime) {
    end = 'timeout';
    reason = `time limit h_rt=${formatHms(hRt as number)} reached`;
  } else if (failedCode === 37 || (killed && /h_vmem=/.test(category))) {
    end = /h_vmem=/.test(category) ? 'out_of_memory' : 'timeout';
    reason = failedText || 'limit enforced by qmaster';
  } else if (failedCode === 100 && killed) {
    end = 'cancelled';
    reason = 'deleted (qdel) or killed';
  } else if (failedCode !== 0 && failedCode !== 100) {
    // 1-99: the job could not be started or finished on the host (execd, shepherd, files).
    end = [8, 19, 21].includes(failedCode) ? 'node_fail' : 'failed';
    reason = `failed ${failedCode}: ${failedText}`;
  } else {
    end = 'failed';
    reason = exit > 128 ? signalText(exit - 128) : `exit code ${exit}`;
  }
  return endedState(end, exit, reason);
}

namespace Private {
  /**
   * Grid Engine with a resource map (RSMAP `gpu` complex: Univa/Altair GE, or
   * a site's starter method) names the GPUs it assigned to the job in
   * SGE_HGR_gpu, space-separated; CUDA takes them comma-separated.
   */
  export const GPU_IDS_TO_CUDA = [
    'if [ -n "${SGE_HGR_gpu:-}" ]; then',
    '  ids="${SGE_HGR_gpu# }"',
    '  export CUDA_VISIBLE_DEVICES="${ids// /,}"',
    'fi'
  ];

  /** `3`, `3.5`, `0:0:3`, `1:00:00`: seconds. */
  export function seconds(text: string): number | undefined {
    const t = text.trim();
    if (/^\d+(\.\d+)?$/.test(t)) {
      return parseFloat(t);
    }
    const m = /^(\d+):(\d+):(\d+)$/.exec(t);
    return m
      ? (parseInt(m[1], 10) * 60 + parseInt(m[2], 10)) * 60 + parseInt(m[3], 10)
      : undefined;
  }

  export function unescape(s: string): string {
    return s
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&');
  }
}
