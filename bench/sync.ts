/**
 * bench/sync.ts: `--sync` of a project of 2,000 small files over the real
 * sshd (issue 11), side by side in one run with `rsync -a` over the same sshd:
 *  - first sync (everything travels) vs rsync's first copy;
 *  - a second sync with one file changed (goal < 0.3 s on loopback) vs rsync;
 *  - a sync with nothing changed vs rsync;
 *  - the local part alone (walk + cached hashes), no remote.
 * Prints a markdown table; writes bench/results/sync.json.
 *
 *   npx tsc -p bench/tsconfig.json && node bench/build/bench/sync.js [--quick]
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { syncProject, type ISyncTarget } from '../src/bridge/data/sync';
import { SyncCache } from '../src/bridge/data/syncCache';
import { walkProject } from '../src/bridge/data/syncWalk';
import {
  benchManager,
  median,
  p90,
  ROOT,
  serviceFacts,
  sshdCluster,
  writeResult
} from './support';

const QUICK = process.argv.includes('--quick');
const RUNS = QUICK ? 5 : 15;
const FILES = 2000;

async function main(): Promise<void> {
  const facts = serviceFacts('sshd');
  const dir = fs.mkdtempSync(path.join(ROOT, '.cache', 'bench-sync-'));
  const proj = path.join(dir, 'project');
  makeProject(proj);
  const workDir = `.cb-bench-sync-${process.pid}`;
  const manager = benchManager(dir, {
    ssh: sshdCluster(facts, `~/${workDir}`)
  });
  const stateDir = path.join(dir, 'state');
  const notebook = path.join(proj, 'bench.ipynb');
  try {
    const open = await manager.open(manager.registry.resolve('ssh'));
    const target: ISyncTarget = {
      cluster: 'ssh',
      transport: open.transport,
      agent: open.agent,
      workDir: open.runtime.workDir
    };
    const sync = async () => {
      const t0 = process.hrtime.bigint();
      const r = await syncProject(target, {
        dir: '.',
        notebook,
        stateDir,
        notice: () => undefined
      });
      return { ms: Number(process.hrtime.bigint() - t0) / 1e6, sent: r.sent };
    };
    const rsyncDest = `${workDir}/rsync/`;
    const rsync = () => {
      const t0 = process.hrtime.bigint();
      execFileSync('rsync', [
        '-a',
        '--delete',
        '-e',
        `ssh -p ${facts.SSHD_PORT} -i ${facts.SSHD_KEY} -o UserKnownHostsFile=${facts.SSHD_KNOWN_HOSTS} -o StrictHostKeyChecking=yes -o BatchMode=yes`,
        `${proj}/`,
        `${facts.SSHD_USER}@${facts.SSHD_HOST}:${rsyncDest}`
      ]);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    // First: everything travels.
    const first = await sync();
    const rsyncFirst = rsync();
    // One file changed, then nothing changed, interleaved with rsync.
    const changed: number[] = [];
    const rsyncChanged: number[] = [];
    const same: number[] = [];
    const rsyncSame: number[] = [];
    const local: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      fs.writeFileSync(
        path.join(proj, 'pkg0', 'mod0.py'),
        `VALUE = ${i}\n${'#'.repeat(1000)}\n`
      );
      const c = await sync();
      if (c.sent !== 1) {
        throw new Error(`one changed file sent ${c.sent} files`);
      }
      changed.push(c.ms);
      rsyncChanged.push(rsync());
      same.push((await sync()).ms);
      rsyncSame.push(rsync());
      local.push(localPart(proj, stateDir));
    }
    const rows = [
      ['first sync (2,000 files)', first.ms, rsyncFirst],
      ['one file changed', median(changed), median(rsyncChanged)],
      ['nothing changed', median(same), median(rsyncSame)]
    ];
    console.log(
      `\n--sync of ${FILES} small files over the test sshd (loopback), ${RUNS} runs\n`
    );
    console.log('| case | --sync ms | rsync -a ms |');
    console.log('| --- | ---: | ---: |');
    for (const [name, ours, theirs] of rows) {
      console.log(
        `| ${name} | ${(ours as number).toFixed(0)} | ${(theirs as number).toFixed(0)} |`
      );
    }
    console.log(
      `| p90 one file changed | ${p90(changed).toFixed(0)} | ${p90(rsyncChanged).toFixed(0)} |`
    );
    console.log(
      `\nlocal part alone (walk + ${FILES} cached hashes, no remote): median ${median(local).toFixed(1)} ms`
    );
    const file = writeResult('sync', {
      files: FILES,
      runs: RUNS,
      firstMs: first.ms,
      rsyncFirstMs: rsyncFirst,
      oneChangedMs: median(changed),
      oneChangedP90Ms: p90(changed),
      rsyncOneChangedMs: median(rsyncChanged),
      noChangeMs: median(same),
      rsyncNoChangeMs: median(rsyncSame),
      localPartMs: median(local),
      goalOneChangedMs: 300
    });
    console.log(`\nwritten to ${path.relative(ROOT, file)}`);
  } finally {
    await manager.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(path.join(facts.SSHD_HOME, workDir), {
      recursive: true,
      force: true
    });
  }
}

/** 2,000 small files (0.5-4 KB) in 100 packages, plus a .gitignore'd folder. */
function makeProject(proj: string): void {
  let n = 0;
  for (let p = 0; n < FILES; p++) {
    const pkg = path.join(proj, `pkg${p}`);
    fs.mkdirSync(pkg, { recursive: true });
    for (let m = 0; m < 20 && n < FILES; m++, n++) {
      const file = path.join(pkg, `mod${m}.py`);
      fs.writeFileSync(
        file,
        `VALUE = ${n}\n${'#'.repeat(500 + ((n * 37) % 3500))}\n`
      );
      // Written an hour ago, like a project's files (fresh ones are hashed again).
      fs.utimesSync(
        file,
        new Date(Date.now() - 3600e3),
        new Date(Date.now() - 3600e3)
      );
    }
  }
  fs.mkdirSync(path.join(proj, 'results'));
  fs.writeFileSync(
    path.join(proj, 'results', 'ignored.bin'),
    Buffer.alloc(1 << 20)
  );
  fs.writeFileSync(path.join(proj, '.gitignore'), 'results/\n');
}

/** What a no-change sync costs before its exec: walk, the cache read, hash lookups. */
function localPart(proj: string, stateDir: string): number {
  const t0 = process.hrtime.bigint();
  const walked = walkProject(fs.realpathSync(proj));
  const files = fs.readdirSync(path.join(stateDir, 'sync'));
  const cache = new SyncCache(path.join(stateDir, 'sync', files[0]));
  let hits = 0;
  for (const e of walked.entries) {
    if (e.kind === 'f' && cache.hashOf(e)) {
      hits++;
    }
  }
  if (hits < FILES - 1) {
    throw new Error(`only ${hits} cached hashes`);
  }
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
