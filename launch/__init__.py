"""The TPU launcher behind `launch.sh`: builds and runs gcloud commands, and watches a run.

It runs on the user's machine with whatever Python 3.9+ is there, so it imports the
standard library only (tests/test_layers.py checks this). The scripts it sends to
the TPU workers are in launch/worker/.
"""
