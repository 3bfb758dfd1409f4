#!/usr/bin/env node
// The magma-lab command line. Runs the TypeScript sources through tsx (a dependency).
'use strict';
require('tsx/cjs');
const { main } = require('../src/cli/main.ts');
main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (error) => {
    console.error(error && error.stack ? error.stack : error);
    process.exit(1);
  },
);
