/** The one error the DSN builder throws: its input broke the contract. The message names the field. */

export class DsnInputError extends Error {
  readonly code = 'DSN_INPUT_INVALID';
  /** Dotted path of the offending field, e.g. `recipients[1].status`. */
  readonly field: string;
  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'DsnInputError';
    this.field = field;
  }
}
