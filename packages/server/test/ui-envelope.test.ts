/** The hosted pages in Chromium in the envelope style (support/ui-suite.ts), on PostgreSQL when there is one. */
import { hostedPagesSuite } from './support/ui-suite.ts';
import { engines } from './support/server.ts';

hostedPagesSuite({ style: 'envelope', engine: engines().includes('postgres') ? 'postgres' : 'sqlite', part: 'flows' });
