// Micro-workloads shared by the hook-overhead benchmarks (leak-check.mjs,
// attribution.mjs): each runs `ops` operations per call of run().

/** 50 000 calls of an async function that awaits: 100 000 awaits, 2 promises each. */
export const promiseHeavy = {
  label: 'promise-heavy: 100 000 awaits of async functions',
  ops: 100_000,
  async run() {
    const step = async (i) => {
      await null;
      return i + 1;
    };
    let s = 0;
    for (let i = 0; i < 50_000; i++) s = await step(s);
    return s;
  },
};

/** 20 000 timer births: setTimeout then clearTimeout. */
export const timeoutHeavy = {
  label: 'timeout-heavy: 20 000 setTimeout + clearTimeout',
  ops: 20_000,
  async run() {
    const f = () => {};
    for (let i = 0; i < 20_000; i++) clearTimeout(setTimeout(f, 1_000));
  },
};
