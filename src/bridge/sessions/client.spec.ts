import * as net from 'net';

import { SessionClient } from './client';

/** A scripted session server: answers hello with the token check, the rest by `answer`. */
function serve(
  answer: (msg: { [k: string]: unknown }, socket: net.Socket) => void
): Promise<{ server: net.Server; port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer(socket => {
    sockets.push(socket);
    let buf = '';
    socket.on('data', chunk => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (msg.op === 'hello') {
          const ok = msg.token === 'secret';
          socket.write(
            JSON.stringify({
              op: 'hello',
              ok,
              error: ok ? undefined : 'bad token'
            }) + '\n'
          );
        } else {
          answer(msg, socket);
        }
      }
    });
  });
  return new Promise(resolve =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        port: (server.address() as net.AddressInfo).port,
        sockets
      })
    )
  );
}

function connect(port: number): Promise<net.Socket> {
  return new Promise(resolve => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
  });
}

describe('SessionClient', () => {
  let close: (() => void)[] = [];
  afterEach(() => {
    close.forEach(c => c());
    close = [];
  });

  it('is refused with a wrong token', async () => {
    const { server, port } = await serve(() => undefined);
    close.push(() => server.close());
    await expect(
      SessionClient.connect(await connect(port), 'wrong', 'session on x')
    ).rejects.toThrow(
      'session on x: the session refused the connection (bad token)'
    );
  });

  it('matches replies to requests by id, and says why a request failed', async () => {
    const { server, port } = await serve((msg, socket) => {
      // Answer out of order: the later request first.
      setTimeout(
        () =>
          socket.write(
            JSON.stringify(
              msg.op === 'status'
                ? {
                    op: 'reply',
                    id: msg.id,
                    ok: true,
                    status: { state: 'idle', pid: 7 }
                  }
                : { op: 'reply', id: msg.id, ok: false, error: 'no such job' }
            ) + '\n'
          ),
        msg.op === 'status' ? 30 : 0
      );
    });
    close.push(() => server.close());
    const client = await SessionClient.connect(
      await connect(port),
      'secret',
      's'
    );
    close.push(() => client.close());
    const status = client.status();
    await expect(client.request('interrupt', { job: 'j' })).rejects.toThrow(
      'no such job'
    );
    expect((await status).pid).toBe(7);
  });

  it('streams a follow until `followed`, in order, split lines joined', async () => {
    const { server, port } = await serve((msg, socket) => {
      socket.write(
        JSON.stringify({ op: 'reply', id: msg.id, ok: true }) + '\n'
      );
      socket.write(
        JSON.stringify({ op: 'events', job: 'j1', data: '{"a":1}\n{"b"' }) +
          '\n'
      );
      socket.write(
        JSON.stringify({ op: 'events', job: 'other', data: 'x\n' }) + '\n'
      );
      socket.write(
        JSON.stringify({ op: 'events', job: 'j1', data: ':2}\n' }) + '\n'
      );
      socket.write(JSON.stringify({ op: 'followed', job: 'j1' }) + '\n');
    });
    close.push(() => server.close());
    const client = await SessionClient.connect(
      await connect(port),
      'secret',
      's'
    );
    close.push(() => client.close());
    const chunks: string[] = [];
    const handle = client.follow('j1', 0, c => chunks.push(c.toString()));
    await expect(handle.done).resolves.toMatchObject({ code: 0 });
    expect(chunks.join('')).toBe('{"a":1}\n{"b":2}\n');
  });

  it('a dropped tunnel fails pending requests and follows as a disconnect', async () => {
    const { server, port, sockets } = await serve(() => undefined);
    close.push(() => server.close());
    const client = await SessionClient.connect(
      await connect(port),
      'secret',
      's'
    );
    const dropped: Error[] = [];
    client.onDrop = err => dropped.push(err);
    const pending = client.request('status');
    const handle = client.follow('j1', 10, () => undefined);
    sockets[0].destroy();
    await expect(pending).rejects.toMatchObject({ kind: 'disconnected' });
    await expect(handle.done).rejects.toMatchObject({ kind: 'disconnected' });
    expect(dropped).toHaveLength(1);
    expect(client.closed).toBe(true);
  });
});
