"""Our wire-format parser gives exactly what TFDS's ExampleParserNp gives."""
import numpy as np
import pytest
from tensorflow_datasets.core import example_parser

import synthetic_dataset
from babycry_jax.data import schema
from babycry_jax.data.example_parser import FastExampleParser, _packed_varints
from babycry_jax.data.tfrecord_codec import TFRecordSource


def test_same_as_tfds(tmp_path):
  dataset = synthetic_dataset.write(str(tmp_path / "d"), sizes={"train": 12})
  info = schema.features_dict(synthetic_dataset.SMALL_SPEC).get_serialized_info()
  reference, ours = example_parser.ExampleParserNp(info), FastExampleParser(info)
  source = TFRecordSource(dataset, "train")
  for i in range(len(source)):
    expected, got = reference.parse_example(source[i]), ours.parse_example(source[i])
    assert set(expected) == set(got)
    for key, value in expected.items():
      if isinstance(value, np.ndarray):
        assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
        np.testing.assert_array_equal(got[key], value)
      else:
        assert type(got[key]) is type(value) and got[key] == value, key


def test_varints_one_and_two_bytes():
  values = np.array([0, 1, 127, 128, 255, 300, 16383])
  encoded = []
  for v in values:
    while v >= 0x80:
      encoded.append((v & 0x7F) | 0x80)
      v >>= 7
    encoded.append(v)
  np.testing.assert_array_equal(_packed_varints(np.array(encoded, np.uint8)), values)
  with pytest.raises(ValueError, match="16384"):
    _packed_varints(np.array([0x80, 0x80, 0x01], np.uint8))
