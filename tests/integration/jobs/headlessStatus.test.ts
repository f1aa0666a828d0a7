/**
 * The live status where no frontend listens (nbclient, papermill, VS Code):
 * the kernel's sink has `cellStatus` and nobody receives it, so a cell's
 * outputs are its code's own, except that a batch job waiting in the queue
 * shows its pending reason: one display, kept current in place. On the real
 * SLURM of scripts/services/slurm.sh and the built-in `local` cluster.
 */
import * as fs from 'fs';
import * as path from 'path';

import type { IStatusPayload } from '../../../src/shared/mime';
import type { ICellStatusSink } from '../../../src/bridge/jobs/status';
import {
  ITestBed,
  mkCacheDir,
  RecordingSink,
  sshCluster,
  sshd,
  testBed
} from './helpers';
import { gpuCount, service } from '../schedulers/helpers';

mkCacheDir();

/** A kernel's sink with no frontend on the comm: the pushes go nowhere. */
class HeadlessKernelSink extends RecordingSink implements ICellStatusSink {
  pushed: IStatusPayload[] = [];
  cellStatus(payload: IStatusPayload): boolean {
    this.pushed.push(payload);
    return false;
  }
}

describe('the status of a cell no frontend watches', () => {
  let bed: ITestBed;
  const workDir = `~/.cb-headless-status-${process.pid}`;

  beforeAll(() => {
    service('slurm');
    bed = testBed({
      slurm: sshCluster(sshd(), { scheduler: 'slurm', workDir })
    });
  });

  afterAll(async () => {
    await bed?.dispose();
    fs.rmSync(path.join(sshd().home, workDir.slice(2)), {
      recursive: true,
      force: true
    });
  });

  const run = (
    cluster: string,
    code: string,
    sink: HeadlessKernelSink,
    request: object = {},
    signal?: AbortSignal
  ) =>
    bed.manager.runCell({
      request: { cluster, ...request },
      code,
      lineOffset: 1,
      sink,
      signal
    });

  it('a direct cell shows only what its code produced', async () => {
    const sink = new HeadlessKernelSink();
    const outcome = await run('local', 'print("hi")\n6 * 7', sink);
    expect(outcome.status).toBe('ok');
    expect(sink.calls.map(c => c.kind)).toEqual(['stream', 'result']);
    expect(sink.pushed[sink.pushed.length - 1].phase).toBe('done');
  });

  it('a queued batch job shows its pending reason, one line kept current, then the outputs', async () => {
    const abort = new AbortController();
    const holder = new HeadlessKernelSink();
    const busy = run(
      'slurm',
      'import time\nprint("holding", flush=True)\ntime.sleep(120)',
      holder,
      { gpus: gpuCount('slurm') },
      abort.signal
    );
    await holder.until(s => s.text('stdout').includes('holding'), 90000);
    const waiter = new HeadlessKernelSink();
    const waiting = run('slurm', 'print("got the gpu")', waiter, { gpus: 1 });
    try {
      await waiter.until(s => s.statuses().length > 0, 60000);
    } finally {
      abort.abort();
    }
    expect((await busy).status).toBe('aborted');
    expect((await waiting).status).toBe('ok');

    // Nothing before the queue (connecting, submitted): they only went to the comm.
    const statuses = waiter.statuses();
    expect(statuses[0].phase).toBe('queued');
    expect(statuses[0].detail).toMatch(/Resources|Priority/);
    expect(statuses[statuses.length - 1]).toMatchObject({
      phase: 'done',
      endState: 'completed'
    });
    // The status display (the GPU card of --gpus is a display of its own).
    const statusCalls = waiter.calls.filter(
      c =>
        (c.kind === 'display' || c.kind === 'update') &&
        c.displayId?.startsWith('cb-status-')
    );
    expect(statusCalls.map(c => c.kind)).toEqual([
      'display',
      ...statusCalls.slice(1).map(() => 'update')
    ]);
    expect(waiter.text('stdout')).toBe('got the gpu\n');
    expect(waiter.pushed[0].phase).toBe('connecting');
  });
});
