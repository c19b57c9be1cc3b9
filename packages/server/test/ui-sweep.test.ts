/** Every hosted page in Chromium: axe-core and layout at 1280 px and 375 px, and the screenshots of docs/ui/ (support/ui-suite.ts; where they go: support/ui.ts). */
import { hostedPagesSuite } from './support/ui-suite.ts';

hostedPagesSuite({ style: 'flat', engine: 'sqlite', part: 'sweep' });
