// Node side of the dataset pipeline: a data file on disk as a DataInput (streamed with
// fs.createReadStream, random access for Parquet) or a Hub dataset (`hub:OWNER/NAME[:config][:split]`),
// and the data options shared by the train, eval and data commands.
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { DataOptions, DataWarning } from '../data/dataset';
import { CHAT_TEMPLATE_CHOICES } from '../data/format';
import { isHubDataSpec, openHubDataset, parseHubDataSpec, type HubDatasetSpec } from '../data/hub';
import type { DataInput } from '../data/input';
import { FILE_FORMATS, type FileFormat } from '../data/readers';
import { RECORD_SHAPES, type RecordShape } from '../data/shapes';
import { fmtMB, num, positiveInt, progressLine, UsageError } from './common';
import { cliMessage, cliNamer } from './options';

/** A data file on disk. Throws UsageError at once when it is missing or a folder. */
export function nodeFileInput(path: string, chunkSize = 1 << 20): DataInput {
  if (!existsSync(path)) throw new UsageError(`data file ${path} does not exist.`);
  const st = statSync(path);
  if (st.isDirectory()) throw new UsageError(`data file ${path} is a folder; give a .jsonl, .json, .csv, .tsv, .parquet or .txt file.`);
  return {
    name: path,
    size: st.size,
    async *stream() {
      for await (const c of createReadStream(path, { highWaterMark: chunkSize })) yield c as Uint8Array;
    },
    async slice(start: number, end: number) {
      const fh = await open(path, 'r');
      try {
        const out = new Uint8Array(Math.max(0, end - start));
        let got = 0;
        while (got < out.length) {
          const { bytesRead } = await fh.read(out, got, out.length - got, start + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got === out.length ? out : out.subarray(0, got);
      } finally {
        await fh.close();
      }
    },
  };
}

/** A data argument checked before anything is loaded: a file on disk, or a Hub dataset spec. */
type DataArg = { kind: 'file'; input: DataInput } | { kind: 'hub'; arg: string; spec: HubDatasetSpec };

/** Checks a --data / --eval-file value: `hub:OWNER/NAME[:config][:split]` or a data file (UsageError naming the flag). */
export function parseDataArg(arg: string, flag = '--data'): DataArg {
  if (!isHubDataSpec(arg)) return { kind: 'file', input: nodeFileInput(arg) };
  try {
    return { kind: 'hub', arg, spec: parseHubDataSpec(arg) };
  } catch (e) {
    throw new UsageError(`${flag} ${(e as Error).message}`);
  }
}

/**
 * Opens a data argument: a Hub dataset is listed through the viewer API and its split's Parquet
 * files are read by range requests (HF_TOKEN for gated or private datasets; `fetch` for tests).
 */
export async function openDataArg(d: DataArg, opts: { fetch?: typeof fetch; token?: string } = {}): Promise<DataInput> {
  if (d.kind === 'file') return d.input;
  try {
    const { input, config, split } = await openHubDataset(d.spec, {
      fetch: opts.fetch,
      token: opts.token ?? process.env.HF_TOKEN,
      onProgress: ({ file, loaded, total }) => progressLine(`downloading ${file}: ${fmtMB(loaded)}/${fmtMB(total)}`),
    });
    const files = input.parts?.length ?? 1;
    progressLine(`data: ${d.spec.dataset}, config ${config}, split ${split} (${files} Parquet file${files === 1 ? '' : 's'}, ${fmtMB(input.size ?? 0)})`, true);
    return input;
  } catch (e) {
    if (e instanceof Error) e.message = cliMessage(e);
    throw e;
  }
}

/** parseArgs options of the data pipeline (train, eval and data take the same). */
export const DATA_CLI_OPTIONS = {
  format: { type: 'string' },
  template: { type: 'string' },
  'response-column': { type: 'string' },
  'chat-template': { type: 'string' },
  'train-on-prompt': { type: 'boolean' },
  packing: { type: 'boolean' },
  'max-samples': { type: 'string' },
  sample: { type: 'string' },
  'on-bad-rows': { type: 'string' },
  'file-format': { type: 'string' },
} as const;

export const DATA_USAGE = `data: --data (and --eval-file) take a data file, or hub:OWNER/NAME[:config][:split] — a Hugging Face dataset's
  Parquet export read over HTTP (default: the first config, split train; set HF_TOKEN for gated or private datasets)
data options:
  --format auto|alpaca|prompt-completion|messages|sharegpt|text|template (auto)
  --template "TEXT with {column} placeholders" --response-column COLUMN   (the template format)
  --chat-template auto|model|alpaca|none|chatml|FILE.jinja (auto: the model's chat template, else Alpaca; chat data: ChatML)
  --train-on-prompt (default: loss on the response / assistant turns only)   --packing
  --max-samples N  --sample first|random (first)  --on-bad-rows stop|skip (stop)
  --file-format auto|jsonl|json|csv|tsv|parquet|text (auto)`;

type DataArgs = { [K in keyof typeof DATA_CLI_OPTIONS]?: (typeof DATA_CLI_OPTIONS)[K] extends { type: 'boolean' } ? boolean : string };

/** The data options as recorded in a run's config (so --resume reads the data the same way). */
export interface DataConfig {
  dataFormat?: string;
  template?: string;
  responseColumn?: string;
  chatTemplate?: string;
  trainOnPrompt?: boolean;
  packing?: boolean;
  maxSamples?: number;
  sample?: string;
  onBadRows?: string;
  fileFormat?: string;
}

/** CLI flags (falling back to a resumed run's recorded values) → the recorded data config. */
export function dataConfigFromArgs(a: DataArgs, prev: DataConfig = {}): DataConfig {
  const pick = <T>(v: T | undefined, p: T | undefined) => (v !== undefined ? v : p);
  const c: DataConfig = {
    dataFormat: pick(a.format, prev.dataFormat) ?? 'auto',
    template: pick(a.template, prev.template),
    responseColumn: pick(a['response-column'], prev.responseColumn),
    chatTemplate: pick(a['chat-template'], prev.chatTemplate) ?? 'auto',
    trainOnPrompt: pick(a['train-on-prompt'], prev.trainOnPrompt) ?? false,
    packing: pick(a.packing, prev.packing) ?? false,
    maxSamples: a['max-samples'] !== undefined ? num(a['max-samples'], 'max-samples', 0, positiveInt) : prev.maxSamples,
    sample: pick(a.sample, prev.sample) ?? 'first',
    onBadRows: pick(a['on-bad-rows'], prev.onBadRows) ?? 'stop',
    fileFormat: pick(a['file-format'], prev.fileFormat) ?? 'auto',
  };
  if (c.dataFormat !== 'auto' && !RECORD_SHAPES.includes(c.dataFormat as RecordShape)) {
    throw new UsageError(`--format must be auto, ${RECORD_SHAPES.join(', ')}; got '${c.dataFormat}'`);
  }
  if (c.fileFormat !== 'auto' && !FILE_FORMATS.includes(c.fileFormat as FileFormat)) {
    throw new UsageError(`--file-format must be auto, ${FILE_FORMATS.join(', ')}; got '${c.fileFormat}'`);
  }
  if (c.sample !== 'first' && c.sample !== 'random') throw new UsageError(`--sample must be first or random, got '${c.sample}'`);
  if (c.onBadRows !== 'stop' && c.onBadRows !== 'skip') throw new UsageError(`--on-bad-rows must be stop or skip, got '${c.onBadRows}'`);
  if (c.dataFormat === 'template' && (!c.template || !c.responseColumn)) {
    throw new UsageError('--format template needs --template "... {column} ..." and --response-column COLUMN.');
  }
  if (c.template !== undefined && c.dataFormat !== 'auto' && c.dataFormat !== 'template') {
    throw new UsageError(`--template applies to --format template, not --format ${c.dataFormat}.`);
  }
  return c;
}

/** A data warning in the CLI's words: the message, then the flag that fixes it. */
export function warningLine(w: DataWarning): string {
  const fix = w.fix ? ` Use ${cliNamer(w.fix)}.` : '';
  return `warning: ${w.message.charAt(0).toUpperCase()}${w.message.slice(1)}${fix}`;
}

/** The pipeline options of a data config (reads a --chat-template file); `maxSeqLen` is the model's maximum positions (bounds the seq-len advice). */
export function dataOptions(c: DataConfig, seqLen: number, seed: number, maxSeqLen?: number): DataOptions & { packing: boolean } {
  let chatTemplate = c.chatTemplate ?? 'auto';
  if (!(CHAT_TEMPLATE_CHOICES as readonly string[]).includes(chatTemplate)) {
    if (existsSync(chatTemplate) && statSync(chatTemplate).isFile()) chatTemplate = readFileSync(chatTemplate, 'utf8');
    else if (!/\{[{%]/.test(chatTemplate)) {
      throw new UsageError(`--chat-template must be ${CHAT_TEMPLATE_CHOICES.join(', ')} or a Jinja template file; '${chatTemplate}' is neither (no such file).`);
    }
  }
  return {
    format: c.dataFormat as DataOptions['format'],
    template: c.template,
    responseColumn: c.responseColumn,
    chatTemplate,
    trainOnPrompt: c.trainOnPrompt,
    packing: c.packing ?? false,
    maxSamples: c.maxSamples,
    sample: c.sample as 'first' | 'random',
    onBadRows: c.onBadRows as 'stop' | 'skip',
    fileFormat: c.fileFormat as DataOptions['fileFormat'],
    seqLen,
    maxSeqLen,
    seed,
  };
}
