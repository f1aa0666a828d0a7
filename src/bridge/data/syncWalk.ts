/**
 * The local side of `--sync`: the project folder's entries (files, folders,
 * links) with what the hash cache needs (size, mtime in ns, inode), the
 * ignore rules applied on the way down. Links are never followed: one that
 * stays inside the tree is kept as a (relative) link, one that leads out of
 * it is skipped and named. Synchronous on purpose: a few thousand lstat calls
 * cost milliseconds, less than handing each to the thread pool.
 */
import * as fs from 'fs';
import * as path from 'path';

import { ENV_MARKERS, IgnoreRules } from './syncIgnore';

export type SyncKind = 'f' | 'l' | 'd';

export interface ILocalEntry {
  /** '/'-separated, relative to the root. */
  path: string;
  kind: SyncKind;
  /** Files: bytes, mtime (ns) and inode, the hash cache's key. */
  size: number;
  mtimeNs: string;
  ino: string;
  /** Files: permission bits. */
  mode: number;
  /** Links: the target, relative to the link's folder. */
  target?: string;
}

export interface IWalkResult {
  entries: ILocalEntry[];
  /** Links that lead out of the tree (skipped), as `path -> target`. */
  outside: string[];
  /** Files over the big-file limit (still mirrored). */
  big: { path: string; size: number }[];
  /** Names that cannot be mirrored (control characters, not UTF-8), skipped. */
  odd: string[];
}

/** Files bigger than this are mirrored with a notice (a project folder is for code). */
export const BIG_FILE_BYTES = 100 * 1024 * 1024;

/** More entries than this is not a project folder: refused with advice. */
export const MAX_ENTRIES = 50000;

export function walkProject(root: string): IWalkResult {
  const result: IWalkResult = { entries: [], outside: [], big: [], odd: [] };
  Private.walk(root, '', IgnoreRules.defaults(), result);
  return result;
}

/**
 * A link's target as a path relative to its folder when it stays inside
 * `root` (lexically: nothing is resolved on disk), else undefined.
 */
export function insideTarget(
  root: string,
  linkPath: string,
  target: string
): string | undefined {
  const linkDir = path.posix.dirname(linkPath);
  const resolved = path.isAbsolute(target)
    ? path.relative(root, target)
    : path.posix.normalize(path.posix.join(linkDir, target));
  if (
    resolved === '' ||
    resolved === '.' ||
    resolved === '..' ||
    resolved.startsWith('../') ||
    path.isAbsolute(resolved)
  ) {
    return undefined;
  }
  const rel = path.posix.relative(linkDir === '.' ? '' : linkDir, resolved);
  return rel === '' ? '.' : rel;
}

namespace Private {
  export function walk(
    root: string,
    rel: string,
    inherited: IgnoreRules,
    out: IWalkResult
  ): void {
    const dir = rel ? path.join(root, rel) : root;
    const names = fs.readdirSync(dir, { withFileTypes: true });
    let rules = inherited;
    const gitignore = names.find(d => d.name === '.gitignore' && d.isFile());
    if (gitignore) {
      rules = rules.add(
        rel,
        fs.readFileSync(path.join(dir, '.gitignore'), 'utf8')
      );
    }
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of names) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      const full = path.join(dir, d.name);
      if (ODD_NAME.test(d.name)) {
        out.odd.push(JSON.stringify(p));
        continue;
      }
      if (d.isSymbolicLink()) {
        if (rules.ignored(p, false)) {
          continue;
        }
        const target = fs.readlinkSync(full);
        const inside = insideTarget(root, p, target);
        if (inside === undefined) {
          out.outside.push(`${p} -> ${target}`);
        } else {
          out.entries.push({ ...EMPTY, path: p, kind: 'l', target: inside });
        }
      } else if (d.isDirectory()) {
        if (rules.ignored(p, true) || isEnvironment(full)) {
          continue;
        }
        out.entries.push({ ...EMPTY, path: p, kind: 'd' });
        walk(root, p, rules, out);
      } else if (d.isFile()) {
        if (rules.ignored(p, false)) {
          continue;
        }
        const st = fs.lstatSync(full, { bigint: true });
        const size = Number(st.size);
        out.entries.push({
          path: p,
          kind: 'f',
          size,
          mtimeNs: st.mtimeNs.toString(),
          ino: st.ino.toString(),
          mode: Number(st.mode) & 0o777
        });
        if (size > BIG_FILE_BYTES) {
          out.big.push({ path: p, size });
        }
      }
      // Sockets, FIFOs and devices have no content to mirror.
      if (out.entries.length > MAX_ENTRIES) {
        throw new Error(
          `--sync: ${root} holds more than ${MAX_ENTRIES.toLocaleString('en-US')} files and folders; ` +
            'list what the cluster does not need in a .gitignore there, or sync a smaller folder'
        );
      }
    }
  }

  /** A venv or conda env: a folder holding pyvenv.cfg or conda-meta. */
  function isEnvironment(dir: string): boolean {
    return ENV_MARKERS.some(marker => fs.existsSync(path.join(dir, marker)));
  }

  const EMPTY = { size: 0, mtimeNs: '0', ino: '0', mode: 0 };

  /** Control characters, or U+FFFD where a name was not UTF-8 (it would not be found again). */
  const ODD_NAME = /[\u0000-\u001f\u007f\ufffd]/;
}
