"""tiny: neural networks to bit-exact C firmware for microcontrollers."""
__version__ = "0.1.0"

import os as _os

# TensorFlow (imported lazily by the Keras frontend and the oracle) is chatty on stderr.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
