// What every benchmark report states about the run: command, date, Node and
// libuv versions, machine, and how loaded it was before and after.
import os from 'node:os';

/** Call at the start of a run; `finish()` at its end gives the record. */
export function startRun(command) {
  const started = new Date();
  const loadBefore = os.loadavg();
  return {
    finish() {
      const loadAfter = os.loadavg();
      return {
        date: started.toISOString(),
        command,
        node: process.version,
        uv: process.versions.uv,
        v8: process.versions.v8,
        os: `${os.type()} ${os.release()} ${os.arch()}`,
        cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        loadBefore: loadBefore.map((l) => l.toFixed(2)).join(', '),
        loadAfter: loadAfter.map((l) => l.toFixed(2)).join(', '),
        durationS: Math.round((Date.now() - started.getTime()) / 1000),
      };
    },
  };
}

/** The two header lines of a report. */
export function machineLines(m) {
  return [
    `Date ${m.date}; ${m.command}; Node ${m.node} (libuv ${m.uv}); ${m.os}; ${m.cpus}; ${m.memoryGiB} GiB`,
    `Load average (1, 5, 15 min) before: ${m.loadBefore}; after: ${m.loadAfter}; took ${m.durationS} s`,
  ];
}
