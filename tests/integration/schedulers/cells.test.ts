/**
 * `%%cluster` cells end to end through batch schedulers: the JobManager, the
 * real sshd (as the test user), the real SLURM / Grid Engine, the real agent
 * and runner. A cell prints, plots and reports its GPU; the status line shows
 * the queue with the scheduler's reason and the node; interrupt cancels the
 * job; a time limit ends the cell as a timeout; a rejected submit shows the
 * scheduler's words; two cells run at once.
 */
import * as fs from 'fs';
import * as path from 'path';

import type { IClusterConfig } from '../../../src/shared/config';
import { GPU_MIME, type IGpuPayload } from '../../../src/shared/mime';
import {
  eventually,
  ITestBed,
  mkCacheDir,
  RecordingSink,
  sshCluster,
  sshd,
  testBed
} from '../jobs/helpers';
import { gpuCount, Kind, service } from './helpers';

mkCacheDir();

const KINDS: Kind[] = ['slurm', 'sge'];

/**
 * No GPU set-up of our own: SLURM binds its GPU (gres), the test Grid Engine
 * assigns ids in SGE_HGR_gpu as an RSMAP complex would (scripts/services/sge.sh)
 * and the job script maps them to CUDA_VISIBLE_DEVICES.
 */
const clusterFor = (kind: Kind, workDir: string): IClusterConfig =>
  sshCluster(sshd(), { scheduler: kind, workDir });

/** Prints what the job got: `CVD=<CUDA_VISIBLE_DEVICES> HGR=<SGE_HGR_gpu>`. */
const PRINT_GPU_IDS =
  'import os\nprint("CVD=%s HGR=%s" % (os.environ.get("CUDA_VISIBLE_DEVICES", "unset"), os.environ.get("SGE_HGR_gpu", "unset")))';

describe.each(KINDS)('cells through %s', kind => {
  let bed: ITestBed;
  const workDir = `~/.cb-sched-cells-${kind}-${process.pid}`;

  beforeAll(() => {
    service(kind);
    bed = testBed({ [kind]: clusterFor(kind, workDir) });
  });

  afterAll(async () => {
    await bed?.dispose();
    fs.rmSync(path.join(sshd().home, workDir.slice(2)), {
      recursive: true,
      force: true
    });
  });

  const run = (
    code: string,
    request: object = {},
    sink = new RecordingSink(),
    signal?: AbortSignal
  ) =>
    bed.manager.runCell({
      request: { cluster: kind, ...request },
      code,
      lineOffset: 1,
      sink,
      signal
    });

  it('prints, plots and reports its GPU from inside the job', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      [
        'import socket',
        'print("hello from", socket.gethostname())',
        PRINT_GPU_IDS,
        'import matplotlib.pyplot as plt',
        'plt.plot([1, 4, 9])',
        'plt.show()',
        '6 * 7'
      ].join('\n'),
      { gpus: 1 },
      sink
    );
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toMatch(
      kind === 'sge'
        ? /^hello from \S+\nCVD=([01]) HGR=\1\n$/
        : /^hello from \S+\nCVD=0 HGR=unset\n$/
    );
    const cvd = /CVD=(\d)/.exec(sink.text('stdout'))![1];
    const png = sink.displays().find(d => typeof d['image/png'] === 'string');
    expect(
      Buffer.from(String(png!['image/png']), 'base64').subarray(1, 4).toString()
    ).toBe('PNG');
    const gpu = sink.calls
      .filter(c => c.kind === 'display' || c.kind === 'update')
      .map(
        c =>
          (c as { data: { [m: string]: unknown } }).data[GPU_MIME] as
            IGpuPayload | undefined
      )
      .filter(Boolean)
      .pop();
    expect(gpu).toMatchObject({
      cudaVisibleDevices: cvd,
      devices: [expect.objectContaining({ index: 0 })]
    });
    const card = sink.calls.find(
      c => c.kind === 'display' && c.displayId?.startsWith('cb-gpu-')
    );
    expect(
      String((card as { data: { [m: string]: unknown } }).data['text/plain'])
    ).toContain(`CUDA_VISIBLE_DEVICES=${cvd}`);
    expect(sink.calls.filter(c => c.kind === 'result')).toEqual([
      { kind: 'result', data: expect.objectContaining({ 'text/plain': '42' }) }
    ]);
    const statuses = sink.statuses();
    expect(statuses[0]).toMatchObject({ phase: 'connecting', scheduler: kind });
    expect(statuses.map(s => s.phase)).toContain('running');
    expect(
      statuses.some(s => s.schedulerId && /^\d+$/.test(s.schedulerId))
    ).toBe(true);
    const last = statuses.pop()!;
    expect(last).toMatchObject({
      phase: 'done',
      endState: 'completed',
      scheduler: kind
    });
    expect(last.schedulerId).toMatch(/^\d+$/);
    expect(outcome.job?.schedulerId).toBe(last.schedulerId);
    expect(outcome.job?.node).toBeTruthy();
  });

  it("shows the queue with the scheduler's reason while the GPU is busy, then runs", async () => {
    const abort = new AbortController();
    const first = new RecordingSink();
    const busy = run(
      'import time\nprint("holding", flush=True)\ntime.sleep(120)',
      { gpus: gpuCount(kind) },
      first,
      abort.signal
    );
    await first.until(s => s.text('stdout').includes('holding'), 90000);
    const second = new RecordingSink();
    const waiting = run('print("got the gpu")', { gpus: 1 }, second);
    try {
      await second.until(
        s => s.statuses().some(st => st.phase === 'queued' && !!st.detail),
        60000
      );
      const queued = second
        .statuses()
        .find(st => st.phase === 'queued' && st.detail)!;
      expect(queued.detail).toMatch(
        kind === 'slurm' ? /Resources|Priority/ : /gpu/
      );
    } finally {
      abort.abort();
    }
    expect((await busy).status).toBe('aborted');
    const outcome = await waiting;
    expect(outcome.status).toBe('ok');
    expect(second.text('stdout')).toBe('got the gpu\n');
  });

  it('cancels the job on interrupt, and the cell says so', async () => {
    const sink = new RecordingSink();
    const abort = new AbortController();
    const pending = run(
      'import time\nprint("sleeping", flush=True)\ntime.sleep(300)\nprint("never")',
      {},
      sink,
      abort.signal
    );
    await sink.until(s => s.text('stdout').includes('sleeping'), 90000);
    abort.abort();
    const outcome = await pending;
    expect(outcome.status).toBe('aborted');
    expect(sink.statuses().pop()).toMatchObject({ phase: 'cancelled' });
    expect(sink.text('stdout')).toBe('sleeping\n');
    // The scheduler lets go of it (Grid Engine shows "dr" while it cleans up).
    const id = outcome.job!.schedulerId!;
    const { execFileSync } = await import('child_process');
    const listed = () =>
      kind === 'slurm'
        ? execFileSync('squeue', ['-h', '-j', id, '-o', '%T'], {
            encoding: 'utf8'
          }).trim()
        : execFileSync(
            'sh',
            ['-c', `qstat -u '*' | awk '$1 == ${id} {print $5}'`],
            { encoding: 'utf8' }
          ).trim();
    expect(
      await eventually(() => ['', 'CANCELLED'].includes(listed()), 20000)
    ).toBe(true);
  });

  // Grid Engine limits are in seconds, so this takes ~10 s there; SLURM's limits are whole
  // minutes (and it checks them every ~30 s), so ~90 s.
  it('ends a cell that hits its time limit as timeout, keeping its output', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'import time\nprint("started", flush=True)\ntime.sleep(600)',
      { time: kind === 'slurm' ? '00:01:00' : '0:08' },
      sink
    );
    expect(outcome.status).toBe('error');
    expect(sink.text('stdout')).toBe('started\n');
    expect(outcome.job?.endState).toBe('timeout');
    expect(sink.statuses().pop()).toMatchObject({
      phase: 'failed',
      endState: 'timeout'
    });
    expect(sink.errors().map(e => e.ename)).toContain('JobTimeout');
  }, 240000);

  it("rejects an invalid partition with the scheduler's own message", async () => {
    const sink = new RecordingSink();
    const outcome = await run('print("never")', { partition: 'nosuch' }, sink);
    expect(outcome.status).toBe('error');
    const [error] = sink.errors();
    expect(error.ename).toBe('JobRejected');
    expect(error.evalue).toMatch(
      kind === 'slurm'
        ? /invalid partition specified: nosuch/
        : /unknown queue "nosuch"/
    );
    expect(sink.statuses().pop()).toMatchObject({
      phase: 'failed',
      endState: 'rejected'
    });
    const jobsDir = path.join(sshd().home, workDir.slice(2), 'jobs');
    expect(fs.existsSync(path.join(jobsDir, outcome.job!.id))).toBe(false);
  });

  it('runs two cells at once', async () => {
    const a = new RecordingSink();
    const b = new RecordingSink();
    const [ra, rb] = await Promise.all([
      run('import time\ntime.sleep(2)\nprint("a done")', {}, a),
      run('import time\ntime.sleep(2)\nprint("b done")', {}, b)
    ]);
    expect([ra.status, rb.status]).toEqual(['ok', 'ok']);
    expect(a.text('stdout')).toBe('a done\n');
    expect(b.text('stdout')).toBe('b done\n');
    expect(ra.job!.schedulerId).not.toBe(rb.job!.schedulerId);
  });

  it('shows the job script in a dry run and submits nothing', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'print(1)',
      { dryRun: true, gpus: 1, time: '00:10:00' },
      sink
    );
    expect(outcome.status).toBe('ok');
    const text = sink.text('stdout');
    expect(text).toContain('nothing was submitted');
    expect(text).toContain(
      kind === 'slurm' ? '#SBATCH --gres=gpu:1' : '#$ -l gpu=1'
    );
    expect(text).toContain(
      kind === 'slurm' ? '#SBATCH --time=00:10:00' : '#$ -l h_rt=00:10:00'
    );
  });
});

describe('GPU ids through Grid Engine', () => {
  let bed: ITestBed;
  const workDir = `~/.cb-sched-gpus-${process.pid}`;

  beforeAll(() => {
    expect(gpuCount('sge')).toBe(2);
    bed = testBed({ sge: clusterFor('sge', workDir) });
  });

  afterAll(async () => {
    await bed?.dispose();
    fs.rmSync(path.join(sshd().home, workDir.slice(2)), {
      recursive: true,
      force: true
    });
  });

  const run = (gpus: number, sink: RecordingSink, wait = '') =>
    bed.manager.runCell({
      request: { cluster: 'sge', gpus },
      code: PRINT_GPU_IDS + wait,
      lineOffset: 1,
      sink
    });

  it('gives two one-GPU cells at once different GPUs, each in CUDA_VISIBLE_DEVICES', async () => {
    const sinks = [new RecordingSink(), new RecordingSink()];
    // Each holds its GPU until both jobs run, so the two really overlap.
    const meet = `${workDir}/meet`;
    const hold = [
      '',
      'import time',
      `d = os.path.expanduser(${JSON.stringify(meet)})`,
      'os.makedirs(d, exist_ok=True)',
      'open(os.path.join(d, str(os.getpid())), "w").close()',
      'deadline = time.time() + 60',
      'while len(os.listdir(d)) < 2 and time.time() < deadline:',
      '    time.sleep(0.1)'
    ].join('\n');
    const outcomes = await Promise.all(sinks.map(s => run(1, s, hold)));
    expect(outcomes.map(o => o.status)).toEqual(['ok', 'ok']);
    const lines = sinks.map(s => s.text('stdout').trim()).sort();
    expect(lines).toEqual(['CVD=0 HGR=0', 'CVD=1 HGR=1']);
  });

  it('maps a two-GPU cell to a comma-separated CUDA_VISIBLE_DEVICES', async () => {
    const sink = new RecordingSink();
    const outcome = await run(2, sink);
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toBe('CVD=0,1 HGR=0 1\n');
  });
});
