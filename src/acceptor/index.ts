// Consensus rules of the acceptor (acceptor.md): pure logic over the storage interfaces.
export * from './errors.js';
export * from './term-history.js';
export * from './acceptor.js';
