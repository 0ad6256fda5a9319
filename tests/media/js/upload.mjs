// Upload one file with tus-js-client; optionally abort after `abortAfter` bytes and resume
// with a fresh Upload from the saved URL, as a PWA does after the app was closed.
// usage: node upload.mjs <endpoint> <token> <file> <sha256> <chunkSize> [abortAfter]
import fs from "node:fs";
import * as tus from "tus-js-client";

const [endpoint, token, path, sha256, chunkSize, abortAfter] = process.argv.slice(2);
const file = fs.readFileSync(path);

function run(uploadUrl, abortAt) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(file, {
      endpoint,
      uploadUrl,
      chunkSize: Number(chunkSize),
      retryDelays: null,
      headers: { Authorization: `Bearer ${token}` },
      metadata: { sha256, filename: "现场.jpg", content_type: "image/jpeg" },
      onChunkComplete(_chunk, sent) {
        if (abortAt && sent >= abortAt) {
          upload.abort().then(() => resolve({ url: upload.url, sent, aborted: true }));
        }
      },
      onSuccess: () => resolve({ url: upload.url, aborted: false }),
      onError: reject,
    });
    upload.start();
  });
}

const first = await run(null, Number(abortAfter || 0));
const last = first.aborted ? await run(first.url, 0) : first;
console.log(JSON.stringify({ first, last }));
