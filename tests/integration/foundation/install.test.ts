/**
 * `cluster-bridge install --prefix DIR` checked by Jupyter's own code (Debian's jupyter_client and
 * jupyterlab_server under /usr/bin/python3): the kernelspec is found and the prebuilt labextension
 * is discovered as a federated extension. Needs `npm run build` (scripts/test.sh does it).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'cluster-bridge');
const PYTHON = '/usr/bin/python3';

function python(
  code: string,
  env: NodeJS.ProcessEnv,
  args: string[] = []
): string {
  return execFileSync(PYTHON, ['-c', code, ...args], {
    env: { ...process.env, ...env, PYDEVD_DISABLE_FILE_VALIDATION: '1' },
    encoding: 'utf8'
  });
}

describe('cluster-bridge install (real jupyter_client, jupyterlab_server)', () => {
  let prefix: string;
  let data: string;

  beforeAll(() => {
    for (const needed of [
      PYTHON,
      path.join(ROOT, 'lib', 'node', 'bridge', 'cli', 'main.js'),
      path.join(ROOT, 'labextension', 'package.json')
    ]) {
      if (!fs.existsSync(needed)) {
        throw new Error(
          `${needed} is missing: run scripts/setup/ensure.sh (apt packages, npm run build)`
        );
      }
    }
    prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-install-it-'));
    data = path.join(prefix, 'share', 'jupyter');
    execFileSync(process.execPath, [BIN, 'install', '--prefix', prefix], {
      encoding: 'utf8'
    });
  });

  afterAll(() => {
    if (prefix) {
      fs.rmSync(prefix, { recursive: true, force: true });
    }
  });

  it('jupyter_client finds the cluster-bridge kernelspec', () => {
    const out = python(
      [
        'import json',
        'from jupyter_client.kernelspec import KernelSpecManager',
        "s = KernelSpecManager().get_kernel_spec('cluster-bridge')",
        'print(json.dumps({"argv": s.argv, "name": s.display_name, "lang": s.language, "im": s.interrupt_mode}))'
      ].join('\n'),
      { JUPYTER_PATH: data }
    );
    const spec = JSON.parse(out.trim().split('\n').pop() as string);
    expect(spec).toEqual({
      argv: [process.execPath, BIN, 'kernel', '-f', '{connection_file}'],
      name: 'Cluster Bridge',
      lang: 'python',
      im: 'message'
    });
  });

  it('jupyterlab_server discovers the prebuilt labextension with its entry point', () => {
    const out = python(
      [
        'import json, sys',
        'from jupyterlab_server.config import get_federated_extensions',
        'exts = get_federated_extensions([sys.argv[1]])',
        "e = exts['jupyterlab-cluster-bridge']",
        'b = e["jupyterlab"]["_build"]',
        'print(json.dumps({"load": b["load"], "extension": b.get("extension"), "style": b.get("style"), "install": e.get("install")}))'
      ].join('\n'),
      {},
      [path.join(data, 'labextensions')]
    );
    const ext = JSON.parse(out.trim().split('\n').pop() as string);
    expect(ext.load).toMatch(/^static\/remoteEntry\.[0-9a-f]+\.js$/);
    expect(ext.extension).toBe('./extension');
    expect(ext.style).toBe('./style');
    expect(ext.install).toEqual({
      packageManager: 'npm',
      packageName: 'jupyterlab-cluster-bridge',
      uninstallInstructions: expect.stringContaining('cluster-bridge uninstall')
    });
    const entry = path.join(
      data,
      'labextensions',
      'jupyterlab-cluster-bridge',
      ext.load
    );
    expect(fs.statSync(entry).size).toBeGreaterThan(0);
  });

  it('uninstall removes both', () => {
    execFileSync(process.execPath, [BIN, 'uninstall', '--prefix', prefix], {
      encoding: 'utf8'
    });
    expect(fs.existsSync(path.join(data, 'kernels', 'cluster-bridge'))).toBe(
      false
    );
    expect(
      fs.existsSync(
        path.join(data, 'labextensions', 'jupyterlab-cluster-bridge')
      )
    ).toBe(false);
  });
});
