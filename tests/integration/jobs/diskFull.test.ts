/**
 * A remote disk that fills up during a cell, for real: the work dir on a
 * 4 MiB tmpfs (root mounts it), filled, and a cell that prints a lot through
 * the JobManager, the real agent and runner. The cell ends with a clear
 * DiskFullError, as failed (not lost, not hanging), and a cell with no room
 * to start says why.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { ITestBed, mkCacheDir, RecordingSink, ROOT, testBed } from './helpers';

mkCacheDir();

const isRoot = process.getuid?.() === 0;
const describeAsRoot = isRoot ? describe : describe.skip;

describeAsRoot('a full disk under a cell (tmpfs work dir)', () => {
  let bed: ITestBed;
  let mnt: string;

  beforeAll(() => {
    mnt = fs.mkdtempSync(path.join(ROOT, '.cache', 'it-diskfull-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
    bed = testBed({
      small: { type: 'local', workDir: path.join(mnt, 'work') }
    });
  });

  afterAll(async () => {
    await bed?.dispose();
    execFileSync('umount', ['-l', mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  });

  const run = (code: string, sink = new RecordingSink()) =>
    bed.manager.runCell({
      request: { cluster: 'small' },
      code,
      lineOffset: 1,
      sink
    });

  const fill = (leaveKiB: number) => {
    const st = fs.statfsSync(mnt);
    const free = st.bavail * st.bsize;
    fs.writeFileSync(
      path.join(mnt, `filler-${Date.now()}`),
      Buffer.alloc(Math.max(0, free - leaveKiB * 1024))
    );
  };

  it('a cell that fills the disk ends with a DiskFullError, as failed', async () => {
    expect((await run('print(1)')).status).toBe('ok'); // VENV2 while there is room
    fill(200);
    const sink = new RecordingSink();
    const outcome = await run(
      'for i in range(10 ** 7):\n    print("line %d" % i)',
      sink
    );
    expect(outcome.status).toBe('error');
    expect(outcome.job?.endState).toBe('failed');
    const errors = sink.calls.filter(c => c.kind === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ ename: 'DiskFullError' });
    expect(JSON.stringify(errors[0])).toContain('No space left on device');
  });

  it('no room to start a cell is a clear error', async () => {
    fill(0);
    const sink = new RecordingSink();
    await expect(run('print(1)', sink)).rejects.toThrow(
      /the disk or your quota is full/
    );
  });
});
