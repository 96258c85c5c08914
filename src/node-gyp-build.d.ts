declare module 'node-gyp-build' {
  function load(root: string): any;
  export = load;
}
