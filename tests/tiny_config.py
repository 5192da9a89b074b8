"""A tiny run for trainer tests: a small CNN on tests/synthetic_dataset.py data."""
from configs import default


def get_config():
  c = default.get_config()
  c.dataset_dir = ""  # set by each test: --config.dataset_dir=...
  c.model = "cnn2"
  c.model_kwargs = dict(conv_features=(4, 4), pool_sizes=(2, 2), dense_features=(16,),
                        dropout_rates=(0.1,), batch_norm=False)
  c.audio_frames = 40
  c.video_frames = 4
  c.batch_size = 16
  c.num_epochs = 3
  c.learning_rate = 1e-2
  c.log_every_steps = 1
  # No random regularisation: tests compare runs across device counts exactly.
  c.modality_dropout = 0.0
  c.augment.time_shift = False
  c.loader.worker_count = 0  # in this process; tests that need worker processes ask for them
  return c
