"""Runs gcp-storage-emulator with the object generation on media downloads and create-only uploads.

Cloud Storage answers every object download with an `x-goog-generation`
header; the emulator leaves it out, and tensorstore (under Orbax) needs it for
the conditional writes of a checkpoint's manifest. Cloud Storage also refuses
an upload with `ifGenerationMatch=0` when the object exists (HTTP 412), which
creating a lock object relies on; the emulator overwrites it. Its index of
objects (.meta) is replaced atomically, so a test that kills the emulator
mid-write (a bucket going away) finds it whole on restart, as a real bucket
would be. And a multipart upload keeps every byte of its content: the
emulator's email parser took a last byte "\r" for half of the line break before
gcsfs's closing boundary (a "\n" alone) and dropped it. Usage is the emulator's
own: `python tests/gcs_emulator.py start --port P ...`.
"""
import base64
import email.message
import email.parser
import http
import json
import os
import sys

from gcp_storage_emulator import __main__ as emulator
from gcp_storage_emulator import server, storage
from gcp_storage_emulator.handlers import objects

_download = objects.download


def _download_with_generation(request, response, storage, *args, **kwargs):
  _download(request, response, storage, *args, **kwargs)
  try:
    obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
  except Exception:  # not found: the download already answered 404
    return
  response["x-goog-generation"] = str(obj["generation"])
  response["x-goog-metageneration"] = str(obj["metageneration"])


_insert = objects.insert


def _insert_unless_present(request, response, storage, *args, **kwargs):
  if request.query.get("ifGenerationMatch") == ["0"]:
    name = (request.query.get("name") or [None])[0]
    try:
      storage.get_file_obj(request.params["bucket_name"], name)
    except Exception:  # absent: the upload may create it
      pass
    else:
      response.status = http.HTTPStatus.PRECONDITION_FAILED
      return None
  return _insert(request, response, storage, *args, **kwargs)


def _write_index_atomically(self):
  if self._store._root is None:  # in memory: nothing to tear
    return _write_index(self)
  path = self._store._disk_path(".meta")
  data = {"buckets": self.buckets, "objects": self.objects, "resumable": self.resumable,
          "bucket_iam_policies": self.bucket_iam_policies, "soft_deleted": self.soft_deleted}
  with open(f"{path}.tmp", "w") as f:
    json.dump(data, f, indent=2)
  os.replace(f"{path}.tmp", path)


_read_data = server._read_data


def _read_data_exactly(request_handler, query):
  """A multipart/related upload split at its own boundary lines, each part's bytes as sent."""
  content_type = request_handler.headers.get("Content-Type") or ""
  if not content_type.startswith("multipart/related"):
    return _read_data(request_handler, query)
  raw = server._decode_raw_data(server._read_raw_data(request_handler), request_handler)
  header = email.message.Message()
  header["Content-Type"] = content_type
  opening = b"--" + header.get_param("boundary").encode()
  # A client ends its lines with CRLF or with LF alone, the same way throughout.
  eol = b"\r\n" if raw.startswith(opening + b"\r\n") else b"\n"
  meta_end = raw.index(eol + opening)
  content_end = raw.rindex(eol + opening + b"--")
  parts = []
  for part in (raw[len(opening + eol):meta_end], raw[meta_end + len(eol + opening + eol):content_end]):
    head, _, body = part.partition(eol + eol)
    headers = email.parser.BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
    if headers.get("Content-Transfer-Encoding", "").lower() == "base64":
      body = base64.b64decode(body)
    parts.append((headers, body))
  (_, meta), (content_headers, content) = parts
  return {"meta": json.loads(meta), "content": content,
          "content-type": content_headers.get_content_type()}


_write_index = storage.Storage._write_config_to_file
storage.Storage._write_config_to_file = _write_index_atomically
server._read_data = _read_data_exactly          # Request.data looks it up here
objects.download = _download_with_generation  # objects.get (alt=media) looks it up here
objects.insert = _insert_unless_present       # the server's fallback route looks it up here
for _, methods in server.HANDLERS:            # the routes keep their own reference
  for method, handler in methods.items():
    if handler is _insert:
      methods[method] = _insert_unless_present

if __name__ == "__main__":
  sys.exit(emulator.main(sys.argv[1:]))
