// A JS module for uv-drain's UnloadCoordinator tests (test/coordinator.test.ts,
// test/scripts/quit-*.mjs), with real work on the loop:
//  - a TCP server on 127.0.0.1 (ephemeral port); its accepted connections
//    speak lines: "commit <id>" asks for a commit; the module answers
//    "ack <id>" once the record is on disk (written and fsync'ed), or
//    "nack <id>" when it no longer accepts commits;
//  - commits are group commits: every record received so far is appended to
//    the commit file with one FileHandle.write, then FileHandle.sync; only
//    then are they acknowledged;
//  - a child process (`node -e`, reading its stdin, exits when stdin closes);
//  - a timer (setInterval heartbeat).
// cleanup(): stops accepting (server closed, new commits nacked), clears the
// timer, closes the child's stdin; commits in flight finish; then the file is
// closed and the connections ended. deinit(): 'again' while a commit is in
// flight or something is still open, 'done' once all of it is let go.
//
// One instance per createCommitModule(); commit.mjs and commit.cjs wrap one
// each. Instances register under their module name (the owner tag) so tests
// and child scripts can reach them; the commit file comes from configure().
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');

/** name -> the live state of the module loaded under that name. */
const instances = new Map();
/** name -> { file } set by the test before load. */
const configs = new Map();
/** file -> how many times its top-level code ran. */
const evaluations = new Map();

function configure(name, config) {
  configs.set(name, config);
}

function noteEvaluation(file) {
  evaluations.set(file, (evaluations.get(file) ?? 0) + 1);
}

function createCommitModule() {
  let st;

  function onLine(socket, line) {
    const match = /^commit (\S+)$/.exec(line);
    if (match === null) return;
    const id = match[1];
    if (!st.accepting) {
      st.nacked.add(id);
      if (socket.writable) socket.write(`nack ${id}\n`);
      return;
    }
    st.queue.push({ id, socket });
    st.inflight++;
    flush().catch((error) => {
      st.error ??= error;
    });
  }

  async function flush() {
    if (st.writing) return;
    st.writing = true;
    try {
      while (st.queue.length > 0) {
        const batch = st.queue.splice(0);
        const data = batch.map((c) => `${c.id}\n`).join('');
        const { bytesWritten } = await st.fh.write(data);
        if (bytesWritten !== Buffer.byteLength(data)) throw new Error(`short write: ${bytesWritten}`);
        await st.fh.sync();
        // On disk: acknowledge.
        st.inflight -= batch.length;
        st.acked += batch.length;
        for (const c of batch) if (c.socket.writable) c.socket.write(`ack ${c.id}\n`);
      }
    } finally {
      st.writing = false;
    }
    if (!st.accepting) wrapUp();
  }

  // After cleanup, once no commit is in flight: close the file, end the connections.
  function wrapUp() {
    if (st.writing || st.wrappedUp) return;
    st.wrappedUp = true;
    st.fh.close().then(
      () => {
        st.fileClosed = true;
      },
      (error) => {
        st.error ??= error;
      },
    );
    for (const socket of st.sockets) socket.end();
  }

  return {
    async init(ctx) {
      const config = configs.get(ctx.name);
      if (config === undefined) throw new Error(`no commit file configured for ${ctx.name}`);
      st = {
        name: ctx.name,
        file: config.file,
        fh: undefined,
        server: undefined,
        port: 0,
        sockets: new Set(),
        child: undefined,
        childClosed: false,
        serverClosed: false,
        timer: undefined,
        heartbeats: 0,
        accepting: true,
        queue: [],
        writing: false,
        inflight: 0,
        acked: 0,
        nacked: new Set(),
        wrappedUp: false,
        fileClosed: false,
        cleanups: 0,
        answers: [],
        error: undefined,
      };
      instances.set(ctx.name, st);

      st.fh = await fs.promises.open(st.file, 'w');

      st.server = net.createServer((socket) => {
        st.sockets.add(socket);
        socket.setEncoding('utf8');
        let buffered = '';
        socket.on('data', (chunk) => {
          buffered += chunk;
          let nl;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            onLine(socket, line);
          }
        });
        socket.on('error', () => {});
        socket.on('close', () => st.sockets.delete(socket));
        if (!st.accepting) socket.end();
      });
      await new Promise((resolve, reject) => {
        st.server.once('error', reject);
        st.server.listen(0, '127.0.0.1', resolve);
      });
      st.port = st.server.address().port;

      st.child = spawn(process.execPath, ['-e', 'process.stdin.resume()'], { stdio: ['pipe', 'ignore', 'ignore'] });
      st.child.on('error', (error) => {
        st.error ??= error;
      });
      st.child.on('close', () => {
        st.childClosed = true;
      });

      st.timer = setInterval(() => {
        st.heartbeats++;
      }, 5);
    },

    cleanup() {
      st.cleanups++;
      if (!st.accepting) return;
      st.accepting = false;
      clearInterval(st.timer);
      st.server.close(() => {
        st.serverClosed = true;
      });
      st.child.stdin.end();
      if (!st.writing) wrapUp();
    },

    deinit() {
      const busy =
        st.inflight > 0 ||
        st.writing ||
        !st.wrappedUp ||
        st.sockets.size > 0 ||
        !st.childClosed ||
        !st.serverClosed;
      const answer = busy ? 'again' : 'done';
      st.answers.push({ answer, inflight: st.inflight });
      return answer;
    },

    /** The live state (also in `instances` under the module's name once init ran). */
    get state() {
      return st;
    },
  };
}

module.exports = { createCommitModule, configure, instances, evaluations, noteEvaluation };
