/** The hosted pages' flows in Chromium in the flat style (support/ui-suite.ts). */
import { hostedPagesSuite } from './support/ui-suite.ts';

hostedPagesSuite({ style: 'flat', engine: 'sqlite', part: 'flows' });
