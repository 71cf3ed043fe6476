// node:http without its ES module namespace. An ES import of a builtin (`import http from
// 'node:http'`, or any named import) builds the namespace from every export, and since Node 22
// node:http's WebSocket, CloseEvent and MessageEvent are getters that load Node's bundled undici:
// about 2 MB of heap on Node 26 (its source, code and objects), in every process, for nothing this
// project uses. getBuiltinModule returns the exports object and calls no getter. Import node:http
// from here, never directly (test/cli/module-loading.test.ts checks the daemon for undici).
export const http = process.getBuiltinModule('node:http')
