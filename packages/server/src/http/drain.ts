/**
 * Letting a client read the answer to a body we refused (413, or anything answered before the body was read).
 *
 * Closing the connection while the client is still writing its body makes the kernel answer the client's
 * next segments with a reset, and a reset discards whatever the client had not read yet: our 413. So instead of
 * closing, the rest of the body is read and thrown away and the connection stays usable, up to
 * {@link DRAIN_LIMIT_BYTES}; past that the client is not one worth waiting for, and the connection is cut.
 * LATCHKEY_REQUEST_TIMEOUT bounds the time it may take.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

/** 16 MiB: a mistaken upload of a few megabytes still gets its 413; an endless one does not hold a socket. */
export const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024;

export function drainUnreadBody(request: FastifyRequest, reply: FastifyReply): void {
  const raw = request.raw;
  if (raw.complete) return;
  // Fastify asks for `Connection: close` after a refused body; keep the connection and drain instead.
  reply.removeHeader('connection');
  let drained = 0;
  raw.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_LIMIT_BYTES) raw.socket.destroy();
  });
  raw.resume();
}
