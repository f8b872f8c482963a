"""Fixed-point arithmetic shared by the reference kernels (fixedpoint*.py, bit-exact with TFLite
Micro / gemmlowp) and the training oracle (train.py). The op kernels live in tiny/ops/; the graph
interpreter over them in tiny/interpreter.py."""
