import * as fs from 'fs';
import * as path from 'path';

/** The package root (folder of our package.json), from src/ under ts-jest or lib/node/ when built. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate)) {
      const pkg = JSON.parse(fs.readFileSync(candidate, 'utf8')) as {
        name?: string;
      };
      if (pkg.name === 'jupyterlab-cluster-bridge') {
        return dir;
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error('cluster-bridge: cannot find the package root');
    }
    dir = parent;
  }
}

/** Folder of the remote Python runtime shipped inside the package. */
export function runtimeDir(): string {
  return path.join(packageRoot(), 'src', 'runtime');
}
