/**
 * An in-process ssh2 Server on 127.0.0.1:0 for hermetic fault-injection
 * tests (unit tests only; integration tests use the real OpenSSH sshd).
 * Commands are answered by a handler; faults are injected per test.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Server, utils, type Connection, type ServerChannel } from 'ssh2';
import type { AddressInfo } from 'net';

export interface IFakeSshdOptions {
  /** Answers one exec: write to the channel, then call exit(). */
  onExec: (command: string, channel: ServerChannel, conn: Connection) => void;
  /** keyboard-interactive prompts (instead of public keys) and the expected answers. */
  kbd?: { prompts: { prompt: string; echo: boolean }[]; answers: string[] };
  /** Refuses a session channel when this returns true (simulates MaxSessions). */
  refuseSession?: (open: number) => boolean;
}

export class FakeSshd {
  readonly dir: string;
  readonly hostKey: IKeyPair;
  readonly clientKey: IKeyPair;
  readonly encryptedKey: IKeyPair;
  port = 0;
  connections = 0;
  authAttempts: string[] = [];
  sessionsRefused = 0;
  readonly clients = new Set<Connection>();

  constructor(private readonly _options: IFakeSshdOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-fake-sshd-'));
    // OpenSSH's ssh-keygen, not ssh2's generateKeyPairSync: the latter now
    // and then writes ed25519 keys that ssh2 itself cannot parse back.
    this.hostKey = keygen(path.join(this.dir, 'host_ed25519'), '');
    this.clientKey = keygen(this.keyFile, '');
    this.encryptedKey = keygen(this.encryptedKeyFile, 'sesame');
    this._server = new Server({ hostKeys: [this.hostKey.private] }, conn =>
      this._onConnection(conn)
    );
  }

  get keyFile(): string {
    return path.join(this.dir, 'id_ed25519');
  }
  get encryptedKeyFile(): string {
    return path.join(this.dir, 'id_encrypted');
  }
  get knownHostsFile(): string {
    return path.join(this.dir, 'known_hosts');
  }

  /** The host key blob as a client sees it. */
  hostKeyBlob(): Buffer {
    return (
      utils.parseKey(this.hostKey.public) as { getPublicSSH(): Buffer }
    ).getPublicSSH();
  }

  /** Writes a known_hosts file trusting this server (or another key). */
  trust(blob: Buffer = this.hostKeyBlob()): void {
    fs.writeFileSync(
      this.knownHostsFile,
      `[127.0.0.1]:${this.port} ssh-ed25519 ${blob.toString('base64')}\n`
    );
  }

  async start(): Promise<void> {
    await new Promise<void>(resolve =>
      this._server.listen(0, '127.0.0.1', resolve)
    );
    this.port = (this._server.address() as AddressInfo).port;
  }

  /** Drops every client connection at the TCP level (no SSH disconnect message). */
  dropAll(): void {
    for (const c of this.clients) {
      (c as unknown as { _sock: { destroy(): void } })._sock.destroy();
    }
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>(resolve => this._server.close(() => resolve()));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private _onConnection(conn: Connection): void {
    this.connections++;
    this.clients.add(conn);
    conn.on('close', () => this.clients.delete(conn));
    conn.on('error', err => {
      if (process.env.CB_FAKE_SSHD_DEBUG) {
        console.error('fake sshd:', err);
      }
    });
    const allowed = [this.clientKey.public, this.encryptedKey.public].map(k =>
      (utils.parseKey(k) as { getPublicSSH(): Buffer }).getPublicSSH()
    );
    conn.on('authentication', ctx => {
      this.authAttempts.push(ctx.method);
      const kbd = this._options.kbd;
      if (kbd) {
        if (ctx.method !== 'keyboard-interactive') {
          return ctx.reject(['keyboard-interactive']);
        }
        ctx.prompt(
          kbd.prompts,
          'Duo two-factor',
          'Answer the prompts',
          answers => {
            if (JSON.stringify(answers) === JSON.stringify(kbd.answers)) {
              ctx.accept();
            } else {
              ctx.reject(['keyboard-interactive']);
            }
          }
        );
        return;
      }
      if (ctx.method !== 'publickey') {
        return ctx.reject(['publickey']);
      }
      const match = allowed.find(k => k.equals(ctx.key.data));
      if (!match) {
        return ctx.reject(['publickey']);
      }
      if (!ctx.signature) {
        return ctx.accept();
      }
      const pub = utils.parseKey(
        [this.clientKey.public, this.encryptedKey.public].find(k =>
          (utils.parseKey(k) as { getPublicSSH(): Buffer })
            .getPublicSSH()
            .equals(match)
        )!
      ) as { verify(data: Buffer, sig: Buffer, algo?: string): boolean };
      if (pub.verify(ctx.blob!, ctx.signature, ctx.hashAlgo)) {
        ctx.accept();
      } else {
        ctx.reject(['publickey']);
      }
    });
    let open = 0;
    conn.on('ready', () => {
      conn.on('session', (accept, reject) => {
        if (this._options.refuseSession?.(open)) {
          this.sessionsRefused++;
          reject();
          return;
        }
        open++;
        const session = accept();
        session.on('close', () => open--);
        session.on('exec', (acceptExec, _rejectExec, info) => {
          const channel = acceptExec();
          this._options.onExec(info.command, channel, conn);
        });
      });
    });
  }

  private _server: Server;
}

export interface IKeyPair {
  private: string;
  public: string;
}

function keygen(file: string, passphrase: string): IKeyPair {
  const r = spawnSync(
    'ssh-keygen',
    [
      '-q',
      '-t',
      'ed25519',
      '-a',
      '2',
      '-N',
      passphrase,
      '-C',
      'cb-test',
      '-f',
      file
    ],
    {
      encoding: 'utf8'
    }
  );
  if (r.status !== 0) {
    throw new Error(`ssh-keygen failed: ${r.stderr}`);
  }
  return {
    private: fs.readFileSync(file, 'utf8'),
    public: fs.readFileSync(file + '.pub', 'utf8')
  };
}

/** Ends an exec channel the way sshd does: exit status, EOF, close. */
export function finish(channel: ServerChannel, code = 0): void {
  channel.exit(code);
  channel.end();
}
