// The built-in demo on the command line: public/demo/ (stories260K and 64 short stories, see its
// README) stands in for --model and --data when they are not given, so `npm run train` alone
// trains something real with nothing downloaded.
import { fileURLToPath } from 'node:url';
import { progressLine } from './common';
import { LORA_FLAG_ALIAS } from './train-run';

const DEMO_MODEL = fileURLToPath(new URL('../../public/demo/stories260K', import.meta.url));
const DEMO_DATA = fileURLToPath(new URL('../../public/demo/stories.jsonl', import.meta.url));
/** Where `npm run train` without --out writes the demo's adapter (relative to the working folder). */
const DEMO_OUT = 'runs/demo';

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

/** The demo's training settings (the studio's "Try the demo" uses the same): flags the user gave win. */
const DEMO_FLAGS: Record<string, string> = {
  out: DEMO_OUT, 'seq-len': '64', steps: '40', 'batch-size': '8', lr: '3e-3', 'target-modules': 'all-linear', 'lora-dropout': '0', 'eval-split': '0.1', 'save-every': '10',
};

/**
 * `npm run train` with neither --model nor --data (and no --resume): the demo model and stories
 * with the demo's settings for every flag not given. Returns whether the demo was chosen.
 */
export function applyDemoTraining(a: Record<string, string | boolean | undefined>): boolean {
  if (a.model !== undefined || a.data !== undefined || a.resume !== undefined) return false;
  a.model = modelOrDemo(undefined);
  a.data = dataOrDemo(undefined);
  for (const [k, v] of Object.entries(DEMO_FLAGS)) if (a[k] === undefined && a[LORA_FLAG_ALIAS[k]] === undefined) a[k] = v;
  if (a.epochs !== undefined) delete a.steps;
  return true;
}
