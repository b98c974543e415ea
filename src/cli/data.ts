// npm run data -- --model DIR --data FILE [data options]
// Reads the data exactly as `npm run train` would (no GPU, only the tokenizer) and prints one JSON
// line of stats — {"format", "examples", "tokens", "trained_tokens", "truncated", "skipped", ...} —
// then the first examples as text, with the masked (label -100) and trained parts marked.
import { prepareData, renderPreview } from '../data/dataset';
import { readSpec } from '../model/load';
import { loadTokenizer } from '../model/tokenizer';
import { nonNegInt, num, openModelSource, parseCli, positiveInt, progressLine, runCli, UsageError } from './common';
import { DATA_CLI_OPTIONS, DATA_USAGE, dataConfigFromArgs, dataOptions, openDataArg, parseDataArg, warningLine } from './data-input';
import { dataOrDemo, modelOrDemo } from './demo';

const USAGE = `usage: npm run data -- [--model DIR|ORG/NAME (the demo model)] [--data FILE|hub:OWNER/NAME (the demo stories)] [options]
  --seq-len N (256)  --eval-file FILE | --eval-split F (0.1)  --seed N (42)  --preview N (3 examples)
${DATA_USAGE}`;

runCli(async () => {
  const a = parseCli(
    {
      model: { type: 'string' }, data: { type: 'string' }, 'seq-len': { type: 'string' }, 'eval-file': { type: 'string' },
      'eval-split': { type: 'string' }, seed: { type: 'string' }, preview: { type: 'string' }, ...DATA_CLI_OPTIONS,
    } as const,
    USAGE,
  );
  const model = modelOrDemo(a.model);
  const data = dataOrDemo(a.data);
  const dataCfg = dataConfigFromArgs(a);
  const dataArg = parseDataArg(data);
  const evalArg = a['eval-file'] ? parseDataArg(a['eval-file'], '--eval-file') : null;
  const src = openModelSource(model);
  const spec = await readSpec(src);
  const tokenizer = await loadTokenizer(src, { bos_token_id: spec.bos, eos_token_id: spec.eos });
  const seqLen = num(a['seq-len'], 'seq-len', Math.min(256, spec.maxT), positiveInt);
  if (seqLen > spec.maxT) throw new UsageError(`--seq-len ${seqLen} is above the model's maximum of ${spec.maxT} positions.`);
  const seed = num(a.seed, 'seed', 42, nonNegInt);
  const evalSplit = num(a['eval-split'], 'eval-split', 0.1, (x) => (x >= 0 && x < 1 ? null : 'must be in [0, 1)'));
  const prepared = await prepareData(await openDataArg(dataArg), tokenizer, {
    ...dataOptions(dataCfg, seqLen, seed, spec.maxT),
    evalSplit,
    evalInput: evalArg ? await openDataArg(evalArg) : undefined,
    previewCount: num(a.preview, 'preview', 3, nonNegInt),
    onProgress: (p) => progressLine(`reading ${data}: ${p.rows} rows`),
  });
  const out = { ...prepared.stats, ...(prepared.evalStats ? { eval_file: prepared.evalStats } : {}) };
  for (const w of prepared.stats.warnings) progressLine(warningLine(w), true);
  process.stdout.write(JSON.stringify(out) + '\n');
  if (prepared.preview.length) process.stdout.write('\n' + renderPreview(prepared.preview));
});
