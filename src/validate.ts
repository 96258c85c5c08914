// Argument checks shared by every exported function: bad input gets a
// TypeError or RangeError that names the argument.

export const MAX_OWNER_LENGTH = 256;

export function checkOwner(owner: unknown, name = 'owner'): string {
  if (typeof owner !== 'string') {
    throw new TypeError(`The "${name}" argument must be a string, received ${describe(owner)}`);
  }
  if (owner.length === 0 || owner.length > MAX_OWNER_LENGTH) {
    throw new RangeError(
      `The "${name}" argument must be a non-empty string of at most ${MAX_OWNER_LENGTH} characters, received one of ${owner.length}`,
    );
  }
  if (!owner.isWellFormed()) {
    // A lone surrogate has no UTF-8 form: two such names would share an owner.
    throw new RangeError(`The "${name}" argument must be a well-formed string (no lone surrogates)`);
  }
  return owner;
}

export function checkFunction(fn: unknown, name: string): void {
  if (typeof fn !== 'function') {
    throw new TypeError(`The "${name}" argument must be a function, received ${describe(fn)}`);
  }
}

export function checkBoolean(value: unknown, name: string): void {
  if (typeof value !== 'boolean') {
    throw new TypeError(`The "${name}" argument must be a boolean, received ${describe(value)}`);
  }
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `a string of length ${value.length}`;
    case 'number':
    case 'bigint':
    case 'boolean':
    case 'symbol':
      return `${typeof value} ${String(value)}`;
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    default:
      return `an instance of ${(value as object).constructor?.name ?? 'Object'}`;
  }
}
