/**
 * Transport bench: a command round trip on an open ssh2 connection (our
 * SshTransport) against its floors measured in the same run on the same
 * sshd: OpenSSH with a ControlMaster (mux) and plain `ssh host true`; plus
 * connect+auth time and small-file writes. Needs scripts/services/sshd.sh.
 *   npx tsc -p bench/tsconfig.json && node bench/build/bench/transport.js
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SshTransport } from '../src/bridge/transport/ssh';

const ROOT = path.resolve(__dirname, '../../..');
const ENV_FILE = path.join(ROOT, '.cache/services/sshd.env');

interface IRow {
  name: string;
  n: number;
  medianMs: number;
  p90Ms: number;
  meanMs: number;
}

function loadEnv(): { [k: string]: string } {
  if (!fs.existsSync(ENV_FILE)) {
    throw new Error(
      `${ENV_FILE} missing: run scripts/services/sshd.sh start first`
    );
  }
  const env: { [k: string]: string } = {};
  for (const line of fs.readFileSync(ENV_FILE, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) {
      env[m[1]] = m[2];
    }
  }
  return env;
}

function stats(name: string, samples: number[]): IRow {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number): number =>
    s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return {
    name,
    n: s.length,
    medianMs: round(q(0.5)),
    p90Ms: round(q(0.9)),
    meanMs: round(s.reduce((a, b) => a + b, 0) / s.length)
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

async function time(
  n: number,
  fn: () => Promise<unknown> | unknown
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

function ssh(args: string[]): void {
  const r = spawnSync('ssh', args, { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`ssh ${args.join(' ')} failed: ${r.stderr}`);
  }
}

async function main(): Promise<void> {
  const env = loadEnv();
  const config = {
    type: 'ssh' as const,
    host: '127.0.0.1',
    port: Number(env.SSHD_PORT),
    user: env.SSHD_USER,
    identityFile: env.SSHD_KEY,
    knownHostsFile: env.SSHD_KNOWN_HOSTS
  };
  const options = { sources: { home: os.tmpdir() }, agent: null };
  const rows: IRow[] = [];

  // Connect + auth (ed25519 key, host key verified against known_hosts).
  const connects = await time(10, async () => {
    const t = new SshTransport('bench', config, options);
    await t.connect();
    await t.close();
  });
  rows.push(stats('ssh2 connect + auth (SshTransport.connect)', connects));

  const t = new SshTransport('bench', config, options);
  await t.connect();
  await time(20, () => t.exec('true')); // warm up
  rows.push(
    stats(
      'ssh2 exec `true` on the open connection',
      await time(200, () => t.exec('true'))
    )
  );
  const one = Buffer.alloc(1024, 7);
  rows.push(
    stats(
      'writeFile 1 KiB over SFTP (default)',
      await time(50, () => t.writeFile('.cb-bench.dat', one))
    )
  );
  rows.push(
    stats(
      'readFile 1 KiB over SFTP (default)',
      await time(50, () => t.readFile('.cb-bench.dat'))
    )
  );
  const big = Buffer.alloc(8 * 1024 * 1024, 7);
  rows.push(
    stats(
      'writeFile 8 MiB over SFTP',
      await time(5, () => t.writeFile('.cb-bench.dat', big))
    )
  );
  await t.exec('rm -f .cb-bench.dat');
  await t.close();
  const e = new SshTransport('bench', config, { ...options, sftp: false });
  await e.connect();
  rows.push(
    stats(
      'writeFile 1 KiB over exec (cat > tmp && chmod && mv)',
      await time(50, () => e.writeFile('.cb-bench.dat', one))
    )
  );
  rows.push(
    stats(
      'readFile 1 KiB over exec (cat)',
      await time(50, () => e.readFile('.cb-bench.dat'))
    )
  );
  rows.push(
    stats(
      'writeFile 8 MiB over exec',
      await time(5, () => e.writeFile('.cb-bench.dat', big))
    )
  );
  await e.exec('rm -f .cb-bench.dat');
  await e.close();

  // Floors: OpenSSH, same server, same key.
  const cfg = env.SSHD_SSH_CONFIG;
  const ctl = path.join(
    fs.mkdtempSync(path.join(os.tmpdir(), 'cb-mux-')),
    'ctl'
  );
  ssh([
    '-F',
    cfg,
    '-o',
    'ControlMaster=yes',
    '-o',
    `ControlPath=${ctl}`,
    '-o',
    'ControlPersist=60',
    '-fN',
    'cb-target'
  ]);
  try {
    await time(5, () =>
      ssh(['-F', cfg, '-o', `ControlPath=${ctl}`, 'cb-target', 'true'])
    );
    rows.push(
      stats(
        'OpenSSH ControlMaster (mux) `ssh host true`',
        await time(50, () =>
          ssh(['-F', cfg, '-o', `ControlPath=${ctl}`, 'cb-target', 'true'])
        )
      )
    );
  } finally {
    spawnSync(
      'ssh',
      ['-F', cfg, '-o', `ControlPath=${ctl}`, '-O', 'exit', 'cb-target'],
      { stdio: 'ignore' }
    );
  }
  rows.push(
    stats(
      'OpenSSH plain `ssh host true` (connect each time)',
      await time(20, () => ssh(['-F', cfg, 'cb-target', 'true']))
    )
  );

  const exec = rows[1].medianMs;
  const mux = rows.find(r => r.name.includes('ControlMaster'))!.medianMs;
  console.log('| measurement | n | median ms | p90 ms | mean ms |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${r.n} | ${r.medianMs} | ${r.p90Ms} | ${r.meanMs} |`
    );
  }
  console.log(
    `\nssh2 exec vs OpenSSH mux floor: ${round(exec / mux)}x (lower is better; < 1 beats the floor)`
  );
  const out = path.join(ROOT, 'bench/results/transport.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(
    out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        host: os.hostname(),
        cpus: os.cpus().length,
        rows,
        ratioExecToMux: round(exec / mux)
      },
      null,
      2
    ) + '\n'
  );
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
