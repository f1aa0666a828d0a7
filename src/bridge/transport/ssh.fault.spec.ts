/**
 * Fault injection against ssh2's in-process Server: drops, hostile output,
 * session refusals, host keys and prompts. The real-sshd tests live in
 * tests/integration/transport.
 */
jest.setTimeout(30000);

import * as fs from 'fs';
import * as net from 'net';
import { isTransportError } from './errors';
import { fingerprint } from './knownHosts';
import { SshTransport, type ISshTransportOptions } from './ssh';
import { FakeSshd, finish } from '../../../tests/support/fakeSshd';
import type { IPrompter } from './types';

class Prompter implements IPrompter {
  asked: { prompt: string; password: boolean }[] = [];
  constructor(private readonly _answers: (prompt: string) => string) {}
  async ask(prompt: string, password: boolean): Promise<string> {
    this.asked.push({ prompt, password });
    return this._answers(prompt);
  }
}

function transport(
  sshd: FakeSshd,
  config: Partial<import('../../shared/config').IClusterConfig> = {},
  options: ISshTransportOptions = {}
): SshTransport {
  return new SshTransport(
    'fake',
    {
      type: 'ssh',
      host: '127.0.0.1',
      port: sshd.port,
      user: 'tester',
      identityFile: sshd.keyFile,
      knownHostsFile: sshd.knownHostsFile,
      ...config
    },
    {
      sources: { home: sshd.dir, localUser: 'tester' },
      agent: null,
      ...options
    }
  );
}

/** Default command handler: echo, binary, huge, half (drop mid-stream), sleep. */
function handler(sshd: () => FakeSshd) {
  return (command: string, ch: import('ssh2').ServerChannel): void => {
    const cmd = command;
    let m: RegExpExecArray | null;
    if ((m = /^echo (.*)$/.exec(cmd))) {
      ch.write(m[1] + '\n');
      finish(ch, 0);
    } else if (cmd === 'binary') {
      ch.write(
        Buffer.from([0, 255, 254, 0x1b, 0x5b, 0x32, 0x4a, 10, 13, 0xc3])
      );
      ch.stderr.write(Buffer.from([0xff, 0xfe]));
      finish(ch, 0);
    } else if ((m = /^huge (\d+)$/.exec(cmd))) {
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let left = Number(m[1]);
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!ch.write(chunk.subarray(0, n))) {
            ch.once('drain', pump);
            return;
          }
        }
        finish(ch, 0);
      };
      pump();
    } else if (cmd === 'half') {
      ch.write('first line\n');
      setTimeout(() => sshd().dropAll(), 50);
    } else if (cmd === 'sleep') {
      // Never ends by itself.
    } else {
      ch.stderr.write(`unknown command: ${cmd}\n`);
      finish(ch, 127);
    }
  };
}

describe('SshTransport against an in-process server', () => {
  let sshd: FakeSshd;
  const handle = handler(() => sshd);

  afterEach(async () => {
    await sshd?.stop();
  });

  async function start(
    extra: Partial<ConstructorParameters<typeof FakeSshd>[0]> = {}
  ): Promise<void> {
    sshd = new FakeSshd({ onExec: handle, ...extra });
    await sshd.start();
    sshd.trust();
  }

  it('runs commands on one pooled connection', async () => {
    await start();
    const t = transport(sshd);
    expect(t.state).toBe('disconnected');
    const rs = await Promise.all([1, 2, 3].map(i => t.exec(`echo ${i}`)));
    expect(rs.map(r => r.stdout)).toEqual(['1\n', '2\n', '3\n']);
    expect(t.state).toBe('connected');
    expect(sshd.connections).toBe(1);
    await t.close();
    expect(t.state).toBe('disconnected');
  });

  it('rejects an in-flight stream on a drop, and the next exec reconnects', async () => {
    await start();
    const t = transport(sshd);
    const chunks: Buffer[] = [];
    const h = t.stream('half', { onStdout: c => chunks.push(c) });
    const err = await h.done.catch((e: unknown) => e);
    expect(isTransportError(err, 'disconnected')).toBe(true);
    expect(Buffer.concat(chunks).toString()).toBe('first line\n');
    expect((await t.exec('echo again')).stdout).toBe('again\n');
    expect(sshd.connections).toBe(2);
    await t.close();
  });

  it('keeps hostile binary output byte-exact and streams huge output in full', async () => {
    await start();
    const t = transport(sshd);
    const chunks: Buffer[] = [];
    const errs: Buffer[] = [];
    const r = await t.stream('binary', {
      onStdout: c => chunks.push(c),
      onStderr: c => errs.push(c)
    }).done;
    expect(r.code).toBe(0);
    expect(Buffer.concat(chunks)).toEqual(
      Buffer.from([0, 255, 254, 0x1b, 0x5b, 0x32, 0x4a, 10, 13, 0xc3])
    );
    expect(Buffer.concat(errs)).toEqual(Buffer.from([0xff, 0xfe]));
    let total = 0;
    const size = 32 * 1024 * 1024;
    await t.stream(`huge ${size}`, { onStdout: c => (total += c.length) }).done;
    expect(total).toBe(size);
    const over = await t
      .exec(`huge ${size}`, { maxBuffer: 1 << 20 })
      .catch((e: unknown) => e);
    expect(isTransportError(over, 'overflow')).toBe(true);
    // The connection survives all of that.
    expect((await t.exec('echo ok')).stdout).toBe('ok\n');
    await t.close();
  });

  it('retries session channels the server refuses (MaxSessions)', async () => {
    let n = 0;
    // Refuse every third open, and anything beyond 3 open sessions.
    await start({ refuseSession: open => open >= 3 || ++n % 3 === 0 });
    const t = transport(sshd);
    const rs = await Promise.all(
      Array.from({ length: 25 }, (_, i) => t.exec(`echo ${i}`))
    );
    expect(rs.map(r => r.stdout)).toEqual(
      Array.from({ length: 25 }, (_, i) => `${i}\n`)
    );
    expect(sshd.sessionsRefused).toBeGreaterThan(0);
    await t.close();
  });

  it('gives up on channels with a clear error after the retries', async () => {
    await start({ refuseSession: () => true });
    const t = transport(sshd, {}, { channelRetries: 2 });
    const err = await t.exec('echo x').catch((e: unknown) => e);
    expect(isTransportError(err, 'channel')).toBe(true);
    expect((err as Error).message).toMatch(/cannot open an SSH channel/);
    await t.close();
  });

  it('closing a stream ends it without a disconnect error', async () => {
    await start();
    const t = transport(sshd);
    const h = t.stream('sleep', { onStdout: () => undefined });
    await new Promise(r => setTimeout(r, 100));
    h.close();
    const r = await h.done;
    expect(r.code).toBeNull();
    await t.close();
  });

  it('refuses a changed host key without asking', async () => {
    await start();
    const other = new FakeSshd({ onExec: handle });
    sshd.trust(other.hostKeyBlob());
    fs.rmSync(other.dir, { recursive: true, force: true });
    const p = new Prompter(() => 'yes');
    const t = transport(sshd);
    const err = await t.connect(p).catch((e: unknown) => e);
    expect(isTransportError(err, 'hostkey')).toBe(true);
    expect((err as Error).message).toMatch(
      /REMOTE HOST IDENTIFICATION HAS CHANGED/
    );
    expect((err as Error).message).toContain(fingerprint(sshd.hostKeyBlob()));
    expect(p.asked).toEqual([]);
    expect(t.state).toBe('error');
    expect(t.error).toMatch(/HAS CHANGED/);
  });

  it('asks about an unknown host key and records it only on yes', async () => {
    await start();
    fs.writeFileSync(sshd.knownHostsFile, '');
    const no = new Prompter(() => 'no');
    const err = await transport(sshd)
      .connect(no)
      .catch((e: unknown) => e);
    expect(isTransportError(err, 'hostkey')).toBe(true);
    expect(no.asked).toHaveLength(1);
    expect(no.asked[0].prompt).toContain(
      `The authenticity of host '[127.0.0.1]:${sshd.port}' can't be established.`
    );
    expect(no.asked[0].prompt).toContain(
      `ED25519 key fingerprint is ${fingerprint(sshd.hostKeyBlob())}.`
    );
    expect(fs.readFileSync(sshd.knownHostsFile, 'utf8')).toBe('');

    const none = await transport(sshd)
      .connect()
      .catch((e: unknown) => e);
    expect(isTransportError(none, 'hostkey')).toBe(true);
    expect((none as Error).message).toMatch(/could not be asked/);

    const yes = new Prompter(() => 'yes');
    const t = transport(sshd);
    await t.connect(yes);
    expect(fs.readFileSync(sshd.knownHostsFile, 'utf8')).toContain(
      `[127.0.0.1]:${sshd.port} ssh-ed25519 `
    );
    await t.close();
    // Now known: no more questions.
    const again = new Prompter(() => 'no');
    const t2 = transport(sshd);
    await t2.connect(again);
    expect(again.asked).toEqual([]);
    await t2.close();
  });

  it('asks keyboard-interactive prompts once per connection, hidden when echo is off', async () => {
    await start({
      kbd: {
        prompts: [
          { prompt: 'Password: ', echo: false },
          { prompt: 'Duo passcode or option (1-1): ', echo: true }
        ],
        answers: ['pw', '1']
      }
    });
    const p = new Prompter(q => (q.includes('Password') ? 'pw' : '1'));
    const t = transport(sshd, { identityFile: undefined });
    await t.connect(p);
    for (let i = 0; i < 3; i++) {
      await t.exec(`echo ${i}`);
    }
    expect(p.asked.map(a => a.password)).toEqual([true, false]);
    expect(p.asked[1].prompt).toContain('Duo passcode');
    await t.close();
  });

  it('reports wrong one-time codes as failed authentication', async () => {
    await start({
      kbd: { prompts: [{ prompt: 'Code: ', echo: true }], answers: ['123'] }
    });
    const t = transport(sshd);
    const err = await t
      .connect(new Prompter(() => '999'))
      .catch((e: unknown) => e);
    expect(isTransportError(err, 'auth')).toBe(true);
    expect((err as Error).message).toMatch(
      /permission denied for tester@127\.0\.0\.1 port \d+/
    );
    expect((err as Error).message).toMatch(/keyboard-interactive/);
  });

  it('asks an encrypted key passphrase once, and not again after a reconnect', async () => {
    await start();
    const p = new Prompter(() => 'sesame');
    const t = transport(sshd, { identityFile: sshd.encryptedKeyFile });
    await t.connect(p);
    expect(p.asked).toEqual([
      {
        prompt: `Enter passphrase for key '${sshd.encryptedKeyFile}': `,
        password: true
      }
    ]);
    sshd.dropAll();
    await new Promise(r => setTimeout(r, 50));
    expect((await t.exec('echo back', { prompter: p })).stdout).toBe('back\n');
    expect(p.asked).toHaveLength(1);
    await t.close();
  });

  it('names user, host, port and what was tried when auth fails', async () => {
    await start();
    const t = transport(sshd, { identityFile: sshd.dir + '/missing_key' });
    const err = await t.connect().catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^permission denied/);
    expect(isTransportError(err, 'auth')).toBe(true);
    expect((err as Error).message).toMatch(
      /permission denied for tester@127\.0\.0\.1 port \d+/
    );
    expect((err as Error).message).toMatch(/missing_key cannot be read/);
  });

  it('fails fast and clearly on a refused port and on a silent server', async () => {
    await start();
    const closed = net.createServer();
    await new Promise<void>(r => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>(r => closed.close(() => r()));
    const refused = await transport(sshd, { port })
      .connect()
      .catch((e: unknown) => e);
    expect(isTransportError(refused, 'unreachable')).toBe(true);
    expect((refused as Error).message).toMatch(
      new RegExp(`tester@127\\.0\\.0\\.1 port ${port}: connection refused`)
    );

    // A server that accepts TCP and never speaks.
    const silent = net.createServer(() => undefined);
    await new Promise<void>(r => silent.listen(0, '127.0.0.1', r));
    const sport = (silent.address() as net.AddressInfo).port;
    const timedOut = await transport(sshd, { port: sport }, { timeoutMs: 300 })
      .connect()
      .catch((e: unknown) => e);
    silent.close();
    expect(isTransportError(timedOut, 'unreachable')).toBe(true);
    expect((timedOut as Error).message).toMatch(/no answer within 0\.3 s/);
  });

  it('notices a half-open connection through keepalives, then reconnects', async () => {
    await start();
    // A TCP relay that can go silent without closing anything, as a dead VPN or a suspended
    // laptop does: no FIN, no RST, just no more bytes either way.
    let silent = false;
    const relay = net.createServer(client => {
      const upstream = net.connect(sshd.port, '127.0.0.1');
      const end = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('data', d => void (silent || upstream.write(d)));
      upstream.on('data', d => void (silent || client.write(d)));
      for (const socket of [client, upstream]) {
        socket.on('error', end);
        socket.on('close', end);
      }
    });
    await new Promise<void>(r => relay.listen(0, '127.0.0.1', r));
    const port = (relay.address() as net.AddressInfo).port;
    fs.appendFileSync(
      sshd.knownHostsFile,
      `[127.0.0.1]:${port} ssh-ed25519 ${sshd.hostKeyBlob().toString('base64')}\n`
    );
    const t = transport(sshd, { port }, { keepaliveMs: 200 });
    try {
      expect((await t.exec('echo up')).stdout).toBe('up\n');
      const running = t.stream('sleep', { onStdout: () => undefined });
      silent = true;
      const err = await running.done.catch((e: unknown) => e);
      expect(isTransportError(err, 'disconnected')).toBe(true);
      silent = false;
      expect((await t.exec('echo back')).stdout).toBe('back\n');
      expect(sshd.connections).toBe(2);
    } finally {
      await t.close();
      relay.close();
    }
  });
});
