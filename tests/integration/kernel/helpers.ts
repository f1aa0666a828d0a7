/**
 * Shared setup of the kernel integration tests: a built bridge (lib/node), the
 * `cluster-bridge` kernelspec in a temporary JUPYTER_PATH, an isolated job
 * store, and a way to run Debian's Python (/usr/bin/python3) with them.
 */
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const PYTHON = '/usr/bin/python3';
export const HERE = __dirname;

/** Builds lib/node when any bridge/shared source is newer than the kernel entry. */
export function ensureBuilt(): void {
  const entry = path.join(ROOT, 'lib', 'node', 'bridge', 'cli', 'main.js');
  const built = fs.existsSync(entry) ? fs.statSync(entry).mtimeMs : 0;
  const newest = Math.max(
    ...[
      path.join(ROOT, 'src', 'bridge'),
      path.join(ROOT, 'src', 'shared')
    ].flatMap(dir =>
      Private.walk(dir)
        .filter(f => f.endsWith('.ts') && !f.endsWith('.spec.ts'))
        .map(f => fs.statSync(f).mtimeMs)
    )
  );
  if (newest > built) {
    try {
      execFileSync(
        path.join(ROOT, 'node_modules', '.bin', 'tsc'),
        ['-p', 'tsconfig.bridge.json'],
        {
          cwd: ROOT,
          stdio: 'pipe'
        }
      );
    } catch (err) {
      // tsc still emits on type errors elsewhere; the kernel entry must exist.
      if (
        !fs.existsSync(
          path.join(ROOT, 'lib', 'node', 'bridge', 'cli', 'kernel.js')
        )
      ) {
        throw new Error(
          `building the bridge failed:\n${(err as { stdout?: Buffer }).stdout}`
        );
      }
    }
  }
}

/** Fails with a clear message when Debian's Jupyter Python packages are missing. */
export function requirePython(modules: string[]): void {
  if (!fs.existsSync(PYTHON)) {
    throw new Error(
      `${PYTHON} not found: install Debian python3 with the Jupyter packages`
    );
  }
  try {
    execFileSync(PYTHON, ['-c', modules.map(m => `import ${m}`).join('; ')], {
      stdio: 'pipe'
    });
  } catch (err) {
    throw new Error(
      `${PYTHON} cannot import ${modules.join(', ')} (Debian python3-jupyter-* packages): ` +
        String((err as { stderr?: Buffer }).stderr ?? err)
    );
  }
}

export interface IKernelEnv {
  /** Environment for Jupyter processes: JUPYTER_PATH with the kernelspec, isolated state. */
  env: NodeJS.ProcessEnv;
  dir: string;
  dispose(): void;
}

/** A temp JUPYTER_PATH with kernels/cluster-bridge/kernel.json, as `cluster-bridge install` writes it. */
export function kernelEnv(): IKernelEnv {
  ensureBuilt();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-kernel-it-'));
  const spec = path.join(dir, 'share', 'jupyter', 'kernels', 'cluster-bridge');
  fs.mkdirSync(spec, { recursive: true });
  fs.writeFileSync(
    path.join(spec, 'kernel.json'),
    JSON.stringify(
      {
        argv: [
          process.execPath,
          path.join(ROOT, 'bin', 'cluster-bridge'),
          'kernel',
          '-f',
          '{connection_file}'
        ],
        display_name: 'Cluster Bridge',
        language: 'python',
        interrupt_mode: 'message',
        metadata: { debugger: false }
      },
      null,
      2
    )
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_PATH: path.join(dir, 'share', 'jupyter'),
    JUPYTER_RUNTIME_DIR: path.join(dir, 'runtime'),
    JUPYTER_CONFIG_DIR: path.join(dir, 'config'),
    JUPYTER_DATA_DIR: path.join(dir, 'data'),
    CLUSTER_BRIDGE_STATE_DIR: path.join(dir, 'state'),
    PYTHONUNBUFFERED: '1'
  };
  // Only the built-in `local` cluster unless a test says otherwise.
  delete env.CLUSTER_BRIDGE_CONFIG;
  return {
    env,
    dir,
    dispose: () => fs.rmSync(dir, { recursive: true, force: true })
  };
}

export interface IRunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after timeoutMs), capturing its output. */
export function run(
  command: string,
  args: string[],
  options: {
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    timeoutMs?: number;
    input?: string;
  } = {}
): Promise<IRunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', d => (stdout += d));
    child.stderr.on('data', d => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${options.timeoutMs} ms]`;
      Private.killGroup(child.pid);
    }, options.timeoutMs ?? 120000);
    child.on('error', reject);
    child.on('close', code => {
      clearTimeout(timer);
      // Kernels started by the Python side must not outlive the test.
      Private.killGroup(child.pid);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

export { freePort } from './connection';

namespace Private {
  export function walk(dir: string): string[] {
    if (!fs.existsSync(dir)) {
      return [];
    }
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .flatMap(e =>
        e.isDirectory()
          ? walk(path.join(dir, e.name))
          : [path.join(dir, e.name)]
      );
  }

  export function killGroup(pid: number | undefined): void {
    if (!pid) {
      return;
    }
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
