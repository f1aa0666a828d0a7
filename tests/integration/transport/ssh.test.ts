/**
 * SshTransport against the real OpenSSH servers of scripts/services/sshd.sh.
 */
import { spawnSync } from 'child_process';
import fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isTransportError } from '../../../src/bridge/transport/errors';
import { fingerprint } from '../../../src/bridge/transport/knownHosts';
import type { SshTransport } from '../../../src/bridge/transport/ssh';
import type { IPrompter } from '../../../src/bridge/transport/types';
import { envPrefix, shellQuote } from '../../../src/bridge/util/quote';
import { loadSshdEnv, targetTransport, type ISshdEnv } from './sshdEnv';

class Prompter implements IPrompter {
  asked: { prompt: string; password: boolean }[] = [];
  constructor(private readonly _answer: (prompt: string) => string) {}
  async ask(prompt: string, password: boolean): Promise<string> {
    this.asked.push({ prompt, password });
    return this._answer(prompt);
  }
}

/** A host key blob from a .pub file. */
function pubBlob(file: string): Buffer {
  return Buffer.from(
    fs.readFileSync(file, 'utf8').trim().split(/\s+/)[1],
    'base64'
  );
}

function countLines(file: string, needle: string): number {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(l => l.includes(needle)).length;
}

/** No lone UTF-16 surrogates: such strings cannot cross a UTF-8 boundary intact. */
function wellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(
    s
  );
}

const hostileText = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "'",
        '"',
        '$(id)',
        '`id`',
        '${HOME}',
        '\\',
        '\n',
        '\t',
        ' ',
        '*',
        '?',
        '[a]',
        '~',
        '!',
        ';',
        '&',
        '|',
        '<',
        '>',
        '#',
        '-n',
        'é',
        '日本',
        '😀'
      ),
      fc.string({ unit: 'binary', maxLength: 6 })
    ),
    { maxLength: 8 }
  )
  .map(p => p.join(''))
  .filter(s => !s.includes('\0') && wellFormed(s));

describe('SshTransport with a real sshd', () => {
  let env: ISshdEnv;
  let t: SshTransport;
  let tmp: string;

  beforeAll(async () => {
    env = loadSshdEnv();
    t = targetTransport(env);
    await t.connect();
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-itest-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('runs commands as the test user and reports exit codes and stderr', async () => {
    const r = await t.exec('whoami; echo oops >&2; exit 7');
    expect(r).toEqual({
      stdout: `${env.SSHD_USER}\n`,
      stderr: 'oops\n',
      code: 7
    });
    expect(await t.home()).toBe(env.SSHD_HOME);
    expect(t.state).toBe('connected');
  });

  it('passes stdin and streams output in order', async () => {
    expect((await t.exec('cat', { stdin: 'round\ntrip\n' })).stdout).toBe(
      'round\ntrip\n'
    );
    const chunks: Buffer[] = [];
    const r = await t.stream(
      'for i in $(seq 1 2000); do echo line $i; done; exit 4',
      {
        onStdout: c => chunks.push(c)
      }
    ).done;
    expect(r.code).toBe(4);
    const lines = Buffer.concat(chunks).toString().trimEnd().split('\n');
    expect(lines).toHaveLength(2000);
    expect(lines[1999]).toBe('line 2000');
  });

  it.each([
    ['SFTP', true],
    ['exec', false]
  ])(
    'writes files atomically with the given mode and reads them back byte-exact (%s)',
    async (_how, sftp) => {
      const t = targetTransport(env, {}, { sftp });
      const dir = `cb-itest-${process.pid}`;
      await t.exec(`mkdir -p ${shellQuote(dir)}`);
      try {
        const data = Buffer.from(
          Array.from({ length: 70000 }, (_, i) => (i * 7) % 256)
        );
        await t.writeFile(`${dir}/bin.dat`, data, 0o640);
        expect(await t.readFile(`${dir}/bin.dat`)).toEqual(data);
        expect(
          (await t.exec(`stat -c %a ${dir}/bin.dat; ls -A ${dir}`)).stdout
        ).toBe('640\nbin.dat\n');
        await t.writeFile(`${env.SSHD_HOME}/${dir}/bin.dat`, 'second');
        expect((await t.readFile(`${dir}/bin.dat`)).toString()).toBe('second');
        expect((await t.exec(`stat -c %a ${dir}/bin.dat`)).stdout).toBe(
          '600\n'
        );
        const missing = await t
          .readFile(`${dir}/nope`)
          .catch((e: NodeJS.ErrnoException) => e);
        expect(missing).toMatchObject({ code: 'ENOENT' });
        const denied = await t
          .writeFile('/root/cb-denied', 'x')
          .catch((e: Error) => e);
        expect(denied).toBeInstanceOf(Error);
      } finally {
        await t.exec(`rm -rf ${shellQuote(dir)}`);
        await t.close();
      }
    }
  );

  it('keeps hostile file names, values and env names intact through the remote shell', async () => {
    const dir = `cb-hostile-${process.pid}`;
    await t.exec(`mkdir -p ${shellQuote(dir)}`);
    try {
      await fc.assert(
        fc.asyncProperty(
          hostileText.filter(
            s =>
              s.length > 0 &&
              !s.includes('/') &&
              s !== '.' &&
              s !== '..' &&
              Buffer.byteLength(s) < 200
          ),
          hostileText,
          async (name, value) => {
            const file = `${dir}/${name}`;
            await t.writeFile(file, value);
            expect((await t.readFile(file)).toString()).toBe(value);
            const r = await t.exec(
              `printf %s ${shellQuote(value)}; cat -- ${shellQuote(file)}; rm -- ${shellQuote(file)}`,
              {
                env: { CB_VALUE: value }
              }
            );
            expect(r.stdout).toBe(value + value);
            const e = await t.exec('printf %s "$CB_VALUE"', {
              env: { CB_VALUE: value }
            });
            expect(e.stdout).toBe(value);
          }
        ),
        { numRuns: 60 }
      );
      // Names that are not variable names never reach the shell.
      expect(() => envPrefix({ 'A;rm -rf ~': 'x' })).toThrow(
        /invalid environment/
      );
      await expect(t.exec('true', { env: { 'X=$(id)': '1' } })).rejects.toThrow(
        /invalid environment/
      );
      expect(
        (await t.exec(`ls -A ${shellQuote(dir)} | wc -l`)).stdout.trim()
      ).toBe('0');
    } finally {
      await t.exec(`rm -rf ${shellQuote(dir)}`);
    }
  });

  it('works with a hostile cluster name (it never reaches a shell)', async () => {
    const name = `x'; touch /tmp/cb-pwned-${process.pid}; $(id) \`id\``;
    const h = targetTransport(env, {}, {}, name);
    expect((await h.exec(`printf %s ${shellQuote(name)}`)).stdout).toBe(name);
    expect(fs.existsSync(`/tmp/cb-pwned-${process.pid}`)).toBe(false);
    await h.close();
  });

  it('aborting a command kills its remote process group (no orphans)', async () => {
    const ac = new AbortController();
    const pidFile = `cb-abort-${process.pid}.pid`;
    // A background child and a foreground one: both must go.
    const p = t.exec(
      `sleep 300 & echo $! > ${pidFile}; sh -c 'echo $$ >> ${pidFile}; exec sleep 301'; wait`,
      { signal: ac.signal }
    );
    let pids: string[] = [];
    for (let i = 0; i < 100 && pids.length < 2; i++) {
      await new Promise(r => setTimeout(r, 50));
      pids = (await t.exec(`cat ${pidFile} 2>/dev/null`)).stdout
        .split('\n')
        .filter(Boolean);
    }
    expect(pids).toHaveLength(2);
    for (const pid of pids) {
      expect((await t.exec(`kill -0 ${pid}`)).code).toBe(0);
    }
    ac.abort();
    await expect(p).rejects.toMatchObject({ kind: 'aborted' });
    for (const pid of pids) {
      let alive = true;
      for (let i = 0; i < 100 && alive; i++) {
        alive = (await t.exec(`kill -0 ${pid} 2>/dev/null`)).code === 0;
        if (alive) {
          await new Promise(r => setTimeout(r, 50));
        }
      }
      expect(alive).toBe(false);
    }
    await t.exec(`rm -f ${pidFile}`);
  });

  it('runs many commands at once within MaxSessions', async () => {
    const rs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => t.exec(`echo ${i}`))
    );
    expect(rs.map(r => r.stdout)).toEqual(
      Array.from({ length: 40 }, (_, i) => `${i}\n`)
    );
  });

  it('goes through the ProxyJump hop (seen in the jump sshd log)', async () => {
    const needle = `target 127.0.0.1 port ${env.SSHD_PORT}`;
    const before = countLines(env.SSHD_JUMP_LOG, needle);
    const j = targetTransport(env, {
      proxyJump: `${env.SSHD_USER}@127.0.0.1:${env.SSHD_JUMP_PORT}`
    });
    expect((await j.exec('echo via jump; whoami')).stdout).toBe(
      `via jump\n${env.SSHD_USER}\n`
    );
    await j.close();
    // sshd writes its log asynchronously from our point of view.
    let after = before;
    for (let i = 0; i < 50 && after === before; i++) {
      await new Promise(r => setTimeout(r, 20));
      after = countLines(env.SSHD_JUMP_LOG, needle);
    }
    expect(after).toBe(before + 1);
  });

  it('goes through several hops (jump, then jump again)', async () => {
    const needle = `target 127.0.0.1 port ${env.SSHD_JUMP_PORT}`;
    const before = countLines(env.SSHD_JUMP_LOG, needle);
    const hop = `${env.SSHD_USER}@127.0.0.1:${env.SSHD_JUMP_PORT}`;
    const j = targetTransport(env, { proxyJump: `${hop},${hop}` });
    expect((await j.exec('echo two hops')).stdout).toBe('two hops\n');
    await j.close();
    let after = before;
    for (let i = 0; i < 50 && after === before; i++) {
      await new Promise(r => setTimeout(r, 20));
      after = countLines(env.SSHD_JUMP_LOG, needle);
    }
    expect(after).toBe(before + 1);
  });

  it('refuses a changed host key, with no way around it from a prompt', async () => {
    const known = path.join(tmp, 'known_hosts');
    // Record the JUMP server's key for the target's address.
    fs.writeFileSync(
      known,
      `[127.0.0.1]:${env.SSHD_PORT} ${fs.readFileSync(env.SSHD_JUMP_HOST_KEY_PUB, 'utf8').split(/\s+/).slice(0, 2).join(' ')}\n`
    );
    const p = new Prompter(() => 'yes');
    const c = targetTransport(env, { knownHostsFile: known });
    const err = await c.connect(p).catch((e: unknown) => e);
    expect(isTransportError(err, 'hostkey')).toBe(true);
    expect((err as Error).message).toMatch(
      /REMOTE HOST IDENTIFICATION HAS CHANGED/
    );
    expect((err as Error).message).toContain(
      fingerprint(pubBlob(env.SSHD_HOST_KEY_PUB))
    );
    expect(p.asked).toEqual([]);
    expect(
      await c
        .exec('true', { prompter: p })
        .catch((e: unknown) => isTransportError(e, 'hostkey'))
    ).toBe(true);
  });

  it('accepts an unknown host key only after a yes, and records it for OpenSSH too', async () => {
    const known = path.join(tmp, 'known_hosts');
    const no = new Prompter(() => 'no');
    const refused = await targetTransport(env, { knownHostsFile: known })
      .connect(no)
      .catch((e: unknown) => e);
    expect(isTransportError(refused, 'hostkey')).toBe(true);
    expect(no.asked[0].prompt).toContain(
      `The authenticity of host '[127.0.0.1]:${env.SSHD_PORT}' can't be established.`
    );
    expect(no.asked[0].prompt).toContain(
      `ED25519 key fingerprint is ${fingerprint(pubBlob(env.SSHD_HOST_KEY_PUB))}.`
    );
    expect(fs.existsSync(known)).toBe(false);

    const silent = await targetTransport(env, { knownHostsFile: known })
      .connect()
      .catch((e: unknown) => e);
    expect(isTransportError(silent, 'hostkey')).toBe(true);

    const yes = new Prompter(() => 'yes');
    const c = targetTransport(env, { knownHostsFile: known });
    await c.connect(yes);
    expect((await c.exec('echo ok')).stdout).toBe('ok\n');
    await c.close();
    // The recorded line is one OpenSSH itself accepts with StrictHostKeyChecking=yes.
    const ssh = spawnSync(
      'ssh',
      [
        '-F',
        '/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${known}`,
        '-o',
        'GlobalKnownHostsFile=/dev/null',
        '-i',
        env.SSHD_KEY,
        '-p',
        env.SSHD_PORT,
        `${env.SSHD_USER}@127.0.0.1`,
        'echo openssh-ok'
      ],
      { encoding: 'utf8' }
    );
    expect(ssh.stderr).not.toMatch(/verification failed/);
    expect(ssh.stdout).toBe('openssh-ok\n');
  });

  it('fails clearly on an unreachable port', async () => {
    const c = targetTransport(env, { port: 1 });
    const err = await c.connect().catch((e: unknown) => e);
    expect(isTransportError(err, 'unreachable')).toBe(true);
    expect((err as Error).message).toBe(
      `cannot connect to ${env.SSHD_USER}@127.0.0.1 port 1: connection refused (is sshd running there, and is the port right?)`
    );
    expect(c.state).toBe('error');
  });

  it('fails clearly on an unknown host name', async () => {
    const err = await targetTransport(env, { host: 'no-such-host.invalid' })
      .connect()
      .catch((e: unknown) => e);
    expect(isTransportError(err, 'unreachable')).toBe(true);
    expect((err as Error).message).toMatch(
      /no-such-host\.invalid .*cannot be resolved/
    );
  });

  it('fails clearly with a key the server does not know', async () => {
    const err = await targetTransport(env, { identityFile: env.SSHD_KEY_WRONG })
      .connect()
      .catch((e: unknown) => e);
    expect(isTransportError(err, 'auth')).toBe(true);
    expect((err as Error).message).toBe(
      `permission denied for ${env.SSHD_USER}@127.0.0.1 port ${env.SSHD_PORT}: tried key ${env.SSHD_KEY_WRONG}; the server accepts: publickey`
    );
  });

  it('authenticates with ssh-agent', async () => {
    const agent = spawnSync(
      'ssh-agent',
      ['-s', '-a', path.join(tmp, 'agent.sock')],
      {
        encoding: 'utf8'
      }
    );
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1]);
    expect(pid).toBeGreaterThan(0);
    try {
      const sock = path.join(tmp, 'agent.sock');
      const add = spawnSync('ssh-add', [env.SSHD_KEY], {
        env: { ...process.env, SSH_AUTH_SOCK: sock },
        encoding: 'utf8'
      });
      expect(add.status).toBe(0);
      // The configured key is wrong: only the agent's key can get in.
      const c = targetTransport(
        env,
        { identityFile: env.SSHD_KEY_WRONG },
        { agent: sock }
      );
      expect((await c.exec('echo agent-ok')).stdout).toBe('agent-ok\n');
      await c.close();
    } finally {
      process.kill(pid, 'SIGTERM');
    }
  });

  it('asks for the passphrase of an encrypted key once per connection', async () => {
    const p = new Prompter(() => env.SSHD_KEY_PASSPHRASE);
    const c = targetTransport(env, { identityFile: env.SSHD_KEY_ENCRYPTED });
    await c.connect(p);
    await c.exec('true');
    await c.exec('true');
    expect(p.asked).toEqual([
      {
        prompt: `Enter passphrase for key '${env.SSHD_KEY_ENCRYPTED}': `,
        password: true
      }
    ]);
    await c.close();
  });

  it('answers PAM keyboard-interactive prompts through the prompter', async () => {
    const p = new Prompter(() => env.SSHD_PASSWORD);
    const c = targetTransport(env, {
      port: Number(env.SSHD_KBD_PORT),
      identityFile: undefined,
      knownHostsFile: env.SSHD_KNOWN_HOSTS
    });
    await c.connect(p);
    expect((await c.exec('whoami')).stdout).toBe(`${env.SSHD_USER}\n`);
    expect(p.asked).toHaveLength(1);
    expect(p.asked[0].password).toBe(true);
    expect(p.asked[0].prompt).toMatch(/password/i);
    await c.close();
  });

  it('reconnects after the connection is killed; the running stream rejects', async () => {
    const c = targetTransport(env);
    // $PPID of the remote shell is the sshd session process of OUR connection only.
    const first = (await c.exec('echo $PPID')).stdout.trim();
    expect(first).toMatch(/^\d+$/);
    const chunks: Buffer[] = [];
    const running = c.stream('while :; do echo tick; sleep 0.05; done', {
      onStdout: b => chunks.push(b)
    });
    while (chunks.length === 0) {
      await new Promise(r => setTimeout(r, 20));
    }
    process.kill(Number(first), 'SIGKILL');
    const err = await running.done.catch((e: unknown) => e);
    expect(isTransportError(err, 'disconnected')).toBe(true);
    const second = (await c.exec('echo $PPID')).stdout.trim();
    expect(second).toMatch(/^\d+$/);
    expect(second).not.toBe(first);
    expect(c.state).toBe('connected');
    await c.close();
  });
});
