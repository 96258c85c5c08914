import net from 'node:net';
import { countsFor, snapshot, withOwner } from 'uv-drain';

const server = withOwner('my-plugin', () => net.createServer().listen(0));
console.log(countsFor('my-plugin'));
server.close();
console.log(countsFor('my-plugin'));
setImmediate(() => setImmediate(() => console.log(countsFor('my-plugin').total))); // 0
console.log(snapshot().find((h) => h.owner === 'my-plugin'));
