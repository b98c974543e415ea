// Record shapes: what the fields of a record mean. Detected from the first readable record,
// overridable by the user. Each record becomes a Sample: plain text, a prompt/response pair, or a
// chat conversation. A record that does not fit the shape gets a reason (naming the columns it has).

import { OptionError, opt, type Worded } from '../options';

/**
 * What a record's fields mean, following the field's dataset conventions: 'alpaca' (Stanford
 * Alpaca: instruction, optional input, output), 'prompt-completion' (TRL's prompt/completion
 * format; 'response' accepted too), 'messages' (TRL's conversational format / OpenAI chat:
 * role/content list), 'sharegpt' (ShareGPT conversations: from/value, roles human/gpt/system as
 * axolotl and LLaMA-Factory read them), 'text' (TRL's language-modeling format: one text field,
 * or a bare string), 'template' (a user's {column} prompt template plus a response column).
 */
export type RecordShape = 'alpaca' | 'prompt-completion' | 'messages' | 'sharegpt' | 'text' | 'template';
/** Every RecordShape, in the order the CLI's --format help and the studio's shape menu list them. */
export const RECORD_SHAPES: readonly RecordShape[] = ['alpaca', 'prompt-completion', 'messages', 'sharegpt', 'text', 'template'];

/**
 * One turn of a conversation, as chat templates receive it (transformers' apply_chat_template
 * `messages`): role 'system' | 'user' | 'assistant' | 'tool' (ShareGPT senders are mapped to
 * these), content the turn's text ('' for a null content).
 */
export interface ChatMessage {
  role: string;
  content: string;
}

/**
 * One record read as training material, before formatting (format.ts): plain text (every token
 * trained), a prompt/response pair (the response trained; the prompt too with trainOnPrompt), or a
 * chat conversation (assistant turns trained). A chat sample always has at least one assistant
 * turn with text (toSample throws ShapeError otherwise).
 */
export type Sample =
  | { kind: 'text'; text: string }
  /** A prompt/response pair. Alpaca keeps instruction and input apart (`input` may be ''). */
  | { kind: 'pair'; prompt: string; input?: string; response: string }
  | { kind: 'chat'; messages: ChatMessage[] };

interface ShapeOptions {
  /** The prompt template of the 'template' shape: text with {column} placeholders ({{ and }} for literal braces). */
  template?: string;
  /** The column holding the response (the 'template' shape; optional override for the others). */
  responseColumn?: string;
}

/**
 * A record (or a template) that does not fit the chosen RecordShape: the message names the
 * column or message at fault and the columns present, and refers to options (format, template,
 * responseColumn) as OptionRefs so each host words them its own way. loadDataset turns it into a
 * skipped row, or a DatasetError naming the line when bad rows stop the run.
 */
export class ShapeError extends OptionError {
  override name = 'ShapeError';
}

type Rec = Record<string, unknown>;

const isObj = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The keys of a record, for messages. */
function columnsOf(v: unknown): string {
  if (!isObj(v)) return Array.isArray(v) ? 'it is an array, not an object' : `it is ${v === null ? 'null' : typeof v}, not an object`;
  const k = Object.keys(v);
  return k.length ? k.join(', ') : 'none';
}

const PROMPT_KEYS = ['prompt'];
const COMPLETION_KEYS = ['completion', 'response'];

/**
 * The shape a record suggests, checked in this order: a bare string → text; a messages /
 * conversations list → sharegpt when its first message has from/value, else messages;
 * instruction + output → alpaca; prompt + completion/response → prompt-completion; a text field →
 * text. Otherwise null with the reason (the columns present and how to use the template shape).
 */
export function detectShape(v: unknown): { shape: RecordShape } | { shape: null; reason: Worded } {
  if (typeof v === 'string') return { shape: 'text' };
  if (!isObj(v)) return { shape: null, reason: [`the first record is not an object (${columnsOf(v)})`] };
  const has = (k: string) => k in v && v[k] !== undefined;
  const conv = v.conversations ?? v.messages;
  if (Array.isArray(conv)) {
    const first = conv.find(isObj);
    if (first && 'from' in first && 'value' in first) return { shape: 'sharegpt' };
    return { shape: 'messages' };
  }
  if (has('instruction') && has('output')) return { shape: 'alpaca' };
  if (PROMPT_KEYS.some(has) && COMPLETION_KEYS.some(has)) return { shape: 'prompt-completion' };
  if (has('text')) return { shape: 'text' };
  return {
    shape: null,
    reason: [
      `cannot tell the record shape from its columns (${columnsOf(v)}). Expected text; instruction/input/output (Alpaca); ` +
        'prompt/completion; messages (role/content); or conversations (from/value). For other columns set ',
      opt('format', 'template'), ', write ', opt('template', '... {column} ...'), ' and choose ', opt('responseColumn'),
    ],
  };
}

/** Placeholders {name} of a template ({{ and }} are literal braces). */
function templateColumns(template: string): string[] {
  const cols: string[] = [];
  const re = /\{\{|\}\}|\{([^{}]*)\}/g;
  for (let m; (m = re.exec(template)); ) if (m[1] !== undefined) cols.push(m[1].trim());
  return cols;
}

/**
 * Checks a 'template' shape's prompt template once, up front: throws ShapeError for an unmatched
 * brace (write {{ or }} for a literal one), no {column} placeholder, or an empty {} placeholder.
 * Whether the columns exist is checked per record (toSample).
 */
export function checkTemplate(template: string): void {
  const stray = template.replace(/\{\{|\}\}|\{[^{}]*\}/g, '');
  if (/[{}]/.test(stray)) throw new ShapeError(`the template "${template}" has an unmatched brace; write {{ or }} for a literal brace.`);
  const cols = templateColumns(template);
  if (cols.length === 0) throw new ShapeError(`the template "${template}" has no {column} placeholder; write e.g. "Describe {product}".`);
  if (cols.some((c) => c === '')) throw new ShapeError(`the template "${template}" has an empty {} placeholder; name a column inside the braces.`);
}

/** A value that reads as text: strings, numbers, booleans (bigint from Parquet too). */
function textOf(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return null;
}

/** A required text field; the reason when it is missing, not text, or empty. */
function field(rec: Rec, key: string, what: string, allowEmpty = false): string {
  if (!(key in rec) || rec[key] === undefined) throw new ShapeError(`missing column "${key}" (columns present: ${columnsOf(rec)})`);
  const v = rec[key];
  if (v === null) {
    if (allowEmpty) return '';
    throw new ShapeError(`column "${key}" is null; ${what} needs text`);
  }
  const t = textOf(v);
  if (t === null) throw new ShapeError(`column "${key}" is ${Array.isArray(v) ? 'an array' : typeof v}, not text`);
  if (!allowEmpty && t.trim() === '') throw new ShapeError(`column "${key}" is empty; ${what} needs text`);
  return t;
}

function fillTemplate(template: string, rec: Rec): string {
  return template.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (m, name?: string) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    return field(rec, (name ?? '').trim(), 'the template', true);
  });
}

const SHAREGPT_ROLES: Record<string, string> = {
  human: 'user', user: 'user', gpt: 'assistant', assistant: 'assistant', chatgpt: 'assistant', bard: 'assistant', bing: 'assistant',
  model: 'assistant', system: 'system', tool: 'tool', function_call: 'assistant', observation: 'tool',
};

function chatMessages(rec: Rec, shape: 'messages' | 'sharegpt'): ChatMessage[] {
  const key = shape === 'sharegpt' ? ('conversations' in rec ? 'conversations' : 'messages') : 'messages' in rec ? 'messages' : 'conversations';
  if (!(key in rec)) throw new ShapeError(`missing column "${key}" (columns present: ${columnsOf(rec)})`);
  const raw = rec[key];
  if (!Array.isArray(raw)) throw new ShapeError(`column "${key}" is ${raw === null ? 'null' : typeof raw}, not a list of messages`);
  const [rk, ck] = shape === 'sharegpt' ? ['from', 'value'] : ['role', 'content'];
  const out: ChatMessage[] = raw.map((m, i) => {
    if (!isObj(m)) throw new ShapeError(`message ${i + 1} of "${key}" is not an object`);
    if (typeof m[rk] !== 'string') {
      const hint =
        shape === 'messages' && 'from' in m ? [' (from/value messages are ShareGPT: set ', opt('format', 'sharegpt'), ')']
        : shape === 'sharegpt' && 'role' in m ? [' (role/content messages: set ', opt('format', 'messages'), ')']
        : [];
      throw new ShapeError([`message ${i + 1} of "${key}" has no "${rk}" (fields present: ${columnsOf(m)})`, ...hint]);
    }
    const content = m[ck] === null ? '' : textOf(m[ck]);
    if (content === null) throw new ShapeError(`message ${i + 1} of "${key}" has no text "${ck}" (fields present: ${columnsOf(m)})`);
    let role = m[rk] as string;
    if (shape === 'sharegpt') {
      const r = SHAREGPT_ROLES[role.toLowerCase()];
      if (!r) throw new ShapeError(`message ${i + 1} has unknown sender "${role}" (expected human, gpt or system)`);
      role = r;
    }
    return { role, content };
  });
  if (!out.some((m) => m.role === 'assistant' && m.content.trim() !== '')) {
    throw new ShapeError(`the conversation has no ${shape === 'sharegpt' ? '"gpt"' : '"assistant"'} turn with text, so there is nothing to learn`);
  }
  return out;
}

/** One record as a Sample of the given shape; throws ShapeError with the reason. */
export function toSample(v: unknown, shape: RecordShape, opts: ShapeOptions = {}): Sample {
  if (shape === 'text' && typeof v === 'string') {
    if (v.trim() === '') throw new ShapeError('the text is empty. Remove the line or give it text');
    return { kind: 'text', text: v };
  }
  if (!isObj(v)) throw new ShapeError(`expected a JSON object${shape === 'text' ? ' like {"text": "..."}' : ''} (${columnsOf(v)})`);
  switch (shape) {
    case 'text': {
      const t = v.text;
      if (typeof t !== 'string') throw new ShapeError(`no "text" string field (fields present: ${columnsOf(v)}). Give each line a "text" field`);
      if (t.trim() === '') throw new ShapeError('the "text" field is empty. Remove the line or give it text');
      return { kind: 'text', text: t };
    }
    case 'alpaca': {
      const instruction = field(v, 'instruction', 'the instruction');
      const input = 'input' in v ? field(v, 'input', 'the input', true) : '';
      const response = field(v, opts.responseColumn ?? 'output', 'the response');
      return { kind: 'pair', prompt: instruction, input, response };
    }
    case 'prompt-completion': {
      const pk = PROMPT_KEYS.find((k) => k in v) ?? 'prompt';
      const ck = opts.responseColumn ?? COMPLETION_KEYS.find((k) => k in v) ?? 'completion';
      return { kind: 'pair', prompt: field(v, pk, 'the prompt'), response: field(v, ck, 'the completion') };
    }
    case 'messages':
    case 'sharegpt':
      return { kind: 'chat', messages: chatMessages(v, shape) };
    case 'template': {
      if (!opts.template) throw new ShapeError(['the template shape needs a prompt template (', opt('template', '... {column} ...'), ')']);
      if (!opts.responseColumn) throw new ShapeError(['the template shape needs the response column (', opt('responseColumn'), ')']);
      const prompt = fillTemplate(opts.template, v);
      if (prompt.trim() === '') throw new ShapeError('the template renders to empty text for this row');
      return { kind: 'pair', prompt, response: field(v, opts.responseColumn, 'the response') };
    }
  }
}
