import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  dataDir,
  IInstallContext,
  installKernelspec,
  installLabextension,
  jupyterPython,
  kernelSpec,
  main,
  parseScope,
  sysPrefix,
  uninstall,
  uninstallMain,
  UsageError
} from './install';

describe('cluster-bridge install', () => {
  let tmp: string;
  let ctx: IInstallContext;

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-install-'));
    const pkg = path.join(tmp, 'pkg');
    fs.mkdirSync(path.join(pkg, 'labextension', 'static'), {
      recursive: true
    });
    fs.writeFileSync(
      path.join(pkg, 'package.json'),
      JSON.stringify({ name: 'jupyterlab-cluster-bridge', version: '9.8.7' })
    );
    fs.writeFileSync(
      path.join(pkg, 'labextension', 'package.json'),
      JSON.stringify({ name: 'jupyterlab-cluster-bridge' })
    );
    fs.writeFileSync(
      path.join(pkg, 'labextension', 'static', 'remoteEntry.abc.js'),
      '// entry'
    );
    fs.writeFileSync(
      path.join(pkg, 'install.json'),
      JSON.stringify({ packageManager: 'npm' })
    );
    ctx = {
      env: { PATH: '' },
      home: path.join(tmp, 'home'),
      platform: 'linux',
      nodePath: '/opt/node/bin/node',
      packageRoot: pkg
    };
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
    jest.spyOn(console, 'error').mockImplementation(() => undefined);
  });

  afterEach(() => {
    jest.restoreAllMocks();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('parseScope', () => {
    it('defaults to --user', () => {
      expect(parseScope([])).toEqual({ kind: 'user' });
    });

    it('reads each scope', () => {
      expect(parseScope(['--user'])).toEqual({ kind: 'user' });
      expect(parseScope(['--sys-prefix'])).toEqual({ kind: 'sys-prefix' });
      expect(parseScope(['--prefix', '/x/y'])).toEqual({
        kind: 'prefix',
        dir: '/x/y'
      });
      expect(parseScope(['--prefix=/x/z'])).toEqual({
        kind: 'prefix',
        dir: '/x/z'
      });
    });

    it('makes a relative prefix absolute', () => {
      expect(parseScope(['--prefix', 'rel'])).toEqual({
        kind: 'prefix',
        dir: path.resolve('rel')
      });
    });

    it('rejects two scopes, a missing prefix and unknown options', () => {
      expect(() => parseScope(['--user', '--sys-prefix'])).toThrow(UsageError);
      expect(() => parseScope(['--prefix'])).toThrow(UsageError);
      expect(() => parseScope(['--system'])).toThrow(/unknown option/);
    });
  });

  describe('dataDir', () => {
    it('uses DIR/share/jupyter for --prefix', () => {
      expect(dataDir({ kind: 'prefix', dir: '/p' }, ctx)).toBe(
        '/p/share/jupyter'
      );
    });

    it('uses JUPYTER_DATA_DIR, then XDG_DATA_HOME, then ~/.local/share for --user', () => {
      expect(dataDir({ kind: 'user' }, ctx)).toBe(
        path.join(ctx.home, '.local', 'share', 'jupyter')
      );
      ctx.env.XDG_DATA_HOME = '/xdg';
      expect(dataDir({ kind: 'user' }, ctx)).toBe('/xdg/jupyter');
      ctx.env.JUPYTER_DATA_DIR = '/jdd';
      expect(dataDir({ kind: 'user' }, ctx)).toBe('/jdd');
    });

    it('follows jupyter_core on macOS', () => {
      ctx.platform = 'darwin';
      expect(dataDir({ kind: 'user' }, ctx)).toBe(
        path.join(ctx.home, 'Library', 'Jupyter')
      );
    });

    it("asks Jupyter's Python for sys.prefix with --sys-prefix", () => {
      const bin = path.join(tmp, 'bin');
      fs.mkdirSync(bin);
      // A stand-in interpreter that answers the one question the installer asks.
      const fake = path.join(bin, 'python-standin');
      fs.writeFileSync(fake, '#!/bin/sh\necho /opt/conda/envs/lab\n', {
        mode: 0o755
      });
      ctx.env.CLUSTER_BRIDGE_PYTHON = fake;
      expect(dataDir({ kind: 'sys-prefix' }, ctx)).toBe(
        '/opt/conda/envs/lab/share/jupyter'
      );
    });

    it('reads sys.prefix from a real Python', () => {
      ctx.env.CLUSTER_BRIDGE_PYTHON = '/usr/bin/python3';
      expect(fs.existsSync('/usr/bin/python3')).toBe(true);
      expect(sysPrefix(ctx)).toBe('/usr');
    });
  });

  describe('jupyterPython', () => {
    it('takes the interpreter from the #! line of jupyter on PATH', () => {
      const bin = path.join(tmp, 'bin');
      fs.mkdirSync(bin);
      fs.writeFileSync(
        path.join(bin, 'jupyter'),
        '#!/opt/env/bin/python3.12\nimport sys\n',
        { mode: 0o755 }
      );
      ctx.env.PATH = bin;
      expect(jupyterPython(ctx)).toBe('/opt/env/bin/python3.12');
    });

    it('understands #!/usr/bin/env python3', () => {
      const bin = path.join(tmp, 'bin');
      fs.mkdirSync(bin);
      fs.writeFileSync(path.join(bin, 'jupyter'), '#!/usr/bin/env python3\n', {
        mode: 0o755
      });
      ctx.env.PATH = bin;
      expect(jupyterPython(ctx)).toBe('python3');
    });

    it('prefers CLUSTER_BRIDGE_PYTHON and fails clearly with nothing found', () => {
      ctx.env.CLUSTER_BRIDGE_PYTHON = '/my/python';
      expect(jupyterPython(ctx)).toBe('/my/python');
      delete ctx.env.CLUSTER_BRIDGE_PYTHON;
      expect(() => jupyterPython(ctx)).toThrow(/CLUSTER_BRIDGE_PYTHON/);
    });
  });

  describe('kernelspec', () => {
    it('runs bin/cluster-bridge kernel with absolute node and script paths', () => {
      const spec = kernelSpec(ctx);
      const [node, script, ...args] = spec.argv as string[];
      expect(node).toBe('/opt/node/bin/node');
      expect(script).toBe(path.join(ctx.packageRoot, 'bin', 'cluster-bridge'));
      expect(args.join(' ')).toBe('kernel -f {connection_file}');
      expect(spec).toMatchObject({
        display_name: 'Cluster Bridge',
        language: 'python',
        interrupt_mode: 'message',
        metadata: { cluster_bridge: { version: '9.8.7' } }
      });
    });

    it('writes kernel.json and a logo, replacing an old install', () => {
      const data = path.join(tmp, 'data');
      const stale = path.join(data, 'kernels', 'cluster-bridge', 'stale.txt');
      fs.mkdirSync(path.dirname(stale), { recursive: true });
      fs.writeFileSync(stale, 'old');
      const dir = installKernelspec(data, ctx);
      expect(dir).toBe(path.join(data, 'kernels', 'cluster-bridge'));
      const json = JSON.parse(
        fs.readFileSync(path.join(dir, 'kernel.json'), 'utf8')
      );
      expect(json).toEqual(kernelSpec(ctx));
      expect(fs.existsSync(path.join(dir, 'logo-svg.svg'))).toBe(true);
      expect(fs.existsSync(stale)).toBe(false);
    });
  });

  describe('labextension', () => {
    it('copies the prebuilt labextension and install.json', () => {
      const data = path.join(tmp, 'data');
      const dest = installLabextension(data, ctx);
      expect(dest).toBe(
        path.join(data, 'labextensions', 'jupyterlab-cluster-bridge')
      );
      expect(
        fs.readFileSync(path.join(dest, 'static', 'remoteEntry.abc.js'), 'utf8')
      ).toBe('// entry');
      expect(
        JSON.parse(fs.readFileSync(path.join(dest, 'install.json'), 'utf8'))
      ).toEqual({ packageManager: 'npm' });
    });

    it('says to build first when the labextension is missing', () => {
      fs.rmSync(path.join(ctx.packageRoot, 'labextension'), {
        recursive: true
      });
      expect(() => installLabextension(path.join(tmp, 'd'), ctx)).toThrow(
        /npm run build/
      );
    });
  });

  describe('main and uninstallMain', () => {
    it('installs into --prefix and uninstalls again', async () => {
      const prefix = path.join(tmp, 'prefix');
      expect(await main(['--prefix', prefix], ctx)).toBe(0);
      const data = path.join(prefix, 'share', 'jupyter');
      expect(
        fs.existsSync(
          path.join(data, 'kernels', 'cluster-bridge', 'kernel.json')
        )
      ).toBe(true);
      expect(
        fs.existsSync(
          path.join(
            data,
            'labextensions',
            'jupyterlab-cluster-bridge',
            'package.json'
          )
        )
      ).toBe(true);

      expect(await uninstallMain(['--prefix', prefix], ctx)).toBe(0);
      expect(fs.existsSync(path.join(data, 'kernels', 'cluster-bridge'))).toBe(
        false
      );
      expect(
        fs.existsSync(
          path.join(data, 'labextensions', 'jupyterlab-cluster-bridge')
        )
      ).toBe(false);
      expect(uninstall(data)).toEqual([]);
    });

    it('installs for the user into JUPYTER_DATA_DIR', async () => {
      ctx.env.JUPYTER_DATA_DIR = path.join(tmp, 'jdd');
      expect(await main(['--user'], ctx)).toBe(0);
      expect(
        fs.existsSync(
          path.join(tmp, 'jdd', 'kernels', 'cluster-bridge', 'kernel.json')
        )
      ).toBe(true);
    });

    it('exits 2 on a bad command line and 1 when the build is missing', async () => {
      expect(await main(['--bogus'], ctx)).toBe(2);
      fs.rmSync(path.join(ctx.packageRoot, 'labextension'), {
        recursive: true
      });
      expect(await main(['--prefix', path.join(tmp, 'p2')], ctx)).toBe(1);
    });
  });
});
