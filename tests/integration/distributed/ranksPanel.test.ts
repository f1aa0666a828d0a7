/**
 * The jobs panel's Ranks view end to end, through the comm the frontend uses
 * (`rankLogs`, served by serveFrontendComm) over the real sshd, the real
 * single-node SLURM and the real rank launcher: a 2-rank job's record says
 * its ranks, each rank's lines come back tagged while it runs and after it
 * failed (which rank), and a cleaned job directory says so.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { CommReply, CommRequest } from '../../../src/shared/comm';
import type { IRankLogs } from '../../../src/shared/jobs';
import type { IComm } from '../../../src/bridge/kernel/handler';
import { serveFrontendComm } from '../../../src/bridge/kernel/frontendComm';
import type { JSONObject } from '../../../src/bridge/kernel/wire';
import {
  eventually,
  ITestBed,
  mkCacheDir,
  RecordingSink,
  sshCluster,
  sshd,
  testBed
} from '../jobs/helpers';
import { service } from '../schedulers/helpers';

mkCacheDir();

/** The kernel's end of the comm, as the frontend talks to it. */
class CommClient {
  constructor(bed: ITestBed) {
    const comm: IComm = {
      id: 'c1',
      targetName: 'cluster_bridge',
      send: data => {
        const reply = data as unknown as CommReply;
        this._waiting.get(reply.id)?.(reply);
      },
      close: () => undefined
    };
    this._comm = comm;
    this.stop = serveFrontendComm(comm, {
      clusters: bed.manager.registry,
      jobs: bed.manager
    });
  }

  readonly stop: () => void;

  async request(body: Partial<CommRequest>): Promise<CommReply> {
    const id = `r${++this._next}`;
    const reply = new Promise<CommReply>(resolve =>
      this._waiting.set(id, resolve)
    );
    await this._comm.onMsg!({ ...body, id } as unknown as JSONObject);
    return reply;
  }

  async rankLogs(jobId: string, lines?: number): Promise<IRankLogs> {
    const reply = await this.request({ op: 'rankLogs', jobId, lines });
    if (!reply.ok) {
      throw new Error(reply.error);
    }
    return reply.result as IRankLogs;
  }

  private _comm: IComm;
  private _next = 0;
  private _waiting = new Map<string, (reply: CommReply) => void>();
}

describe('jobs panel: per-rank view (comm rankLogs)', () => {
  let bed: ITestBed;
  let client: CommClient;
  const workDir = `~/.cb-rankspanel-${process.pid}`;
  const home = () => sshd().home;

  beforeAll(() => {
    service('slurm');
    bed = testBed({
      slurm: sshCluster(sshd(), { scheduler: 'slurm', workDir })
    });
    client = new CommClient(bed);
  });

  afterAll(async () => {
    client?.stop();
    await bed?.dispose();
    fs.rmSync(path.join(home(), workDir.slice(2)), {
      recursive: true,
      force: true
    });
  });

  it('a running 2-rank job: its record says 2 ranks, rank 1 lines come back tagged while it runs', async () => {
    const sink = new RecordingSink();
    const abort = new AbortController();
    const code = [
      'import os, time',
      'print("hello <b>from</b> rank", os.environ["RANK"], flush=True)',
      'time.sleep(120)'
    ].join('\n');
    const pending = bed.manager.runCell({
      request: { cluster: 'slurm', tasksPerNode: 2 },
      code,
      lineOffset: 1,
      sink,
      signal: abort.signal
    });
    try {
      const find = () => bed.manager.jobs().find(j => j.cluster === 'slurm');
      expect(await eventually(() => !!find(), 60000)).toBe(true);
      const job = find()!;
      expect(job).toMatchObject({ ranks: 2, nodes: 1 });
      let logs: IRankLogs | undefined;
      const deadline = Date.now() + 90000;
      while (Date.now() < deadline) {
        logs = await client.rankLogs(job.id);
        if (logs.ranks[1]?.lines.length) {
          break;
        }
        await new Promise(resolve => setTimeout(resolve, 500));
      }
      expect(logs).toMatchObject({ found: true, worldSize: 2 });
      expect(logs!.failedRank).toBeUndefined();
      expect(logs!.ranks.map(r => r.state)).toEqual(['running', 'running']);
      expect(logs!.ranks[1].lines).toEqual([
        { text: '[rank 1] hello <b>from</b> rank 1' }
      ]);
      expect(logs!.ranks[1].node).toBeTruthy();
    } finally {
      abort.abort();
      await pending.catch(() => undefined);
    }
  });

  it('an ended job whose rank 1 failed: every rank tagged, rank 1 named; a cleaned job says so', async () => {
    const sink = new RecordingSink();
    const said = path.join(os.tmpdir(), `cb-ranks-panel-${process.pid}`);
    fs.rmSync(said, { force: true });
    const outcome = await bed.manager.runCell({
      request: { cluster: 'slurm', tasksPerNode: 2 },
      // Rank 1 fails only once rank 0 has printed (it is killed then): both logs have lines.
      code: [
        'import os, time',
        'r = os.environ["RANK"]',
        `said = ${JSON.stringify(said)}`,
        'for i in range(3):',
        '    print("step", i, "of rank", r, flush=True)',
        'if r == "0":',
        '    open(said, "w").close()',
        'if r == "1":',
        '    while not os.path.exists(said):',
        '        time.sleep(0.05)',
        '    raise ValueError("rank one broke")',
        'time.sleep(60)'
      ].join('\n'),
      lineOffset: 1,
      sink
    });
    fs.rmSync(said, { force: true });
    expect(outcome.status).toBe('error');
    const jobId = outcome.job!.id;
    const logs = await client.rankLogs(jobId);
    expect(logs).toMatchObject({ found: true, worldSize: 2, failedRank: 1 });
    expect(logs.ranks[1]).toMatchObject({
      rank: 1,
      state: 'error',
      failed: true
    });
    expect(logs.ranks[0].failed).toBeUndefined();
    const rank1 = logs.ranks[1].lines.map(l => l.text);
    expect(rank1.slice(0, 3)).toEqual([
      '[rank 1] step 0 of rank 1',
      '[rank 1] step 1 of rank 1',
      '[rank 1] step 2 of rank 1'
    ]);
    expect(rank1.join('\n')).toContain('[rank 1] ValueError: rank one broke');
    expect(logs.ranks[0].lines[0].text).toBe('[rank 0] step 0 of rank 0');
    // A shorter tail keeps the last lines.
    const short = await client.rankLogs(jobId, 1);
    expect(short.ranks[1].lines).toHaveLength(1);
    expect(short.ranks[1].truncated).toBe(true);

    // `%cluster clean` removes job directories: the view says it is gone.
    fs.rmSync(path.join(home(), workDir.slice(2), 'jobs', jobId), {
      recursive: true,
      force: true
    });
    expect(await client.rankLogs(jobId)).toEqual({
      jobId,
      found: false,
      worldSize: 2,
      ranks: []
    });
  });

  it('a job without ranks and an unknown job are clear errors', async () => {
    const outcome = await bed.manager.runCell({
      request: { cluster: 'local' },
      code: 'print(1)',
      lineOffset: 1,
      sink: new RecordingSink()
    });
    await expect(client.rankLogs(outcome.job!.id)).rejects.toThrow(
      /is not a distributed job/
    );
    await expect(client.rankLogs('nope')).rejects.toThrow(/unknown job "nope"/);
    await expect(client.rankLogs(outcome.job!.id, 0)).rejects.toThrow(
      /lines must be an integer/
    );
  });
});
