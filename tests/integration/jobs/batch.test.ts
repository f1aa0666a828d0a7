/**
 * The JobManager's batch path (agent prepare -> scheduler submit -> follow
 * while polling the scheduler) against the real single-node SLURM of
 * scripts/services/slurm.sh, reached through the real sshd.
 */
import * as fs from 'fs';
import * as path from 'path';

import { GPU_MIME } from '../../../src/shared/mime';

import {
  ITestBed,
  mkCacheDir,
  RecordingSink,
  ROOT,
  sshCluster,
  sshd,
  testBed
} from './helpers';

mkCacheDir();

function slurm(): void {
  const file = path.join(ROOT, '.cache', 'services', 'slurm.env');
  if (!fs.existsSync(file)) {
    throw new Error(
      `SLURM service missing: ${file} not found. Start it with: scripts/services/slurm.sh start`
    );
  }
}

describe('cells through SLURM', () => {
  let bed: ITestBed;
  const work = `~/.cb-it-slurm-${process.pid}`;

  beforeAll(() => {
    slurm();
    bed = testBed({
      hpc: sshCluster(sshd(), { workDir: work, scheduler: 'slurm' })
    });
  });

  afterAll(async () => {
    await bed?.dispose();
    fs.rmSync(path.join(sshd().home, work.slice(2)), {
      recursive: true,
      force: true
    });
  });

  it('runs a cell as a batch job: outputs, node, end state', async () => {
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: { cluster: 'hpc', time: '00:05:00' },
      code: 'import socket, time\nprint("on", socket.gethostname())\ntime.sleep(1)\n6 * 7',
      lineOffset: 1,
      sink
    });
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toMatch(/^on \S+\n$/);
    expect(sink.calls.filter(c => c.kind === 'result')).toHaveLength(1);
    const statuses = sink.statuses();
    expect(statuses[0].phase).toBe('connecting');
    expect(statuses.map(s => s.phase)).toContain('running');
    const last = statuses[statuses.length - 1];
    expect(last).toMatchObject({
      phase: 'done',
      endState: 'completed',
      scheduler: 'slurm'
    });
    expect(last.schedulerId).toMatch(/^\d+$/);
    expect(outcome.job?.schedulerId).toBe(last.schedulerId);
  });

  it('reports the GPU the scheduler gave the job as a GPU card', async () => {
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: { cluster: 'hpc', gpus: 1, partition: 'gpu', time: '00:01:00' },
      code: 'import os\nprint(os.environ.get("CUDA_VISIBLE_DEVICES"))',
      lineOffset: 1,
      sink
    });
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toBe('0\n');
    const card = sink.calls.find(
      c => c.kind === 'display' && c.displayId?.startsWith('cb-gpu-')
    );
    expect(card).toBeDefined();
    const data = (card as { data: { [mime: string]: unknown } }).data;
    expect(data[GPU_MIME]).toMatchObject({ cudaVisibleDevices: '0' });
    expect(String(data['text/plain'])).toContain('CUDA_VISIBLE_DEVICES=0');
  });

  it('interrupt cancels the batch job and the cell says so', async () => {
    const sink = new RecordingSink();
    const abort = new AbortController();
    const pending = bed.manager.runCell({
      request: { cluster: 'hpc' },
      code: 'import time\nprint("sleeping", flush=True)\ntime.sleep(120)',
      lineOffset: 1,
      sink,
      signal: abort.signal
    });
    // Generous: on a shared node the job may wait in the queue first.
    await sink.until(s => s.text('stdout').includes('sleeping'), 150000);
    abort.abort();
    const outcome = await pending;
    expect(outcome.status).toBe('aborted');
    expect(sink.statuses().pop()?.phase).toBe('cancelled');
    expect(sink.text('stdout')).toBe('sleeping\n');
  }, 200000);

  it("a time limit hit ends the cell as TIMEOUT, with the scheduler's reason", async () => {
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: { cluster: 'hpc', time: '00:01:00' },
      code: 'import time\nprint("started", flush=True)\ntime.sleep(600)',
      lineOffset: 1,
      sink
    });
    expect(outcome.status).toBe('error');
    expect(sink.text('stdout')).toBe('started\n');
    expect(outcome.job?.endState).toBe('timeout');
    expect(sink.statuses().pop()).toMatchObject({
      phase: 'failed',
      endState: 'timeout'
    });
    expect(sink.errors().map(e => e.ename)).toContain('JobTimeout');
  }, 240000);

  it('shows the job script in a dry run and submits nothing', async () => {
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: { cluster: 'hpc', dryRun: true, partition: 'debug' },
      code: 'print(1)',
      lineOffset: 1,
      sink
    });
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toContain('#SBATCH');
    expect(sink.text('stdout')).toContain('nothing was submitted');
  });

  it("a rejected submit shows the scheduler's own message", async () => {
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: { cluster: 'hpc', partition: 'no-such-partition' },
      code: 'print(1)',
      lineOffset: 1,
      sink
    });
    expect(outcome.status).toBe('error');
    const [error] = sink.errors();
    expect(error.ename).toBe('JobRejected');
    expect(error.evalue).toMatch(/partition/i);
    expect(sink.statuses().pop()).toMatchObject({
      phase: 'failed',
      endState: 'rejected'
    });
  });
});
