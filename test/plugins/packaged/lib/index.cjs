// A plugin shaped as a package: its entry is in lib/, the code that opens
// connections lives in a vendored dependency (vendor/), outside lib/ but
// inside the package root, so it is still the plugin's code.
'use strict';
const { host } = require('../../host/api.cjs');
const { Pool } = require('../vendor/pool.cjs');

let pool;

exports.init = () => {
  host.events.on('start', (port) => {
    pool = new Pool(port, 2);
  });
  host.onRelease('packaged', () => pool.close());
};
exports.deinit = () => 'done';
