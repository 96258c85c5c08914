// The module bench/attribution.mjs loads so that attribution by code is on:
// it makes nothing itself; the workloads run in the host's code.
'use strict';
exports.deinit = () => 'done';
