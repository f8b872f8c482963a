"""Worker process for quantization-aware training (needs TF_USE_LEGACY_KERAS=1 at import)."""
import pickle
import sys

import numpy as np


def main(job_path: str) -> None:
    with open(job_path, "rb") as f:
        job = pickle.load(f)
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    model = job["build"]()
    qmodel = tfmot.quantization.keras.quantize_model(model)
    qmodel.compile(optimizer="adam", loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                   metrics=["accuracy"])
    qmodel.fit(job["x"], job["y"], epochs=job["epochs"], batch_size=32, verbose=0)
    rep = job["rep"] if job["rep"] is not None else job["x"][:64]

    def gen():
        for i in range(min(len(rep), 64)):
            yield [np.asarray(rep[i:i + 1], dtype=np.float32)]
    from tiny.frontend.keras import int8_converter
    conv = int8_converter(tf, qmodel, gen)
    with open(job["out"], "wb") as f:
        f.write(conv.convert())


if __name__ == "__main__":
    main(sys.argv[1])
