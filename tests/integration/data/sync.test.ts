/**
 * `--sync DIR` end to end on real parts: the `local` cluster and the real
 * sshd (scripts/services/sshd.sh), the real agent (`sync-apply`), runner and
 * session. The remote is this machine, so the mirror is read from disk.
 */
import * as fs from 'fs';
import * as path from 'path';

import { syncProject, type ISyncResult } from '../../../src/bridge/data/sync';
import { agentCommand } from '../../../src/bridge/schedulers/direct';
import {
  ITestBed,
  mkCacheDir,
  RecordingSink,
  ROOT,
  sshCluster,
  sshd,
  testBed
} from '../jobs/helpers';
import { service } from '../schedulers/helpers';

mkCacheDir();

const CASES: [string, () => object][] = [
  ['local', () => ({})],
  [
    'ssh',
    () => ({
      ssh: sshCluster(sshd(), { workDir: `~/.cb-it-sync-${process.pid}` })
    })
  ]
];

describe.each(CASES)('--sync on the %s cluster', (cluster, clusters) => {
  let bed: ITestBed;
  let proj: string;
  let notebook: string;

  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(proj, rel)), { recursive: true });
    fs.writeFileSync(path.join(proj, rel), text);
  };

  const run = async (code: string, request: object = {}) => {
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: { cluster, sync: '.', ...request },
      code,
      lineOffset: 1,
      sink,
      notebook
    });
    return { outcome, sink };
  };

  const sync = async (
    slowMs?: number
  ): Promise<ISyncResult & { notices: string[]; slow: string[] }> => {
    const open = await bed.manager.open(bed.manager.registry.resolve(cluster));
    const notices: string[] = [];
    const slow: string[] = [];
    const result = await syncProject(
      {
        cluster,
        transport: open.transport,
        agent: open.agent,
        workDir: open.runtime.workDir
      },
      {
        dir: '.',
        notebook,
        stateDir: bed.stateDir,
        notice: t => notices.push(t),
        onSlow: t => slow.push(t),
        slowMs
      }
    );
    return { ...result, notices, slow };
  };

  beforeAll(() => {
    bed = testBed(clusters() as never);
    const top = fs.mkdtempSync(path.join(ROOT, '.cache', 'it-sync-'));
    fs.chmodSync(top, 0o755);
    proj = path.join(top, 'proj');
    fs.mkdirSync(path.join(top, 'secret'));
    fs.writeFileSync(path.join(top, 'secret', 'key'), 'do not copy');
    notebook = path.join(proj, 'analysis.ipynb');
    write('analysis.ipynb', '{}');
    write('mymodule.py', 'VALUE = 1\n');
    write('pkg/__init__.py', 'NAME = "pkg"\n');
    write('.gitignore', 'results/\n*.log\n!keep.log\n');
    write('results/big.csv', '1,2\n');
    write('debug.log', 'noise\n');
    write('keep.log', 'kept\n');
    write('.git/HEAD', 'ref: refs/heads/main\n');
    write('pkg/__pycache__/x.cpython-311.pyc', 'bytecode');
    write('venv/pyvenv.cfg', 'home = /usr/bin\n');
    write('venv/lib/site.py', '');
    fs.symlinkSync('mymodule.py', path.join(proj, 'alias.py'));
    fs.symlinkSync('../secret', path.join(proj, 'escape'));
  });

  afterAll(async () => {
    await bed?.manager.sessions.stopNotebook(notebook);
    await bed?.dispose();
    fs.rmSync(path.dirname(proj), { recursive: true, force: true });
    if (cluster === 'ssh') {
      fs.rmSync(path.join(sshd().home, `.cb-it-sync-${process.pid}`), {
        recursive: true,
        force: true
      });
    }
  });

  it('runs the cell in the mirror, imports from it, in the session and with --fresh', async () => {
    const listing =
      'import os, mymodule\n' +
      'print(mymodule.VALUE, os.getcwd())\n' +
      'print(sorted(set(os.listdir(".")) - {"__pycache__"}), os.listdir("pkg"))\n' +
      'print(os.readlink("alias.py"))';
    const { outcome, sink } = await run(listing);
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    const [first, names, link] = sink.text('stdout').trim().split('\n');
    const mirror = first.split(' ')[1];
    expect(first).toBe(`1 ${mirror}`);
    expect(mirror).toMatch(/\/sync\/[0-9a-f]{16}\/proj$/);
    expect(names).toBe(
      "['.gitignore', 'alias.py', 'analysis.ipynb', 'keep.log', 'mymodule.py', 'pkg'] ['__init__.py']"
    );
    expect(link).toBe('mymodule.py');
    expect(sink.text('stderr')).toContain(
      '[cluster-bridge] --sync skipped the link escape -> ../secret: it leads out of .'
    );
    expect(fs.existsSync(path.join(path.dirname(mirror), 'key'))).toBe(false);

    // Changes and deletions reach the same session; a cell's own file in the mirror stays.
    const made = await run('open("made-by-cell.txt", "w").write("x")');
    expect(made.outcome.status).toBe('ok');
    write('mymodule.py', 'VALUE = 2\n');
    fs.unlinkSync(path.join(proj, 'keep.log'));
    write('pkg/extra.py', 'X = 3\n');
    const again = await run(
      'import importlib, os, mymodule\nimportlib.reload(mymodule)\n' +
        'from pkg import extra\n' +
        'print(mymodule.VALUE, extra.X, sorted(set(os.listdir(".")) - {"__pycache__"}))'
    );
    expect(again.sink.errors()).toEqual([]);
    expect(again.sink.text('stdout').trim()).toBe(
      "2 3 ['.gitignore', 'alias.py', 'analysis.ipynb', 'made-by-cell.txt', 'mymodule.py', 'pkg']"
    );
    // The skipped link is named once per mirror, not in every cell.
    expect(again.sink.text('stderr')).not.toContain('skipped the link');

    const fresh = await run(
      'import os, mymodule\nprint(mymodule.VALUE, os.getcwd())',
      { fresh: true }
    );
    expect(fresh.sink.errors()).toEqual([]);
    expect(fresh.sink.text('stdout').trim()).toBe(`2 ${mirror}`);
  });

  it('sends only what changed; a lost record costs a compare, not a resend; drift is put back', async () => {
    const first = await sync();
    const mirror = first.remoteDir;
    expect(first.sent).toBe(0); // the cells above synced it all
    expect([first.notices, first.slow]).toEqual([[], []]); // fast: nothing shown
    write('mymodule.py', 'VALUE = 30\n');
    const one = await sync(0); // as if slow: progress and time are shown
    expect([one.sent, one.deleted]).toEqual([1, 0]);
    expect(one.slow[0]).toMatch(/^syncing \./);
    expect(one.notices).toEqual([
      expect.stringMatching(
        /^synced \.: 1 of 5 files sent \(\d+ KB\), 0 removed, in \d+\.\d s$/
      )
    ]);
    expect(fs.readFileSync(path.join(mirror, 'mymodule.py'), 'utf8')).toBe(
      'VALUE = 30\n'
    );
    // The bridge's record is gone (a new machine state): the remote's manifest answers.
    fs.rmSync(path.join(bed.stateDir, 'sync'), { recursive: true });
    const compared = await sync();
    expect([compared.sent, compared.deleted]).toEqual([0, 0]);
    // A cell changed a synced file in the mirror: the next sync puts the local one back.
    fs.writeFileSync(
      path.join(mirror, 'pkg', '__init__.py'),
      'changed remotely'
    );
    const fixed = await sync();
    expect(fixed.sent).toBe(1);
    expect(
      fs.readFileSync(path.join(mirror, 'pkg', '__init__.py'), 'utf8')
    ).toBe('NAME = "pkg"\n');
    // Removing a folder locally removes it remotely.
    fs.rmSync(path.join(proj, 'pkg'), { recursive: true });
    const gone = await sync();
    expect(gone.deleted).toBe(3); // pkg, pkg/__init__.py, pkg/extra.py
    expect(fs.existsSync(path.join(mirror, 'pkg'))).toBe(false);
  });

  it('refuses --sync on %cluster session (it would be ignored there)', async () => {
    await expect(
      bed.manager.startSession({
        notebook: `${notebook}-other`,
        request: { cluster, sync: '.' },
        sink: new RecordingSink()
      })
    ).rejects.toThrow(/--sync belongs on a %%cluster cell/);
  });

  it('refuses, on the remote side, a request that would write outside the mirror', async () => {
    const open = await bed.manager.open(bed.manager.registry.resolve(cluster));
    const syncDir = `${open.runtime.workDir}/sync/escape-test`;
    const header = {
      v: 1,
      base: null,
      name: 'proj',
      delete: [],
      put: [
        { p: 'fine.py', k: 'f', h: 'a'.repeat(64), m: 420, n: 1, o: 0, len: 1 },
        {
          p: '../../evil.py',
          k: 'f',
          h: 'a'.repeat(64),
          m: 420,
          n: 1,
          o: 0,
          len: 1
        }
      ]
    };
    const result = await open.transport.exec(
      agentCommand(open.agent, 'sync-apply', syncDir),
      { stdin: JSON.stringify(header) + '\nxx' }
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('sync refused');
    expect(result.stderr).toContain('leaves the mirror');
    const remoteWork = open.runtime.workDir;
    expect(fs.existsSync(path.join(remoteWork, 'evil.py'))).toBe(false);
    expect(fs.existsSync(path.join(remoteWork, 'sync', 'evil.py'))).toBe(false);
    expect(fs.existsSync(path.join(syncDir, 'proj', 'fine.py'))).toBe(false);
  });
});

describe('--sync through SLURM', () => {
  let bed: ITestBed;
  let proj: string;
  const workDir = `~/.cb-it-sync-slurm-${process.pid}`;

  beforeAll(() => {
    service('slurm');
    bed = testBed({
      slurm: sshCluster(sshd(), { scheduler: 'slurm', workDir, sync: 'src' })
    });
    proj = fs.mkdtempSync(path.join(ROOT, '.cache', 'it-sync-slurm-'));
    fs.mkdirSync(path.join(proj, 'src'));
    fs.writeFileSync(path.join(proj, 'src', 'helper.py'), 'ANSWER = 42\n');
  });

  afterAll(async () => {
    await bed?.dispose();
    fs.rmSync(proj, { recursive: true, force: true });
    fs.rmSync(path.join(sshd().home, workDir.slice(2)), {
      recursive: true,
      force: true
    });
  });

  it('runs a batch job in the mirror the cluster setting names', async () => {
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: { cluster: 'slurm', fresh: true },
      code: 'import os, helper\nprint(helper.ANSWER, os.path.basename(os.getcwd()))',
      lineOffset: 1,
      sink,
      notebook: path.join(proj, 'nb.ipynb')
    });
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout').trim()).toBe('42 src');
  });
});
