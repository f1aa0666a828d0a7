/**
 * The Jupyter-server side of `--in`/`--out`: private folders the notebook's
 * kernel and the bridge share (0700, under the bridge's state dir, swept
 * after a day), and the Python the frontend runs silently in the notebook's
 * kernel to fill one (export) or to load one (import). That Python embeds
 * the one codec, src/runtime/_cb_vars.py, and runs it in a private
 * namespace: nothing is left in the user's globals.
 */
import * as fs from 'fs';
import * as path from 'path';

import type { IVarsLocalStep, IVarsManifest } from '../../shared/data';
import { defaultStateDir } from '../jobs/store';
import { runtimeDir } from '../util/paths';

/** Folders older than this are leftovers of a cell that never finished. */
export const STALE_MS = 24 * 3600 * 1000;

const PYTHON_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class VarsFolders {
  constructor(root = path.join(defaultStateDir(), 'vars')) {
    this.root = root;
  }

  readonly root: string;

  /** A new private folder; the first call of a process also sweeps stale ones. */
  async create(): Promise<string> {
    await fs.promises.mkdir(this.root, { recursive: true, mode: 0o700 });
    if (!this._swept) {
      this._swept = true;
      await this.sweep();
    }
    return fs.promises.mkdtemp(path.join(this.root, 'v-'));
  }

  /**
   * The folder an execute request names, checked: one of ours (directly
   * under root, a real directory, not a link) and holding a manifest.
   */
  checked(dir: unknown): string {
    if (typeof dir !== 'string' || !path.isAbsolute(dir)) {
      throw new Error(
        'the --in metadata is not a folder path; nothing was sent'
      );
    }
    const resolved = path.resolve(dir);
    const stat = fs.lstatSync(resolved, { throwIfNoEntry: false });
    if (
      path.dirname(resolved) !== path.resolve(this.root) ||
      !stat?.isDirectory()
    ) {
      throw new Error(
        `the --in folder ${dir} is not one the bridge made (or it is gone); nothing was sent`
      );
    }
    return resolved;
  }

  async remove(dir: string): Promise<void> {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }

  /** Removes folders older than STALE_MS. */
  async sweep(now = Date.now()): Promise<number> {
    let removed = 0;
    const names = await fs.promises.readdir(this.root).catch(() => []);
    for (const name of names) {
      const dir = path.join(this.root, name);
      const stat = await fs.promises.lstat(dir).catch(() => undefined);
      if (stat && now - stat.mtimeMs > STALE_MS) {
        await this.remove(dir);
        removed++;
      }
    }
    return removed;
  }

  private _swept = false;
}

/** The folders of this process (under the state dir at the time of the first call). */
export function varsFolders(): VarsFolders {
  Private.folders ??= new VarsFolders();
  return Private.folders;
}

/** Reads and checks a folder's manifest.json (written last by the codec). */
export function readManifest(
  dir: string,
  file = 'manifest.json'
): IVarsManifest {
  let manifest: IVarsManifest;
  try {
    manifest = JSON.parse(
      fs.readFileSync(path.join(dir, file), 'utf8')
    ) as IVarsManifest;
  } catch (err) {
    throw new Error(
      `the values were not written (no readable manifest.json in ${dir}: ${(err as Error).message}); nothing was sent`
    );
  }
  if (!Array.isArray(manifest?.vars)) {
    throw new Error(`manifest.json in ${dir} has no list of values`);
  }
  for (const v of manifest.vars) {
    if (
      !PYTHON_NAME.test(String(v.name)) ||
      path.basename(String(v.file)) !== v.file ||
      v.file === 'manifest.json'
    ) {
      throw new Error(`manifest.json in ${dir} lists a malformed value`);
    }
  }
  return manifest;
}

/** The export step: Python that writes `names` from the notebook's globals into `dir`. */
export function exportStep(names: string[], dir: string): IVarsLocalStep {
  checkNames(names);
  return {
    dir,
    code: Private.wrap(
      `__cb['export'](globals(), ${Private.py(names)}, ${Private.py(dir)})`
    )
  };
}

/** The import step: Python that loads `dir` into the notebook's globals, all or none. */
export function importStep(dir: string, trustPickle: boolean): IVarsLocalStep {
  return {
    dir,
    code: Private.wrap(
      `__cb['import_into'](globals(), ${Private.py(dir)}, ${trustPickle ? 'True' : 'False'})`
    )
  };
}

export function checkNames(names: string[]): void {
  if (names.length === 0) {
    throw new Error('no variable names given');
  }
  for (const name of names) {
    if (!PYTHON_NAME.test(name)) {
      throw new Error(`${JSON.stringify(name)} is not a Python variable name`);
    }
  }
}

namespace Private {
  let codec: string | undefined;
  export let folders: VarsFolders | undefined;

  /** The codec's source, read once. */
  export function source(): string {
    codec ??= fs.readFileSync(path.join(runtimeDir(), '_cb_vars.py'), 'utf8');
    return codec;
  }

  /**
   * One expression: the codec runs in a fresh dict passed as a lambda
   * argument, so the user's namespace gains no name (not even `_`: the
   * value is None).
   */
  export function wrap(call: string): string {
    return (
      `(lambda __cb: (exec(compile(${py(source())}, '<cluster-bridge vars>', 'exec'), __cb), ` +
      `${call}, None)[-1])({'__name__': '_cb_vars'})\n`
    );
  }

  /** A Python literal for a string or a list of strings (JSON strings are valid Python). */
  export function py(value: string | string[]): string {
    return JSON.stringify(value);
  }
}
