/**
 * `%%cluster NAME --array` cells end to end: the JobManager, the real sshd
 * (as the test user), a direct host and the real SLURM and Grid Engine job
 * arrays, the real agent and runner. Each element's value is bound in its
 * cell; the outputs are grouped per element in one ARRAY_MIME display; a
 * failing element fails the cell naming it, and `rerun` of it alone
 * succeeds; --max-parallel holds; interrupt cancels every element.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import type { IClusterConfig } from '../../../src/shared/config';
import {
  ARRAY_MIME,
  type IArrayElement,
  type IArrayPayload
} from '../../../src/shared/mime';
import {
  dropSshConnections,
  eventually,
  ITestBed,
  mkCacheDir,
  processesMatching,
  RecordingSink,
  sshCluster,
  sshd,
  testBed
} from '../jobs/helpers';
import { Kind, service } from '../schedulers/helpers';

mkCacheDir();

type ArrayKind = 'direct' | Kind;
const KINDS: ArrayKind[] = ['direct', 'slurm', 'sge'];

/** Each element says when it ran; the element whose value is "two" fails while FLAG exists. */
const cell = (flag: string, seconds = 1) =>
  [
    'import os, time',
    't0 = time.time()',
    `time.sleep(${seconds})`,
    'print("ran %r as %s from %.3f to %.3f" % (lr, type(lr).__name__, t0, time.time()))',
    `if lr == "two" and os.path.exists(${JSON.stringify(flag)}):`,
    '    raise ValueError("flag is set for %r" % lr)',
    'lr * 2'
  ].join('\n');

/** The newest ARRAY_MIME payload the cell showed. */
function payloadOf(sink: RecordingSink): IArrayPayload | undefined {
  return sink.calls
    .filter(c => c.kind === 'display' || c.kind === 'update')
    .map(
      c =>
        (c as { data: { [m: string]: unknown } }).data[ARRAY_MIME] as
          IArrayPayload | undefined
    )
    .filter(Boolean)
    .pop();
}

function stdoutOf(e: IArrayElement): string {
  return e.outputs
    .map(o => (o.type === 'stream' && o.name === 'stdout' ? o.text : ''))
    .join('');
}

/** [start, end] of each element, from what it printed. */
function spans(p: IArrayPayload): [number, number][] {
  return p.elements.map(e => {
    const m = / from ([\d.]+) to ([\d.]+)/.exec(stdoutOf(e));
    expect(m).not.toBeNull();
    return [Number(m![1]), Number(m![2])];
  });
}

function mostAtOnce(s: [number, number][]): number {
  return Math.max(
    ...s.map(([t]) => s.filter(([a, b]) => a <= t && t < b).length)
  );
}

function schedulerKnows(kind: Kind, id: string): boolean {
  const facts = service(kind);
  try {
    if (kind === 'slurm') {
      const out = execFileSync('squeue', ['-h', '-j', id, '-o', '%T'], {
        encoding: 'utf8',
        env: { ...process.env, SLURM_CONF: facts.SLURM_CONF }
      });
      return /RUNNING|PENDING|COMPLETING|CONFIGURING/.test(out);
    }
    execFileSync('qstat', ['-j', id], {
      stdio: 'pipe',
      env: {
        ...process.env,
        SGE_ROOT: facts.SGE_ROOT,
        SGE_CELL: facts.SGE_CELL
      }
    });
    return true;
  } catch {
    return false;
  }
}

describe.each(KINDS)('--array cells on %s', kind => {
  let bed: ITestBed;
  const workDir = `~/.cb-arrays-${kind}-${process.pid}`;
  const flag = path.join('/tmp', `cb-array-flag-${kind}-${process.pid}`);

  beforeAll(() => {
    if (kind !== 'direct') {
      service(kind);
    }
    const cluster: IClusterConfig = sshCluster(
      sshd(),
      kind === 'direct' ? { workDir } : { scheduler: kind, workDir }
    );
    bed = testBed({ [kind]: cluster });
  });

  afterAll(async () => {
    await bed?.dispose();
    fs.rmSync(flag, { force: true });
    fs.rmSync(path.join(sshd().home, workDir.slice(2)), {
      recursive: true,
      force: true
    });
  });

  it('binds each value, groups outputs per element, fails naming the failed one, and reruns it alone', async () => {
    fs.writeFileSync(flag, 'fail\n', { mode: 0o644 });
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: {
        cluster: kind,
        array: { name: 'lr', values: [0.5, 3, 'two', 'x'] },
        maxParallel: 1
      },
      code: cell(flag),
      lineOffset: 1,
      sink
    });
    expect(outcome.status).toBe('error');
    const p = payloadOf(sink)!;
    expect(p).toMatchObject({ name: 'lr', cluster: kind, maxParallel: 1 });
    expect(p.rerun).toBe(`%cluster rerun ${p.jobId} {index}`);
    expect(p.elements.map(e => [e.index, e.value, e.state, e.last])).toEqual([
      [0, 0.5, 'done', '1.0'],
      [1, 3, 'done', '6'],
      [2, 'two', 'error', undefined],
      [3, 'x', 'done', "'xx'"]
    ]);
    expect(stdoutOf(p.elements[0])).toMatch(/^ran 0\.5 as float /);
    expect(stdoutOf(p.elements[1])).toMatch(/^ran 3 as int /);
    expect(p.elements[2].error).toBe("ValueError: flag is set for 'two'");
    expect(p.elements[2].outputs.some(o => o.type === 'error')).toBe(true);
    expect(mostAtOnce(spans(p))).toBe(1);
    const [error] = sink.errors();
    expect(error.ename).toBe('ArrayElementFailed');
    expect(error.traceback.join('\n')).toContain(
      `element 2 (lr="two"): ValueError: flag is set for 'two'; re-run it alone with: %cluster rerun ${p.jobId} 2`
    );
    const table = String(
      sink.calls
        .filter(
          c => c.kind === 'update' && c.displayId === `cb-array-${p.jobId}`
        )
        .map(c => (c as { data: { [m: string]: unknown } }).data['text/plain'])
        .pop()
    );
    expect(table).toContain(`Array ${p.jobId} on ${kind}: 4 elements`);
    expect(table).toMatch(/\n2 +two +error +[\d.]+s +ValueError: flag is set/);

    fs.rmSync(flag);
    const again = new RecordingSink();
    const rerun = await bed.manager.rerunElement(p.jobId, 2, { sink: again });
    expect(rerun.status).toBe('ok');
    expect(again.text('stdout')).toContain(
      `Re-running element 2 (lr="two") of ${p.jobId}`
    );
    const q = payloadOf(again)!;
    expect(q.jobId).not.toBe(p.jobId);
    expect(q.elements.map(e => [e.index, e.value, e.state, e.last])).toEqual([
      [2, 'two', 'done', "'twotwo'"]
    ]);
    await expect(
      bed.manager.rerunElement(p.jobId, 9, { sink: new RecordingSink() })
    ).rejects.toThrow(
      `job ${p.jobId} has no element 9; its elements are 0 to 3`
    );
    await expect(
      bed.manager.rerunElement('cb-nosuch-000000', 0, {
        sink: new RecordingSink()
      })
    ).rejects.toThrow('unknown job "cb-nosuch-000000"');
  });

  it('runs elements side by side up to --max-parallel', async () => {
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: {
        cluster: kind,
        array: { name: 'lr', values: [1, 2, 3] },
        maxParallel: 2
      },
      code: cell(flag, 4),
      lineOffset: 1,
      sink
    });
    expect(outcome.status).toBe('ok');
    const p = payloadOf(sink)!;
    expect(p.elements.map(e => e.state)).toEqual(['done', 'done', 'done']);
    // Two at once (the limit) and never three.
    expect(mostAtOnce(spans(p))).toBe(2);
  });

  it('resumes every element after a dropped SSH connection: all output, in order, once', async () => {
    const sink = new RecordingSink();
    const pending = bed.manager.runCell({
      request: { cluster: kind, array: { name: 'lr', values: [1, 2] } },
      // Non-ASCII text: the resumed offsets count bytes, not characters.
      code: 'import time\nfor i in range(30):\n    print("é", lr, i, flush=True)\n    time.sleep(0.1)\nlr',
      lineOffset: 1,
      sink
    });
    await sink.until(s =>
      (payloadOf(s)?.elements ?? []).some(e => stdoutOf(e).includes(' 5\n'))
    );
    expect(dropSshConnections(sshd())).toBeGreaterThan(0);
    const outcome = await pending;
    expect(outcome.status).toBe('ok');
    const p = payloadOf(sink)!;
    for (const [k, value] of [1, 2].entries()) {
      const lines = Array.from({ length: 30 }, (_, i) => `é ${value} ${i}\n`);
      expect(stdoutOf(p.elements[k])).toBe(lines.join(''));
      expect([p.elements[k].state, p.elements[k].last]).toEqual([
        'done',
        String(value)
      ]);
    }
    // The drop really happened: the status line said so while reconnecting.
    expect(
      sink.statuses().some(s => s.detail === 'connection lost, reconnecting')
    ).toBe(true);
  });

  it('cancels every element on interrupt, leaving no process or queued job', async () => {
    const sink = new RecordingSink();
    const abort = new AbortController();
    const running = bed.manager.runCell({
      request: {
        cluster: kind,
        array: { name: 'n', values: [1, 2, 3] },
        maxParallel: 2
      },
      code: 'import time\nprint("up", n, flush=True)\ntime.sleep(300)',
      lineOffset: 1,
      sink,
      signal: abort.signal
    });
    await sink.until(
      s => (payloadOf(s)?.elements ?? []).some(e => stdoutOf(e).includes('up')),
      90000
    );
    const p = payloadOf(sink)!;
    const job = bed.manager.jobs().find(j => j.id === p.jobId)!;
    abort.abort();
    const outcome = await running;
    expect(outcome.status).toBe('aborted');
    const end = payloadOf(sink)!;
    expect(end.elements.map(e => e.state)).toEqual([
      'cancelled',
      'cancelled',
      'cancelled'
    ]);
    expect(
      await eventually(() => processesMatching(p.jobId).length === 0, 30000)
    ).toBe(true);
    if (kind !== 'direct') {
      expect(
        await eventually(() => !schedulerKnows(kind, job.schedulerId!), 30000)
      ).toBe(true);
    }
  });

  it('%cluster cancel ends a running array and its cell; attach says it cannot follow an array', async () => {
    const sink = new RecordingSink();
    const running = bed.manager.runCell({
      request: {
        cluster: kind,
        array: { name: 'n', values: [1, 2, 3] },
        maxParallel: 1
      },
      code: 'import time\nprint("up", n, flush=True)\ntime.sleep(300)',
      lineOffset: 1,
      sink
    });
    await sink.until(
      s => (payloadOf(s)?.elements ?? []).some(e => stdoutOf(e).includes('up')),
      90000
    );
    const { jobId } = payloadOf(sink)!;
    await expect(
      bed.manager.attach(jobId, new RecordingSink())
    ).rejects.toThrow(
      `job ${jobId} is an array job (3 elements): %cluster attach cannot follow it`
    );
    await bed.manager.cancel(jobId);
    expect((await running).status).toBe('aborted');
    expect(payloadOf(sink)!.elements.map(e => e.state)).toEqual([
      'cancelled',
      'cancelled',
      'cancelled'
    ]);
    expect(bed.manager.jobs().find(j => j.id === jobId)).toMatchObject({
      endState: 'cancelled',
      array: 3
    });
  });
});
