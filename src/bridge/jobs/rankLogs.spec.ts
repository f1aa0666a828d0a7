import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { IJobInfo } from '../../shared/jobs';
import type { IExecResult, ITransport } from '../transport/types';
import {
  checkedLines,
  parseRankLogs,
  rankLogsCommand,
  readRankLogs,
  stripAnsi
} from './rankLogs';
import { newJobInfo } from './submission';

const job = { id: 'j1', ranks: 2 };

function jsonl(events: object[]): string {
  return events.map(e => JSON.stringify(e) + '\n').join('');
}

/** A job directory as _cb_ranks.py leaves it. */
function jobDir(
  ranks: { [rank: number]: object[] },
  merged: object[] = []
): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-ranklogs-'));
  for (const [rank, events] of Object.entries(ranks)) {
    fs.mkdirSync(path.join(dir, 'ranks', rank), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'ranks', rank, 'events.jsonl'),
      jsonl(events)
    );
  }
  fs.writeFileSync(path.join(dir, 'events.jsonl'), jsonl(merged));
  return dir;
}

/** The command run by the real sh, as the transport would on the cluster. */
function runCommand(dir: string): string {
  return execFileSync('sh', ['-c', rankLogsCommand(dir)], {
    encoding: 'utf8'
  });
}

const start = (rank: number, node = 'n1') => ({
  type: 'rank-start',
  rank,
  localRank: rank,
  node,
  seq: 0,
  t: 1
});

describe('rankLogs', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });
  const made = (...args: Parameters<typeof jobDir>) => {
    const d = jobDir(...args);
    dirs.push(d);
    return d;
  };

  it('reads each rank: tagged lines, node, state, and the failed rank from the merged log', () => {
    const dir = made(
      {
        0: [
          start(0),
          { type: 'stream', name: 'stdout', text: 'hello from 0\n', t: 2 },
          { type: 'done', state: 'completed', t: 5 }
        ],
        1: [
          start(1, 'n2'),
          { type: 'stream', name: 'stdout', text: 'par', t: 2 },
          { type: 'stream', name: 'stdout', text: 'tial\nnext\n', t: 2 },
          {
            type: 'error',
            ename: 'ValueError',
            evalue: 'bad',
            traceback: ['\x1b[31mTraceback\x1b[0m', 'ValueError: bad'],
            t: 3
          },
          { type: 'done', state: 'failed', t: 4 }
        ]
      },
      [
        {
          type: 'rank',
          rank: 0,
          event: { type: 'rank-end', state: 'cancelled' }
        },
        {
          type: 'rank',
          rank: 1,
          event: { type: 'rank-end', state: 'error', failed: true }
        },
        { type: 'done', state: 'failed' }
      ]
    );
    const logs = parseRankLogs(runCommand(dir), job);
    expect(logs).toMatchObject({
      jobId: 'j1',
      found: true,
      worldSize: 2,
      failedRank: 1
    });
    expect(logs.ranks[0]).toEqual({
      rank: 0,
      node: 'n1',
      state: 'cancelled',
      lines: [{ text: '[rank 0] hello from 0' }],
      truncated: false
    });
    expect(logs.ranks[1]).toEqual({
      rank: 1,
      node: 'n2',
      state: 'error',
      failed: true,
      lines: [
        { text: '[rank 1] partial' },
        { text: '[rank 1] next' },
        { text: '[rank 1] Traceback', stderr: true },
        { text: '[rank 1] ValueError: bad', stderr: true }
      ],
      truncated: false
    });
  });

  it('a running job: states from the ranks own logs, a rank not started yet is waiting, the first error names the failed rank', () => {
    const dir = made({
      0: [start(0), { type: 'stream', name: 'stderr', text: 'warn\n', t: 2 }],
      2: [
        start(2),
        { type: 'error', ename: 'E', evalue: 'x', traceback: [], t: 7 }
      ]
    });
    const logs = parseRankLogs(runCommand(dir), { id: 'j1', ranks: 4 });
    expect(logs.ranks.map(r => r.state)).toEqual([
      'running',
      'waiting',
      'running',
      'waiting'
    ]);
    expect(logs.ranks[0].lines).toEqual([
      { text: '[rank 0] warn', stderr: true }
    ]);
    expect(logs.failedRank).toBe(2);
    expect(logs.ranks[2].lines).toEqual([
      { text: '[rank 2] E: x', stderr: true }
    ]);
  });

  it('ranks of a job that ended without their own end (time limit, cancel) are not left running', () => {
    const dir = made({ 0: [start(0)] });
    const ended = (endState: 'timeout' | 'cancelled') =>
      parseRankLogs(runCommand(dir), {
        id: 'j1',
        ranks: 2,
        phase: endState === 'cancelled' ? 'cancelled' : 'failed',
        endState
      }).ranks.map(r => r.state);
    expect(ended('timeout')).toEqual(['error', 'error']);
    expect(ended('cancelled')).toEqual(['cancelled', 'cancelled']);
  });

  it('reads a size padded with spaces (BSD wc)', () => {
    const out =
      '@cb rank 0      300000\n{"type":"rank-start","node":"n"}\n\n@cb tail\n\n@cb job\n';
    expect(parseRankLogs(out, { id: 'j', ranks: 1 }).ranks[0]).toMatchObject({
      node: 'n',
      truncated: true
    });
  });

  it('keeps the last lines asked for and says earlier ones are not shown', () => {
    const text = Array.from({ length: 10 }, (_, i) => `line ${i}\n`).join('');
    const dir = made({
      0: [start(0), { type: 'stream', name: 'stdout', text, t: 2 }],
      1: [start(1)]
    });
    const logs = parseRankLogs(runCommand(dir), job, 3);
    expect(logs.ranks[0].lines.map(l => l.text)).toEqual([
      '[rank 0] line 7',
      '[rank 0] line 8',
      '[rank 0] line 9'
    ]);
    expect(logs.ranks[0].truncated).toBe(true);
    expect(logs.ranks[1]).toMatchObject({
      lines: [],
      truncated: false,
      state: 'running'
    });
  });

  it('a log bigger than the tail read: the node still comes from its first line, the cut line is skipped', () => {
    const big = 'x'.repeat(1000) + '\n';
    const events = [start(0, 'far')];
    for (let i = 0; i < 400; i++) {
      events.push({ type: 'stream', name: 'stdout', text: big, t: 2 } as never);
    }
    events.push({
      type: 'stream',
      name: 'stdout',
      text: 'last\n',
      t: 3
    } as never);
    const dir = made({ 0: events, 1: [start(1)] });
    const logs = parseRankLogs(runCommand(dir), job);
    expect(logs.ranks[0].node).toBe('far');
    expect(logs.ranks[0].truncated).toBe(true);
    expect(logs.ranks[0].lines).toHaveLength(200);
    expect(logs.ranks[0].lines[199].text).toBe('[rank 0] last');
  });

  it('a cleaned job directory is found: false', () => {
    const gone = path.join(os.tmpdir(), `cb-ranklogs-gone-${process.pid}`);
    const logs = parseRankLogs(runCommand(gone), job);
    expect(logs).toEqual({
      jobId: 'j1',
      found: false,
      worldSize: 2,
      ranks: []
    });
  });

  it('quotes the job directory: a quote or $() in it is a path, not shell', () => {
    const dir = made({ 0: [start(0)], 1: [start(1)] });
    const odd = path.join(dir, "it's $(touch pwned) dir");
    fs.mkdirSync(path.join(odd, 'ranks', '0'), { recursive: true });
    fs.writeFileSync(
      path.join(odd, 'ranks', '0', 'events.jsonl'),
      jsonl([start(0, 'q')])
    );
    const logs = parseRankLogs(
      execFileSync('sh', ['-c', rankLogsCommand(odd)], {
        encoding: 'utf8',
        cwd: dir
      }),
      job
    );
    expect(logs.ranks[0].node).toBe('q');
    expect(fs.existsSync(path.join(dir, 'pwned'))).toBe(false);
  });

  it('display and result outputs show their text/plain; escape codes are stripped', () => {
    expect(stripAnsi('\x1b[1;31mred\x1b[0m')).toBe('red');
    const dir = made({
      0: [
        start(0),
        {
          type: 'result',
          data: { 'text/plain': '42', 'text/html': '<b>42</b>' },
          t: 2
        },
        { type: 'display', data: { 'image/png': 'AAAA' }, t: 2 }
      ],
      1: [start(1)]
    });
    expect(parseRankLogs(runCommand(dir), job).ranks[0].lines).toEqual([
      { text: '[rank 0] 42' },
      { text: '[rank 0] [display]' }
    ]);
  });

  it('refuses a job that is not distributed and a bad line count', async () => {
    const transport = { exec: jest.fn() } as unknown as ITransport;
    await expect(
      readRankLogs(transport, { id: 'j2', remoteDir: '/x' } as IJobInfo)
    ).rejects.toThrow(/j2 is not a distributed job/);
    expect(transport.exec).not.toHaveBeenCalled();
    expect(() => checkedLines(0)).toThrow(/lines must be an integer from 1/);
    expect(() => checkedLines('5')).toThrow(/not "5"/);
    expect(checkedLines(undefined)).toBe(200);
  });

  it('a failed read is an error naming the job directory', async () => {
    const result: IExecResult = {
      stdout: '',
      stderr: 'Permission denied',
      code: 1
    };
    const transport = {
      exec: jest.fn(async () => result)
    } as unknown as ITransport;
    await expect(
      readRankLogs(transport, {
        id: 'j3',
        remoteDir: '/w/jobs/j3',
        ranks: 2
      } as IJobInfo)
    ).rejects.toThrow(
      'could not read the ranks of job j3 in /w/jobs/j3: Permission denied'
    );
  });

  it('the job record of a distributed request carries its ranks and nodes', () => {
    const cluster = { name: 'hpc' } as never;
    const spec = (request: object) =>
      ({
        id: 'j',
        jobDir: '/w/jobs/j',
        request: { cluster: 'hpc', ...request }
      }) as never;
    expect(
      newJobInfo(spec({ nodes: 2, gpusPerNode: 2 }), cluster, 'slurm', 'x', 1)
    ).toMatchObject({ ranks: 4, nodes: 2 });
    expect(
      newJobInfo(spec({ tasksPerNode: 3 }), cluster, 'slurm', 'x', 1)
    ).toMatchObject({ ranks: 3, nodes: 1 });
    const single = newJobInfo(spec({}), cluster, 'slurm', 'x', 1);
    expect(single.ranks).toBeUndefined();
    expect(single.nodes).toBeUndefined();
  });
});
