// "Copy as command": the `npm run train` line of the studio's knobs, model choice and data, as a
// pure function of them (the store's commandLine calls it; command.test.ts parses its output with
// the CLI's own option table).
import { trainCommand } from '../flags';
import type { ModelSpec } from '../model/config';
import { toRunConfig, type Knobs } from '../plan/knobs';
import type { DatasetOptions } from '../worker/protocol';
import { slug } from './download';

/** What the command is made of: the knobs, the model chosen (null: none yet), the data and the evaluation file by name. */
export interface CommandInput {
  knobs: Knobs;
  arch: ModelSpec['arch'];
  choice: { kind: 'hub'; repo: string } | { kind: 'files'; name: string } | null;
  data: { fileName: string | null; hub: { dataset: string; config: string; split: string } | null; options: DatasetOptions };
  evalFileName: string | null;
}

/**
 * The `npm run train -- …` line: the model as its Hub id or PATH/TO/<folder>, the data file by name
 * (or hub:OWNER/NAME:CONFIG:SPLIT), --out runs/<model>; placeholders where nothing is chosen.
 */
export function studioCommand(i: CommandInput): string {
  const c = i.choice;
  const model = c?.kind === 'hub' ? c.repo : c?.kind === 'files' ? `PATH/TO/${c.name}` : 'MODEL_DIR';
  const data = i.data.fileName ?? (i.data.hub ? `hub:${i.data.hub.dataset}:${i.data.hub.config}:${i.data.hub.split}` : 'DATA_FILE');
  const config = toRunConfig(i.knobs, i.arch, model);
  const out = `runs/${slug(c?.kind === 'hub' ? c.repo.split('/').pop()! : (c?.name ?? 'run'))}`;
  return trainCommand(config, i.data.options, i.knobs.evalSplit, { model, data, out, evalFile: i.evalFileName ?? undefined });
}
