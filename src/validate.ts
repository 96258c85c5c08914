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

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timeout in milliseconds: 1 to 2^31-1 (what a Node timer can wait), or Infinity for none. */
export function checkTimeout(value: unknown, name: string): number {
  if (typeof value !== 'number') {
    throw new TypeError(`The "${name}" option must be a number, received ${describe(value)}`);
  }
  if (value !== Infinity && !(value >= 1 && value <= MAX_TIMER_MS)) {
    throw new RangeError(
      `The "${name}" option must be a number of milliseconds from 1 to ${MAX_TIMER_MS}, or Infinity, received ${value}`,
    );
  }
  return value;
}

/** A budget of loop time per iteration in milliseconds: greater than 0, or Infinity (no pacing). */
export function checkBudget(value: unknown, name: string): number {
  if (typeof value !== 'number') {
    throw new TypeError(`The "${name}" option must be a number, received ${describe(value)}`);
  }
  if (!(value > 0)) {
    throw new RangeError(
      `The "${name}" option must be a number of milliseconds greater than 0, or Infinity (no pacing), received ${value}`,
    );
  }
  return value;
}

export function checkObject(value: unknown, name: string): void {
  if (value === null || typeof value !== 'object') {
    throw new TypeError(`The "${name}" argument must be an object, received ${describe(value)}`);
  }
}

export function checkSignal(value: unknown, name: string): void {
  if (!(value instanceof AbortSignal)) {
    throw new TypeError(`The "${name}" option must be an AbortSignal, received ${describe(value)}`);
  }
}

export function describe(value: unknown): string {
  try {
    return describeUnsafe(value);
  } catch {
    return 'an object'; // a revoked Proxy or a throwing getter
  }
}

function describeUnsafe(value: unknown): string {
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
