// npm run generate -- --model DIR [--adapter DIR] --prompt "..." --max-new-tokens N
import { encodePrompt, stopIdsFor } from '../data/format';
import { generateTokens, Generator } from '../net/generate';
import { loadModel } from '../model/load';
import { gpuContext, nonNegInt, num, openModelSource, parseCli, positiveInt, loadAdapterState, progressLine, runCli, QUANT_CLI_OPTIONS, QUANT_USAGE, quantFromArgs } from './common';
import { modelOrDemo } from './demo';
import { trainedPromptFormat } from './train-run';

const USAGE = `usage: npm run generate -- [--model DIR|ORG/NAME (the demo model)] [--adapter DIR] [--prompt TEXT] [--max-new-tokens N (100)]
  [--temperature X (0 = greedy)] [--top-p P (1)] [--seed N] [--context N (model max, at most 1024)] [--dtype auto|f32|f16]
  [--raw-prompt (send the prompt as typed, not wrapped as the adapter's training data was)]
${QUANT_USAGE}`;

runCli(async () => {
  const a = parseCli(
    {
      model: { type: 'string' }, adapter: { type: 'string' }, prompt: { type: 'string' }, 'max-new-tokens': { type: 'string' },
      temperature: { type: 'string' }, 'top-p': { type: 'string' }, seed: { type: 'string' }, context: { type: 'string' }, dtype: { type: 'string' },
      'raw-prompt': { type: 'boolean' }, ...QUANT_CLI_OPTIONS,
    } as const,
    USAGE,
  );
  const model = modelOrDemo(a.model);
  const { quant, groupSize } = quantFromArgs(a);
  const src = openModelSource(model);
  const ctx = await gpuContext();
  const loaded = await loadModel(ctx, src, { dtype: (a.dtype ?? 'auto') as 'auto', quant, groupSize });
  const { spec, tokenizer } = loaded;
  const maxNew = num(a['max-new-tokens'], 'max-new-tokens', 100, nonNegInt);
  const prompt = a.prompt ?? '';
  // Wrapped as the adapter's training data was (Alpaca prompt, chat turn) unless --raw-prompt; an
  // empty prompt as typed starts from BOS alone.
  const format = a.adapter && !a['raw-prompt'] ? trainedPromptFormat(a.adapter) : null;
  if (format) progressLine(`prompt wrapped as the adapter's training data (${format.name}); --raw-prompt sends it as typed`, true);
  const { ids } = encodePrompt(tokenizer, prompt, format ?? undefined);
  const T = num(a.context, 'context', Math.min(spec.maxT, Math.max(64, Math.min(1024, ids.length + maxNew))), positiveInt);
  const lora = a.adapter ? await loadAdapterState(ctx, spec, a.adapter) : null;
  const gen = new Generator(ctx, spec, loaded.weights, lora, { T });
  const out: number[] = [];
  let printed = '';
  for await (const id of generateTokens(ctx, gen, ids, {
    maxNewTokens: maxNew, temperature: num(a.temperature, 'temperature', 0), topP: num(a['top-p'], 'top-p', 1), seed: num(a.seed, 'seed', 0), stop: stopIdsFor(tokenizer, format ?? undefined),
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
