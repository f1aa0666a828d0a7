/**
 * Where `%cluster put` / `%cluster get` read and write: LOCAL relative to the
 * notebook's folder, REMOTE relative to `<workDir>/files` (or absolute, or
 * `~/`), the destination's default name, and the checks that keep every
 * write inside the destination (names from the other side, paths below it).
 * Pure: no file system.
 */
import * as path from 'path';

/** The remote folder relative REMOTE paths live in. */
export const REMOTE_FILES = 'files';

/**
 * The folder LOCAL is relative to: the notebook's (`<serverRoot>/<path>`);
 * a Cluster Bridge kernel's own notebook (`kernel:<id>`) and the CLI: the
 * kernel's working folder, where Jupyter starts it.
 */
export function localBase(notebook: string | undefined, cwd: string): string {
  if (notebook === undefined || notebook.startsWith('kernel:')) {
    return cwd;
  }
  if (!path.isAbsolute(notebook)) {
    throw new Error(
      `the folder of notebook "${notebook}" is not known here (its server root was not sent); ` +
        'reload the page or give an absolute local path'
    );
  }
  return path.dirname(notebook);
}

/** A local path as the user wrote it, made absolute (`~/` is this machine's home). */
export function localPath(given: string, base: string, home: string): string {
  if (given === '~' || given.startsWith('~/')) {
    return path.join(home, given.slice(1));
  }
  return path.resolve(base, given);
}

/** A remote path made absolute: `~/x` under the remote home, relative under `<workDir>/files`. */
export function remotePath(
  given: string,
  workDir: string,
  home: string
): string {
  if (given === '~' || given.startsWith('~/')) {
    return path.posix.join(home, given.slice(1));
  }
  if (given.startsWith('/')) {
    return path.posix.normalize(given);
  }
  return path.posix.join(workDir, REMOTE_FILES, given);
}

/**
 * The destination of a copy: the given path itself, or, where it ends in `/`
 * (a folder to copy into) or was not given, that folder plus the source's
 * name. `join` is the destination side's path.join.
 */
export function destinationOf(
  source: string,
  given: string | undefined,
  defaultFolder: string,
  join: (...parts: string[]) => string
): string {
  const name = baseName(source);
  if (given === undefined) {
    return join(defaultFolder, name);
  }
  return given.endsWith('/') ? join(given, name) : given;
}

/** The last part of a path without trailing slashes; an error for `/`, `.` or `..`. */
export function baseName(p: string): string {
  const name = p.replace(/\/+$/, '').split('/').pop() ?? '';
  if (name === '' || name === '.' || name === '..') {
    throw new Error(
      `${JSON.stringify(p)} has no name of its own to copy to; give the destination`
    );
  }
  return name;
}

/**
 * Why a name read from a folder on the other side cannot become a path here
 * (`..`, a slash, control characters), or undefined when it is a plain name.
 */
export function unsafeName(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') {
    return `the name ${JSON.stringify(name)} would leave the folder`;
  }
  if (name.includes('/') || name.includes('\\')) {
    return `the name ${JSON.stringify(name)} holds a path separator`;
  }
  if (/[\x00-\x1f\x7f]/.test(name)) {
    return `the name ${JSON.stringify(name)} holds control characters`;
  }
  return undefined;
}

/** Whether `p` is `root` or below it (both absolute, normalized, same separator). */
export function isInside(root: string, p: string, sep = '/'): boolean {
  if (p === root) {
    return true;
  }
  const prefix = root.endsWith(sep) ? root : root + sep;
  return p.startsWith(prefix);
}

/** The file that holds an unfinished copy, and its sidecar (what was written, of which source). */
export function partFiles(dest: string): { part: string; sidecar: string } {
  return { part: `${dest}.cb-part`, sidecar: `${dest}.cb-part.json` };
}
