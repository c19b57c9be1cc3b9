/**
 * A body over the limit sent without `Expect: 100-continue` (issue 10, item 26): the client must get to read its
 * 413 rather than a connection reset. A raw socket client writes the whole body, as curl or a browser would.
 */
import assert from 'node:assert/strict';
import { type Socket, connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { STYLES, type TestServer, startTestServer } from './support/server.ts';

/** Reads one HTTP/1.1 response (headers and a Content-Length body) from the socket. */
function readResponse(socket: Socket): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headers = buffer.subarray(0, end).toString();
      const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      socket.off('data', onData);
      socket.off('error', reject);
      resolve({ status: Number(headers.split(' ')[1]), headers, body: buffer.subarray(end + 4, end + 4 + length).toString() });
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed before a whole response: ${JSON.stringify(buffer.toString().slice(0, 200))}`)));
  });
}

/** Writes all of `body` (honouring back-pressure); rejects if the server resets the connection first. */
function writeAll(socket: Socket, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let offset = 0;
    socket.on('error', reject);
    const pump = () => {
      while (offset < body.length) {
        const piece = body.subarray(offset, offset + 64 * 1024);
        offset += piece.length;
        if (!socket.write(piece)) return void socket.once('drain', pump);
      }
      socket.write(Buffer.alloc(0), (error) => (error ? reject(error) : resolve()));
    };
    pump();
  });
}

const SIZES: [string, () => Buffer][] = [
  ['1 MB', () => Buffer.alloc(1_000_000, 'a')],
  ['10 MB', () => Buffer.alloc(10_000_000, 'a')],
  ['600 KB of nested JSON', () => Buffer.from('['.repeat(300_000) + ']'.repeat(300_000))],
];

for (const style of STYLES) {
  describe(`an oversized body without Expect: 100-continue (${style} style)`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ style });
    });
    after(() => server.close());

    for (const [label, make] of SIZES) {
      test(`${label}: the client writes it all, reads its 413, and the connection stays usable`, async () => {
        const body = make();
        const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
        try {
          await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
          const response = readResponse(socket);
          socket.write(
            `POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
          );
          await writeAll(socket, body);
          const refused = await response;
          assert.equal(refused.status, 413);
          const parsed = JSON.parse(refused.body);
          if (style === 'flat') assert.deepEqual(parsed, { error: 'invalid request body' });
          else assert.equal(parsed.error.code, 'VALIDATION_ERROR');
          // No reset: the same connection answers the next request.
          const next = readResponse(socket);
          socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
          assert.equal((await next).status, 200);
        } finally {
          socket.destroy();
        }
      });
    }

    test('past the drain bound (16 MiB) the server stops reading and cuts the connection', async () => {
      const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
      try {
        await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
        const size = 64 * 1024 * 1024;
        socket.write(
          `POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
        );
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        // The whole 64 MiB cannot get through: the server hangs up after 16 MiB.
        await assert.rejects(writeAll(socket, Buffer.alloc(size, 'a')), /EPIPE|ECONNRESET/);
        await closed;
      } finally {
        socket.destroy();
      }
    });
  });
}
