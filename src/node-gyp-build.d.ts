// Types for node-gyp-build, which finds and loads the addon's binary.
declare module 'node-gyp-build' {
  function load(root: string): any;
  export = load;
}
