// npm run generate -- --model DIR [--adapter DIR] --prompt "..." --max-new-tokens N
import { generateTokens, Generator } from '../model/generate';
import { loadModel } from '../model/load';
import { gpuContext, nonNegInt, num, openModelSource, parseCli, positiveInt, loadAdapterState, runCli, UsageError, QUANT_CLI_OPTIONS, QUANT_USAGE, quantFromArgs } from './common';

const USAGE = `usage: npm run generate -- --model DIR|ORG/NAME [--adapter DIR] [--prompt TEXT] [--max-new-tokens N (100)]
  [--temperature X (0 = greedy)] [--top-p P (1)] [--seed N] [--context N (model max, at most 1024)] [--dtype auto|f32|f16]
${QUANT_USAGE}`;

runCli(async () => {
  const a = parseCli(
    {
      model: { type: 'string' }, adapter: { type: 'string' }, prompt: { type: 'string' }, 'max-new-tokens': { type: 'string' },
      temperature: { type: 'string' }, 'top-p': { type: 'string' }, seed: { type: 'string' }, context: { type: 'string' }, dtype: { type: 'string' }, ...QUANT_CLI_OPTIONS,
    } as const,
    USAGE,
  );
  if (!a.model) throw new UsageError(`--model is required.\n${USAGE}`);
  const { quant, groupSize } = quantFromArgs(a);
  const src = openModelSource(a.model);
  const ctx = await gpuContext();
  const loaded = await loadModel(ctx, src, { dtype: (a.dtype ?? 'auto') as 'auto', quant, groupSize });
  const { spec, tokenizer } = loaded;
  const maxNew = num(a['max-new-tokens'], 'max-new-tokens', 100, nonNegInt);
  const prompt = a.prompt ?? '';
  // An empty prompt starts from BOS alone.
  let ids = prompt === '' ? [] : tokenizer.encode(prompt, true);
  if (ids.length === 0) {
    if (tokenizer.bos === null) throw new UsageError('this tokenizer has no BOS token; give a non-empty --prompt.');
    ids = [tokenizer.bos];
  }
  const T = num(a.context, 'context', Math.min(spec.maxT, Math.max(64, Math.min(1024, ids.length + maxNew))), positiveInt);
  const lora = a.adapter ? loadAdapterState(ctx, spec, a.adapter) : null;
  const gen = new Generator(ctx, spec, loaded.weights, lora, { T });
  const out: number[] = [];
  let printed = '';
  for await (const id of generateTokens(ctx, gen, ids, {
    maxNewTokens: maxNew, temperature: num(a.temperature, 'temperature', 0), topP: num(a['top-p'], 'top-p', 1), seed: num(a.seed, 'seed', 0), stop: spec.eos,
  })) {
    out.push(id);
    // Stream: print the newly decoded suffix (decoding the whole run keeps multi-byte pieces intact).
    const text = tokenizer.decode(out, true);
    if (text.startsWith(printed)) {
      process.stdout.write(text.slice(printed.length));
      printed = text;
    }
  }
  const full = tokenizer.decode(out, true);
  if (full !== printed) process.stdout.write(full.startsWith(printed) ? full.slice(printed.length) : '\n' + full);
  process.stdout.write('\n');
});
