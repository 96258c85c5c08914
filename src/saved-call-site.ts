// A frame of a formatted stack read back as the call site V8 hands
// Error.prepareStackTrace, so that a stack formatted without the runner's
// source maps can be put through them later (stack-text.ts mapStack).
/** A frame of a plain stack, read back as the call site V8 gives Error.prepareStackTrace. */
export class SavedCallSite {
  constructor(
    private readonly name: string | null,
    private readonly file: string | null,
    private readonly line: number | null,
    private readonly column: number | null,
    private readonly flags: { async: boolean; construct: boolean; native: boolean },
    private readonly text: string,
  ) {}

  /** `    at [async ][new ]name (file:line:col)` or `    at file:line:col`, else null. */
  static parse(line: string): SavedCallSite | null {
    const m = /^\s+at (?:(async) )?(?:(new) )?(?:(.*?) \((.*)\)|(.*))$/.exec(line);
    if (m === null) return null;
    const where = m[4] ?? m[5];
    const text = line.trim().slice(3);
    const flags = { async: m[1] !== undefined, construct: m[2] !== undefined, native: where === 'native' };
    const pos = /^(.*):(\d+):(\d+)$/.exec(where);
    if (pos === null) return new SavedCallSite(m[3] ?? null, where === 'native' || where === '<anonymous>' ? null : where, null, null, flags, text);
    return new SavedCallSite(m[3] ?? null, pos[1], Number(pos[2]), Number(pos[3]), flags, text);
  }

  getThis(): undefined {
    return undefined;
  }
  getTypeName(): null {
    return null;
  }
  getFunction(): undefined {
    return undefined;
  }
  getFunctionName(): string | null {
    return this.name;
  }
  getMethodName(): null {
    return null;
  }
  getFileName(): string | undefined {
    return this.file ?? undefined;
  }
  getLineNumber(): number | null {
    return this.line;
  }
  getColumnNumber(): number | null {
    return this.column;
  }
  getEvalOrigin(): undefined {
    return undefined;
  }
  getScriptNameOrSourceURL(): string | undefined {
    return this.file ?? undefined;
  }
  getScriptHash(): string {
    return '';
  }
  getEnclosingColumnNumber(): null {
    return null;
  }
  getEnclosingLineNumber(): null {
    return null;
  }
  getPosition(): number {
    return 0;
  }
  getPromiseIndex(): null {
    return null;
  }
  isToplevel(): boolean {
    return true;
  }
  isEval(): boolean {
    return false;
  }
  isNative(): boolean {
    return this.flags.native;
  }
  isConstructor(): boolean {
    return this.flags.construct;
  }
  isAsync(): boolean {
    return this.flags.async;
  }
  isPromiseAll(): boolean {
    return false;
  }
  toString(): string {
    return this.text;
  }
}
