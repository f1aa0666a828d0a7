/**
 * Faults a real cluster throws, on the real sshd (scripts/services/sshd.sh,
 * MaxSessions 10) with the real agent and runner: more cells than channels
 * with an interrupt among them, a job recorded on another login node, and an
 * interrupted attach.
 */
import * as fs from 'fs';
import * as path from 'path';

import {
  eventually,
  ITestBed,
  mkCacheDir,
  processesMatching,
  RecordingSink,
  sshCluster,
  sshd,
  testBed
} from '../jobs/helpers';

mkCacheDir();

const CLUSTER = 'ssh';
const WORK = `.cb-faults-${process.pid}`;

describe('faults on the ssh cluster', () => {
  let bed: ITestBed;

  beforeAll(async () => {
    bed = testBed({ [CLUSTER]: sshCluster(sshd(), { workDir: `~/${WORK}` }) });
    // Runtime, VENV1 and VENV2 in place: the cells below all take the warm path.
    const warm = await run('1');
    expect(warm.status).toBe('ok');
  });

  afterAll(async () => {
    await bed?.dispose();
    fs.rmSync(path.join(sshd().home, WORK), { recursive: true, force: true });
  });

  const run = (
    code: string,
    request: object = {},
    sink = new RecordingSink(),
    signal?: AbortSignal
  ) =>
    bed.manager.runCell({
      request: { cluster: CLUSTER, ...request },
      code,
      lineOffset: 1,
      sink,
      signal
    });

  const jobDirOf = (jobId: string) =>
    bed.manager.jobs().find(j => j.id === jobId)!.remoteDir;

  it('25 cells on one connection (MaxSessions 10): an interrupt among them ends that cell first, the rest complete', async () => {
    const n = 25;
    const sinks = Array.from({ length: n }, () => new RecordingSink());
    const aborts = sinks.map(() => new AbortController());
    const endOrder: number[] = [];
    const outcomes = sinks.map((sink, i) =>
      run(
        `import time\nprint("start ${i}", flush=True)\ntime.sleep(3)\nprint("end ${i}")\n${i}`,
        {},
        sink,
        aborts[i].signal
      ).then(outcome => {
        endOrder.push(i);
        return outcome;
      })
    );
    // Interrupt the fifth cell that starts: four cells started before it,
    // so it ends first only if its cancel does not wait for a channel.
    const startOrder: number[] = [];
    let fifthStarted: () => void = () => undefined;
    const fifth = new Promise<void>(resolve => (fifthStarted = resolve));
    sinks.forEach((sink, i) =>
      sink
        .until(s => s.text('stdout').includes('start'), 120000)
        .then(() => startOrder.push(i) === 5 && fifthStarted())
    );
    await fifth;
    const victim = startOrder[4];
    aborts[victim].abort();
    const results = await Promise.all(outcomes);
    expect(endOrder[0]).toBe(victim);
    expect(results[victim].status).toBe('aborted');
    expect(sinks[victim].text('stdout')).toBe(`start ${victim}\n`);
    results.forEach((outcome, i) => {
      if (i === victim) {
        return;
      }
      expect(outcome.status).toBe('ok');
      expect(sinks[i].text('stdout')).toBe(`start ${i}\nend ${i}\n`);
      expect(sinks[i].calls.filter(c => c.kind === 'result')).toEqual([
        {
          kind: 'result',
          data: expect.objectContaining({ 'text/plain': String(i) })
        }
      ]);
    });
  });

  it('never signals a pid on a node the job was not recorded on; the cell ends and says so', async () => {
    const marker = path.join(sshd().home, WORK, `signalled-${Date.now()}`);
    const sink = new RecordingSink();
    const abort = new AbortController();
    const pending = run(
      'import signal, time\n' +
        `def noted(sig, frame):\n    open(${JSON.stringify(marker)}, "a").write(str(sig) + "\\n")\n` +
        'for s in (signal.SIGINT, signal.SIGTERM):\n    signal.signal(s, noted)\n' +
        'for k in range(600):\n    print("tick", k, flush=True)\n    time.sleep(0.2)\n',
      {},
      sink,
      abort.signal
    );
    // Long enough for the liveness probe to learn the job's pid (directProbeMs).
    await sink.until(s => s.text('stdout').includes('tick 10'));
    const jobId = sink.statuses()[0].jobId;
    // A round-robin login node: the job was recorded on another node, and
    // its pid here (this test's own job) stands for some other process.
    const statusFile = path.join(jobDirOf(jobId), 'status.json');
    const status = JSON.parse(fs.readFileSync(statusFile, 'utf8'));
    fs.writeFileSync(
      statusFile,
      JSON.stringify({ ...status, node: 'login-other-7' })
    );
    abort.abort();
    const outcome = await pending;
    expect(fs.existsSync(marker)).toBe(false);
    expect(outcome.status).toBe('aborted');
    expect(sink.text('stderr')).toContain('the job runs on login-other-7');
    expect(sink.text('stderr')).toContain('nothing was signalled');
    expect(processesMatching(jobId).length).toBeGreaterThan(0);
    // The record says nothing ended; back on its real node the cancel works.
    expect(bed.manager.jobs().find(j => j.id === jobId)?.endState).toBe(
      undefined
    );
    fs.writeFileSync(statusFile, JSON.stringify(status));
    await bed.manager.cancel(jobId);
    expect(
      await eventually(() => processesMatching(jobId).length === 0, 20000)
    ).toBe(true);
    expect(fs.readFileSync(marker, 'utf8')).toContain('2'); // its SIGINT, here
  });

  it('interrupting an attach detaches: the job keeps running', async () => {
    const detached = await run(
      'import time\nfor k in range(600):\n    print("tick", k, flush=True)\n    time.sleep(0.2)\n',
      { detach: true }
    );
    const jobId = detached.job!.id;
    const sink = new RecordingSink();
    const abort = new AbortController();
    const attached = bed.manager.attach(jobId, sink, abort.signal);
    await sink.until(s => s.text('stdout').includes('tick 2'));
    abort.abort();
    const outcome = await attached;
    expect(outcome.status).toBe('aborted');
    expect(sink.text('stderr')).toContain('detached: the job keeps running');
    expect(sink.text('stderr')).toContain(`%cluster attach ${jobId}`);
    const ticks = () =>
      fs
        .readFileSync(path.join(jobDirOf(jobId), 'events.jsonl'), 'utf8')
        .split('\n').length;
    const before = ticks();
    expect(await eventually(() => ticks() > before + 3, 10000)).toBe(true);
    expect(processesMatching(jobId).length).toBeGreaterThan(0);
    await bed.manager.cancel(jobId);
    expect(
      await eventually(() => processesMatching(jobId).length === 0, 20000)
    ).toBe(true);
  });
});
