/**
 * The jobs panel's Ranks view (comm `rankLogs`): each rank's last lines of
 * output, read in one command from the files the rank launcher
 * (src/runtime/_cb_ranks.py) already writes: JOBDIR/ranks/<r>/events.jsonl
 * (the rank's own log) and the end of JOBDIR/events.jsonl (the merged log,
 * whose `rank-end` events say which rank failed). Works for running and
 * ended jobs; a cleaned job directory is `found: false`.
 */
import type {
  IJobInfo,
  IRankLog,
  IRankLogLine,
  IRankLogs,
  RankLogState
} from '../../shared/jobs';
import { isJobOver } from '../../shared/jobState';
import type { ITransport } from '../transport/types';
import { shellQuote } from '../util/quote';

/** Lines per rank unless asked otherwise, and the most a request may ask. */
export const RANK_TAIL_LINES = 200;
export const RANK_TAIL_MAX_LINES = 5000;
/** Bytes of each rank's log read (its tail); enough for the lines asked, mostly. */
const RANK_TAIL_BYTES = 256 * 1024;
/** Bytes of the merged log read: its end holds the `rank-end` events. */
const JOB_TAIL_BYTES = 64 * 1024;
/** Marks the sections of the command's output: no JSON line starts with it. */
const MARK = '@cb ';

/** Reads every rank's tail of a distributed job through the job's transport. */
export async function readRankLogs(
  transport: ITransport,
  job: IJobInfo,
  lines = RANK_TAIL_LINES
): Promise<IRankLogs> {
  if (!job.ranks) {
    throw new Error(
      `job ${job.id} is not a distributed job (no --nodes/--tasks-per-node): it has no ranks to show`
    );
  }
  const result = await transport.exec(rankLogsCommand(job.remoteDir), {
    priority: true
  });
  if (result.code !== 0) {
    throw new Error(
      `could not read the ranks of job ${job.id} in ${job.remoteDir}: ${result.stderr.trim() || `exit status ${result.code}`}`
    );
  }
  return parseRankLogs(result.stdout, job, checkedLines(lines));
}

/** The number of lines asked, checked (it comes over the comm). */
export function checkedLines(lines: unknown): number {
  if (lines === undefined) {
    return RANK_TAIL_LINES;
  }
  if (
    typeof lines !== 'number' ||
    !Number.isInteger(lines) ||
    lines < 1 ||
    lines > RANK_TAIL_MAX_LINES
  ) {
    throw new Error(
      `rankLogs: lines must be an integer from 1 to ${RANK_TAIL_MAX_LINES}, not ${JSON.stringify(lines)}`
    );
  }
  return lines;
}

/**
 * One sh command: `@cb gone` when the job directory is missing; else per rank
 * folder `@cb rank R SIZE`, the first line (its rank-start), `@cb tail`, the
 * log's tail; then `@cb job` and the merged log's tail.
 */
export function rankLogsCommand(jobDir: string): string {
  const m = MARK;
  return [
    `cd ${shellQuote(jobDir)} 2>/dev/null || { echo '${m}gone'; exit 0; }`,
    'for d in ranks/*/; do',
    '  r=${d#ranks/}; r=${r%/}; f="ranks/$r/events.jsonl"',
    '  case "$r" in *[!0-9]*|"") continue;; esac',
    `  echo "${m}rank $r $( { wc -c < "$f"; } 2>/dev/null || echo 0)"`,
    `  head -n 1 "$f" 2>/dev/null; echo; echo '${m}tail'`,
    `  tail -c ${RANK_TAIL_BYTES} "$f" 2>/dev/null; echo`,
    'done',
    `echo '${m}job'`,
    `tail -c ${JOB_TAIL_BYTES} events.jsonl 2>/dev/null; echo`
  ].join('\n');
}

/** The command's output as the view's data: pure, so it is unit-tested. */
export function parseRankLogs(
  stdout: string,
  job: Pick<IJobInfo, 'id' | 'ranks'> & Partial<IJobInfo>,
  lines = RANK_TAIL_LINES
): IRankLogs {
  const worldSize = job.ranks ?? 0;
  const sections = Private.sections(stdout);
  if (sections.gone) {
    return { jobId: job.id, found: false, worldSize, ranks: [] };
  }
  const ends = Private.rankEnds(sections.job);
  const ranks: IRankLog[] = [];
  const count = Math.max(worldSize, ...sections.ranks.map(r => r.rank + 1));
  for (let r = 0; r < count; r++) {
    const raw = sections.ranks.find(s => s.rank === r);
    ranks.push(
      raw
        ? Private.rankLog(raw, ends.get(r), lines)
        : { rank: r, state: 'waiting', lines: [], truncated: false }
    );
  }
  if (job.phase && isJobOver({ phase: job.phase, endState: job.endState })) {
    // Killed with the job (time limit, scancel, a lost node): no end of its own.
    for (const rank of ranks) {
      if (rank.state === 'running' || rank.state === 'waiting') {
        rank.state = job.endState === 'cancelled' ? 'cancelled' : 'error';
      }
    }
  }
  let failedRank = [...ends.entries()].find(([, e]) => e.failed)?.[0];
  if (failedRank === undefined) {
    // Before the launcher's end: the rank that raised first.
    const raised = sections.ranks
      .map(s => ({ rank: s.rank, t: Private.firstErrorTime(s.tail) }))
      .filter(e => e.t !== undefined)
      .sort((a, b) => a.t! - b.t!);
    failedRank = raised[0]?.rank;
  }
  if (failedRank !== undefined && ranks[failedRank]) {
    ranks[failedRank].failed = true;
  }
  return { jobId: job.id, found: true, worldSize: count, failedRank, ranks };
}

/** Escape codes (tracebacks are coloured) do not belong in a plain-text view. */
export function stripAnsi(text: string): string {
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

namespace Private {
  interface IRawRank {
    rank: number;
    size: number;
    first: string;
    tail: string;
  }

  interface IRankEnd {
    state: RankLogState;
    failed: boolean;
  }

  type Event = { [key: string]: unknown };

  export function sections(stdout: string): {
    gone: boolean;
    ranks: IRawRank[];
    job: string;
  } {
    const out = { gone: false, ranks: [] as IRawRank[], job: '' };
    let current: IRawRank | null = null;
    let into: 'first' | 'tail' | 'job' | null = null;
    const parts: { [key: string]: string[] } = { first: [], tail: [], job: [] };
    const close = () => {
      if (current) {
        current.first = parts.first.join('\n');
        current.tail = parts.tail.join('\n');
        out.ranks.push(current);
      }
      parts.first = [];
      parts.tail = [];
    };
    for (const line of stdout.split('\n')) {
      if (line.startsWith(MARK)) {
        // BSD's wc pads its count with spaces.
        const words = line.slice(MARK.length).trim().split(/\s+/);
        if (words[0] === 'gone') {
          out.gone = true;
        } else if (words[0] === 'rank') {
          close();
          current = {
            rank: Number(words[1]),
            size: Number(words[2]) || 0,
            first: '',
            tail: ''
          };
          into = 'first';
        } else if (words[0] === 'tail') {
          into = 'tail';
        } else if (words[0] === 'job') {
          close();
          current = null;
          into = 'job';
        }
        continue;
      }
      if (into) {
        parts[into].push(line);
      }
    }
    close();
    out.job = parts.job.join('\n');
    out.ranks = out.ranks.filter(r => Number.isInteger(r.rank) && r.rank >= 0);
    return out;
  }

  /** Parsed JSON lines; a line that is not JSON (the tail's cut first line) is skipped. */
  export function events(text: string): Event[] {
    const list: Event[] = [];
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) {
        continue;
      }
      try {
        const value = JSON.parse(line) as unknown;
        if (value && typeof value === 'object') {
          list.push(value as Event);
        }
      } catch {
        // the tail's cut first line, or a line being written
      }
    }
    return list;
  }

  export function rankEnds(jobTail: string): Map<number, IRankEnd> {
    const ends = new Map<number, IRankEnd>();
    for (const e of events(jobTail)) {
      const inner = e.event as Event | undefined;
      if (e.type === 'rank' && inner?.type === 'rank-end') {
        ends.set(Number(e.rank), {
          state: endState(String(inner.state)),
          failed: inner.failed === true
        });
      }
    }
    return ends;
  }

  function endState(state: string): RankLogState {
    return state === 'done' || state === 'cancelled' ? state : 'error';
  }

  export function firstErrorTime(tail: string): number | undefined {
    const error = events(tail).find(e => e.type === 'error');
    return error ? Number(error.t) || 0 : undefined;
  }

  export function rankLog(
    raw: IRawRank,
    end: IRankEnd | undefined,
    lines: number
  ): IRankLog {
    const start = events(raw.first).find(e => e.type === 'rank-start');
    const all = events(raw.tail);
    const done = all.find(e => e.type === 'done');
    const state: RankLogState = end
      ? end.state
      : done
        ? done.state === 'completed'
          ? 'done'
          : done.state === 'cancelled'
            ? 'cancelled'
            : 'error'
        : 'running';
    const text = textLines(all, raw.rank);
    // The tail read less than the whole log: earlier events are missing.
    const cut = raw.size > RANK_TAIL_BYTES;
    return {
      rank: raw.rank,
      node: typeof start?.node === 'string' ? start.node : undefined,
      state,
      lines: text.slice(-lines),
      truncated: cut || text.length > lines
    };
  }

  /** The rank's outputs as tagged lines; a line split across two writes is one. */
  export function textLines(all: Event[], rank: number): IRankLogLine[] {
    const tag = `[rank ${rank}] `;
    const out: IRankLogLine[] = [];
    let open: IRankLogLine | null = null;
    const add = (text: string, stderr: boolean) => {
      const pieces = stripAnsi(text).split('\n');
      pieces.forEach((piece, i) => {
        if (i === 0 && open && !!open.stderr === stderr) {
          open.text += piece; // the rest of an unfinished line
        } else if (!(i === pieces.length - 1 && piece === '')) {
          open = { text: tag + piece, ...(stderr ? { stderr: true } : {}) };
          out.push(open);
        }
      });
      // Unless the text ended its last line, the next write goes on with it.
      if (pieces[pieces.length - 1] === '') {
        open = null;
      }
    };
    for (const e of all) {
      switch (e.type) {
        case 'stream':
          add(String(e.text ?? ''), e.name === 'stderr');
          break;
        case 'notice':
          open = null;
          add(`${String(e.text ?? '')}\n`, true);
          break;
        case 'error': {
          open = null;
          const traceback = Array.isArray(e.traceback)
            ? e.traceback.map(String)
            : [];
          const body = traceback.length
            ? traceback.join('\n')
            : `${String(e.ename)}: ${String(e.evalue)}`;
          add(`${body}\n`, true);
          break;
        }
        case 'display':
        case 'result': {
          open = null;
          const data = (e.data ?? {}) as { [mime: string]: unknown };
          const plain = data['text/plain'];
          add(`${typeof plain === 'string' ? plain : '[display]'}\n`, false);
          break;
        }
      }
    }
    return out;
  }
}
