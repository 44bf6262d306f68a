// expf and tanhf with the exact bits of the functions TFLite Micro's float kernels call on the
// oracle's platform (std::exp, std::tanh: glibc's expf and tanhf on x86_64), computed with
// IEEE-754 basic operations only, so every platform gets the same bits (see floatmath.c).
#ifndef TFL_FLOATMATH_H
#define TFL_FLOATMATH_H

float tfl_expf(float x);
float tfl_tanhf(float x);
// The float LOGISTIC of TFLite Micro's reference logistic.h (1 above its upper cutoff, exp(x)
// below its lower one, 1 / (1 + exp(-x)) between), for LOGISTIC and the LSTM gates alike.
float tfl_logisticf(float x);

#endif
