#!/usr/bin/env node
// latchctl, the etcdctl-compatible command line tool. Built sources live in ../dist (npm install runs the build).
import { main } from '../dist/main.js';

await main(process.argv.slice(2));
