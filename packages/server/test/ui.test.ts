/** The hosted pages in Chromium in the flat style (support/ui-suite.ts); this run writes docs/ui/*.png. */
import { hostedPagesSuite } from './support/ui-suite.ts';

hostedPagesSuite({ style: 'flat', engine: 'sqlite', sweep: true });
