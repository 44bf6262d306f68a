"""Writes models/reference/lstm_example_{float,int8}.tflite: the layers of TFLite Micro's mnist_lstm
example (an LSTM of 20 units over 28 steps of 28 values, Flatten, Dense of 10 with softmax; batch
1, as the example fixes it to convert), converted by TensorFlow's own converter, which fuses the
Keras LSTM into UNIDIRECTIONAL_SEQUENCE_LSTM: float32, and full-integer int8 (int8 in and out,
int16 cell state). Weights and the representative inputs are seeded random numbers, not MNIST
(nothing is downloaded): the tests compare this runtime with tflite-micro, which needs the
converter's operators and quantization, not a trained model.

It needs TensorFlow, which the project does not install; in a venv of its own:
    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.21.0 tf-keras==2.21.0
    /tmp/tf/bin/python scripts/lstm_example_models.py
(tf_keras: Keras 3 does not mark its LSTM for the converter to fuse.)"""
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "models/reference"


def example_model():
    tf.random.set_seed(0)
    model = keras.models.Sequential([
        keras.layers.Input(shape=(28, 28), name="input"),
        keras.layers.LSTM(20, return_sequences=True),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation=tf.nn.softmax, name="output"),
    ])
    fixed = keras.layers.Input(shape=[28, 28], batch_size=1, dtype=tf.float32, name="fixed_input")
    return keras.models.Model(fixed, model(fixed))


def representative():
    rng = np.random.default_rng(1)
    for _ in range(100):
        yield [rng.uniform(0, 1, size=(1, 28, 28)).astype(np.float32)]


def main():
    model = example_model()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lstm_example_float.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    (OUT / "lstm_example_int8.tflite").write_bytes(conv.convert())
    print(f"wrote {OUT}/lstm_example_float.tflite and lstm_example_int8.tflite")


if __name__ == "__main__":
    main()
