import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { IResolvedCluster } from '../../shared/config';
import { FakeTransport } from '../../../tests/support/jobs';
import { RuntimeInstaller, type IRuntimeFiles } from './runtime';

const FILES: IRuntimeFiles = {
  hash: 'feedc0de12345678',
  files: {
    'agent.py': Buffer.from('print("agent")\n'),
    'pkg/_cb_x.py': Buffer.from('X = 1\n')
  }
};

const clusterAt = (workDir: string, python = '/usr/bin/python3') =>
  ({
    name: 'here',
    source: 'file',
    config: { type: 'local', workDir, python }
  }) as unknown as IResolvedCluster;

/** A FakeTransport whose exec runs the command in a local sh (the remote is this machine). */
function shellTransport(): FakeTransport & { outputs: string[] } {
  const transport = Object.assign(new FakeTransport(), {
    outputs: [] as string[]
  });
  transport.answer = (command, stdin) => {
    const r = spawnSync('sh', ['-c', command], { input: stdin ?? '' });
    transport.outputs.push(r.stdout.toString());
    return {
      stdout: r.stdout.toString(),
      stderr: r.stderr.toString(),
      code: r.status
    };
  };
  return transport;
}

describe('RuntimeInstaller', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-runtime-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('uploads the runtime files and builds VENV1 in one exec', async () => {
    const transport = shellTransport();
    const runtime = await new RuntimeInstaller(FILES).ensure(
      transport,
      clusterAt(dir)
    );
    expect(transport.execs).toHaveLength(1);
    const sent = JSON.parse(transport.execs[0].stdin!);
    expect(Object.keys(sent).sort()).toEqual(['agent.py', 'pkg/_cb_x.py']);
    expect(Buffer.from(sent['pkg/_cb_x.py'], 'base64').toString()).toBe(
      'X = 1\n'
    );
    expect(runtime.workDir).toBe(dir);
    expect(runtime.runtimeDir).toBe(`${dir}/runtime/${FILES.hash}`);
    expect(fs.readFileSync(`${runtime.runtimeDir}/pkg/_cb_x.py`, 'utf8')).toBe(
      'X = 1\n'
    );
    expect(runtime.python).toMatch(
      new RegExp(`^${dir}/venv1/py3\\.\\d+-[0-9a-f]{8}/bin/python$`)
    );
    expect(fs.existsSync(runtime.python)).toBe(true);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('uploads once per hash: a new connection finds the files in place', async () => {
    const first = shellTransport();
    await new RuntimeInstaller(FILES).ensure(first, clusterAt(dir));
    expect(first.outputs[0]).toMatch(/^CB_RUNTIME uploaded$/m);
    const agent = `${dir}/runtime/${FILES.hash}/agent.py`;
    const written = fs.statSync(agent).mtimeMs;
    const second = shellTransport();
    const installer = new RuntimeInstaller(FILES);
    const runtime = await installer.ensure(second, clusterAt(dir));
    expect(second.execs).toHaveLength(1);
    expect(second.outputs[0]).toMatch(/^CB_RUNTIME present$/m);
    expect(fs.statSync(agent).mtimeMs).toBe(written);
    expect(runtime.notices).toEqual([]);
    // Another hash is another upload, beside the first.
    const next = { ...FILES, hash: 'abad1dea00000000' };
    await new RuntimeInstaller(next).ensure(shellTransport(), clusterAt(dir));
    expect(fs.existsSync(`${dir}/runtime/${next.hash}/agent.py`)).toBe(true);
    expect(fs.existsSync(agent)).toBe(true);
  });

  it('asks once per connection, concurrent callers included, until told to forget', async () => {
    const transport = shellTransport();
    const installer = new RuntimeInstaller(FILES);
    const cluster = clusterAt(dir);
    expect(installer.peek(transport, cluster)).toBeUndefined();
    const [a, b] = await Promise.all([
      installer.ensure(transport, cluster),
      installer.ensure(transport, cluster)
    ]);
    expect(b).toBe(a);
    expect(installer.peek(transport, cluster)).toBe(a);
    await installer.ensure(transport, cluster);
    expect(transport.execs).toHaveLength(1);
    await installer.ensure(shellTransport(), cluster);
    expect(transport.execs).toHaveLength(1);
    installer.forget(transport);
    expect(installer.peek(transport, cluster)).toBeUndefined();
    await installer.ensure(transport, cluster);
    expect(transport.execs).toHaveLength(2);
  });

  it('says what is wrong with the remote Python in words a user can act on', async () => {
    const transport = shellTransport();
    await expect(
      new RuntimeInstaller(FILES).ensure(
        transport,
        clusterAt(dir, '/nonexistent/python3')
      )
    ).rejects.toThrow(
      'cluster "here": remote Python "/nonexistent/python3" not found. Install Python 3.6 or newer there'
    );
  });

  it('falls back to the system Python, with a notice, when venv is unavailable', async () => {
    const transport = new FakeTransport();
    transport.answer = () => ({
      stdout: `CB_WORKDIR /w\nCB_PYTHON 3.8.10 ok\nCB_RUNTIME present\nCB_NOVENV /usr/bin/python3 No module named venv\n`
    });
    const runtime = await new RuntimeInstaller(FILES).ensure(
      transport,
      clusterAt('/w')
    );
    expect(runtime.python).toBe('/usr/bin/python3');
    expect(runtime.pythonVersion).toBe('3.8.10');
    expect(runtime.notices).toEqual([
      'cannot create VENV1 with "/usr/bin/python3 -m venv" (No module named venv); using the system Python /usr/bin/python3 directly'
    ]);
  });

  it('rejects a Python older than 3.6', async () => {
    const transport = new FakeTransport();
    transport.answer = () => ({
      stdout: 'CB_WORKDIR /w\nCB_PYTHON 2.7.18 old\n'
    });
    await expect(
      new RuntimeInstaller(FILES).ensure(transport, clusterAt('/w'))
    ).rejects.toThrow('is 2.7.18; cluster-bridge needs Python 3.6 or newer');
  });
});
