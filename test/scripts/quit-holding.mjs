// Run by test/quit.test.ts in a child process: quit() while a handle of no
// module holds the loop. An unowned net server listens on 127.0.0.1; a
// module with a server of its own is loaded; quit() unloads it and its
// report's `holding` must name the unowned server (why the process would
// not exit now). Prints `UVD-HOLDING <json>`, then closes the server and
// returns: the process must end by itself.
import { once } from 'node:events';
import * as net from 'node:net';
import { UnloadCoordinator } from '../../dist/index.mjs';

const unowned = net.createServer();
unowned.listen(0, '127.0.0.1');
await once(unowned, 'listening');

let moduleServer;
const coordinator = new UnloadCoordinator();
await coordinator.load('module-with-server', {
  async init() {
    moduleServer = net.createServer();
    moduleServer.listen(0, '127.0.0.1');
    await once(moduleServer, 'listening');
  },
  cleanup() {
    moduleServer.close();
  },
});

const report = await coordinator.quit();
process.stdout.write(
  `UVD-HOLDING ${JSON.stringify({ report, unownedFd: unowned._handle.fd })}\n`,
);
unowned.close();
