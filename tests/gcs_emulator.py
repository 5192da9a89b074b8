"""Runs gcp-storage-emulator with the object generation on media downloads and create-only uploads.

Cloud Storage answers every object download with an `x-goog-generation`
header; the emulator leaves it out, and tensorstore (under Orbax) needs it for
the conditional writes of a checkpoint's manifest. Cloud Storage also refuses
an upload with `ifGenerationMatch=0` when the object exists (HTTP 412), which
creating a lock object relies on; the emulator overwrites it. And its index of objects (.meta) is replaced atomically,
so a test that kills the emulator mid-write (a bucket going away) finds it whole
on restart, as a real bucket would be. Usage is the emulator's own:
`python tests/gcs_emulator.py start --port P ...`.
"""
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


_write_index = storage.Storage._write_config_to_file
storage.Storage._write_config_to_file = _write_index_atomically
objects.download = _download_with_generation  # objects.get (alt=media) looks it up here
objects.insert = _insert_unless_present       # the server's fallback route looks it up here
for _, methods in server.HANDLERS:            # the routes keep their own reference
  for method, handler in methods.items():
    if handler is _insert:
      methods[method] = _insert_unless_present

if __name__ == "__main__":
  sys.exit(emulator.main(sys.argv[1:]))
