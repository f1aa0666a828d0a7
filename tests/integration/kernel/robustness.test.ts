/**
 * The real kernel process over real ZeroMQ sockets (tcp and ipc): hostile
 * frames, bad signatures, broken JSON and unknown types are dropped or
 * answered without killing it; the heartbeat echoes; the key never reaches
 * the log; shutdown_request ends the process.
 */
import { ChildProcess, spawn } from 'child_process';
import { randomBytes, randomUUID } from 'crypto';
import * as path from 'path';
import * as zmq from 'zeromq';

import {
  decode,
  DELIMITER,
  encode,
  IMessage,
  makeMessage,
  newSession,
  Signer
} from '../../../src/bridge/kernel/wire';
import { writeConnectionFile } from './connection';
import { ensureBuilt, kernelEnv, IKernelEnv, ROOT } from './helpers';

describe.each(['tcp', 'ipc'] as const)('kernel process over %s', transport => {
  let k: IKernelEnv;
  let child: ChildProcess;
  let stderr = '';
  let shell: zmq.Dealer;
  let control: zmq.Dealer;
  let hb: zmq.Request;
  const key = randomUUID();
  const signer = new Signer(key);
  const session = newSession('robustness');
  const received: IMessage[] = [];

  beforeAll(async () => {
    ensureBuilt();
    k = kernelEnv();
    const ip =
      transport === 'tcp' ? '127.0.0.1' : path.join(k.dir, 'kernel-ipc');
    const file = path.join(k.dir, 'kernel-robust.json');
    const conn = await writeConnectionFile(file, key, transport, ip);
    child = spawn(
      process.execPath,
      [path.join(ROOT, 'bin', 'cluster-bridge'), 'kernel', '-f', file],
      {
        env: k.env,
        stdio: ['ignore', 'ignore', 'pipe']
      }
    );
    child.stderr!.on('data', d => (stderr += d));
    const addr = (port: number) =>
      transport === 'tcp' ? `tcp://${ip}:${port}` : `ipc://${ip}-${port}`;
    shell = new zmq.Dealer({ linger: 0 });
    shell.connect(addr(conn.shell_port));
    control = new zmq.Dealer({ linger: 0 });
    control.connect(addr(conn.control_port));
    hb = new zmq.Request({ linger: 0, receiveTimeout: 20000 });
    hb.connect(addr(conn.hb_port));
    for (const socket of [shell, control]) {
      void (async () => {
        try {
          for await (const frames of socket) {
            const r = decode(frames, signer);
            if (r.ok) {
              received.push(r.message);
            }
          }
        } catch {
          // closed
        }
      })();
    }
  }, 120000);

  afterAll(() => {
    for (const s of [shell, control, hb]) {
      s?.close();
    }
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
    }
    k?.dispose();
  });

  const reply = async (msg: IMessage, ms = 20000): Promise<IMessage> => {
    const end = Date.now() + ms;
    for (;;) {
      const r = received.find(
        m => m.parent_header.msg_id === msg.header.msg_id
      );
      if (r) {
        return r;
      }
      if (Date.now() > end) {
        throw new Error(
          `no reply to ${msg.header.msg_type}; kernel stderr:\n${stderr}`
        );
      }
      await new Promise(res => setTimeout(res, 20));
    }
  };

  it('answers kernel_info and echoes the heartbeat', async () => {
    const info = makeMessage('kernel_info_request', {}, session);
    await shell.send(encode(info, signer));
    expect((await reply(info)).content).toMatchObject({
      implementation: 'cluster-bridge'
    });
    const ping = randomBytes(16);
    await hb.send(ping);
    const [pong] = await hb.receive();
    expect(pong.equals(ping)).toBe(true);
  }, 30000);

  it('survives hostile input and keeps answering', async () => {
    const good = makeMessage('kernel_info_request', {}, session);
    const wrongKey = encode(
      makeMessage('execute_request', { code: '%cluster list' }, session),
      new Signer('not-the-key')
    );
    const garbage = [
      randomBytes(1000),
      Buffer.from(DELIMITER),
      Buffer.from('sig')
    ];
    const badJson = [
      Buffer.from(DELIMITER),
      Buffer.alloc(0),
      Buffer.from('{nope'),
      Buffer.from('{}'),
      Buffer.from('{}'),
      Buffer.from('{}')
    ];
    const parts = ['{nope', '{}', '{}', '{}'].map(s => Buffer.from(s));
    const signedBadJson = [
      Buffer.from(DELIMITER),
      Buffer.from(signer.sign(parts)),
      ...parts
    ];
    const unknown = makeMessage('frobnicate_request', {}, session);
    const hostileContent = makeMessage(
      'execute_request',
      { code: { not: 'a string' }, silent: 'yes' },
      session
    );
    for (const frames of [
      garbage,
      [randomBytes(10)],
      wrongKey,
      badJson,
      signedBadJson
    ]) {
      await shell.send(frames);
      await control.send(frames);
    }
    await shell.send(encode(unknown, signer));
    await shell.send(encode(hostileContent, signer));
    await shell.send(encode(good, signer));
    expect((await reply(good)).header.msg_type).toBe('kernel_info_reply');
    expect((await reply(unknown)).content).toMatchObject({
      status: 'error',
      ename: 'UnknownMessageType'
    });
    expect((await reply(hostileContent)).header.msg_type).toBe('execute_reply');
    // The message signed with another key never ran.
    expect(
      received.some(
        m =>
          m.header.msg_type === 'execute_reply' &&
          m.content.status === 'ok' &&
          m.parent_header.msg_id !== hostileContent.header.msg_id
      )
    ).toBe(false);
    // Control is read apart from shell: its log lines may come after the shell replies.
    const controlDropped = /dropped a message on control: bad signature/;
    for (let i = 0; i < 200 && !controlDropped.test(stderr); i++) {
      await new Promise(resolve => setTimeout(resolve, 50));
    }
    expect(stderr).toMatch(/dropped a message on shell: bad signature/);
    expect(stderr).toMatch(controlDropped);
    expect(stderr).toMatch(/invalid JSON/);
    expect(stderr).not.toContain(key);
    expect(child.exitCode).toBeNull();
  }, 30000);

  it('exits after shutdown_request on control', async () => {
    const exited = new Promise<number | null>(resolve =>
      child.once('exit', code => resolve(code))
    );
    const shutdown = makeMessage(
      'shutdown_request',
      { restart: false },
      session
    );
    await control.send(encode(shutdown, signer));
    expect((await reply(shutdown)).content).toEqual({
      status: 'ok',
      restart: false
    });
    expect(await exited).toBe(0);
  }, 30000);
});
