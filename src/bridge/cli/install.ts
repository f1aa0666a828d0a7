import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { packageRoot } from '../util/paths';

/** Name of the kernelspec and folder under <data>/kernels. */
export const KERNEL_NAME = 'cluster-bridge';

/** Name of the labextension (the npm package name) and folder under <data>/labextensions. */
export const LABEXTENSION_NAME = 'jupyterlab-cluster-bridge';

/** Where to install: the three scopes of `jupyter kernelspec install` / `jupyter labextension`. */
export type Scope =
  { kind: 'user' } | { kind: 'sys-prefix' } | { kind: 'prefix'; dir: string };

/** What the installer needs to know about this machine; tests replace any part of it. */
export interface IInstallContext {
  /** Environment variables (JUPYTER_DATA_DIR, CLUSTER_BRIDGE_PYTHON, PATH, APPDATA). */
  env: NodeJS.ProcessEnv;
  /** Home directory. */
  home: string;
  /** os.platform() value. */
  platform: NodeJS.Platform;
  /** Absolute path of the node binary the kernel runs with. */
  nodePath: string;
  /** Root of this package (holds bin/cluster-bridge, labextension/, install.json). */
  packageRoot: string;
}

/** The context of this process. */
export function defaultContext(): IInstallContext {
  return {
    env: process.env,
    home: os.homedir(),
    platform: os.platform(),
    nodePath: process.execPath,
    packageRoot: packageRoot()
  };
}

/** Parses `[--user | --sys-prefix | --prefix DIR]`; --user when none is given. */
export function parseScope(argv: string[]): Scope {
  let scope: Scope | undefined;
  const set = (next: Scope) => {
    if (scope) {
      throw new UsageError(
        'give only one of --user, --sys-prefix, --prefix DIR'
      );
    }
    scope = next;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--user') {
      set({ kind: 'user' });
    } else if (arg === '--sys-prefix') {
      set({ kind: 'sys-prefix' });
    } else if (arg === '--prefix' || arg.startsWith('--prefix=')) {
      const dir =
        arg === '--prefix' ? argv[++i] : arg.slice('--prefix='.length);
      if (!dir) {
        throw new UsageError('--prefix needs a directory');
      }
      set({ kind: 'prefix', dir: path.resolve(dir) });
    } else {
      throw new UsageError(`unknown option '${arg}'`);
    }
  }
  return scope ?? { kind: 'user' };
}

/**
 * The Jupyter data directory of a scope, as jupyter_core computes it:
 * --user: $JUPYTER_DATA_DIR, else ~/.local/share/jupyter (~/Library/Jupyter on macOS,
 * %APPDATA%\jupyter on Windows); --sys-prefix: <sys.prefix>/share/jupyter of Jupyter's Python;
 * --prefix DIR: DIR/share/jupyter.
 */
export function dataDir(scope: Scope, ctx: IInstallContext): string {
  switch (scope.kind) {
    case 'prefix':
      return path.join(scope.dir, 'share', 'jupyter');
    case 'sys-prefix':
      return path.join(sysPrefix(ctx), 'share', 'jupyter');
    case 'user':
      if (ctx.env.JUPYTER_DATA_DIR) {
        return path.resolve(ctx.env.JUPYTER_DATA_DIR);
      }
      if (ctx.platform === 'darwin') {
        return path.join(ctx.home, 'Library', 'Jupyter');
      }
      if (ctx.platform === 'win32' && ctx.env.APPDATA) {
        return path.join(ctx.env.APPDATA, 'jupyter');
      }
      return path.join(
        ctx.env.XDG_DATA_HOME || path.join(ctx.home, '.local', 'share'),
        'jupyter'
      );
  }
}

/**
 * The Python that runs Jupyter: $CLUSTER_BRIDGE_PYTHON, else the interpreter named in the `#!`
 * line of `jupyter` on PATH (a conda env or venv of its own), else python3 on PATH.
 */
export function jupyterPython(ctx: IInstallContext): string {
  if (ctx.env.CLUSTER_BRIDGE_PYTHON) {
    return ctx.env.CLUSTER_BRIDGE_PYTHON;
  }
  const jupyter = Private.which('jupyter', ctx.env);
  if (jupyter) {
    const python = Private.shebangPython(jupyter);
    if (python) {
      return python;
    }
  }
  const python3 = Private.which('python3', ctx.env);
  if (python3) {
    return python3;
  }
  throw new Error(
    'cannot find the Python that runs Jupyter: set CLUSTER_BRIDGE_PYTHON, or use --user or --prefix DIR'
  );
}

/** sys.prefix of Jupyter's Python. */
export function sysPrefix(ctx: IInstallContext): string {
  const python = jupyterPython(ctx);
  try {
    return execFileSync(python, ['-c', 'import sys; print(sys.prefix)'], {
      env: ctx.env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe']
    }).trim();
  } catch (err) {
    throw new Error(
      `cannot ask ${python} for sys.prefix: ${(err as Error).message}`
    );
  }
}

/** The kernel.json of the `cluster-bridge` kernelspec. */
export function kernelSpec(ctx: IInstallContext): { [key: string]: unknown } {
  return {
    argv: [
      ctx.nodePath,
      path.join(ctx.packageRoot, 'bin', 'cluster-bridge'),
      'kernel',
      '-f',
      '{connection_file}'
    ],
    display_name: 'Cluster Bridge',
    language: 'python',
    interrupt_mode: 'message',
    env: {},
    metadata: {
      debugger: false,
      cluster_bridge: {
        version: Private.packageVersion(ctx.packageRoot),
        package: ctx.packageRoot
      }
    }
  };
}

/** Writes <data>/kernels/cluster-bridge (kernel.json and a logo); returns the folder. */
export function installKernelspec(data: string, ctx: IInstallContext): string {
  const dir = path.join(data, 'kernels', KERNEL_NAME);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'kernel.json'),
    JSON.stringify(kernelSpec(ctx), null, 2) + '\n'
  );
  fs.writeFileSync(path.join(dir, 'logo-svg.svg'), Private.LOGO_SVG);
  return dir;
}

/**
 * Copies the prebuilt labextension (./labextension, from `npm run build`) and install.json to
 * <data>/labextensions/jupyterlab-cluster-bridge; returns that folder.
 */
export function installLabextension(
  data: string,
  ctx: IInstallContext
): string {
  const source = path.join(ctx.packageRoot, 'labextension');
  if (!fs.existsSync(path.join(source, 'package.json'))) {
    throw new Error(
      `the prebuilt labextension is missing (${source}); build it first: (cd ${ctx.packageRoot} && npm run build)`
    );
  }
  const dest = path.join(data, 'labextensions', LABEXTENSION_NAME);
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.cpSync(source, dest, { recursive: true });
  const installJson = path.join(ctx.packageRoot, 'install.json');
  if (fs.existsSync(installJson)) {
    fs.copyFileSync(installJson, path.join(dest, 'install.json'));
  }
  return dest;
}

/** Removes the kernelspec and the labextension; returns the folders that were there. */
export function uninstall(data: string): string[] {
  const removed: string[] = [];
  for (const dir of [
    path.join(data, 'kernels', KERNEL_NAME),
    path.join(data, 'labextensions', LABEXTENSION_NAME)
  ]) {
    if (fs.existsSync(dir)) {
      fs.rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    }
  }
  return removed;
}

/** `cluster-bridge install [--user | --sys-prefix | --prefix DIR]`. */
export async function main(
  argv: string[],
  ctx: IInstallContext = defaultContext()
): Promise<number> {
  return Private.command(argv, 'install', () => {
    const data = dataDir(parseScope(argv), ctx);
    const kernel = installKernelspec(data, ctx);
    console.log(`Installed kernelspec ${KERNEL_NAME} in ${kernel}`);
    const ext = installLabextension(data, ctx);
    console.log(`Installed labextension ${LABEXTENSION_NAME} in ${ext}`);
  });
}

/** `cluster-bridge uninstall [--user | --sys-prefix | --prefix DIR]`. */
export async function uninstallMain(
  argv: string[],
  ctx: IInstallContext = defaultContext()
): Promise<number> {
  return Private.command(argv, 'uninstall', () => {
    const data = dataDir(parseScope(argv), ctx);
    const removed = uninstall(data);
    if (removed.length === 0) {
      console.log(`Nothing to remove in ${data}`);
    }
    for (const dir of removed) {
      console.log(`Removed ${dir}`);
    }
  });
}

/** A wrong command line (exit code 2 with the usage). */
export class UsageError extends Error {}

namespace Private {
  /** Runs one command body, turning errors into messages and exit codes. */
  export function command(
    argv: string[],
    name: string,
    body: () => void
  ): number {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(usage(name));
      return 0;
    }
    try {
      body();
      return 0;
    } catch (err) {
      console.error(`cluster-bridge ${name}: ${(err as Error).message}`);
      if (err instanceof UsageError) {
        console.error(usage(name));
        return 2;
      }
      return 1;
    }
  }

  export function usage(name: string): string {
    return [
      `usage: cluster-bridge ${name} [--user | --sys-prefix | --prefix DIR]`,
      '',
      '  --user        the user data directory: $JUPYTER_DATA_DIR or ~/.local/share/jupyter (default)',
      "  --sys-prefix  <sys.prefix>/share/jupyter of Jupyter's Python ($CLUSTER_BRIDGE_PYTHON, or the",
      '                Python of `jupyter` on PATH)',
      '  --prefix DIR  DIR/share/jupyter'
    ].join('\n');
  }

  /** Absolute path of an executable on PATH, or undefined. */
  export function which(
    name: string,
    env: NodeJS.ProcessEnv
  ): string | undefined {
    for (const dir of (env.PATH ?? '').split(path.delimiter)) {
      if (!dir) {
        continue;
      }
      const candidate = path.join(dir, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) {
          return candidate;
        }
      } catch {
        // not here; keep looking
      }
    }
    return undefined;
  }

  /** The interpreter of a `#!/path/to/python` script, when it is a Python. */
  export function shebangPython(script: string): string | undefined {
    let head: string;
    try {
      const fd = fs.openSync(script, 'r');
      try {
        const buf = Buffer.alloc(512);
        const n = fs.readSync(fd, buf, 0, buf.length, 0);
        head = buf.subarray(0, n).toString('utf8');
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return undefined;
    }
    const match = /^#!\s*(\S+)(?:[ \t]+(\S+))?/.exec(head);
    if (!match) {
      return undefined;
    }
    // `#!/usr/bin/env python3` names the interpreter in its argument.
    const interpreter =
      path.basename(match[1]) === 'env' && match[2] ? match[2] : match[1];
    return /python/.test(path.basename(interpreter)) ? interpreter : undefined;
  }

  export function packageVersion(root: string): string {
    try {
      const pkg = JSON.parse(
        fs.readFileSync(path.join(root, 'package.json'), 'utf8')
      ) as { version?: string };
      return pkg.version ?? 'unknown';
    } catch {
      return 'unknown';
    }
  }

  export const LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">
  <rect x="4" y="8" width="24" height="48" rx="3" fill="#1976d2"/>
  <rect x="36" y="8" width="24" height="48" rx="3" fill="#f37726"/>
  <path d="M28 32h8" stroke="#616161" stroke-width="4"/>
  <circle cx="16" cy="20" r="3" fill="#fff"/><circle cx="48" cy="20" r="3" fill="#fff"/>
  <circle cx="48" cy="32" r="3" fill="#fff"/><circle cx="48" cy="44" r="3" fill="#fff"/>
</svg>
`;
}
