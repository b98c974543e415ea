// The error every tokenizer loader throws: one line naming the file and what to do.

/** A tokenizer that cannot be loaded or converted; the message names the file and what to do. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
}
