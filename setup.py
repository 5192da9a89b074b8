"""babycry_jax: infant-cry detection from aligned audio and video, in JAX/Flax."""
import setuptools

# Versions checked to install and work together on Python 3.11 (CPU).
INSTALL_REQUIRES = [
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "flax==0.12.8",
    "optax==0.2.8",
    "orbax-checkpoint==0.12.8",
    "tensorflow-datasets==4.9.10",
    "protobuf==6.33.6",
    "apache-beam[tfrecord]==2.77.0",
    "google-crc32c==1.9.0",  # TFRecord checksums: our codec, and Beam's
    "librosa==0.11.0",
    "opencv-python-headless==5.0.0.93",
    "av==18.1.0",
    "grain==0.2.18",
    "absl-py==2.5.1",
    "ml_collections==1.1.0",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "matplotlib==3.11.2",
    "tensorboardX==2.6.5",
    # gs:// datasets and workdirs: gcsfs for files, google-cloud-storage for TensorBoard.
    "gcsfs==2026.10.1",
    "fsspec==2026.9.0",
    "google-cloud-storage==3.17.1",
    # The live monitor (babycry_jax.listen): MQTT alerts, and sound cards through PortAudio
    # (the system's libportaudio2, loaded only when a device is used).
    "paho-mqtt==2.2.0",
    "sounddevice==0.5.6",
    "threadpoolctl==3.8.0",   # BLAS on one thread while listening
]

setuptools.setup(
    name="babycry_jax",
    version="0.1.0",
    description="Infant-cry detection by audio-video fusion, trained with JAX on TPU.",
    packages=setuptools.find_packages(include=["babycry_jax*", "preprocess*", "configs*", "benchmarks*"]),
    # The shipped model (babycry_jax.shipped_model): variables, config, stats, validation record.
    package_data={"babycry_jax": ["pretrained/*/*"]},
    # numpy 2.4 and jax 0.10 publish no wheels for 3.10 (the TPU images' Python): refuse it plainly.
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # Launching on Dataflow: its client and Beam's credentialed Cloud Storage filesystem. Its
        # workers run Beam's own 2.77 image (which has them) and get this project by
        # `--setup_file ./setup.py`. Checked to resolve together with the pins above.
        "gcp": ["apache-beam[gcp,tfrecord]==2.77.0"],
        # tfrecord: an independent indexer the tests check our codec's index files against.
        # tflite: the flatbuffer reader babycry_jax.convert_yamnet converts YAMNet with;
        # ai-edge-litert: Google's runtime for that file, the reference the port is tested on.
        # amqtt: the MQTT broker the live monitor's tests start; pytest-timeout bounds those tests.
        "dev": ["pytest==9.2.0", "pytest-xdist==3.8.0", "scikit-learn==1.9.1", "tfrecord==1.14.6",
                "gcp-storage-emulator==2026.7.19", "tflite==2.18.0", "ai-edge-litert==2.3.0",
                "amqtt==0.12.1", "pytest-timeout==2.4.0"],
    },
)
