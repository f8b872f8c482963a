"""Op type names for code that matches graph patterns (e.g. MobileTL's inverted residual blocks).

Prefer an OpDef trait (tiny/ops/base.py) when the question is what an op *does*; use these names
only to recognise a specific structure. Misspelt names fail at import instead of never matching."""
from __future__ import annotations

ADD = "ADD"
CONCATENATION = "CONCATENATION"
CONV_2D = "CONV_2D"
DEPTHWISE_CONV_2D = "DEPTHWISE_CONV_2D"
DEQUANTIZE = "DEQUANTIZE"
ELU = "ELU"
EXPAND_DIMS = "EXPAND_DIMS"
FULLY_CONNECTED = "FULLY_CONNECTED"
HARD_SWISH = "HARD_SWISH"
LEAKY_RELU = "LEAKY_RELU"
LOGISTIC = "LOGISTIC"
MEAN = "MEAN"
MUL = "MUL"
PACK = "PACK"
PAD = "PAD"
QUANTIZE = "QUANTIZE"
RELU = "RELU"
RELU6 = "RELU6"
RESHAPE = "RESHAPE"
SHAPE = "SHAPE"
SOFTMAX = "SOFTMAX"
STRIDED_SLICE = "STRIDED_SLICE"
TABLE_LOOKUP = "TABLE_LOOKUP"   # tiny's own: a float island folded into a table (tiny/frontend/islands.py)
TILE = "TILE"          # no OpDef: only as Keras' UpSampling2D (tiny/frontend/upsample.py)

# Fused activation names (Op.attrs["activation"]); some coincide with op type names.
ACT_NONE = "NONE"
ACT_RELU = "RELU"
ACT_RELU6 = "RELU6"
