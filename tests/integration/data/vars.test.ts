/**
 * --in/--out and %cluster push/pull through the real kernel, driven as the
 * frontend drives it (vars_check.py: the comm's varsExport, the export code
 * run in a "notebook kernel", the cell's metadata, the import code from the
 * execute_reply's metadata), on the `local` cluster and the test sshd:
 * round trips of every type into a session and with --fresh, unknown and
 * code values, a missing --out name, a hostile pickle refused (and accepted
 * with trustPickle), no metadata, version skew refused before sending.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { IClusterConfig } from '../../../src/shared/config';
import { sshCluster, sshd } from '../jobs/helpers';
import {
  IKernelEnv,
  kernelEnv,
  PYTHON,
  requirePython,
  run
} from '../kernel/helpers';

const SCRIPT = path.join(__dirname, 'vars_check.py');
const VARS_OUT = 'cluster_bridge_vars_out';

interface ICell {
  reply: { status: string; [key: string]: any };
  reply_metadata: { [key: string]: any };
  stdout: string;
  error: { ename: string; evalue: string } | null;
  imported: boolean | null;
  import_error: string | null;
  out_dir_after?: boolean;
}

async function scenario(
  name: string,
  cluster: string,
  clusters: { [name: string]: IClusterConfig },
  workDir: string
): Promise<{ [key: string]: any }> {
  const k: IKernelEnv = kernelEnv();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-vars-it-'));
  try {
    const config = path.join(k.dir, 'clusters.json');
    fs.writeFileSync(config, JSON.stringify({ clusters }));
    const result = await run(PYTHON, [SCRIPT, name, cluster], {
      env: {
        ...k.env,
        CLUSTER_BRIDGE_CONFIG: config,
        CB_VARS_TMP: tmp,
        CB_VARS_WORKDIR: workDir
      },
      timeoutMs: 400000
    });
    if (result.code !== 0) {
      throw new Error(
        `vars_check.py ${name} ${cluster} failed (exit ${result.code}):\n${result.stderr}\n${result.stdout.slice(0, 4000)}`
      );
    }
    return JSON.parse(result.stdout.trim().split('\n').pop() ?? '');
  } finally {
    k.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function ok(cell: ICell): ICell {
  if (cell.reply?.status !== 'ok') {
    throw new Error(`cell failed: ${JSON.stringify(cell).slice(0, 3000)}`);
  }
  return cell;
}

function expectRoundTrip(r: { cell: ICell; checks: { [k: string]: boolean } }) {
  ok(r.cell);
  expect(r.cell.import_error).toBeNull();
  expect(r.cell.imported).toBe(true);
  // The import step removes its folder.
  expect(r.cell.out_dir_after).toBe(false);
  for (const [name, same] of Object.entries(r.checks)) {
    expect([name, same]).toEqual([name, true]);
  }
}

function expectBasics(r: { [key: string]: any }): void {
  expectRoundTrip(r.session);
  expectRoundTrip(r.fresh);
  expect(r.unknown.problem).toMatch(/^NameError: name 'nope' is not defined/);
  expect(r.unknown.files).toEqual([]);
  expect(r.code.problem).toMatch(
    /^TypeError: fn is a function.*send data, not code/
  );
  expect(r.code.files).toEqual([]);
  // A missing --out name: the cell's error names it, no import step, nothing set.
  const missing: ICell = r.missing_out;
  expect(missing.reply.status).toBe('error');
  expect(missing.error?.ename).toBe('NameError');
  expect(missing.error?.evalue).toMatch(/'zz'/);
  expect(missing.reply_metadata[VARS_OUT]).toBeUndefined();
  expect(r.keep_after_missing).toBe('local');
  // Hostile pickle from the remote: the allow-list refuses it, naming the global.
  ok(r.hostile);
  expect(r.hostile.import_error).toMatch(/UnpicklingError: evil was refused/);
  expect(r.hostile.import_error).toMatch(/posix\.system/);
  expect(r.hostile.import_error).toMatch(/trustPickle/);
  expect(r.hostile_marker).toBe(false);
  expect(r.hostile_set).toEqual([]);
  // push / pull.
  ok(r.push);
  expect(ok(r.use).stdout).toBe('45\n');
  ok(r.pull);
  expect(r.pulled).toBe(45);
  expect(r.pull_no_session.reply.status).toBe('error');
  expect(r.pull_no_session.error.evalue).toMatch(/no live session/);
  // No metadata: a clear error saying where it works.
  for (const cell of [
    r.no_metadata_in,
    r.no_metadata_out,
    r.no_metadata_push
  ]) {
    expect(cell.reply.status).toBe('error');
    expect(cell.error.evalue).toMatch(/JupyterLab/);
    expect(cell.error.evalue).toMatch(/own Python kernel/);
  }
}

describe('variables in and out', () => {
  beforeAll(() => requirePython(['jupyter_client', 'numpy', 'pandas']));

  it('round trips, errors, hostile pickle, push/pull on the local cluster', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-vars-work-'));
    try {
      expectBasics(
        await scenario(
          'basics',
          'lv',
          { lv: { type: 'local', workDir: work } },
          work
        )
      );
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }, 420000);

  it('round trips, errors, hostile pickle, push/pull over the test sshd', async () => {
    const facts = sshd();
    const workDir = `${facts.home}/cb-vars-${process.pid}`;
    expectBasics(
      await scenario(
        'basics',
        'it-ssh',
        { 'it-ssh': sshCluster(facts, { workDir }) },
        workDir
      )
    );
  }, 420000);

  it('trustPickle: the cluster may send any pickle', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-vars-work-'));
    try {
      const r = await scenario(
        'trusted',
        'trusting',
        { trusting: { type: 'local', workDir: work, trustPickle: true } },
        work
      );
      ok(r.cell);
      expect(r.cell.import_error).toBeNull();
      expect(r.marker).toBe(true);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }, 420000);

  it('refuses version skew before sending anything (a second VENV2 with numpy 2)', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-vars-work-'));
    try {
      const r = await scenario(
        'skew',
        'sk',
        {
          sk: {
            type: 'local',
            workDir: work,
            envs: { np2: { systemSitePackages: false } }
          }
        },
        work
      );
      ok(r.start);
      expect(r.missing.reply.status).toBe('error');
      expect(r.missing.error.ename).toBe('VersionSkewError');
      expect(r.missing.error.evalue).toMatch(/numpy .* does not have/);
      expect(r.skew.reply.status).toBe('error');
      expect(r.skew.error.ename).toBe('VersionSkewError');
      expect(r.skew.error.evalue).toMatch(
        /numpy 1\.[0-9.]+ in the notebook, numpy 2\.0\.0 on the cluster/
      );
      expect(r.skew.error.evalue).toMatch(/--env/);
      expect(r.skew.error.evalue).toMatch(/Nothing was sent/);
      // Builtins need no numpy: they go.
      expect(ok(r.plain).stdout).toBe('[1, 2]\n');
      // A one-off process on the same (built) VENV2: refused before sending too.
      expect(r.fresh_skew.reply.status).toBe('error');
      expect(r.fresh_skew.error.ename).toBe('VersionSkewError');
      expect(r.fresh_skew.error.evalue).toMatch(/numpy 2\.0\.0 on the cluster/);
      // Nothing of the refused cells reached the remote; the sent one was removed after use.
      expect(r.remote_vars).toEqual([]);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }, 420000);

  it('a full remote disk is a clear error, and nothing is left half-sent', async () => {
    const facts = sshd();
    const workDir = `${facts.home}/cb-vars-full-${process.pid}`;
    const vars = `${workDir}/vars`;
    fs.mkdirSync(vars, { recursive: true });
    const uid = fs.statSync(facts.home).uid;
    fs.chownSync(workDir, uid, -1);
    // A small file system where the values land (root: the test machines run as root).
    execFileSync('mount', [
      '-t',
      'tmpfs',
      '-o',
      `size=8m,uid=${uid},mode=0700`,
      'tmpfs',
      vars
    ]);
    try {
      const r = await scenario(
        'diskfull',
        'it-ssh',
        { 'it-ssh': sshCluster(facts, { workDir }) },
        workDir
      );
      expect(r.full.reply.status).toBe('error');
      expect(r.full.error.evalue).toMatch(
        /the disk of it-ssh is full \([0-9]+ KiB free\)/
      );
      expect(r.full.error.evalue).toMatch(/not sent/);
      expect(r.left).toEqual([]);
      // The same through the deflated path (a value that compresses, still too big).
      expect(r.full_z.reply.status).toBe('error');
      expect(r.full_z.error.evalue).toMatch(
        /the disk of it-ssh is full \([0-9]+ KiB free\).*not sent/
      );
      expect(r.left_z).toEqual([]);
      expect(ok(r.after).stdout).toBe('1\n');
    } finally {
      execFileSync('umount', [vars]);
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  }, 420000);
});
