// Runs an ONNX model in onnxruntime (CPU) on float32 inputs from a file:
//   node ort_run.js ORT_DIR MODEL.onnx IN.bin OUT.bin N C H W
// IN.bin holds N*C*H*W little-endian float32s; OUT.bin gets the first
// output's, and the output's dims go to stdout.
'use strict';
const fs = require('fs');
const path = require('path');
const [ortDir, model, inPath, outPath, ...dims] = process.argv.slice(2);
const ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));
(async () => {
  const shape = dims.map(Number);
  const raw = fs.readFileSync(inPath);
  const x = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  if (x.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`${inPath}: ${x.length} floats, shape ${shape}`);
  const session = await ort.InferenceSession.create(model);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, shape) });
  const y = out[session.outputNames[0]];
  fs.writeFileSync(outPath, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  console.log(y.dims.join(' '));
})().catch((e) => {
  console.error(`ort_run.js: ${e.message || e}`);
  process.exit(1);
});
