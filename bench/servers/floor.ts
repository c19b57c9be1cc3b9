/**
 * The HTTP floor: a bare Fastify route on the same machine doing nothing but answering JSON. Latchkey's
 * `/verify` and refresh are measured against it in the same run. Env: PORT.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));
app.post('/', async () => ({ hello: 'world' }));
await app.listen({ port: Number(process.env.PORT ?? '0'), host: '127.0.0.1' });
process.stdout.write('ready\n');
const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
