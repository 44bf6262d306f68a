# The tflite module's C sources, relative to this directory: the one list that micropython.mk,
# micropython.cmake and fuzz/Makefile read. One file a line, in this form only (cmake parses it).
# TFLITE_BINDING_SRC: the MicroPython binding (scanned for QSTRs); TFLITE_CORE_SRC: the core.
TFLITE_BINDING_SRC += modtflite.c
TFLITE_CORE_SRC += tfl_model.c
TFLITE_CORE_SRC += fixedpoint.c
TFLITE_CORE_SRC += floatmath.c
TFLITE_CORE_SRC += ops/registry.c
TFLITE_CORE_SRC += ops/common.c
TFLITE_CORE_SRC += ops/conv.c
TFLITE_CORE_SRC += ops/fully_connected.c
TFLITE_CORE_SRC += ops/pool.c
TFLITE_CORE_SRC += ops/softmax.c
TFLITE_CORE_SRC += ops/activations.c
TFLITE_CORE_SRC += ops/quantize.c
TFLITE_CORE_SRC += ops/elementwise.c
TFLITE_CORE_SRC += ops/shape.c
TFLITE_CORE_SRC += ops/reduce.c
TFLITE_CORE_SRC += ops/piecewise.c
TFLITE_CORE_SRC += ops/layout.c
TFLITE_CORE_SRC += ops/indices.c
TFLITE_CORE_SRC += ops/resize.c
TFLITE_CORE_SRC += ops/transpose_conv.c
TFLITE_CORE_SRC += ops/svdf.c
TFLITE_CORE_SRC += ops/lstm.c
