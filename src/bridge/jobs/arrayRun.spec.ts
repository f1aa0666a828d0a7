import { ARRAY_MIME, type IArrayPayload } from '../../shared/mime';
import { eventLine, fakeJobContext } from '../../../tests/support/jobs';
import { runArray } from './arrayRun';
import type { IJobBundle } from './bundle';
import type { IJobSpec } from '../schedulers/types';

/** A two-element direct array `lr=1,2`, launched (pid 7) and followed over a FakeTransport. */
function setup() {
  const made = fakeJobContext();
  const { ctx, transport, job } = made;
  transport.answer = command =>
    / launch /.test(command) ? { stdout: '{"pid": 7}\n' } : {};
  const request = { cluster: 'fake', array: { name: 'lr', values: [1, 2] } };
  const spec = {
    id: job.id,
    jobDir: job.remoteDir,
    command: '',
    agent: ctx.agent,
    request,
    defaults: {}
  } as unknown as IJobSpec;
  const bundle = {
    jobId: job.id,
    code: 'lr',
    request
  } as unknown as IJobBundle;
  let reconnects = 0;
  const run = () =>
    runArray(ctx, spec, bundle, { put: () => undefined }, undefined, {
      reconnect: async c => {
        reconnects += 1;
        await c.transport.connect();
      }
    });
  return { ...made, run, reconnects: () => reconnects };
}

const line = (k: number, event: object) => `${k}\t${eventLine(event)}`;
const out = (k: number, text: string) =>
  line(k, { type: 'stream', name: 'stdout', text });
const done = (k: number) =>
  line(k, { type: 'done', state: 'completed', exitCode: 0 });

function payloadOf(
  sink: ReturnType<typeof fakeJobContext>['sink']
): IArrayPayload {
  const shown = sink.calls
    .filter(c => c[0] === 'display' || c[0] === 'update')
    .map(c => (c[1] as { [mime: string]: unknown })[ARRAY_MIME])
    .filter(Boolean) as IArrayPayload[];
  return shown[shown.length - 1];
}

const stdoutOf = (p: IArrayPayload, k: number) =>
  p.elements[k].outputs.map(o => (o.type === 'stream' ? o.text : '')).join('');

describe('runArray', () => {
  it('resumes each element at its byte offset after a drop; an ended one is skipped', async () => {
    const { transport, sink, run, reconnects } = setup();
    const outcome = run();
    const first = await transport.nextStream(0);
    expect(first.command).toMatch(/ array-follow \/w\/jobs\/cb-test-1$/);
    const zero = out(0, 'é one\n') + done(0);
    const one = out(1, 'two\n');
    // The drop cuts element 1's second line in half, inside its "é".
    const cut = out(1, 'é three\n');
    const at = Buffer.from(cut).indexOf(Buffer.from('é')) + 1;
    first.emit(zero + one);
    first.emitBytes(Buffer.from(cut).subarray(0, at));
    first.drop();
    const second = await transport.nextStream(1);
    expect(reconnects()).toBe(1);
    // Offsets count the log's bytes (the line after `k<TAB>`, with its newline).
    const oneBytes = Buffer.byteLength(one) - 2;
    expect(second.command).toMatch(new RegExp(` --offsets -,${oneBytes}$`));
    second.emit(cut + done(1));
    second.exit(0);
    expect((await outcome).status).toBe('ok');
    const p = payloadOf(sink);
    expect(stdoutOf(p, 0)).toBe('é one\n');
    expect(stdoutOf(p, 1)).toBe('two\né three\n');
  });

  it('keeps a character that a chunk boundary cuts whole', async () => {
    const { transport, sink, run } = setup();
    const outcome = run();
    const stream = await transport.nextStream(0);
    const bytes = Buffer.from(
      out(0, 'é\n') + done(0) + out(1, 'x\n') + done(1)
    );
    const at = bytes.indexOf(Buffer.from('é')) + 1;
    stream.emitBytes(bytes.subarray(0, at));
    stream.emitBytes(bytes.subarray(at));
    stream.exit(0);
    expect((await outcome).status).toBe('ok');
    expect(stdoutOf(payloadOf(sink), 0)).toBe('é\n');
  });

  it('gives up after three drops in a row with no output between them', async () => {
    const { transport, run, reconnects } = setup();
    const outcome = run();
    (await transport.nextStream(0)).emit(out(0, 'a\n'));
    // The first drop follows output; the next three in a row bring none.
    for (let i = 0; i < 4; i++) {
      (await transport.nextStream(i)).drop();
    }
    await expect(outcome).rejects.toThrow(
      'the connection dropped three times in a row before any output arrived; ' +
        'the elements may still be running: their logs are in /w/jobs/cb-test-1/elements/'
    );
    expect(reconnects()).toBe(3);
  });
});
