"""The study's linear SVM on MFCC statistics (validation F1 about 0.845 in the study).

Hinge loss on the margin logits[:, 1] - logits[:, 0] with labels in {-1, +1};
`svm_c` is the SVM's C (0.6 in the study), whose L2 penalty the hinge loss adds.
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.model_config(
      "svm", optimizer="adam", learning_rate=1e-2, batch_size=32, num_epochs=30,
      loss="hinge", svm_c=0.6)
