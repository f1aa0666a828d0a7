/**
 * `%cluster put` / `%cluster get` on real parts: the `local` cluster and the
 * real sshd (scripts/services/sshd.sh) through CellRunner and the real job
 * manager's connection. Round trips of a folder, resume after the sshd
 * children serving the connection are killed mid-copy and after an
 * interrupt, links out of the tree, names from a hostile server (a wrapping
 * endpoint: fault injection), clashes, and the progress display of a slow
 * copy (a throttling endpoint).
 */
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { IEndpoint } from '../../../src/bridge/data/transferEndpoint';
import { partFiles } from '../../../src/bridge/data/transferPaths';
import { CellRunner } from '../../../src/bridge/kernel/cellRunner';
import type {
  IExecuteContext,
  IExecuteOutcome
} from '../../../src/bridge/kernel/handler';
import type { IKernelServices } from '../../../src/bridge/kernel/services';
import {
  transferCommand,
  type ITransferCommandOptions
} from '../../../src/bridge/kernel/transferCommands';
import type { IMessage } from '../../../src/bridge/kernel/wire';
import {
  dropSshConnections,
  ITestBed,
  mkCacheDir,
  RecordingSink,
  sshCluster,
  sshd,
  testBed
} from '../jobs/helpers';

mkCacheDir();

const MiB = 1024 * 1024;
const WORKDIR = `~/.cb-it-transfer-${process.pid}`;

const CASES: [string, () => object][] = [
  ['local', () => ({})],
  ['ssh', () => ({ ssh: sshCluster(sshd(), { workDir: WORKDIR }) })]
];

function sha(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Every file below dir (relative path -> sha256), links as "link". */
function tree(dir: string): { [rel: string]: string } {
  const out: { [rel: string]: string } = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, name);
      const st = fs.lstatSync(path.join(dir, r));
      if (st.isDirectory()) {
        out[r + '/'] = 'dir';
        walk(r);
      } else {
        out[r] = st.isSymbolicLink() ? 'link' : sha(path.join(dir, r));
      }
    }
  };
  walk('');
  return out;
}

/** Wraps an endpoint's writes and reads (fault injection): a hook per chunk, an optional delay. */
function watched(
  ep: IEndpoint,
  hook: {
    onChunk?: (n: number) => void;
    /** Which data onChunk counts (default both). */
    only?: 'read' | 'write';
    delayMs?: number;
    names?: string[];
  }
): IEndpoint {
  const wrapped = Object.create(ep) as IEndpoint;
  // One chunk at a time through the delay: a slow link, whatever the concurrency.
  let gate = Promise.resolve();
  const pause = () =>
    hook.delayMs
      ? (gate = gate.then(() => new Promise(r => setTimeout(r, hook.delayMs))))
      : Promise.resolve();
  wrapped.write = async (h, buf, length, position) => {
    await pause();
    await ep.write(h, buf, length, position);
    if (hook.only !== 'read') {
      hook.onChunk?.(length);
    }
  };
  wrapped.read = async (h, buf, length, position) => {
    await pause();
    const n = await ep.read(h, buf, length, position);
    if (hook.only !== 'write') {
      hook.onChunk?.(n);
    }
    return n;
  };
  if (hook.names) {
    const names = hook.names;
    wrapped.readdir = async () => names;
  }
  return wrapped;
}

/** The copy's summary line: the progress display's last state, or stdout for a quick copy. */
function summaryOf(sink: RecordingSink): string {
  const bar = sink.calls.filter(
    c => c.kind === 'update' && c.displayId?.startsWith('cb-transfer-')
  );
  const last = bar[bar.length - 1] as
    { data: { [mime: string]: unknown } } | undefined;
  return last && !last.data['text/html']
    ? String(last.data['text/plain'])
    : sink.text('stdout');
}

describe.each(CASES)('put/get on the %s cluster', (cluster, clusters) => {
  let bed: ITestBed;
  let dir: string;
  let notebook: string;
  let services: IKernelServices;
  let remoteFiles: string;

  beforeAll(async () => {
    bed = testBed(clusters() as never);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-transfer-it-'));
    fs.mkdirSync(path.join(dir, 'nb'));
    notebook = path.join(dir, 'nb', 'analysis.ipynb');
    services = {
      clusters: bed.manager.registry,
      jobs: {} as never,
      openCluster: (name, prompter) =>
        bed.manager.prepareCluster(name, prompter)
    };
    const open = await services.openCluster!(cluster);
    remoteFiles = path.join(open.workDir, 'files');
  });

  afterAll(async () => {
    const open = await services.openCluster!(cluster);
    if (cluster === 'ssh') {
      await open.transport.exec(`rm -rf ${WORKDIR.replace('~', '"$HOME"')}`);
    }
    await bed.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const ctx = (
    code: string,
    signal = new AbortController().signal
  ): IExecuteContext & { sink: RecordingSink } => ({
    code,
    executionCount: 1,
    silent: false,
    storeHistory: true,
    allowStdin: false,
    signal,
    sink: new RecordingSink(),
    prompter: { ask: () => Promise.reject(new Error('no prompts here')) },
    request: {
      metadata: { cluster_bridge_notebook: notebook }
    } as unknown as IMessage
  });

  /** A line through CellRunner, as the kernel runs it. */
  const line = async (code: string) => {
    const c = ctx(code);
    const outcome = await new CellRunner(services).execute(c);
    return { outcome, sink: c.sink };
  };

  /** The command itself, with test options (a wrapped remote side). */
  const direct = async (
    command: 'put' | 'get',
    args: string[],
    options: ITransferCommandOptions,
    signal?: AbortSignal,
    sink?: RecordingSink
  ): Promise<{ outcome: IExecuteOutcome; sink: RecordingSink }> => {
    const c = ctx('', signal);
    c.sink = sink ?? c.sink;
    const outcome = await transferCommand(services, c, command, args, {
      notebook,
      ...options
    }).catch(err => {
      c.sink.error('Error', (err as Error).message, []);
      return { status: 'error' as const };
    });
    return { outcome, sink: c.sink };
  };

  const ok = (r: { outcome: IExecuteOutcome; sink: RecordingSink }) => {
    if (r.outcome.status !== 'ok') {
      throw new Error(JSON.stringify(r.sink.calls).slice(0, 3000));
    }
    return r.sink;
  };

  it("round-trips a folder (LOCAL relative to the notebook's folder, REMOTE under files/); links out are skipped", async () => {
    const proj = path.join(dir, 'nb', 'proj');
    fs.mkdirSync(path.join(proj, 'sub', 'deep'), { recursive: true });
    fs.writeFileSync(path.join(proj, 'a.bin'), randomBytes(3 * MiB + 5));
    fs.writeFileSync(path.join(proj, 'sub', 'b.txt'), 'hello');
    fs.writeFileSync(path.join(proj, 'sub', 'deep', 'empty'), '');
    fs.writeFileSync(path.join(dir, 'outside.txt'), 'secret');
    fs.symlinkSync(path.join(dir, 'outside.txt'), path.join(proj, 'leak'));
    const put = ok(await line(`%cluster put ${cluster} proj rt/`));
    expect(summaryOf(put)).toMatch(
      new RegExp(`put local:${proj} → ${cluster}:${remoteFiles}/rt/proj: `)
    );
    expect(summaryOf(put)).toMatch(/3 files copied, 0 already complete/);
    expect(put.text('stderr')).toMatch(
      /skipped the link .*leak: it points out/
    );

    const back = path.join(dir, 'back');
    ok(await line(`%cluster get ${cluster} rt/proj ${back}`));
    const expected = tree(proj);
    delete expected['leak'];
    expect(tree(back)).toEqual(expected);

    // A rerun finds every file complete (same size and mtime) and moves nothing.
    const again = ok(await line(`%cluster put ${cluster} proj rt/`));
    expect(summaryOf(again)).toMatch(
      /: 0 B in .*0 files copied, 3 already complete/
    );
  });

  it('refuses to replace a folder with a file and a file with a folder, and to write through a link', async () => {
    fs.writeFileSync(path.join(dir, 'nb', 'one.txt'), 'one');
    ok(await line(`%cluster put ${cluster} one.txt clash/one.txt/x`));
    const r = await line(`%cluster put ${cluster} one.txt clash/one.txt`);
    expect(r.outcome.status).toBe('error');
    expect(r.sink.errors()[0].evalue).toMatch(
      /clash\/one\.txt is a folder; a file will not replace it/
    );
    fs.mkdirSync(path.join(dir, 'nb', 'folder'));
    const r2 = await line(`%cluster put ${cluster} folder clash/one.txt/x`);
    expect(r2.sink.errors()[0].evalue).toMatch(
      /one\.txt\/x is a file; a folder will not replace it/
    );
    // A link inside the remote destination is never written through.
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-elsewhere-'));
    try {
      const open = await services.openCluster!(cluster);
      fs.mkdirSync(path.join(dir, 'nb', 'linked', 'sub'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'nb', 'linked', 'sub', 'f'), 'f');
      await open.transport.exec(
        `mkdir -p '${remoteFiles}/linked' && ln -s '${elsewhere}' '${remoteFiles}/linked/sub'`
      );
      const r3 = await line(`%cluster put ${cluster} linked`);
      expect(r3.sink.errors()[0].evalue).toMatch(
        /linked\/sub is a link \(nothing is written through links\)/
      );
      expect(fs.readdirSync(elsewhere)).toEqual([]);
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('skips names from the other side that would leave the folder', async () => {
    const open = await services.openCluster!(cluster);
    await open.transport.exec(
      `mkdir -p '${remoteFiles}/hostile' && printf ok > '${remoteFiles}/hostile/ok.txt'`
    );
    const into = path.join(dir, 'hostile-in');
    const r = await direct('get', [cluster, 'hostile', into], {
      wrapRemote: ep => watched(ep, { names: ['..', 'ok.txt', '../../x'] })
    });
    ok(r);
    expect(r.sink.text('stderr')).toMatch(
      /skipped an entry of .*hostile: the name "\.\." would leave the folder/
    );
    expect(r.sink.text('stderr')).toMatch(
      /"\.\.\/\.\.\/x" holds a path separator/
    );
    expect(fs.readdirSync(into)).toEqual(['ok.txt']);
  });

  it('a slow copy shows a progress display updated in place; an interrupt stops it and a rerun continues', async () => {
    const file = path.join(dir, 'nb', 'slow.bin');
    const data = randomBytes(12 * MiB);
    fs.writeFileSync(file, data);
    const stop = new AbortController();
    const sink = new RecordingSink();
    const first = direct(
      'put',
      [cluster, 'slow.bin'],
      { wrapRemote: ep => watched(ep, { delayMs: 40 }) },
      stop.signal,
      sink
    );
    // Interrupt once the bar (shown only after a second) was redrawn twice.
    await sink.until(
      s => s.calls.filter(c => c.kind === 'update').length >= 2,
      120000
    );
    stop.abort();
    const r1 = await first;
    expect(r1.outcome.status).toBe('aborted');
    const bars = r1.sink.calls.filter(
      c => c.kind === 'display' && c.displayId?.startsWith('cb-transfer-')
    );
    expect(bars).toHaveLength(1);
    const bar = bars[0] as { data: { [m: string]: string }; displayId: string };
    expect(bar.data['text/plain']).toMatch(
      /^put local:.*slow\.bin → .*: .* of 12 MiB \(\d+%\), [\d.]+ MB\/s/
    );
    expect(bar.data['text/html']).toMatch(
      /<progress max="12582912" value="\d+"/
    );
    expect(
      r1.sink.calls.filter(
        c => c.kind === 'update' && c.displayId === bar.displayId
      ).length
    ).toBeGreaterThanOrEqual(1);
    expect(r1.sink.text('stderr')).toMatch(
      /put stopped; what was copied is kept: run the same line again to continue/
    );

    const r2 = ok(await line(`%cluster put ${cluster} slow.bin`));
    const summary = summaryOf(r2);
    expect(summary).toMatch(/resumed from [\d.]+ (KiB|MiB)/);
    const back = path.join(dir, 'slow.back');
    ok(await line(`%cluster get ${cluster} slow.bin ${back}`));
    expect(sha(back)).toBe(sha(file));
  });

  if (cluster === 'ssh') {
    it.each(['put', 'get'] as const)(
      '%s continues after the connection is killed mid-copy, byte-identical, without starting over',
      async command => {
        const facts = sshd();
        const size = 64 * MiB;
        const local = path.join(dir, `drop-${command}.bin`);
        const remote = `drop-${command}.bin`;
        if (command === 'put') {
          fs.writeFileSync(local, randomBytes(size));
        } else {
          fs.writeFileSync(local + '.src', randomBytes(size));
          ok(await line(`%cluster put ${cluster} ${local}.src ${remote}`));
        }
        const args =
          command === 'put'
            ? [cluster, local, remote]
            : [cluster, remote, local];
        // The data of the copy: what the cluster's side writes (put) or reads (get).
        const only = command === 'put' ? 'write' : 'read';
        let seen = 0;
        let dropped = false;
        const r1 = await direct(command, args, {
          // A record every 8 MiB whatever the time: the drop comes within a second on loopback.
          copy: { recordMs: 0 },
          wrapRemote: ep =>
            watched(ep, {
              only,
              onChunk: n => {
                seen += n;
                if (!dropped && seen >= size / 2) {
                  dropped = dropSshConnections(facts) > 0;
                }
              }
            })
        });
        expect(dropped).toBe(true);
        expect(r1.outcome.status).toBe('error');
        expect(r1.sink.errors()[0].evalue).toMatch(
          /Run the same line again to continue/
        );
        const { part, sidecar } = partFiles(
          command === 'put' ? path.join(remoteFiles, remote) : local
        );
        const record = JSON.parse(fs.readFileSync(sidecar, 'utf8'));
        expect(record.done).toBeGreaterThan(0);
        let moved = 0;
        const r2 = ok(
          await direct(command, args, {
            wrapRemote: ep => watched(ep, { only, onChunk: n => (moved += n) })
          })
        );
        expect(summaryOf(r2)).toMatch(/resumed from [\d.]+ MiB/);
        // It continued where the record says: only the rest travelled.
        expect(moved).toBe(size - record.done);
        const want = command === 'put' ? local : local + '.src';
        const got = command === 'put' ? path.join(dir, 'drop-back.bin') : local;
        if (command === 'put') {
          ok(await line(`%cluster get ${cluster} ${remote} ${got}`));
        }
        expect(sha(got)).toBe(sha(want));
        expect(fs.existsSync(part) || fs.existsSync(sidecar)).toBe(false);
      }
    );
  }
});
