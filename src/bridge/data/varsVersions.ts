/**
 * Version skew between the two sides of `--in`/`--out`, checked before any
 * byte is sent: the pickle protocol the remote Python reads, and the major
 * versions of numpy/pandas where those types travel (a numpy 2 pickle does
 * not load on numpy 1). The rules are _cb_vars.skew's, which the remote
 * applies again before it sets anything.
 */
import type { IVarsManifest } from '../../shared/data';
import type { SessionClient } from '../sessions/client';
import type { ITransport } from '../transport/types';
import { shellJoin } from '../util/quote';

/** What a Python reports about itself (_cb_vars.versions()). */
export interface IPythonVersions {
  python: string;
  pickleProtocol: number;
  numpy?: string;
  pandas?: string;
}

/** Values that cannot go to `remote`. */
export class VersionSkewError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VersionSkewError';
  }
}

/** Why `manifest` cannot be decoded by `remote`; undefined when it can. */
export function skew(
  manifest: IVarsManifest,
  remote: IPythonVersions
): string | undefined {
  const picklesSent = manifest.vars.some(v => v.format !== 'npy');
  if (picklesSent && manifest.pickleProtocol > remote.pickleProtocol) {
    return (
      `the notebook's Python ${manifest.python} wrote pickle protocol ${manifest.pickleProtocol}, ` +
      `which the cluster's Python ${remote.python} cannot read (protocol ${remote.pickleProtocol} at most); ` +
      'use --env with Python 3.8 or newer'
    );
  }
  for (const [lib, local] of Object.entries(manifest.libraries ?? {})) {
    const there = (remote as unknown as { [k: string]: string | undefined })[
      lib
    ];
    if (there === undefined) {
      return (
        `the values need ${lib} (${local} in the notebook), which the cluster's Python ${remote.python} does not have; ` +
        `add it to the env (--packages ${lib}, or --env with ${lib})`
      );
    }
    if (major(there) !== major(local)) {
      return (
        `${lib} ${local} in the notebook, ${lib} ${there} on the cluster: ` +
        `a ${lib} ${major(local)}.x value does not load on ${lib} ${major(there)}.x; ` +
        `use --env with ${lib} ${major(local)}.x on the cluster, or convert the value (to a list, for example)`
      );
    }
  }
  return undefined;
}

/** Throws VersionSkewError naming the values and both versions. */
export function checkSkew(
  manifest: IVarsManifest,
  remote: IPythonVersions,
  cluster: string
): void {
  const problem = skew(manifest, remote);
  if (problem) {
    const names = manifest.vars.map(v => v.name).join(', ');
    throw new VersionSkewError(
      `${names} cannot go to ${cluster}: ${problem}. Nothing was sent.`
    );
  }
}

/** The pickle protocol for `--out`: what both Pythons read (4 when the notebook's is unknown). */
export function outProtocol(
  remote: IPythonVersions | undefined,
  local: IVarsManifest | undefined
): number {
  const mine = local?.pickleProtocol ?? 4;
  return Math.min(mine, remote?.pickleProtocol ?? 4, 5);
}

/** Parses a `versions` answer; throws on anything else. */
export function parseVersions(value: unknown, where: string): IPythonVersions {
  const v = value as IPythonVersions;
  if (typeof v?.python !== 'string' || typeof v.pickleProtocol !== 'number') {
    throw new Error(`${where} did not report its Python versions`);
  }
  return v;
}

function major(version: string): string {
  return String(version).split('.')[0];
}

/**
 * A session's Python (its `versions` op): asked each time, one round trip on
 * the open tunnel, so a package installed in the session since counts.
 */
export async function sessionVersions(
  client: SessionClient
): Promise<IPythonVersions> {
  const reply = await client.request('versions');
  return parseVersions(reply.versions, 'the session');
}

/** A VENV2 python's versions through one exec, once per connection and python. */
export async function probeVersions(
  transport: ITransport,
  python: string,
  runtimeDir: string
): Promise<IPythonVersions> {
  const key = `${python}\0${runtimeDir}`;
  const cached = Private.probes.get(transport)?.get(key);
  if (cached) {
    return cached;
  }
  const script =
    'import sys, json; sys.path.insert(0, sys.argv[1]); import _cb_vars; ' +
    'print(json.dumps(_cb_vars.versions()))';
  const result = await transport.exec(
    `unset PYTHONHOME PYTHONPATH; ${shellJoin([python, '-c', script, runtimeDir])}`
  );
  if (result.code !== 0) {
    throw new Error(
      `asking ${python} on ${transport.cluster} for its versions failed: ${result.stderr.trim()}`
    );
  }
  const versions = parseVersions(
    JSON.parse(result.stdout.trim().split('\n').pop() ?? ''),
    python
  );
  let known = Private.probes.get(transport);
  if (!known) {
    known = new Map();
    Private.probes.set(transport, known);
  }
  known.set(key, versions);
  return versions;
}

namespace Private {
  export const probes = new WeakMap<ITransport, Map<string, IPythonVersions>>();
}

/**
 * The python of a built VENV2 (its `envs/<hash>.ready` marker, written by
 * _cb_envs); undefined while the env was never built (the job builds it and
 * the runner checks the versions then).
 */
export async function builtVenv2Python(
  transport: ITransport,
  workDir: string,
  envHash: string
): Promise<string | undefined> {
  try {
    const marker = await transport.readFile(`${workDir}/envs/${envHash}.ready`);
    const python = (JSON.parse(marker.toString('utf8')) as { python?: unknown })
      .python;
    return typeof python === 'string' && python.startsWith('/')
      ? python
      : undefined;
  } catch {
    return undefined;
  }
}
