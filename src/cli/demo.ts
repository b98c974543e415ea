// The built-in demo on the command line: public/demo/ (stories260K and 64 short stories, see its
// README) stands in for --model and --data when they are not given, so `npm run train` alone
// trains something real with nothing downloaded.
import { fileURLToPath } from 'node:url';
import { progressLine } from './common';

export const DEMO_MODEL = fileURLToPath(new URL('../../public/demo/stories260K', import.meta.url));
export const DEMO_DATA = fileURLToPath(new URL('../../public/demo/stories.jsonl', import.meta.url));
/** Where `npm run train` without --out writes the demo's adapter (relative to the working folder). */
export const DEMO_OUT = 'runs/demo';

/** --model, or the demo model (said on stderr) when the flag is absent. */
export function modelOrDemo(model: string | undefined): string {
  if (model !== undefined) return model;
  progressLine(`no --model given: using the built-in demo model (${DEMO_MODEL})`, true);
  return DEMO_MODEL;
}

/** --data, or the demo stories (said on stderr) when the flag is absent. */
export function dataOrDemo(data: string | undefined): string {
  if (data !== undefined) return data;
  progressLine(`no --data given: using the built-in demo stories (${DEMO_DATA})`, true);
  return DEMO_DATA;
}
