"""Runs gcp-storage-emulator with the object generation on media downloads.

Cloud Storage answers every object download with an `x-goog-generation`
header; the emulator leaves it out, and tensorstore (under Orbax) needs it for
the conditional writes of a checkpoint's manifest. Usage is the emulator's own:
`python tests/gcs_emulator.py start --port P ...`.
"""
import sys

from gcp_storage_emulator import __main__ as emulator
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


objects.download = _download_with_generation  # objects.get (alt=media) looks it up here

if __name__ == "__main__":
  sys.exit(emulator.main(sys.argv[1:]))
