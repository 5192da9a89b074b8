"""The study's linear SVM on MFCC statistics (validation F1 about 0.845 in the study).

Hinge loss on the margin logits[:, 1] - logits[:, 0] with labels in {-1, +1};
`svm_c` is the SVM's C (0.6 in the study), whose L2 penalty the hinge loss adds.
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  c = default.get_config()
  c.model = "svm"
  c.model_kwargs = ml_collections.ConfigDict()
  c.loss = "hinge"
  c.svm_c = 0.6
  c.optimizer = "adam"
  c.learning_rate = 1e-2
  c.batch_size = 32
  c.num_epochs = 30
  return c
