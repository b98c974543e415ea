// "Export run for a cluster": a finished run's settings as (a) a Python script for Hugging Face
// TRL's SFTTrainer + PEFT LoraConfig that runs unchanged under `accelerate launch` on one or many
// GPUs, and (b) an Axolotl YAML config with the same settings. The dataset is referenced by path or
// Hub id, never embedded. Pure text generation: no Node or DOM APIs here.

import type { LoraSettings } from '../lora/peft';

/**
 * A run's settings as `npm run train` records them (metrics.json config + adapter_config.json);
 * the LoRA fields (LoraSettings) with targetModules as adapter_config.json lists them.
 */
export interface ClusterRun extends LoraSettings {
  name: string;
  /** Hub id or local path of the base model. */
  baseModel: string;
  /** Path or Hub id of the training data. */
  data: string;
  /** A separate evaluation file (path or `hub:` id) read with the same format options; it replaces the eval split. */
  evalFile?: string;
  evalSplit: number;
  lr: number;
  schedule: 'constant' | 'linear' | 'cosine';
  warmup: number;
  steps?: number;
  epochs: number;
  batchSize: number;
  gradAccum: number;
  seqLen: number;
  seed: number;
  maxGradNorm: number;
  weightDecay: number;
  gradCheckpointing: boolean;
  /** none | int8 | nf4 | nf4-dq | qalora-int4/3/2 */
  quant: string;
  groupSize: number;
  /** The record shape the data was read as (data/shapes.ts: alpaca, messages, sharegpt, prompt-completion, text, template; 'chat' and 'prompt_completion' are read as messages and prompt-completion). */
  shape: string;
  trainOnPrompt: boolean;
  packing: boolean;
}

const py = (v: unknown): string => {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (Array.isArray(v)) return `[${v.map(py).join(', ')}]`;
  return JSON.stringify(String(v));
};
const yq = (s: string) => JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar

/** What a QA-LoRA run cannot carry over (said in both files). */
export function qaloraNote(run: ClusterRun): string | null {
  if (!run.quant.startsWith('qalora')) return null;
  return `This run trained QA-LoRA (${run.quant}, group size ${run.groupSize}): neither TRL/PEFT on bitsandbytes nor Axolotl has an equivalent (PEFT's use_qalora needs a GPTQ base), so this trains plain LoRA on the bf16 base with the same rank, alpha and targets; the INT-N merge is not reproduced.`;
}

/** The shape as formatLines knows it: the recorded RecordShape names and their older aliases. */
function shapeOf(run: ClusterRun): 'alpaca' | 'chat' | 'sharegpt' | 'prompt_completion' | 'text' {
  const s = run.shape;
  if (s === 'messages' || s === 'chat') return 'chat';
  if (s === 'prompt-completion' || s === 'prompt_completion') return 'prompt_completion';
  if (s === 'alpaca' || s === 'sharegpt') return s;
  return 'text';
}

/** A Hub dataset as the CLI names it (`hub:OWNER/NAME[:CONFIG[:SPLIT]]`), or null for a path. */
function hubData(data: string): { id: string; config: string | null; split: string } | null {
  const m = /^hub:([^:\s]+)(?::([^:]*))?(?::([^:]*))?$/.exec(data);
  if (!m) return null;
  return { id: m[1], config: m[2] || null, split: m[3] || 'train' };
}

/** The `datasets` loader of a local data file by its extension (json, csv, parquet, text), or null for a Hub id or an unknown extension. */
function loaderOf(path: string): string | null {
  if (hubData(path)) return null;
  const m = /\.(jsonl|json|csv|tsv|parquet|txt)$/i.exec(path);
  if (!m) return null;
  return { jsonl: 'json', json: 'json', csv: 'csv', tsv: 'csv', parquet: 'parquet', txt: 'text' }[m[1].toLowerCase()]!;
}

/** The load_dataset argument that reads a .tsv file as tab-separated ('' for any other file). */
function tsv(path: string): string {
  return path.toLowerCase().endsWith('.tsv') ? ', delimiter="\\t"' : '';
}

/**
 * The script's eval set: the separate evaluation file when the run had one (loaded as its own
 * dataset, formatted by the same fmt as the training data), else the seeded eval split.
 */
function evalLines(run: ClusterRun): string[] {
  const split = ['    raw = raw["train"].train_test_split(test_size=EVAL_SPLIT, seed=SEED)'];
  if (!run.evalFile) return ['if EVAL_SPLIT > 0:', ...split];
  const hub = hubData(run.evalFile);
  const load = hub
    ? `load_dataset(${py(hub.id)}, ${py(hub.config)}, split=${py(hub.split)})`
    : `load_dataset(${py(loaderOf(run.evalFile) ?? 'json')}, data_files=EVAL_FILE, split="train"${tsv(run.evalFile)})`;
  return [
    '# The run was evaluated on a separate file (not a split of DATA): the same format, its own examples.',
    'if EVAL_FILE:',
    `    raw["test"] = ${load}`,
    'elif EVAL_SPLIT > 0:',
    ...split,
  ];
}

/** The TRL SFTTrainer script (Python 3, trl ≥ 0.20, peft ≥ 0.14; `accelerate launch train_trl.py`). */
export function trlScript(run: ClusterRun): string {
  const qa = qaloraNote(run);
  const bnb =
    run.quant === 'int8' ? 'BitsAndBytesConfig(load_in_8bit=True)'
      : run.quant === 'nf4' || run.quant === 'nf4-dq'
        ? `BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=${py(run.quant === 'nf4-dq')}, bnb_4bit_compute_dtype=torch.bfloat16)`
        : 'None';
  const loader = loaderOf(run.data);
  const hub = hubData(run.data);
  const sched = run.schedule === 'constant' ? 'constant_with_warmup' : run.schedule;
  const shape = shapeOf(run);
  const chat = shape === 'chat' || shape === 'sharegpt';
  const lines = [
    '#!/usr/bin/env python3',
    `# Generated by LoRA Studio (npm run export-run) from run "${run.name}": the same LoRA settings for`,
    '# Hugging Face TRL SFTTrainer + PEFT. Runs unchanged on one GPU or many:',
    '#   pip install "trl>=0.20" "peft>=0.14" transformers datasets accelerate bitsandbytes',
    '#   accelerate launch train_trl.py          # accelerate config once per machine; --num_processes N',
    '# The global batch is kept: per-GPU batch x gradient accumulation x GPUs = the run\'s batch x accumulation.',
    ...(qa ? [`# NOTE: ${qa}`] : []),
    'import os',
    '',
    'import torch',
    'from datasets import DatasetDict, load_dataset',
    'from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training',
    'from peft.optimizers import create_loraplus_optimizer',
    'from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig',
    'from trl import SFTConfig, SFTTrainer',
    '',
    `BASE_MODEL = ${py(run.baseModel)}`,
    ...(hub
      ? [`DATA = ${py(hub.id)}  # a Hub dataset id; never embedded here`, `DATA_CONFIG = ${py(hub.config)}`, `DATA_SPLIT = ${py(hub.split)}`]
      : [`DATA = ${py(run.data)}  # a local file or a Hub dataset id; never embedded here`]),
    `EVAL_FILE = ${py(run.evalFile ?? null)}`,
    `EVAL_SPLIT = ${py(run.evalSplit)}`,
    `SEED = ${py(run.seed)}`,
    `SEQ_LEN = ${py(run.seqLen)}`,
    `BATCH_SIZE = ${py(run.batchSize)}`,
    `GRAD_ACCUM = ${py(run.gradAccum)}`,
    `LR = ${py(run.lr)}`,
    `LORAPLUS_LR_RATIO = ${py(run.loraplusLrRatio)}`,
    `WEIGHT_DECAY = ${py(run.weightDecay)}`,
    `MAX_STEPS = ${py(run.steps ?? -1)}  # -1: run NUM_EPOCHS`,
    `NUM_EPOCHS = ${py(run.epochs)}`,
    '',
    'world = int(os.environ.get("WORLD_SIZE", "1"))',
    'grad_accum = max(1, GRAD_ACCUM // world)',
    'if GRAD_ACCUM % world:',
    '    print(f"note: {world} GPUs do not divide gradient accumulation {GRAD_ACCUM}; the global batch becomes {BATCH_SIZE * grad_accum * world}")',
    ...(qa ? [`print(${py('note: ' + qa)})`] : []),
    '',
    'tokenizer = AutoTokenizer.from_pretrained(BASE_MODEL)',
    'if tokenizer.pad_token is None:',
    '    tokenizer.pad_token = tokenizer.eos_token',
    `quantization_config = ${bnb}`,
    'model = AutoModelForCausalLM.from_pretrained(',
    '    BASE_MODEL,',
    '    torch_dtype=torch.bfloat16,',
    '    quantization_config=quantization_config,',
    '    device_map={"": int(os.environ.get("LOCAL_RANK", "0"))} if quantization_config is not None else None,',
    ')',
    'if quantization_config is not None:',
    `    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=${py(run.gradCheckpointing)})`,
    '',
    'lora_config = LoraConfig(',
    `    r=${py(run.r)},`,
    `    lora_alpha=${py(run.loraAlpha)},`,
    `    lora_dropout=${py(run.loraDropout)},`,
    `    target_modules=${py(run.targetModules)},`,
    `    use_rslora=${py(run.useRslora)},`,
    '    bias="none",',
    '    task_type="CAUSAL_LM",',
    ')',
    'model = get_peft_model(model, lora_config)',
    'model.print_trainable_parameters()',
    '',
    '# Data: the same record shape the studio read, formatted the same way.',
    loader
      ? `files = {"train": DATA}\nraw = load_dataset(${py(loader)}, data_files=files${tsv(run.data)})`
      : hub
        ? 'raw = DatasetDict(train=load_dataset(DATA, DATA_CONFIG, split=DATA_SPLIT))'
        : 'raw = load_dataset(DATA)',
    ...evalLines(run),
    '',
    ...formatLines(run),
    '',
    'args = SFTConfig(',
    '    output_dir="out",',
    '    per_device_train_batch_size=BATCH_SIZE,',
    '    gradient_accumulation_steps=grad_accum,',
    '    learning_rate=LR,',
    `    lr_scheduler_type=${py(sched)},`,
    `    warmup_steps=${py(run.warmup)},`,
    '    max_steps=MAX_STEPS,',
    '    num_train_epochs=NUM_EPOCHS,',
    `    max_grad_norm=${py(run.maxGradNorm)},`,
    '    weight_decay=WEIGHT_DECAY,',
    '    seed=SEED,',
    '    data_seed=SEED,',
    '    max_length=SEQ_LEN,',
    `    packing=${py(run.packing)},  # TRL packs without attention across examples (position ids restart)`,
    `    completion_only_loss=${py(!run.trainOnPrompt && !chat && shape !== 'text')},`,
    ...(chat ? [`    assistant_only_loss=${py(!run.trainOnPrompt)},  # needs a chat template with {% generation %} markers`] : []),
    `    gradient_checkpointing=${py(run.gradCheckpointing)},`,
    '    bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),',
    '    eval_strategy="no",',
    '    logging_steps=10,',
    '    save_strategy="steps",',
    '    save_steps=500,',
    '    report_to="none",',
    ')',
    '',
    '# LoRA+: B learns LORAPLUS_LR_RATIO times faster than A (PEFT\'s create_loraplus_optimizer).',
    'optimizer = create_loraplus_optimizer(model=model, optimizer_cls=torch.optim.AdamW, lr=LR, loraplus_lr_ratio=LORAPLUS_LR_RATIO, weight_decay=WEIGHT_DECAY)',
    'trainer = SFTTrainer(',
    '    model=model,',
    '    args=args,',
    '    train_dataset=train_ds,',
    '    eval_dataset=eval_ds,',
    '    processing_class=tokenizer,',
    '    optimizers=(optimizer, None),',
    ')',
    'if eval_ds is not None:',
    '    print("eval loss before:", trainer.evaluate()["eval_loss"])',
    'trainer.train()',
    'if eval_ds is not None:',
    '    print("eval loss after:", trainer.evaluate()["eval_loss"])',
    'trainer.save_model("out/adapter")  # a PEFT folder: adapter_config.json + adapter_model.safetensors',
    '',
  ];
  return lines.join('\n');
}

const ALPACA = 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\\n\\n### Instruction:\\n{instruction}\\n\\n### Response:\\n';
const ALPACA_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\\n\\n### Instruction:\\n{instruction}\\n\\n### Input:\\n{input}\\n\\n### Response:\\n';

function formatLines(run: ClusterRun): string[] {
  const shape = shapeOf(run);
  const tail = ['train_ds = raw["train"].map(fmt, remove_columns=raw["train"].column_names)', 'eval_ds = raw["test"].map(fmt, remove_columns=raw["test"].column_names) if "test" in raw else None'];
  if (shape === 'alpaca') {
    return [
      `ALPACA = "${ALPACA}"`,
      `ALPACA_INPUT = "${ALPACA_INPUT}"`,
      'def fmt(ex):',
      '    p = (ALPACA_INPUT if ex.get("input") else ALPACA).format(instruction=ex["instruction"], input=ex.get("input") or "")',
      run.trainOnPrompt ? '    return {"text": p + ex["output"] + tokenizer.eos_token}' : '    return {"prompt": p, "completion": ex["output"]}  # loss on the completion; TRL appends EOS',
      ...tail,
    ];
  }
  if (shape === 'prompt_completion') {
    return [
      'def fmt(ex):',
      '    # prompt/completion records go through the chat template when the tokenizer has one, as the studio formats them',
      '    if tokenizer.chat_template:',
      '        return {"prompt": [{"role": "user", "content": ex["prompt"]}], "completion": [{"role": "assistant", "content": ex["completion"]}]}',
      '    return {"prompt": ex["prompt"], "completion": ex["completion"]}',
      ...tail,
    ];
  }
  if (shape === 'chat' || shape === 'sharegpt') {
    return [
      'ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}',
      'def fmt(ex):',
      '    turns = ex.get("messages") or ex.get("conversations")',
      '    return {"messages": [{"role": ROLES.get(t.get("role") or t.get("from"), "user"), "content": t.get("content") or t.get("value")} for t in turns]}',
      ...tail,
    ];
  }
  return ['def fmt(ex):', '    return {"text": ex["text"]}  # plain text: every token is trained', ...tail];
}

/**
 * One entry of Axolotl's `datasets` / `test_datasets` list: a Hub dataset (name, split) or a local
 * file (ds_type; a test file also needs `split: train` and `data_files`), with the record type's fields.
 */
function axolotlDataset(data: string, dsType: string, shape: ReturnType<typeof shapeOf>, test: boolean): string[] {
  const hub = hubData(data);
  const loader = loaderOf(data);
  return [
    `  - path: ${yq(hub ? hub.id : data)}`,
    ...(hub?.config ? [`    name: ${yq(hub.config)}`] : []),
    ...(hub ? [`    split: ${yq(hub.split)}`] : []),
    ...(loader ? [`    ds_type: ${loader}`] : []),
    ...(test && !hub ? ['    split: train', '    data_files:', `      - ${yq(data)}`] : []),
    `    type: ${dsType}`,
    ...(dsType === 'chat_template' ? ['    field_messages: ' + (shape === 'sharegpt' ? 'conversations' : 'messages'), '    roles_to_train: ["assistant"]'] : []),
    ...(dsType === 'completion' ? ['    field: text'] : []),
  ];
}

/** The Axolotl config with the run's settings (`accelerate launch -m axolotl.cli.train run.yml`). */
export function axolotlYaml(run: ClusterRun): string {
  const qa = qaloraNote(run);
  const shape = shapeOf(run);
  const dsType =
    shape === 'alpaca' ? 'alpaca' : shape === 'chat' || shape === 'sharegpt' ? 'chat_template' : shape === 'prompt_completion' ? 'input_output' : 'completion';
  const out: string[] = [
    `# Generated by LoRA Studio (npm run export-run) from run "${run.name}".`,
    '#   pip install axolotl; accelerate launch -m axolotl.cli.train axolotl.yml',
    ...(qa ? [`# NOTE: ${qa}`] : []),
    ...(shape === 'prompt_completion' ? ['# prompt/completion records: Axolotl\'s input_output type needs {"segments": [...]}; convert the file or use type: chat_template.'] : []),
    `base_model: ${yq(run.baseModel)}`,
    `adapter: ${run.quant === 'nf4' || run.quant === 'nf4-dq' ? 'qlora' : 'lora'}`,
    `load_in_8bit: ${run.quant === 'int8'}`,
    `load_in_4bit: ${run.quant === 'nf4' || run.quant === 'nf4-dq'}`,
    ...(run.quant === 'nf4' || run.quant === 'nf4-dq' ? ['bnb_config_kwargs:', '  bnb_4bit_quant_type: nf4', `  bnb_4bit_use_double_quant: ${run.quant === 'nf4-dq'}`] : []),
    `lora_r: ${run.r}`,
    `lora_alpha: ${run.loraAlpha}`,
    `lora_dropout: ${run.loraDropout}`,
    'lora_target_modules:',
    ...run.targetModules.map((m) => `  - ${m}`),
    `peft_use_rslora: ${run.useRslora}`,
    ...(run.loraplusLrRatio !== 1 ? [`loraplus_lr_ratio: ${run.loraplusLrRatio}`] : []),
    'datasets:',
    ...axolotlDataset(run.data, dsType, shape, false),
    ...(dsType === 'chat_template' ? ['chat_template: tokenizer_default'] : []),
    `train_on_inputs: ${run.trainOnPrompt}`,
    ...(run.evalFile
      ? ['# The run was evaluated on a separate file (read like the training data), not a split of it.', 'test_datasets:', ...axolotlDataset(run.evalFile, dsType, shape, true), 'val_set_size: 0']
      : [`val_set_size: ${run.evalSplit}`]),
    `sequence_len: ${run.seqLen}`,
    `sample_packing: ${run.packing}`,
    `micro_batch_size: ${run.batchSize}`,
    `gradient_accumulation_steps: ${run.gradAccum}  # per GPU: divide by the number of GPUs to keep the global batch`,
    run.steps ? `max_steps: ${run.steps}` : `num_epochs: ${run.epochs}`,
    'optimizer: adamw_torch',
    `learning_rate: ${run.lr}`,
    `lr_scheduler: ${run.schedule === 'constant' ? 'constant_with_warmup' : run.schedule}`,
    `warmup_steps: ${run.warmup}`,
    `max_grad_norm: ${run.maxGradNorm}`,
    `weight_decay: ${run.weightDecay}`,
    `seed: ${run.seed}`,
    `gradient_checkpointing: ${run.gradCheckpointing}`,
    'bf16: auto',
    'output_dir: ./out',
    '',
  ];
  return out.join('\n');
}

/** README text for the exported folder: how to take the run to a multi-GPU machine. */
export function clusterReadme(run: ClusterRun): string {
  const qa = qaloraNote(run);
  return [
    `# Run "${run.name}" for a cluster`,
    '',
    `Base model \`${run.baseModel}\`, data \`${run.data}\` (copy the file next to these, or change DATA / path to its location or Hub id).`,
    '',
    ...(run.evalFile
      ? [
          `Evaluation file \`${run.evalFile}\`: the run measured its eval loss on this separate file, not on a split of the data. Put it next to these too (or change EVAL_FILE in train_trl.py and \`test_datasets\` in axolotl.yml to its location); both read it with the same format options as the training data.`,
          '',
        ]
      : []),
    '- TRL: `pip install "trl>=0.20" "peft>=0.14" transformers datasets accelerate bitsandbytes`, `accelerate config`, then `accelerate launch train_trl.py` (add `--num_processes N` for N GPUs).',
    '- Axolotl: `pip install axolotl`, then `accelerate launch -m axolotl.cli.train axolotl.yml`.',
    '',
    'Both write a PEFT adapter that `npm run eval/generate/merge/export-gguf -- --adapter DIR` reads back.',
    ...(qa ? ['', qa] : []),
    '',
  ].join('\n');
}
