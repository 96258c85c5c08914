// The host side of the attribution corpus: what an application offers its
// plugins. It lives outside every plugin's directory, so none of its code is
// a plugin's, and every callback a plugin hands it runs in the host's async
// context: an EventEmitter, a request dispatcher behind the host's own http
// server with a middleware chain, a job scheduler driven by the host's
// interval, a fastify-like hook registry, and a way to ask plugins to let go.
'use strict';
const { EventEmitter } = require('node:events');
const http = require('node:http');

class Host {
  constructor() {
    this.events = new EventEmitter();
    this.jobs = [];
    this.hooks = new Map();
    this.middleware = [];
    this.handlers = [];
    this.plugins = new Map(); // name -> the api a plugin exposes to others
    this.releases = new Map(); // plugin name -> its release callbacks
    this.server = undefined;
    this.scheduler = undefined;
  }

  // --- the host's own resources --------------------------------------------
  async start() {
    this.server = http.createServer((req, res) => this.dispatch(req, res));
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this.server.address().port;
  }

  async stop() {
    clearInterval(this.scheduler);
    this.scheduler = undefined;
    if (this.server === undefined) return;
    const server = this.server;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  // --- what plugins register ------------------------------------------------
  onRequest(handler) {
    this.handlers.push(handler);
  }

  use(middleware) {
    this.middleware.push(middleware);
  }

  addJob(job) {
    this.jobs.push(job);
  }

  addHook(name, fn) {
    if (!this.hooks.has(name)) this.hooks.set(name, []);
    this.hooks.get(name).push(fn);
  }

  expose(name, api) {
    this.plugins.set(name, api);
  }

  onRelease(plugin, fn) {
    if (!this.releases.has(plugin)) this.releases.set(plugin, []);
    this.releases.get(plugin).push(fn);
  }

  /** Forgets every registration (between tests). */
  reset() {
    this.events.removeAllListeners();
    this.jobs.length = 0;
    this.hooks.clear();
    this.middleware.length = 0;
    this.handlers.length = 0;
    this.plugins.clear();
    this.releases.clear();
  }

  // --- how the host drives them ---------------------------------------------
  dispatch(req, res) {
    let i = 0;
    const next = () => {
      const mw = this.middleware[i++];
      if (mw !== undefined) return mw(req, res, next);
      for (const handler of this.handlers) if (handler(req, res) === true) return;
      res.end('host');
    };
    next();
  }

  /** Runs the jobs from the host's own interval, once, then stops it. */
  runJobsOnce(everyMs = 1) {
    return new Promise((resolve) => {
      this.scheduler = setInterval(() => {
        clearInterval(this.scheduler);
        this.scheduler = undefined;
        for (const job of this.jobs) job();
        resolve();
      }, everyMs);
    });
  }

  /** Runs every hook registered under `name` in order, awaiting each (fastify's onReady, say). */
  async runHook(name, ...args) {
    for (const fn of this.hooks.get(name) ?? []) await fn(...args);
  }

  /** Asks `plugin` to let go of what it holds (its release callbacks run in the host's context). */
  async release(plugin) {
    for (const fn of this.releases.get(plugin) ?? []) await fn();
  }
}

module.exports = { host: new Host() };
