// npm run eval -- --model DIR [--adapter DIR] --data FILE  → {"loss": mean next-token CE, "tokens": N}
import { batches } from '../data/batch';
import { loadDataset } from '../data/dataset';
import { packExamples } from '../data/pack';
import { loadModel } from '../model/load';
import { Transformer } from '../net/transformer';
import { evaluate } from '../train/trainer';
import { gpuContext, nonNegInt, num, openModelSource, parseCli, positiveInt, progressLine, loadAdapterState, runCli, UsageError, QUANT_CLI_OPTIONS, QUANT_USAGE, quantFromArgs } from './common';
import { DATA_CLI_OPTIONS, DATA_USAGE, dataConfigFromArgs, dataOptions, openDataArg, parseDataArg } from './data-input';
import { dataOrDemo, modelOrDemo } from './demo';

const USAGE = `usage: npm run eval -- [--model DIR|ORG/NAME (the demo model)] [--adapter DIR] [--data FILE|hub:OWNER/NAME (the demo stories)] [--seq-len N (256)] [--batch-size N (4)] [--dtype auto|f32|f16] [--seed N (42)]
${QUANT_USAGE}
${DATA_USAGE}`;

runCli(async () => {
  const a = parseCli(
    {
      model: { type: 'string' }, adapter: { type: 'string' }, data: { type: 'string' }, 'seq-len': { type: 'string' }, 'batch-size': { type: 'string' },
      dtype: { type: 'string' }, ...QUANT_CLI_OPTIONS, seed: { type: 'string' }, ...DATA_CLI_OPTIONS,
    } as const,
    USAGE,
  );
  const modelArg = modelOrDemo(a.model);
  const data = dataOrDemo(a.data);
  const dataCfg = dataConfigFromArgs(a);
  const dataArg = parseDataArg(data);
  const { quant, groupSize } = quantFromArgs(a);
  const src = openModelSource(modelArg);
  const ctx = await gpuContext();
  const loaded = await loadModel(ctx, src, { dtype: (a.dtype ?? 'auto') as 'auto', quant, groupSize });
  const { spec, tokenizer } = loaded;
  const T = num(a['seq-len'], 'seq-len', Math.min(256, spec.maxT), positiveInt);
  if (T > spec.maxT) throw new UsageError(`--seq-len ${T} is above the model's maximum of ${spec.maxT} positions.`);
  const B = num(a['batch-size'], 'batch-size', 4, positiveInt);
  const lora = a.adapter ? await loadAdapterState(ctx, spec, a.adapter) : null;
  const opts = dataOptions(dataCfg, T, num(a.seed, 'seed', 42, nonNegInt));
  const ds = await loadDataset(await openDataArg(dataArg), tokenizer, { ...opts, previewCount: 0 });
  if (ds.stats.skipped_count) progressLine(`${ds.stats.skipped_count} rows skipped (first: line ${ds.stats.skipped[0].line}: ${ds.stats.skipped[0].reason})`, true);
  if (ds.stats.truncated) progressLine(`${ds.stats.truncated} of ${ds.stats.examples} examples were truncated to ${T} tokens`, true);
  const examples = opts.packing ? packExamples(ds.examples, T) : ds.examples;
  const model = new Transformer(ctx, spec, loaded.weights, lora, { B, T, training: false });
  const r = await evaluate(ctx, model, batches(examples, B, T, spec.eos[0] ?? 0));
  process.stdout.write(JSON.stringify({ loss: r.loss, tokens: r.tokens }) + '\n');
});
