// Answers 'again' while a session socket of another owner (the host hands
// it over) is still open: uv-drain cannot see that dependency, the module
// can. It unloads once the other owner closes it.
'use strict';
const state = { working: false, peer: undefined };

exports.state = state;
exports.init = () => {};
exports.cleanup = () => {};
exports.deinit = () => (state.peer !== undefined && !state.peer.destroyed ? 'again' : 'done');
