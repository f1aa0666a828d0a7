/**
 * Puts the remote side in place: the work directory (0700), the runtime
 * files under runtime/<hash>/ and VENV1 built from the remote system Python.
 * One exec does all of it (check, upload when missing, venv), and the
 * answer is cached per transport, so a warm cell pays no round trip here.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

import type { IResolvedCluster } from '../../shared/config';
import { runtimeDir } from '../util/paths';
import { shellQuote } from '../util/quote';
import type { ITransport } from '../transport/types';

/** What the remote looks like once prepared. */
export interface IRemoteRuntime {
  /** Absolute work directory. */
  workDir: string;
  /** Absolute runtime/<hash> directory. */
  runtimeDir: string;
  /** VENV1's python (or the system python when venv is unavailable). */
  python: string;
  /** Remote system Python version, e.g. 3.11.2. */
  pythonVersion: string;
  /** Things the user should know (venv fallback). */
  notices: string[];
}

/** Oldest remote Python the agent supports. */
export const MIN_PYTHON = '3.6';

export interface IRuntimeFiles {
  hash: string;
  files: { [relPath: string]: Buffer };
}

/** Runtime files shipped in the package and their hash; read once per process. */
export function runtimeFiles(dir: string = runtimeDir()): IRuntimeFiles {
  const cached = Private.filesCache.get(dir);
  if (cached) {
    return cached;
  }
  const files: { [relPath: string]: Buffer } = {};
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), {
      withFileTypes: true
    })) {
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!['__pycache__', 'tests', 'test'].includes(entry.name)) {
          walk(relPath);
        }
      } else if (
        entry.isFile() &&
        entry.name.endsWith('.py') &&
        !/^test_|_test\.py$/.test(entry.name)
      ) {
        files[relPath] = fs.readFileSync(path.join(dir, relPath));
      }
    }
  };
  walk('');
  if (!files['agent.py']) {
    throw new Error(`cluster-bridge: no agent.py in the runtime folder ${dir}`);
  }
  const hash = createHash('sha256');
  for (const name of Object.keys(files).sort()) {
    hash.update(name).update('\0').update(files[name]).update('\0');
  }
  const result = { hash: hash.digest('hex').slice(0, 16), files };
  Private.filesCache.set(dir, result);
  return result;
}

/** The remote system Python a cluster's VENV1 is built from. */
export function systemPython(cluster: IResolvedCluster): string {
  if (cluster.config.python) {
    return cluster.config.python;
  }
  // The local cluster prefers Debian's python3 (it sees Debian's packages).
  if (cluster.config.type === 'local' && fs.existsSync('/usr/bin/python3')) {
    return '/usr/bin/python3';
  }
  return 'python3';
}

/** The remote work directory as a shell word that expands `~` through $HOME. */
export function workDirWord(workDir: string | undefined): string {
  const dir = workDir || '~/.cluster-bridge';
  if (dir === '~') {
    return '"$HOME"';
  }
  if (dir.startsWith('~/')) {
    return `"$HOME"/${shellQuote(dir.slice(2))}`;
  }
  if (dir.startsWith('/')) {
    return shellQuote(dir);
  }
  return `"$HOME"/${shellQuote(dir)}`;
}

export class RuntimeInstaller {
  constructor(files?: IRuntimeFiles) {
    this._files = files;
  }

  get files(): IRuntimeFiles {
    if (!this._files) {
      this._files = runtimeFiles();
    }
    return this._files;
  }

  /** Cached answer for this transport and cluster, if any. */
  peek(
    transport: ITransport,
    cluster: IResolvedCluster
  ): IRemoteRuntime | undefined {
    return this._cache.get(transport)?.get(Private.key(cluster));
  }

  /** Forget what we know (the remote was wiped; a command found files missing). */
  forget(transport: ITransport): void {
    this._cache.delete(transport);
  }

  async ensure(
    transport: ITransport,
    cluster: IResolvedCluster
  ): Promise<IRemoteRuntime> {
    const known = this.peek(transport, cluster);
    if (known) {
      return known;
    }
    let byTransport = this._cache.get(transport);
    if (!byTransport) {
      byTransport = new Map();
      this._cache.set(transport, byTransport);
    }
    const key = Private.key(cluster);
    let pending = this._pending.get(transport)?.get(key);
    if (!pending) {
      pending = this._ensure(transport, cluster);
      let byKey = this._pending.get(transport);
      if (!byKey) {
        byKey = new Map();
        this._pending.set(transport, byKey);
      }
      byKey.set(key, pending);
      const clear = () => this._pending.get(transport)?.delete(key);
      pending.then(clear, clear);
    }
    const runtime = await pending;
    byTransport.set(key, runtime);
    return runtime;
  }

  private async _ensure(
    transport: ITransport,
    cluster: IResolvedCluster
  ): Promise<IRemoteRuntime> {
    const files = this.files;
    const python = systemPython(cluster);
    const payload: { [name: string]: string } = {};
    for (const [name, data] of Object.entries(files.files)) {
      payload[name] = data.toString('base64');
    }
    const script = Private.script(
      workDirWord(cluster.config.workDir),
      files.hash,
      python
    );
    const result = await transport.exec(script, {
      stdin: JSON.stringify(payload)
    });
    return Private.parse(result, cluster, python, files.hash);
  }

  private _files: IRuntimeFiles | undefined;
  private _cache = new WeakMap<ITransport, Map<string, IRemoteRuntime>>();
  private _pending = new WeakMap<
    ITransport,
    Map<string, Promise<IRemoteRuntime>>
  >();
}

namespace Private {
  export const filesCache = new Map<string, IRuntimeFiles>();

  export function key(cluster: IResolvedCluster): string {
    return JSON.stringify([
      cluster.config.workDir ?? '',
      systemPython(cluster)
    ]);
  }

  /** Unpacks {name: base64} from stdin into a temp dir, then renames it into place. */
  const UNPACK = [
    'import base64, json, os, sys',
    'dest = sys.argv[1]',
    'tmp = "%s.tmp.%d" % (dest, os.getpid())',
    'files = json.loads(sys.stdin.read())',
    'for name, data in files.items():',
    '    path = os.path.join(tmp, *name.split("/"))',
    '    d = os.path.dirname(path)',
    '    if not os.path.isdir(d):',
    '        os.makedirs(d, 0o700)',
    '    with open(path, "wb") as f:',
    '        f.write(base64.b64decode(data))',
    'open(os.path.join(tmp, ".complete"), "w").close()',
    'try:',
    '    os.rename(tmp, dest)',
    'except OSError:',
    '    import shutil',
    '    shutil.rmtree(tmp, True)',
    '    if not os.path.isfile(os.path.join(dest, ".complete")):',
    '        raise'
  ].join('\n');

  const PROBE = [
    'import hashlib, os, sys',
    'v = sys.version_info',
    'exe = os.path.realpath(sys.executable)',
    'tag = "py%d.%d-%s" % (v[0], v[1], hashlib.sha1(exe.encode()).hexdigest()[:8])',
    'print("%d.%d.%d %s %s" % (v[0], v[1], v[2], "ok" if v >= (3, 6) else "old", tag))'
  ].join('\n');

  /**
   * Prints CB_* lines. The system Python runs with -E -s: a PYTHONPATH meant
   * for another Python (cluster modules) must not break it (-I is 3.4+ only;
   * these flags let a Python 2 still answer "too old"). stdin (the runtime
   * files) is always drained so the writer never sees a broken pipe.
   */
  export function script(
    workDir: string,
    hash: string,
    python: string
  ): string {
    return `
umask 077
W=${workDir}
R="$W/runtime/${hash}"
PY=${shellQuote(python)}
mkdir -p "$W/runtime" "$W/venv1" "$W/jobs" "$W/envs" 2>/dev/null
if [ ! -d "$W/jobs" ]; then cat >/dev/null; echo "CB_ERROR cannot create the work directory $W"; exit 0; fi
chmod 700 "$W" 2>/dev/null
echo "CB_WORKDIR $W"
if ! command -v "$PY" >/dev/null 2>&1; then cat >/dev/null; echo "CB_NOPYTHON"; exit 0; fi
PROBE=$("$PY" -E -s -c ${shellQuote(PROBE)} 2>&1) || { cat >/dev/null; echo "CB_BADPYTHON $PROBE" | tr '\\n' ' '; echo; exit 0; }
set -- $PROBE
echo "CB_PYTHON $1 $2"
[ "$2" = ok ] || { cat >/dev/null; exit 0; }
if [ -f "$R/.complete" ]; then cat >/dev/null; echo "CB_RUNTIME present"
else
  OUT=$("$PY" -E -s -c ${shellQuote(UNPACK)} "$R" 2>&1) || { echo "CB_ERROR cannot unpack the runtime into $R: $OUT" | tr '\\n' ' '; echo; exit 0; }
  echo "CB_RUNTIME uploaded"
fi
# Retention (_cb_clean.py) counts a runtime's age from the last connection that used it.
touch "$R/.used" 2>/dev/null
V="$W/venv1/$3"
if [ -f "$V/.complete" ] && [ -x "$V/bin/python" ]; then echo "CB_VENV1 $V/bin/python"; exit 0; fi
T="$V.tmp.$$"
rm -rf "$T"
if OUT=$("$PY" -E -s -m venv --without-pip "$T" 2>&1) && [ -x "$T/bin/python" ]; then
  : >"$T/.complete"
  if [ -d "$V" ]; then rm -rf "$V"; fi
  mv "$T" "$V" 2>/dev/null || rm -rf "$T"
  echo "CB_VENV1 $V/bin/python"
else
  rm -rf "$T"
  echo "CB_NOVENV $(command -v "$PY") $OUT" | tr '\\n' ' '; echo
fi
`;
  }

  export function parse(
    result: { stdout: string; stderr: string; code: number | null },
    cluster: IResolvedCluster,
    python: string,
    hash: string
  ): IRemoteRuntime {
    const lines = result.stdout.split('\n');
    const find = (tag: string) => {
      const line = lines.find(l => l === tag || l.startsWith(tag + ' '));
      return line === undefined ? undefined : line.slice(tag.length).trim();
    };
    const where = `cluster "${cluster.name}"`;
    const error = find('CB_ERROR');
    if (error !== undefined) {
      throw new Error(`${where}: ${error}`);
    }
    const workDir = find('CB_WORKDIR');
    if (!workDir) {
      throw new Error(
        `${where}: preparing the remote failed (exit ${result.code}): ${(result.stderr || result.stdout).trim()}`
      );
    }
    if (find('CB_NOPYTHON') !== undefined) {
      throw new Error(
        `${where}: remote Python "${python}" not found. Install Python ${MIN_PYTHON} or newer there, or set "python" in the cluster config to its path.`
      );
    }
    const bad = find('CB_BADPYTHON');
    if (bad !== undefined) {
      throw new Error(
        `${where}: remote Python "${python}" does not run: ${bad}`
      );
    }
    const [version, verdict] = (find('CB_PYTHON') ?? '').split(' ');
    if (verdict === 'old') {
      throw new Error(
        `${where}: remote Python "${python}" is ${version}; cluster-bridge needs Python ${MIN_PYTHON} or newer (set "python" in the cluster config).`
      );
    }
    const notices: string[] = [];
    let venvPython = find('CB_VENV1');
    const novenv = find('CB_NOVENV');
    if (!venvPython && novenv !== undefined) {
      const [exe, ...why] = novenv.split(' ');
      venvPython = exe;
      notices.push(
        `cannot create VENV1 with "${python} -m venv" (${why.join(' ').trim() || 'venv unavailable'}); using the system Python ${exe} directly`
      );
    }
    if (!venvPython || !version || find('CB_RUNTIME') === undefined) {
      throw new Error(
        `${where}: preparing the remote failed (exit ${result.code}): ${(result.stderr || result.stdout).trim()}`
      );
    }
    return {
      workDir,
      runtimeDir: `${workDir}/runtime/${hash}`,
      python: venvPython,
      pythonVersion: version,
      notices
    };
  }
}
