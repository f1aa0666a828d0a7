/**
 * The job pipeline end to end against real parts: the `local` cluster
 * (LocalTransport, child processes) and a real OpenSSH server on loopback
 * (scripts/services/sshd.sh), with the real agent and runner.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { IClusterConfig } from '../../../src/shared/config';
import {
  createJobManager,
  envHash,
  envSpecFor
} from '../../../src/bridge/jobs';
import { Venv2Cache } from '../../../src/bridge/jobs/venv2Cache';
import { DirectScheduler } from '../../../src/bridge/schedulers/direct';
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
} from './helpers';

mkCacheDir();

const CASES: [string, () => { [name: string]: IClusterConfig }][] = [
  ['local', () => ({})],
  [
    'ssh',
    () => ({ ssh: sshCluster(sshd(), { workDir: `~/.cb-it-${process.pid}` }) })
  ]
];

/** A job's status.json (the remote is this machine, so its path reads as is). */
const jobStatus = (jobDir: string) =>
  JSON.parse(fs.readFileSync(path.join(jobDir, 'status.json'), 'utf8'));

/** Strips ANSI colours from tracebacks. */
const plain = (lines: string[]) =>
  lines.join('\n').replace(/\x1b\[[0-9;]*m/g, '');

describe.each(CASES)('cells on the %s cluster', (cluster, clusters) => {
  let bed: ITestBed;

  beforeAll(() => {
    bed = testBed(clusters());
  });

  afterAll(async () => {
    await bed?.dispose();
    if (cluster === 'ssh' && bed) {
      // The remote work dir of this run.
      const facts = sshd();
      fs.rmSync(path.join(facts.home, `.cb-it-${process.pid}`), {
        recursive: true,
        force: true
      });
    }
  });

  const run = (
    code: string,
    request: object = {},
    sink = new RecordingSink(),
    signal?: AbortSignal
  ) =>
    bed.manager.runCell({
      request: { cluster, ...request },
      code,
      lineOffset: 1,
      sink,
      signal
    });

  it('shows outputs of every kind, in order', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      [
        'import sys',
        'print("hello")',
        'print("to stderr", file=sys.stderr)',
        'class Rich:',
        '    def _repr_html_(self):',
        '        return "<b>rich</b>"',
        'display(Rich())',
        'from IPython.display import HTML',
        'display(HTML("<i>ipython html</i>"))',
        'import matplotlib',
        'import matplotlib.pyplot as plt',
        'plt.plot([1, 2, 3])',
        'plt.show()',
        'print("after plot")',
        '40 + 2'
      ].join('\n'),
      {},
      sink
    );
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toBe('hello\nafter plot\n');
    expect(sink.text('stderr')).toContain('to stderr\n');
    const displays = sink.displays();
    expect(displays.some(d => d['text/html'] === '<b>rich</b>')).toBe(true);
    expect(
      displays.some(d => String(d['text/html']).includes('<i>ipython html</i>'))
    ).toBe(true);
    const png = displays.find(d => typeof d['image/png'] === 'string');
    expect(png).toBeDefined();
    expect(
      Buffer.from(String(png!['image/png']), 'base64').subarray(1, 4).toString()
    ).toBe('PNG');
    const results = sink.calls.filter(c => c.kind === 'result');
    expect(results).toEqual([
      { kind: 'result', data: expect.objectContaining({ 'text/plain': '42' }) }
    ]);
    // Order: hello, then the rich displays, the figure, "after plot", the result last.
    // The status line and the env build display (first cell of a fresh env) are apart.
    const envDisplays = sink.calls.filter(
      c =>
        c.kind !== 'stream' &&
        'displayId' in c &&
        c.displayId?.startsWith('cb-env-')
    );
    if (envDisplays.length) {
      // It settles on the agent's closing line.
      const last = envDisplays[envDisplays.length - 1] as {
        data: { [mime: string]: unknown };
      };
      expect(String(last.data['text/plain'])).toMatch(
        /^Environment \S+ (is )?ready\b.*\n$/
      );
    }
    const kinds = sink.calls
      .filter(
        c =>
          !(
            c.kind !== 'stream' &&
            'displayId' in c &&
            (c.displayId?.startsWith('cb-status-') ||
              c.displayId?.startsWith('cb-env-'))
          )
      )
      .filter(c => !(c.kind === 'stream' && c.name === 'stderr'))
      .map(c =>
        c.kind === 'stream'
          ? c.text.trim()
          : c.kind === 'display' && c.data['image/png']
            ? 'png'
            : c.kind
      );
    expect(kinds).toEqual([
      'hello',
      'display',
      'display',
      'png',
      'after plot',
      'result'
    ]);
    expect(outcome.job?.endState).toBe('completed');
  });

  it("turns an exception into an error with the cell's own line numbers", async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      ['x = 1', 'def f():', '    raise ValueError("boom")', 'f()'].join('\n'),
      {},
      sink
    );
    expect(outcome.status).toBe('error');
    const [error] = sink.errors();
    expect(error).toMatchObject({ ename: 'ValueError', evalue: 'boom' });
    const tb = plain(error.traceback);
    // Body lines 3 and 4 are cell lines 4 and 5 (the magic line is line 1).
    expect(tb).toMatch(/\b5\b/);
    expect(tb).toMatch(/\b4\b/);
    expect(tb).toContain('f()');
    expect(sink.statuses().pop()?.phase).toBe('failed');
  });

  it('names the cell by its execution count in tracebacks, as IPython does', async () => {
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: { cluster },
      code: 'x = 1\n1/0',
      lineOffset: 1,
      executionCount: 7,
      sink
    });
    expect(outcome.status).toBe('error');
    expect(plain(sink.errors()[0].traceback)).toContain('Cell In[7], line 3');
  });

  it('runs warm cells with the agent on VENV2, which forks the runner', async () => {
    const first = await run('1');
    const second = await run('import sys\nprint(sys.prefix)');
    expect(second.status).toBe('ok');
    const status = jobStatus(second.job!.remoteDir);
    expect(status.runnerMode).toBe('fork');
    expect(jobStatus(first.job!.remoteDir).runnerMode).toMatch(/^(fork|exec)$/);
  });

  it('falls back to VENV1 when the VENV2 python it knew is gone, then learns it again', async () => {
    const first = await run('1');
    // Fault injection: the remembered VENV2 python no longer exists.
    const venv2 = (bed.manager as unknown as { _venv2: Venv2Cache })._venv2;
    const resolved = bed.manager.registry.resolve(cluster);
    const transport = bed.pool.get(resolved);
    const key = Venv2Cache.key(
      path.dirname(path.dirname(first.job!.remoteDir)),
      envHash(envSpecFor(resolved, {}))
    );
    expect(venv2.get(transport, key)).toMatch(/^\//);
    venv2.learn(transport, key, '/nonexistent/venv2/bin/python');
    const sink = new RecordingSink();
    const fallback = await run('print("still runs")', {}, sink);
    expect(fallback.status).toBe('ok');
    expect(sink.text('stdout')).toBe('still runs\n');
    expect(jobStatus(fallback.job!.remoteDir).runnerMode).toBe('exec');
    const again = await run('2');
    expect(jobStatus(again.job!.remoteDir).runnerMode).toBe('fork');
  });

  it('moves the status line through its phases and settles in place', async () => {
    const sink = new RecordingSink();
    await run('import time\ntime.sleep(1.2)\nprint("slept")', {}, sink);
    const statuses = sink.statuses();
    const phases = statuses.map(s => s.phase);
    expect(phases[0]).toBe('connecting');
    expect(phases).toContain('running');
    expect(phases[phases.length - 1]).toBe('done');
    const last = statuses[statuses.length - 1];
    expect(last.endState).toBe('completed');
    expect(last.endedAt! - last.startedAt).toBeGreaterThanOrEqual(1000);
    // One display, then updates of that same display id.
    const statusCalls = sink.calls.filter(
      c =>
        c.kind !== 'stream' &&
        'displayId' in c &&
        c.displayId?.startsWith('cb-status-')
    );
    expect(statusCalls[0].kind).toBe('display');
    expect(statusCalls.slice(1).every(c => c.kind === 'update')).toBe(true);
    expect(
      new Set(statusCalls.map(c => (c as { displayId?: string }).displayId))
        .size
    ).toBe(1);
  });

  it('interrupts a sleeping cell: KeyboardInterrupt, cancelled, no orphans', async () => {
    const sink = new RecordingSink();
    const abort = new AbortController();
    const pending = run(
      'import time\nprint("sleeping", flush=True)\ntime.sleep(120)\nprint("never")',
      {},
      sink,
      abort.signal
    );
    await sink.until(s => s.text('stdout').includes('sleeping'));
    const jobId = sink.statuses()[0].jobId;
    expect(processesMatching(jobId).length).toBeGreaterThan(0);
    const job = bed.manager.jobs().find(j => j.id === jobId)!;
    expect(jobStatus(job.remoteDir).runnerMode).toBe('fork');
    abort.abort();
    const outcome = await pending;
    expect(outcome.status).toBe('aborted');
    expect(sink.statuses().pop()?.phase).toBe('cancelled');
    expect(sink.text('stdout')).not.toContain('never');
    expect(sink.errors().map(e => e.ename)).toContain('KeyboardInterrupt');
    expect(await eventually(() => processesMatching(jobId).length === 0)).toBe(
      true
    );
  });

  it('without the agent, cancel signals the runner group too: no orphan outlives a killed agent', async () => {
    await run('1'); // VENV2 known: the fork path
    const sink = new RecordingSink();
    const pending = run(
      'import signal, time\n' +
        'signal.signal(signal.SIGINT, signal.SIG_IGN)\n' +
        'signal.signal(signal.SIGTERM, signal.SIG_IGN)\n' +
        'print("stubborn", flush=True)\ntime.sleep(120)',
      {},
      sink
    );
    await sink.until(s => s.text('stdout').includes('stubborn'));
    const jobId = sink.statuses()[0].jobId;
    const job = bed.manager.jobs().find(j => j.id === jobId)!;
    const status = jobStatus(job.remoteDir);
    expect(status.runnerMode).toBe('fork');
    expect(status.runnerPgid).not.toBe(status.pgid);
    // A scheduler that knows no agent for this job: the raw kill fallback.
    const transport = bed.pool.get(bed.manager.registry.resolve(cluster));
    await new DirectScheduler().cancel(
      transport,
      String(status.pid),
      job.remoteDir
    );
    const outcome = await pending;
    expect(outcome.status).toBe('error');
    expect(sink.text('stdout')).toBe('stubborn\n');
    expect(
      await eventually(() => processesMatching(jobId).length === 0, 20000)
    ).toBe(true);
  });

  it('an interrupt that lands before the job started still cancels it', async () => {
    const sink = new RecordingSink();
    const abort = new AbortController();
    const pending = run('import time\ntime.sleep(120)', {}, sink, abort.signal);
    await sink.until(s => s.statuses().length > 0);
    abort.abort();
    const outcome = await pending;
    expect(outcome.status).toBe('aborted');
    const jobId = sink.statuses()[0].jobId;
    expect(sink.statuses().pop()?.phase).toBe('cancelled');
    expect(await eventually(() => processesMatching(jobId).length === 0)).toBe(
      true
    );
  });

  it('runs several cells at once, each output in its own cell', async () => {
    const sinks = [0, 1, 2, 3].map(() => new RecordingSink());
    const outcomes = await Promise.all(
      sinks.map((sink, i) =>
        run(
          `import time\nfor k in range(5):\n    print("cell${i}", k, flush=True)\n    time.sleep(0.05)\n${i}`,
          {},
          sink
        )
      )
    );
    outcomes.forEach((outcome, i) => {
      expect(outcome.status).toBe('ok');
      expect(sinks[i].text('stdout')).toBe(
        [0, 1, 2, 3, 4].map(k => `cell${i} ${k}\n`).join('')
      );
      expect(sinks[i].calls.filter(c => c.kind === 'result')).toEqual([
        {
          kind: 'result',
          data: expect.objectContaining({ 'text/plain': String(i) })
        }
      ]);
    });
    expect(new Set(outcomes.map(o => o.job!.id)).size).toBe(4);
  });

  it('detaches, then attaches from a new manager (a kernel restart) and replays all output', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'import time\nprint("one", flush=True)\ntime.sleep(1)\nprint("two")\n"end"',
      { detach: true },
      sink
    );
    expect(outcome.status).toBe('ok');
    const jobId = outcome.job!.id;
    expect(sink.text('stdout')).toContain(`%cluster attach ${jobId}`);
    expect(bed.manager.jobs().find(j => j.id === jobId)?.detached).toBe(true);

    const again = createJobManager({
      registry: bed.manager.registry,
      pool: bed.pool,
      stateDir: bed.stateDir
    });
    const attached = new RecordingSink();
    const result = await again.attach(jobId, attached);
    expect(result.status).toBe('ok');
    expect(attached.text('stdout')).toBe('one\ntwo\n');
    expect(attached.calls.filter(c => c.kind === 'result')).toHaveLength(1);
    expect(again.jobs().find(j => j.id === jobId)?.endState).toBe('completed');
    // Attaching again replays the same outputs.
    const replay = new RecordingSink();
    await again.attach(jobId, replay);
    expect(replay.text('stdout')).toBe('one\ntwo\n');
  });

  it('cancels a detached job by id', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'import time\ntime.sleep(120)',
      { detach: true },
      sink
    );
    const jobId = outcome.job!.id;
    await eventually(() => processesMatching(jobId).length > 0, 10000);
    await bed.manager.cancel(jobId);
    expect(
      await eventually(() => processesMatching(jobId).length === 0, 20000)
    ).toBe(true);
    const attached = new RecordingSink();
    const result = await bed.manager.attach(jobId, attached);
    expect(result.status).toBe('aborted');
    expect(attached.statuses().pop()?.phase).toBe('cancelled');
  });

  it('shows a dry run and submits nothing', async () => {
    const sink = new RecordingSink();
    const outcome = await run('print(1)', { dryRun: true }, sink);
    expect(outcome.status).toBe('ok');
    const text = sink.text('stdout');
    expect(text).toContain('nothing was submitted');
    const dir = /Job directory: (\S+)/.exec(text)![1];
    expect(text).toContain(' go ');
    expect(bed.manager.jobs().some(j => dir.endsWith(j.id))).toBe(false);
  });

  it('reports a missing remote Python clearly', async () => {
    const local = cluster === 'local';
    const extra = {
      python: '/nonexistent/bin/python3',
      workDir: local ? path.join(bed.dir, 'nopy') : `~/.cb-it-${process.pid}`
    };
    const broken = testBed(
      local
        ? { local: { type: 'local', ...extra } }
        : { ssh: sshCluster(sshd(), extra) }
    );
    try {
      const sink = new RecordingSink();
      await expect(
        broken.manager.runCell({
          request: { cluster },
          code: 'print(1)',
          lineOffset: 1,
          sink
        })
      ).rejects.toThrow(
        /remote Python "\/nonexistent\/bin\/python3" not found/
      );
      expect(sink.statuses().pop()?.phase).toBe('failed');
    } finally {
      await broken.dispose();
    }
  });
});

describe('cluster errors', () => {
  it('lists the known clusters for an unknown one', async () => {
    const bed = testBed({});
    try {
      await expect(
        bed.manager.runCell({
          request: { cluster: 'nowhere' },
          code: 'print(1)',
          lineOffset: 1,
          sink: new RecordingSink()
        })
      ).rejects.toThrow(/unknown cluster "nowhere"\. Known clusters: local/);
    } finally {
      await bed.dispose();
    }
  });

  it('refuses a remote Python older than 3.6', async () => {
    // A clearly named stand-in for an old interpreter: answers the version probe as 3.5.
    const dir = fs.mkdtempSync(
      path.join(__dirname, '..', '..', '..', '.cache', 'old-python-')
    );
    const standin = path.join(dir, 'python3.5-standin');
    fs.writeFileSync(standin, '#!/bin/sh\necho "3.5.2 old py3.5-standin"\n', {
      mode: 0o755
    });
    const bed = testBed({
      local: { type: 'local', python: standin, workDir: path.join(dir, 'work') }
    });
    try {
      await expect(
        bed.manager.runCell({
          request: { cluster: 'local' },
          code: 'print(1)',
          lineOffset: 1,
          sink: new RecordingSink()
        })
      ).rejects.toThrow(
        /is 3\.5\.2; cluster-bridge needs Python 3\.6 or newer/
      );
    } finally {
      await bed.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('falls back to the system Python with a notice when venv is unavailable', async () => {
    // A clearly named stand-in: /usr/bin/python3 whose `-m venv` fails as on a Python without venv.
    const dir = fs.mkdtempSync(
      path.join(__dirname, '..', '..', '..', '.cache', 'novenv-python-')
    );
    const standin = path.join(dir, 'python3-without-venv-standin');
    fs.writeFileSync(
      standin,
      '#!/bin/sh\ncase " $* " in *" -m venv "*) echo "No module named venv" >&2; exit 1;; esac\nexec /usr/bin/python3 "$@"\n',
      { mode: 0o755 }
    );
    const bed = testBed({
      // VENV2 from another interpreter (the env spec's), as with conda on a real cluster.
      local: {
        type: 'local',
        python: standin,
        workDir: path.join(dir, 'work'),
        env: { python: '/usr/bin/python3' }
      }
    });
    try {
      const sink = new RecordingSink();
      const outcome = await bed.manager.runCell({
        request: { cluster: 'local' },
        code: 'print("ran")',
        lineOffset: 1,
        sink
      });
      expect(sink.errors()).toEqual([]);
      expect(outcome.status).toBe('ok');
      expect(sink.text('stdout')).toBe('ran\n');
      expect(sink.text('stderr')).toMatch(
        /cannot create VENV1 .*No module named venv.*using the system Python/
      );
    } finally {
      await bed.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('copes with a hostile work directory name', async () => {
    const dir = fs.mkdtempSync(
      path.join(__dirname, '..', '..', '..', '.cache', 'hostile-')
    );
    const workDir = path.join(
      dir,
      `we ird $HOME 'q' "dq" \`x\` ;touch pwned; \\ ~ *`
    );
    const bed = testBed({ local: { type: 'local', workDir } });
    try {
      const sink = new RecordingSink();
      const outcome = await bed.manager.runCell({
        request: { cluster: 'local' },
        code: 'print("safe")',
        lineOffset: 1,
        sink
      });
      expect(sink.errors()).toEqual([]);
      expect(outcome.status).toBe('ok');
      expect(sink.text('stdout')).toBe('safe\n');
      expect(outcome.job?.remoteDir.startsWith(workDir + '/jobs/')).toBe(true);
      expect(
        fs.existsSync(
          path.join(workDir, 'jobs', outcome.job!.id, 'events.jsonl')
        )
      ).toBe(true);
      expect(fs.readdirSync(dir)).toEqual([path.basename(workDir)]);
      expect(
        fs.existsSync('pwned') ||
          fs.existsSync(path.join(os.homedir(), 'pwned'))
      ).toBe(false);
    } finally {
      await bed.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says clearly when the host is unreachable', async () => {
    const facts = sshd();
    const bed = testBed({ down: sshCluster(facts, { port: 1 }) });
    try {
      await expect(
        bed.manager.runCell({
          request: { cluster: 'down' },
          code: 'print(1)',
          lineOffset: 1,
          sink: new RecordingSink()
        })
      ).rejects.toThrow(/127\.0\.0\.1/);
      expect(
        bed.manager.registry.info().find(c => c.name === 'down')?.state
      ).toBe('error');
    } finally {
      await bed.dispose();
    }
  });

  it('says clearly when authentication fails', async () => {
    const facts = sshd();
    const bed = testBed({
      badkey: sshCluster(facts, { identityFile: facts.wrongKey })
    });
    try {
      await expect(
        bed.manager.runCell({
          request: { cluster: 'badkey' },
          code: 'print(1)',
          lineOffset: 1,
          sink: new RecordingSink()
        })
      ).rejects.toThrow(/permission denied for cbtest@127\.0\.0\.1 port \d+/);
    } finally {
      await bed.dispose();
    }
  });
});

describe('a dropped SSH connection during a running cell', () => {
  it('resumes from the byte offset: all output, in order, once', async () => {
    const facts = sshd();
    const bed = testBed({
      ssh: sshCluster(facts, { workDir: `~/.cb-it-drop-${process.pid}` })
    });
    try {
      const sink = new RecordingSink();
      const pending = bed.manager.runCell({
        request: { cluster: 'ssh' },
        code: 'import time\nfor i in range(40):\n    print("line", i, flush=True)\n    time.sleep(0.05)\n"finished"',
        lineOffset: 1,
        sink
      });
      await sink.until(s => s.text('stdout').includes('line 5\n'));
      expect(dropSshConnections(facts)).toBeGreaterThan(0);
      const outcome = await pending;
      expect(outcome.status).toBe('ok');
      const expected = Array.from({ length: 40 }, (_, i) => `line ${i}\n`).join(
        ''
      );
      expect(sink.text('stdout')).toBe(expected);
      expect(sink.calls.filter(c => c.kind === 'result')).toHaveLength(1);
      // The drop really happened: the status line said so while reconnecting.
      expect(
        sink.statuses().some(s => s.detail === 'connection lost, reconnecting')
      ).toBe(true);
    } finally {
      await bed.dispose();
      fs.rmSync(path.join(facts.home, `.cb-it-drop-${process.pid}`), {
        recursive: true,
        force: true
      });
    }
  });
});
