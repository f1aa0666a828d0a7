/**
 * Resource options on a direct host, through the real sshd (scripts/services/sshd.sh): the
 * agent on the far side enforces --time, --mem and --cpus, refuses --gpus where the host has
 * no GPU, and queue options are a usage error before anything runs.
 */
import * as fs from 'fs';
import * as path from 'path';

import {
  ITestBed,
  mkCacheDir,
  RecordingSink,
  sshCluster,
  sshd,
  testBed
} from './helpers';

mkCacheDir();

describe('resource options on a direct ssh host', () => {
  const workDir = `.cb-it-limits-${process.pid}`;
  let bed: ITestBed;

  beforeAll(() => {
    bed = testBed({ ssh: sshCluster(sshd(), { workDir: `~/${workDir}` }) });
  });

  afterAll(async () => {
    await bed?.dispose();
    fs.rmSync(path.join(sshd().home, workDir), {
      recursive: true,
      force: true
    });
  });

  const run = (code: string, request: object, sink = new RecordingSink()) =>
    bed.manager.runCell({
      request: { cluster: 'ssh', ...request },
      code,
      lineOffset: 1,
      sink
    });

  it('--time ends the cell at its limit with a time-limit end', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'import time\nprint("started", flush=True)\ntime.sleep(600)',
      { time: '00:02' },
      sink
    );
    expect(outcome.status).toBe('error');
    expect(outcome.job?.endState).toBe('timeout');
    expect(outcome.job?.detail).toBe('time limit 00:02 reached');
    expect(sink.text('stdout')).toBe('started\n');
    expect(sink.text('stderr')).toContain('time limit (--time 00:02)');
    expect(sink.statuses().pop()?.endState).toBe('timeout');
  });

  it('--mem is enforced: an overrun is a MemoryError and an out-of-memory end', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'x = bytearray(800 << 20)\nprint("allocated")',
      { mem: '400M' },
      sink
    );
    expect(sink.errors().map(e => e.ename)).toEqual(['MemoryError']);
    expect(outcome.job?.endState).toBe('out_of_memory');
    expect(outcome.job?.detail).toBe('memory limit 400M reached');
    expect(sink.text('stdout')).toBe('');
  });

  it('--cpus pins the cores and sets the thread counts', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'import os\nprint(len(os.sched_getaffinity(0)), os.environ["OMP_NUM_THREADS"])',
      { cpus: 1 },
      sink
    );
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toBe('1 1\n');
  });

  it('--gpus on a host without GPUs says so and runs nothing', async () => {
    const sink = new RecordingSink();
    const outcome = await run('print("never")', { gpus: 1 }, sink);
    expect(outcome.status).toBe('error');
    expect(outcome.job?.endState).toBe('rejected');
    expect(
      sink
        .errors()
        .map(e => e.evalue)
        .join('\n')
    ).toMatch(/--gpus 1: \S+ has no nvidia-smi/);
    expect(sink.text('stdout')).toBe('');
  });

  it('--partition on a direct host is a usage error before anything runs', async () => {
    const jobs = path.join(sshd().home, workDir, 'jobs');
    const before = fs.existsSync(jobs) ? fs.readdirSync(jobs).length : 0;
    const sink = new RecordingSink();
    await expect(
      run('print("never")', { partition: 'gpu' }, sink)
    ).rejects.toMatchObject({
      name: 'UsageError',
      message: expect.stringMatching(
        /--partition: a direct host has no scheduler/
      )
    });
    expect(fs.existsSync(jobs) ? fs.readdirSync(jobs).length : 0).toBe(before);
    expect(sink.calls).toEqual([]);
  });
});
