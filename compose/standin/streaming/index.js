// The stand-in's streaming server is Python (standin/streaming.py); `node ./streaming/index.js` is routed to it
// by the `node` dispatcher. This file only keeps the official command line valid.
