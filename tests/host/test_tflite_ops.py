"""One small generated model per supported operator, type and parameter variant (strides,
paddings, dilation, depth multiplier, per-channel vs per-tensor weights, every fused activation,
broadcasting), each run on tflite-micro and on the virtual device: identical output bytes.
Models are built here with the TFLite schema classes from the tflite-micro wheel."""
import math
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tflite"))
import tfl_testlib as T  # noqa: E402
from tfl_testlib import BO, FLOAT32, INT8, INT32, OP, S  # noqa: E402

INPUTS_PER_MODEL = 24
SAME, VALID = 0, 1
NONE, RELU, RELU_N1_TO_1, RELU6 = 0, 1, 2, 3


def out_size(n, f, stride, dil, padding):
    eff = (f - 1) * dil + 1
    return -(-n // stride) if padding == SAME else -(-(n - eff + 1) // stride)


class Case:
    """A model builder with a seeded generator and helpers for int8/float activations."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.mb = T.ModelBuilder()

    def act(self, shape, q, scale=None, zp=None):
        if not q:
            return self.mb.tensor(shape, FLOAT32)
        scale = scale if scale is not None else float(self.rng.uniform(0.01, 0.08))
        zp = zp if zp is not None else int(self.rng.integers(-20, 20))
        return self.mb.tensor(shape, INT8, scale=scale, zero_point=zp)

    def scale_of(self, t):
        return float(self.mb.tensors[t].quantization.scale[0])

    def weights(self, shape, q, per_channel_dim=None):
        """Constant weights; int8 symmetric with one scale or one per channel."""
        if not q:
            return self.mb.tensor(shape, FLOAT32, data=self.rng.uniform(-1, 1, size=shape).astype(np.float32)), None
        data = self.rng.integers(-127, 128, size=shape, dtype=np.int8)
        if per_channel_dim is None:
            scales = np.array([self.rng.uniform(0.002, 0.02)], dtype=np.float32)
        else:
            scales = self.rng.uniform(0.002, 0.02, size=shape[per_channel_dim]).astype(np.float32)
        t = self.mb.tensor(shape, INT8, data=data, scale=scales, zero_point=np.zeros(len(scales), np.int64),
                           qdim=per_channel_dim or 0)
        return t, scales

    def bias(self, n, q, in_t, wscales):
        if not q:
            return self.mb.tensor([n], FLOAT32, data=self.rng.uniform(-1, 1, size=n).astype(np.float32))
        bscale = (np.float32(self.scale_of(in_t)) * wscales).astype(np.float32)
        if len(bscale) == 1:
            bscale = bscale[0]
        return self.mb.tensor([n], INT32, data=self.rng.integers(-3000, 3000, size=n, dtype=np.int32),
                              scale=bscale, zero_point=0)


def conv(q, stride=1, padding=SAME, dil=1, act=NONE, per_channel=True, bias=True, in_shape=(1, 9, 8, 3),
         fsize=(3, 3), oc=4, depthwise=False, dm=1, seed=0):
    c = Case(seed)
    b_, h, w, ic = in_shape
    fh, fw = fsize
    x = c.act(list(in_shape), q)
    if depthwise:
        oc = ic * dm
        wt, ws = c.weights([1, fh, fw, oc], q, 3 if per_channel else None)
    else:
        wt, ws = c.weights([oc, fh, fw, ic], q, 0 if per_channel else None)
    oh, ow = out_size(h, fh, stride, dil, padding), out_size(w, fw, stride, dil, padding)
    k = fh * fw * (1 if depthwise else ic)
    out_scale = None
    if q:
        out_scale = 64 * 64 * math.sqrt(k) * c.scale_of(x) * float(ws.max()) / 60
    y = c.act([b_, oh, ow, oc], q, scale=out_scale)
    ins = [x, wt] + ([c.bias(oc, q, x, ws)] if bias else [])
    if depthwise:
        o = S.DepthwiseConv2DOptionsT()
        o.depthMultiplier = dm
        code, ot = OP.DEPTHWISE_CONV_2D, BO.DepthwiseConv2DOptions
    else:
        o = S.Conv2DOptionsT()
        code, ot = OP.CONV_2D, BO.Conv2DOptions
    o.padding, o.strideW, o.strideH, o.fusedActivationFunction = padding, stride, stride, act
    o.dilationWFactor = o.dilationHFactor = dil
    c.mb.op(code, ins, [y], ot, o)
    return c.mb.build([x], [y])


def transpose_conv(q, stride=2, padding=SAME, act=NONE, per_channel=True, bias=True, in_shape=(1, 4, 5, 3),
                   fsize=(3, 3), oc=4, seed=0):
    c = Case(seed)
    b_, h, w, ic = in_shape
    fh, fw = fsize
    oh, ow = (h * stride, w * stride) if padding == SAME else ((h - 1) * stride + fh, (w - 1) * stride + fw)
    x = c.act(list(in_shape), q)
    wt, ws = c.weights([oc, fh, fw, ic], q, 0 if per_channel else None)
    y = c.act([b_, oh, ow, oc], q, scale=64 * 64 * math.sqrt(fh * fw * ic) * c.scale_of(x) * float(ws.max()) / 60 if q else None)
    shape = c.mb.tensor([4], INT32, data=np.array([b_, oh, ow, oc], np.int32))
    o = S.TransposeConvOptionsT()
    o.padding, o.strideW, o.strideH, o.fusedActivationFunction = padding, stride, stride, act
    c.mb.op(OP.TRANSPOSE_CONV, [shape, wt, x] + ([c.bias(oc, q, x, ws)] if bias else []), [y], BO.TransposeConvOptions, o)
    return c.mb.build([x], [y])


def svdf(q, state_type=T.INT16, rank=2, act=RELU, batch=1, n_in=40, filters=64, memory=8, bias=True, seed=0):
    """SVDF with the options the keyword models of tflite-micro use: int8 input and feature weights,
    int16 (or int8) time weights and state, int32 bias; or all float32. The state is a variable
    tensor, so the seeded inputs run as one sequence on both runtimes."""
    c = Case(seed)
    r = c.rng
    x = c.act([batch, n_in], q, scale=0.05)
    if q:
        wf = c.mb.tensor([filters, n_in], INT8, data=r.integers(-127, 128, (filters, n_in)), scale=0.01, zero_point=0)
        wide = state_type == T.INT16
        ss = 1.3e-4 if wide else 0.026
        wt_scale = 0.0005 if wide else 0.01
        lim = 2000 if wide else 127
        wt = c.mb.tensor([filters, memory], state_type, data=r.integers(-lim, lim + 1, (filters, memory)), scale=wt_scale,
                         zero_point=0)
        b = c.mb.tensor([filters // rank], INT32, data=r.integers(-5000, 5000, filters // rank), scale=np.float32(ss) *
                        np.float32(wt_scale), zero_point=0) if bias else -1
        state = c.mb.tensor([batch, memory * filters], state_type, scale=ss, zero_point=0 if wide else 3)
        y = c.act([batch, filters // rank], q, scale=0.06, zp=-5)
    else:
        def f(*shape):
            return c.mb.tensor(list(shape), FLOAT32, data=r.uniform(-1, 1, shape).astype(np.float32))
        wf, wt = f(filters, n_in), f(filters, memory)
        b = f(filters // rank) if bias else -1
        state = c.mb.tensor([batch, memory * filters], FLOAT32)
        y = c.act([batch, filters // rank], q)
    c.mb.tensors[state].isVariable = True
    o = S.SVDFOptionsT()
    o.rank, o.fusedActivationFunction = rank, act
    c.mb.op(OP.SVDF, [x, wf, wt, b, state], [y], BO.SVDFOptions, o)
    return c.mb.build([x], [y])


TANH = 4
LSTM_PEEPHOLE, LSTM_PROJECTION, LSTM_NORM = range(9, 12), range(16, 18), range(20, 24)


def lstm(q, batch=1, steps=5, n_in=6, n_cell=8, time_major=False, clip=0.0, act=TANH, seed=0, extra=(), cifg=False,
         cell_scale=2.0 ** -11, h_zp=0, per_channel=False, act_type=INT8):
    """UNIDIRECTIONAL_SEQUENCE_LSTM in the 24-input form TFLite Micro runs: input, four input and four
    recurrent weights, four gate biases, the output and cell states as variable tensors (the seeded
    inputs run as one sequence on both runtimes). int8 as the converter quantizes it: int8 input,
    weights (one scale each, small enough that the gates do not saturate) and output state, int32
    biases, an int16 cell state of scale 2^p; or all float32. extra: optional inputs (peephole,
    projection, layer norm) to fill with constants, for the refusal tests; cifg: no input gate."""
    c = Case(seed)
    r = c.rng
    shape = [steps, batch, n_in] if time_major else [batch, steps, n_in]
    out_shape = [steps, batch, n_cell] if time_major else [batch, steps, n_cell]
    if q:
        x_scale = 0.03
        x = c.mb.tensor(shape, act_type, scale=x_scale, zero_point=int(r.integers(-10, 10)))

        def w(*shape):
            n = shape[0] if per_channel else 1
            scales = r.uniform(0.001, 0.004, n).astype(np.float32)
            return c.mb.tensor(list(shape), INT8, data=r.integers(-127, 128, shape), scale=scales,
                               zero_point=np.zeros(n, np.int64))

        def b(n):
            return c.mb.tensor([n], INT32, data=r.integers(-4000, 4000, n), scale=x_scale * 0.0025, zero_point=0)
        h = c.mb.tensor([batch, n_cell], act_type, scale=1 / 128, zero_point=h_zp)
        cell = c.mb.tensor([batch, n_cell], T.INT16, scale=cell_scale, zero_point=0)
        y = c.mb.tensor(out_shape, act_type, scale=1 / 128, zero_point=h_zp)
    else:
        x = c.mb.tensor(shape, FLOAT32)

        def w(*shape):
            return c.mb.tensor(list(shape), FLOAT32, data=r.uniform(-1, 1, shape).astype(np.float32))
        b = w
        h, cell = c.mb.tensor([batch, n_cell], FLOAT32), c.mb.tensor([batch, n_cell], FLOAT32)
        y = c.mb.tensor(out_shape, FLOAT32)
    ins = [x] + [w(n_cell, n_in) for _ in range(4)] + [w(n_cell, n_cell) for _ in range(4)] + [-1] * 3
    ins += [b(n_cell) for _ in range(4)] + [-1, -1]
    c.mb.tensors[h].isVariable = c.mb.tensors[cell].isVariable = True
    ins += [h, cell] + [-1] * 4
    for j in extra:
        ins[j] = w(n_cell, n_cell) if j == 16 else w(n_cell)
    if cifg:
        ins[1] = ins[5] = ins[12] = -1
    o = S.UnidirectionalSequenceLSTMOptionsT()
    o.fusedActivationFunction, o.cellClip, o.timeMajor = act, clip, time_major
    c.mb.op(OP.UNIDIRECTIONAL_SEQUENCE_LSTM, ins, [y], BO.UnidirectionalSequenceLSTMOptions, o)
    return c.mb.build([x], [y])


def fc(q, act=NONE, per_channel=False, bias=True, batches=3, depth=20, units=7, seed=0):
    c = Case(seed)
    x = c.act([batches, depth], q)
    wt, ws = c.weights([units, depth], q, 0 if per_channel else None)
    y = c.act([batches, units], q, scale=64 * 64 * math.sqrt(depth) * c.scale_of(x) * float(ws.max()) / 60 if q else None)
    o = S.FullyConnectedOptionsT()
    o.fusedActivationFunction = act
    c.mb.op(OP.FULLY_CONNECTED, [x, wt, c.bias(units, q, x, ws) if bias else -1], [y], BO.FullyConnectedOptions, o)
    return c.mb.build([x], [y])


def pool(q, code, stride=2, padding=SAME, fsize=(3, 3), act=NONE, in_shape=(1, 9, 10, 3), seed=0):
    c = Case(seed)
    b_, h, w, ch = in_shape
    x = c.act(list(in_shape), q)
    oh, ow = out_size(h, fsize[0], stride, 1, padding), out_size(w, fsize[1], stride, 1, padding)
    y = c.act([b_, oh, ow, ch], q, scale=c.scale_of(x) if q else None,
              zp=int(c.mb.tensors[x].quantization.zeroPoint[0]) if q else None)
    o = S.Pool2DOptionsT()
    o.padding, o.strideW, o.strideH, o.filterHeight, o.filterWidth = padding, stride, stride, fsize[0], fsize[1]
    o.fusedActivationFunction = act
    c.mb.op(code, [x], [y], BO.Pool2DOptions, o)
    return c.mb.build([x], [y])


def softmax(q, beta=1.0, shape=(3, 10), seed=0, out16=False, in16=False):
    """int8 out at 1/256 and -128; out16: int16 out at 1/65536 and -32768 (TFLite Micro's fixed
    quantization of both); in16: int16 in and out, which this runtime refuses."""
    c = Case(seed)
    if in16:
        x = c.mb.tensor(list(shape), T.INT16, scale=0.001, zero_point=0)
        y = c.mb.tensor(list(shape), T.INT16, scale=1 / 32768, zero_point=0)
    else:
        x = c.act(list(shape), q, scale=0.1 if q else None)
        y = (c.mb.tensor(list(shape), T.INT16, scale=1 / 65536, zero_point=-32768) if out16
             else c.act(list(shape), q, scale=1 / 256, zp=-128))
    o = S.SoftmaxOptionsT()
    o.beta = beta
    c.mb.op(OP.SOFTMAX, [x], [y], BO.SoftmaxOptions, o)
    return c.mb.build([x], [y])


def unary(q, code, shape=(2, 5, 7), alpha=0.2, in_scale=0.06, out_scale=0.03):
    c = Case(1)
    x = c.act(list(shape), q, scale=in_scale if q else None)
    if code == OP.LOGISTIC:
        y = c.act(list(shape), q, scale=1 / 256, zp=-128)
    elif code == OP.TANH:
        y = c.act(list(shape), q, scale=1 / 128, zp=0)
    else:
        y = c.act(list(shape), q, scale=out_scale if q else None)
    if code == OP.LEAKY_RELU:
        o = S.LeakyReluOptionsT()
        o.alpha = alpha
        c.mb.op(code, [x], [y], BO.LeakyReluOptions, o)
    else:
        c.mb.op(code, [x], [y])
    return c.mb.build([x], [y])


def binary(q, code, a_shape, b_shape, act=NONE, seed=0):
    c = Case(seed)
    a = c.act(list(a_shape), q)
    b = c.act(list(b_shape), q)
    out_shape = list(np.broadcast_shapes(tuple(a_shape), tuple(b_shape)))
    y = c.act(out_shape, q, scale=(0.08 if code == OP.MUL else 0.05) if q else None)
    if code == OP.ADD:
        o, ot = S.AddOptionsT(), BO.AddOptions
    elif code == OP.SUB:
        o, ot = S.SubOptionsT(), BO.SubOptions
    else:
        o, ot = S.MulOptionsT(), BO.MulOptions
    o.fusedActivationFunction = act
    c.mb.op(code, [a, b], [y], ot, o)
    return c.mb.build([a, b], [y])


def minmax(dtype, code, a_shape, b_shape, seed=0):
    """MAXIMUM / MINIMUM: inputs and output share one quantization, as converters make them."""
    c = Case(seed)
    quant = {"scale": 0.05, "zero_point": 3} if dtype in (INT8, T.INT16) else {}
    out_shape = list(np.broadcast_shapes(tuple(a_shape), tuple(b_shape)))
    a, b, y = (c.mb.tensor(list(s), dtype, **quant) for s in (a_shape, b_shape, out_shape))
    c.mb.op(code, [a, b], [y])
    return c.mb.build([a, b], [y])


def prelu(q, x_shape, alpha_shape, const_alpha=True, seed=0):
    """PRELU with its slopes a constant (as converters make them) or a second input."""
    c = Case(seed)
    x = c.act(list(x_shape), q)
    if not const_alpha:
        alpha = c.act(list(alpha_shape), q, scale=0.01)
    elif q:
        alpha = c.mb.tensor(list(alpha_shape), INT8, data=c.rng.integers(-128, 128, size=alpha_shape, dtype=np.int8),
                            scale=0.004, zero_point=int(c.rng.integers(-10, 10)))
    else:
        alpha = c.mb.tensor(list(alpha_shape), FLOAT32, data=c.rng.uniform(-0.5, 0.5, size=alpha_shape).astype(np.float32))
    y = c.act(list(x_shape), q, scale=0.04 if q else None)
    c.mb.op(OP.PRELU, [x, alpha], [y])
    return c.mb.build([x] if const_alpha else [x, alpha], [y])


def requantize(src, dst, seed, same_scale=False):
    """QUANTIZE between integer types (src, dst: 'int8', 'uint8', 'int16', 'int32')."""
    c = Case(seed)
    shape = [2, 3, 5]
    types = {"int8": (INT8, -20, 20), "uint8": (T.UINT8, 100, 156), "int16": (T.INT16, -300, 300), "int32": (INT32, -1000, 1000)}

    def t(name, scale):
        ty, zlo, zhi = types[name]
        zp = 0 if ty == T.INT16 else int(c.rng.integers(zlo, zhi))
        return c.mb.tensor(shape, ty, scale=scale, zero_point=zp)
    x = t(src, float(c.rng.uniform(0.01, 0.05)))
    if same_scale:  # the converter's uint8 <-> int8 edges: one scale, zero points 128 apart
        y = c.mb.tensor(shape, types[dst][0], scale=c.scale_of(x),
                        zero_point=int(c.mb.tensors[x].quantization.zeroPoint[0]) + (128 if dst == "uint8" else -128))
    else:
        y = t(dst, float(c.rng.uniform(0.01, 0.05)) * (0.01 if dst in ("int16", "int32") else 1))
    c.mb.op(OP.QUANTIZE, [x], [y])
    return c.mb.build([x], [y])


def uint8_io_model(seed=0):
    """A model as TFLite's converter writes one with inference_input_type and
    inference_output_type uint8: QUANTIZE uint8 -> int8, the int8 graph, QUANTIZE int8 -> uint8."""
    c = Case(seed)
    u_in = c.mb.tensor([2, 20], T.UINT8, scale=0.02, zero_point=128)
    x = c.mb.tensor([2, 20], INT8, scale=0.02, zero_point=0)
    wt, ws = c.weights([7, 20], True)
    y = c.act([2, 7], True, scale=64 * 64 * math.sqrt(20) * 0.02 * float(ws.max()) / 60)
    u_out = c.mb.tensor([2, 7], T.UINT8, scale=c.scale_of(y), zero_point=int(c.mb.tensors[y].quantization.zeroPoint[0]) + 128)
    c.mb.op(OP.QUANTIZE, [u_in], [x])
    c.mb.op(OP.FULLY_CONNECTED, [x, wt, c.bias(7, True, x, ws)], [y], BO.FullyConnectedOptions, S.FullyConnectedOptionsT())
    c.mb.op(OP.QUANTIZE, [y], [u_out])
    return c.mb.build([u_in], [u_out])


def quantize(kind):
    c = Case(2)
    shape = [2, 3, 5]
    if kind == "dqu8":
        x, y, code = c.mb.tensor(shape, T.UINT8, scale=0.04, zero_point=131), c.act(shape, False), OP.DEQUANTIZE
    elif kind in ("f2q16", "q16q8", "dq16"):
        t16 = c.mb.tensor(shape, T.INT16, scale=0.0005, zero_point=0)
        if kind == "f2q16":
            x, y, code = c.act(shape, False), t16, OP.QUANTIZE
        elif kind == "q16q8":
            x, y, code = t16, c.act(shape, True, scale=0.01), OP.QUANTIZE
        else:
            x, y, code = t16, c.act(shape, False), OP.DEQUANTIZE
    elif kind == "f2q":
        x, y = c.act(shape, False), c.act(shape, True, scale=0.03)
        code = OP.QUANTIZE
    elif kind == "q2q":
        x, y = c.act(shape, True), c.act(shape, True)
        code = OP.QUANTIZE
    else:
        x, y = c.act(shape, True), c.act(shape, False)
        code = OP.DEQUANTIZE
    c.mb.op(code, [x], [y])
    return c.mb.build([x], [y])


def reshape(q):
    c = Case(3)
    x = c.act([1, 4, 6], q)
    s = c.mb.tensor([2], INT32, data=np.array([3, 8], np.int32))
    y = c.act([3, 8], q, scale=c.scale_of(x) if q else None, zp=int(c.mb.tensors[x].quantization.zeroPoint[0]) if q else None)
    # A FULLY_CONNECTED after the RESHAPE so the shared buffer is read by a later operator.
    wt, ws = c.weights([5, 8], q)
    z = c.act([3, 5], q, scale=0.5 if q else None)
    c.mb.op(OP.RESHAPE, [x, s], [y], BO.ReshapeOptions, S.ReshapeOptionsT())
    c.mb.op(OP.FULLY_CONNECTED, [y, wt, -1], [z], BO.FullyConnectedOptions, S.FullyConnectedOptionsT())
    return c.mb.build([x], [z])


def mean(q, axes, keep, in_shape=(1, 5, 6, 4), same_quant=False):
    c = Case(4)
    x = c.act(list(in_shape), q)
    ax = [a % len(in_shape) for a in axes]
    out_shape = [1 if d in ax else n for d, n in enumerate(in_shape)] if keep else \
        [n for d, n in enumerate(in_shape) if d not in ax]
    if q and same_quant:
        y = c.act(out_shape, q, scale=c.scale_of(x), zp=int(c.mb.tensors[x].quantization.zeroPoint[0]))
    else:
        y = c.act(out_shape, q)
    a = c.mb.tensor([len(axes)], INT32, data=np.array(axes, np.int32))
    o = S.ReducerOptionsT()
    o.keepDims = keep
    c.mb.op(OP.MEAN, [x, a], [y], BO.ReducerOptions, o)
    return c.mb.build([x], [y])


def pad(q):
    c = Case(5)
    x = c.act([1, 3, 4, 2], q)
    p = c.mb.tensor([4, 2], INT32, data=np.array([[0, 0], [1, 2], [2, 0], [0, 1]], np.int32))
    y = c.act([1, 6, 6, 3], q, scale=c.scale_of(x) if q else None, zp=int(c.mb.tensors[x].quantization.zeroPoint[0]) if q else None)
    c.mb.op(OP.PAD, [x, p], [y], BO.PadOptions, S.PadOptionsT())
    return c.mb.build([x], [y])


def concat(q, axis):
    c = Case(6)
    shapes = [[1, 3, 4, 2], [1, 3, 4, 5], [1, 3, 4, 1]] if axis in (3, -1) else [[1, 2, 4, 3], [1, 3, 4, 3], [1, 1, 4, 3]]
    scale, zp = 0.04, 3
    xs = [c.act(s, q, scale=scale, zp=zp) for s in shapes]
    ax = axis % 4
    out = list(shapes[0])
    out[ax] = sum(s[ax] for s in shapes)
    y = c.act(out, q, scale=scale, zp=zp)
    o = S.ConcatenationOptionsT()
    o.axis = axis
    c.mb.op(OP.CONCATENATION, xs, [y], BO.ConcatenationOptions, o)
    return c.mb.build(xs, [y])


def moved(q, in_shapes, out_shapes, code, consts=(), opt=None, seed=7):
    """An operator whose inputs and outputs share one quantization (moving or resampling); consts:
    (position, int32 array) inputs that are constant tensors."""
    c = Case(seed)
    xs = [c.act(list(sh), q, scale=0.05, zp=2) for sh in in_shapes]
    ins = list(xs)
    for pos, data in consts:
        ins.insert(pos, c.mb.tensor(list(np.shape(data)), INT32, data=np.array(data, np.int32)))
    ys = [c.act(list(sh), q, scale=0.05, zp=2) for sh in out_shapes]
    c.mb.op(code, ins, ys, *(opt or ()))
    return c.mb.build(xs, ys)


def strided_slice(q, shape, begin, end, strides, begin_mask=0, end_mask=0, shrink=0):
    # the output shape as numpy slices the same way
    idx = []
    for d in range(len(shape)):
        if shrink >> d & 1:
            idx.append(begin[d])
        else:
            idx.append(slice(None if begin_mask >> d & 1 else begin[d], None if end_mask >> d & 1 else end[d], strides[d]))
    out = np.zeros(shape)[tuple(idx)].shape
    o = S.StridedSliceOptionsT()
    o.beginMask, o.endMask, o.shrinkAxisMask = begin_mask, end_mask, shrink
    return moved(q, [shape], [out], OP.STRIDED_SLICE, [(1, begin), (2, end), (3, strides)],
                 (BO.StridedSliceOptions, o))


def split(q, shape, axis, num):
    o = S.SplitOptionsT()
    o.numSplits = num
    out = list(shape)
    out[axis] //= num
    return moved(q, [shape], [out] * num, OP.SPLIT, [(0, [axis])], (BO.SplitOptions, o))


def pack(q, shape, n, axis):
    o = S.PackOptionsT()
    o.valuesCount, o.axis = n, axis
    out = list(shape)
    out.insert(axis % (len(shape) + 1), n)
    return moved(q, [shape] * n, [out], OP.PACK, (), (BO.PackOptions, o))


def unpack(q, shape, axis):
    o = S.UnpackOptionsT()
    o.num, o.axis = shape[axis], axis
    out = [n for d, n in enumerate(shape) if d != axis % len(shape)]
    return moved(q, [shape], [out] * shape[axis], OP.UNPACK, (), (BO.UnpackOptions, o))


def transpose(q, shape, perm):
    return moved(q, [shape], [[shape[p] for p in perm]], OP.TRANSPOSE, [(1, perm)],
                 (BO.TransposeOptions, S.TransposeOptionsT()))


def gather(dtype, shape, indices, axis=0, batch_dims=0, seed=8):
    c = Case(seed)
    quant = {"scale": 0.05, "zero_point": 2} if dtype == INT8 else {}
    x = c.mb.tensor(list(shape), dtype, **quant)
    ix = c.mb.tensor(list(np.shape(indices)), INT32, data=np.array(indices, np.int32))
    ish = list(np.shape(indices))
    out = list(shape[:axis]) + ish[batch_dims:] + list(shape[axis + 1:])
    y = c.mb.tensor(out, dtype, **quant)
    o = S.GatherOptionsT()
    o.axis, o.batchDims = axis, batch_dims
    c.mb.op(OP.GATHER, [x, ix], [y], BO.GatherOptions, o)
    return c.mb.build([x], [y])


def arg_max(dtype, shape, axis, out_type=INT32, seed=9):
    c = Case(seed)
    x = c.mb.tensor(list(shape), dtype, **({"scale": 0.05, "zero_point": 2} if dtype == INT8 else {}))
    a = c.mb.tensor([1], INT32, data=np.array([axis], np.int32))
    y = c.mb.tensor([n for d, n in enumerate(shape) if d != axis % len(shape)], out_type)
    o = S.ArgMaxOptionsT()
    o.outputType = out_type
    c.mb.op(OP.ARG_MAX, [x, a], [y], BO.ArgMaxOptions, o)
    return c.mb.build([x], [y])


def resize(dtype, code, in_shape, size, align=False, half=False):
    b, h, w, ch = in_shape
    if code == OP.RESIZE_BILINEAR:
        o, ot = S.ResizeBilinearOptionsT(), BO.ResizeBilinearOptions
    else:
        o, ot = S.ResizeNearestNeighborOptionsT(), BO.ResizeNearestNeighborOptions
    o.alignCorners, o.halfPixelCenters = align, half
    return moved(dtype, [in_shape], [(b, size[0], size[1], ch)], code, [(1, list(size))], (ot, o))


CASES = {}
for q, tn in ((True, "int8"), (False, "float32")):
    for a, an in ((NONE, "none"), (RELU, "relu"), (RELU_N1_TO_1, "relu_n1_to_1"), (RELU6, "relu6")):
        CASES[f"conv_{tn}_act_{an}"] = lambda q=q, a=a: conv(q, act=a, seed=a)
        CASES[f"depthwise_{tn}_act_{an}"] = lambda q=q, a=a: conv(q, act=a, depthwise=True, seed=a)
        CASES[f"fc_{tn}_act_{an}"] = lambda q=q, a=a: fc(q, act=a, seed=a)
        CASES[f"add_{tn}_act_{an}"] = lambda q=q, a=a: binary(q, OP.ADD, (2, 3, 4), (2, 3, 4), act=a, seed=a)
        CASES[f"mul_{tn}_act_{an}"] = lambda q=q, a=a: binary(q, OP.MUL, (2, 3, 4), (2, 3, 4), act=a, seed=a)
    for s in (1, 2):
        for p, pn in ((SAME, "same"), (VALID, "valid")):
            CASES[f"conv_{tn}_stride{s}_{pn}"] = lambda q=q, s=s, p=p: conv(q, stride=s, padding=p, seed=10 + s)
            CASES[f"depthwise_{tn}_stride{s}_{pn}"] = lambda q=q, s=s, p=p: conv(q, stride=s, padding=p, depthwise=True, seed=10 + s)
            CASES[f"avgpool_{tn}_stride{s}_{pn}"] = lambda q=q, s=s, p=p: pool(q, OP.AVERAGE_POOL_2D, stride=s, padding=p)
            CASES[f"maxpool_{tn}_stride{s}_{pn}"] = lambda q=q, s=s, p=p: pool(q, OP.MAX_POOL_2D, stride=s, padding=p)
    CASES[f"conv_{tn}_dilation2_same"] = lambda q=q: conv(q, dil=2, padding=SAME, in_shape=(1, 11, 10, 2))
    CASES[f"conv_{tn}_dilation2_valid_stride2"] = lambda q=q: conv(q, dil=2, stride=2, padding=VALID, in_shape=(1, 11, 10, 2))
    CASES[f"conv_{tn}_1x1_no_bias"] = lambda q=q: conv(q, fsize=(1, 1), bias=False, oc=6)
    CASES[f"conv_{tn}_batch2_5x3"] = lambda q=q: conv(q, fsize=(5, 3), in_shape=(2, 7, 6, 3), stride=2)
    CASES[f"depthwise_{tn}_multiplier2"] = lambda q=q: conv(q, depthwise=True, dm=2)
    CASES[f"depthwise_{tn}_multiplier3_stride2_valid"] = lambda q=q: conv(q, depthwise=True, dm=3, stride=2, padding=VALID)
    # more than one 64-channel block, and a block starting inside a multiplier group
    CASES[f"depthwise_{tn}_multiplier2_80ch"] = lambda q=q: conv(q, depthwise=True, dm=2, in_shape=(1, 5, 6, 40))
    CASES[f"depthwise_{tn}_multiplier3_90ch"] = lambda q=q: conv(q, depthwise=True, dm=3, in_shape=(1, 5, 6, 30), stride=2)
    # a multiplier larger than the int8 kernel's block of 64 outputs (and micro_speech's form: one input channel)
    CASES[f"depthwise_{tn}_multiplier70_1ch"] = lambda q=q: conv(q, depthwise=True, dm=70, in_shape=(1, 4, 5, 1))
    # ... with more than one input channel (int8 runs it through the general convolution)
    CASES[f"depthwise_{tn}_multiplier66_3ch_stride2"] = lambda q=q: conv(q, depthwise=True, dm=66, in_shape=(1, 5, 6, 3),
                                                                          stride=2)
    CASES[f"conv_{tn}_1x1_bias_relu6"] = lambda q=q: conv(q, fsize=(1, 1), oc=24, in_shape=(1, 5, 6, 20), act=RELU6)
    # the int8 1x1 kernel's edges: an odd pixel count and channels not a multiple of its block of 4
    CASES[f"conv_{tn}_1x1_odd_pixels_7ch"] = lambda q=q: conv(q, fsize=(1, 1), oc=7, in_shape=(1, 5, 5, 20))
    CASES[f"depthwise_{tn}_dilation2"] = lambda q=q: conv(q, depthwise=True, dil=2, in_shape=(1, 10, 9, 4))
    CASES[f"fc_{tn}_no_bias"] = lambda q=q: fc(q, bias=False)
    CASES[f"avgpool_{tn}_relu6_2x2"] = lambda q=q: pool(q, OP.AVERAGE_POOL_2D, fsize=(2, 2), act=RELU6)
    CASES[f"maxpool_{tn}_relu_2x3"] = lambda q=q: pool(q, OP.MAX_POOL_2D, fsize=(2, 3), act=RELU)
    CASES[f"softmax_{tn}"] = lambda q=q: softmax(q)
    CASES[f"softmax_{tn}_beta0.5_4d"] = lambda q=q: softmax(q, beta=0.5, shape=(1, 2, 3, 6))
    for code, n in ((OP.LOGISTIC, "logistic"), (OP.TANH, "tanh"), (OP.RELU, "relu"), (OP.RELU6, "relu6")):
        CASES[f"{n}_{tn}"] = lambda q=q, code=code: unary(q, code)
    for code, n in ((OP.ADD, "add"), (OP.MUL, "mul")):
        CASES[f"{n}_{tn}_broadcast_channel"] = lambda q=q, code=code: binary(q, code, (1, 4, 3, 5), (1, 1, 1, 5))
        CASES[f"{n}_{tn}_broadcast_both"] = lambda q=q, code=code: binary(q, code, (2, 1, 3), (1, 4, 1), act=RELU)
        CASES[f"{n}_{tn}_broadcast_scalar_rank"] = lambda q=q, code=code: binary(q, code, (3, 2, 4), (4,))
    CASES[f"reshape_{tn}"] = lambda q=q: reshape(q)
    CASES[f"mean_{tn}_axes12_keep"] = lambda q=q: mean(q, [1, 2], True)
    CASES[f"mean_{tn}_last_axis_drop"] = lambda q=q: mean(q, [-1], False)
    CASES[f"mean_{tn}_axes02_drop"] = lambda q=q: mean(q, [0, 2], False, in_shape=(3, 4, 5))
    CASES[f"pad_{tn}"] = lambda q=q: pad(q)
    CASES[f"concat_{tn}_axis3"] = lambda q=q: concat(q, 3)
    CASES[f"concat_{tn}_axis1"] = lambda q=q: concat(q, 1)
    CASES[f"concat_{tn}_axis_neg1"] = lambda q=q: concat(q, -1)
    for a, an in ((NONE, "none"), (RELU, "relu"), (RELU_N1_TO_1, "relu_n1_to_1"), (RELU6, "relu6")):
        CASES[f"sub_{tn}_act_{an}"] = lambda q=q, a=a: binary(q, OP.SUB, (2, 3, 4), (2, 3, 4), act=a, seed=a)
    CASES[f"sub_{tn}_broadcast_channel"] = lambda q=q: binary(q, OP.SUB, (1, 4, 3, 5), (1, 1, 1, 5))
    CASES[f"sub_{tn}_broadcast_both"] = lambda q=q: binary(q, OP.SUB, (2, 1, 3), (1, 4, 1), act=RELU6)
    CASES[f"sub_{tn}_broadcast_scalar"] = lambda q=q: binary(q, OP.SUB, (1,), (3, 2, 4), seed=5)
    for code, n in ((OP.MAXIMUM, "maximum"), (OP.MINIMUM, "minimum")):
        dt = INT8 if q else FLOAT32
        CASES[f"{n}_{tn}"] = lambda dt=dt, code=code: minmax(dt, code, (2, 3, 4), (2, 3, 4))
        CASES[f"{n}_{tn}_broadcast"] = lambda dt=dt, code=code: minmax(dt, code, (1, 4, 3, 5), (5,), seed=1)
        CASES[f"{n}_{tn}_broadcast_both"] = lambda dt=dt, code=code: minmax(dt, code, (2, 1, 3), (1, 4, 1), seed=2)
    CASES[f"prelu_{tn}_channel_alpha"] = lambda q=q: prelu(q, (1, 5, 4, 6), (1, 1, 6))
    CASES[f"prelu_{tn}_full_alpha"] = lambda q=q: prelu(q, (2, 3, 5), (2, 3, 5), seed=1)
    CASES[f"prelu_{tn}_alpha_input_broadcast"] = lambda q=q: prelu(q, (1, 4, 6), (4, 1), const_alpha=False, seed=2)
    CASES[f"leaky_relu_{tn}"] = lambda q=q: unary(q, OP.LEAKY_RELU)
    CASES[f"leaky_relu_{tn}_alpha_above_one"] = lambda q=q: unary(q, OP.LEAKY_RELU, alpha=1.7, out_scale=0.05)
    CASES[f"leaky_relu_{tn}_alpha_negative"] = lambda q=q: unary(q, OP.LEAKY_RELU, alpha=-0.3)
    CASES[f"hard_swish_{tn}"] = lambda q=q: unary(q, OP.HARD_SWISH, in_scale=0.05, out_scale=0.04)
    # a wide input range (the reluish multiplier shifts right) and a narrow one (shifts left)
    CASES[f"hard_swish_{tn}_wide_range"] = lambda q=q: unary(q, OP.HARD_SWISH, in_scale=0.6, out_scale=0.5)
    CASES[f"hard_swish_{tn}_narrow_range"] = lambda q=q: unary(q, OP.HARD_SWISH, in_scale=0.004, out_scale=0.003)
    CASES[f"strided_slice_{tn}_basic"] = lambda q=q: strided_slice(q, (1, 6, 7, 3), [0, 1, 0, 0], [1, 5, 7, 2], [1, 1, 2, 1])
    CASES[f"strided_slice_{tn}_negative_and_masks"] = lambda q=q: strided_slice(
        q, (2, 8, 5), [0, -6, 1], [0, -1, 4], [1, 2, 1], begin_mask=1, end_mask=1 | 4)
    CASES[f"strided_slice_{tn}_reverse"] = lambda q=q: strided_slice(q, (4, 9), [3, -1], [0, 0], [-1, -3], end_mask=1 | 2)
    CASES[f"strided_slice_{tn}_shrink"] = lambda q=q: strided_slice(q, (3, 5, 4), [1, 0, -1], [2, 5, 0], [1, 1, 1],
                                                                   end_mask=2, shrink=1 | 4)
    CASES[f"strided_slice_{tn}_clamped"] = lambda q=q: strided_slice(q, (5, 6), [-20, 2], [20, 100], [2, 3])
    CASES[f"split_{tn}_channels"] = lambda q=q: split(q, (1, 4, 5, 6), 3, 3)
    CASES[f"split_{tn}_axis0"] = lambda q=q: split(q, (4, 3, 2), 0, 2)
    CASES[f"split_{tn}_negative_axis"] = lambda q=q: split(q, (2, 6, 3), -2, 6)
    CASES[f"pack_{tn}_axis0"] = lambda q=q: pack(q, (3, 4), 3, 0)
    CASES[f"pack_{tn}_last_axis"] = lambda q=q: pack(q, (2, 3, 4), 2, -1)
    CASES[f"pack_{tn}_middle"] = lambda q=q: pack(q, (5, 4), 4, 1)
    CASES[f"unpack_{tn}_axis0"] = lambda q=q: unpack(q, (3, 4, 2), 0)
    CASES[f"unpack_{tn}_last_axis"] = lambda q=q: unpack(q, (2, 3, 4), -1)
    CASES[f"transpose_{tn}_nhwc_to_nchw"] = lambda q=q: transpose(q, (2, 3, 4, 5), [0, 3, 1, 2])
    CASES[f"transpose_{tn}_2d"] = lambda q=q: transpose(q, (7, 5), [1, 0])
    CASES[f"transpose_{tn}_5d"] = lambda q=q: transpose(q, (2, 3, 2, 2, 3), [4, 2, 0, 1, 3])
    CASES[f"squeeze_{tn}"] = lambda q=q: moved(q, [(1, 4, 1, 6)], [(4, 6)], OP.SQUEEZE)
    CASES[f"expand_dims_{tn}"] = lambda q=q: moved(q, [(4, 6)], [(4, 1, 6)], OP.EXPAND_DIMS, [(1, [1])])
    dt = INT8 if q else FLOAT32
    CASES[f"gather_{tn}_axis0"] = lambda dt=dt: gather(dt, (6, 5), [4, 0, 0, 5, 2])
    CASES[f"gather_{tn}_axis1_2d_indices"] = lambda dt=dt: gather(dt, (3, 7, 4), [[6, 1], [0, 3], [2, 2]], axis=1)
    CASES[f"gather_{tn}_batch_dims"] = lambda dt=dt: gather(dt, (2, 5, 3), [[4, 1, 0], [2, 2, 3]], axis=1, batch_dims=1)
    CASES[f"arg_max_{tn}_last_axis"] = lambda dt=dt: arg_max(dt, (3, 10), -1)
    CASES[f"arg_max_{tn}_axis1"] = lambda dt=dt: arg_max(dt, (2, 6, 5), 1)
    CASES[f"arg_max_{tn}_axis0"] = lambda dt=dt: arg_max(dt, (4, 3, 2), 0)
    for code, n in ((OP.RESIZE_BILINEAR, "resize_bilinear"), (OP.RESIZE_NEAREST_NEIGHBOR, "resize_nearest")):
        CASES[f"{n}_{tn}_upscale"] = lambda q=q, code=code: resize(q, code, (1, 4, 5, 3), (9, 11))
        CASES[f"{n}_{tn}_downscale"] = lambda q=q, code=code: resize(q, code, (2, 9, 7, 2), (4, 3))
        CASES[f"{n}_{tn}_align_corners"] = lambda q=q, code=code: resize(q, code, (1, 5, 4, 2), (8, 7), align=True)
        CASES[f"{n}_{tn}_half_pixel"] = lambda q=q, code=code: resize(q, code, (1, 5, 6, 2), (7, 13), half=True)
        CASES[f"{n}_{tn}_half_pixel_down"] = lambda q=q, code=code: resize(q, code, (1, 8, 9, 1), (3, 5), half=True)
    for st in (1, 2):
        for p, pn in ((SAME, "same"), (VALID, "valid")):
            CASES[f"transpose_conv_{tn}_stride{st}_{pn}"] = lambda q=q, st=st, p=p: transpose_conv(q, stride=st, padding=p, seed=st)
    CASES[f"transpose_conv_{tn}_no_bias_5x3"] = lambda q=q: transpose_conv(q, bias=False, fsize=(5, 3), in_shape=(2, 3, 4, 2))
    CASES[f"transpose_conv_{tn}_relu"] = lambda q=q: transpose_conv(q, act=RELU, seed=3)
    CASES[f"transpose_conv_{tn}_stride3_1x1"] = lambda q=q: transpose_conv(q, stride=3, fsize=(1, 1), oc=6)
    CASES[f"svdf_{tn}_rank2_relu"] = lambda q=q: svdf(q)
    CASES[f"svdf_{tn}_rank1_batch2"] = lambda q=q: svdf(q, rank=1, batch=2, act=NONE, filters=16, memory=10, seed=1)
CASES["transpose_conv_int8_per_tensor"] = lambda: transpose_conv(True, per_channel=False)
CASES["svdf_int8_int8_state"] = lambda: svdf(True, state_type=INT8, seed=2)
CASES["svdf_float32_relu6"] = lambda: svdf(False, act=RELU6, seed=3)
CASES["svdf_float32_relu_n1_to_1"] = lambda: svdf(False, act=RELU_N1_TO_1, rank=4, seed=4)
for q, tn in ((True, "int8"), (False, "float32")):
    CASES[f"lstm_{tn}_batch1_step1"] = lambda q=q: lstm(q, steps=1)
    CASES[f"lstm_{tn}_batch1_steps5"] = lambda q=q: lstm(q, seed=1)
    CASES[f"lstm_{tn}_batch2_steps6"] = lambda q=q: lstm(q, batch=2, steps=6, n_in=5, n_cell=7, seed=2, h_zp=5)
    CASES[f"lstm_{tn}_batch2_time_major"] = lambda q=q: lstm(q, batch=2, steps=6, time_major=True, seed=3, h_zp=-3)
    CASES[f"lstm_{tn}_batch2_cell_clip"] = lambda q=q: lstm(q, batch=2, steps=5, clip=0.5, seed=4)
    CASES[f"lstm_{tn}_time_major_cell_clip"] = lambda q=q: lstm(q, batch=3, steps=7, n_in=12, n_cell=16, time_major=True,
                                                               clip=0.8, seed=5, cell_scale=2.0 ** -13)
CASES["lstm_int8_cell_scale_2e-9"] = lambda: lstm(True, steps=6, seed=6, cell_scale=2.0 ** -9, clip=1.0)
CASES["arg_max_int8_ties_first"] = lambda: arg_max(INT8, (4, 40), 1)
for code, n in ((OP.MAXIMUM, "maximum"), (OP.MINIMUM, "minimum")):
    CASES[f"{n}_int16"] = lambda code=code: minmax(T.INT16, code, (3, 4), (4,), seed=3)
    CASES[f"{n}_int32"] = lambda code=code: minmax(INT32, code, (1, 3, 4), (3, 1), seed=4)
# int8 in, int16 out (keyword_scrambled's last softmax)
CASES["softmax_int8_int16_out"] = lambda: softmax(True, out16=True, shape=(2, 12), seed=1)
CASES["softmax_int8_int16_out_beta0.3_3d"] = lambda: softmax(True, beta=0.3, out16=True, shape=(2, 3, 7), seed=2)
CASES["conv_int8_per_tensor"] = lambda: conv(True, per_channel=False)
CASES["depthwise_int8_per_tensor"] = lambda: conv(True, depthwise=True, per_channel=False)
CASES["fc_int8_per_channel"] = lambda: fc(True, per_channel=True)
CASES["mean_int8_same_quant"] = lambda: mean(True, [1, 2], True, same_quant=True)
CASES["quantize_float_to_int8"] = lambda: quantize("f2q")
CASES["quantize_int8_to_int8"] = lambda: quantize("q2q")
CASES["dequantize_int8_to_float"] = lambda: quantize("dq")
CASES["quantize_float_to_int16"] = lambda: quantize("f2q16")
CASES["quantize_int16_to_int8"] = lambda: quantize("q16q8")
CASES["dequantize_int16_to_float"] = lambda: quantize("dq16")
CASES["dequantize_uint8_to_float"] = lambda: quantize("dqu8")
for n, (src, dst) in enumerate((("uint8", "int8"), ("int8", "uint8"), ("int8", "int16"), ("int8", "int32"),
                                ("int16", "int16"), ("int16", "int32"))):
    CASES[f"quantize_{src}_to_{dst}"] = lambda src=src, dst=dst, n=n: requantize(src, dst, seed=20 + n)
CASES["quantize_uint8_to_int8_same_scale"] = lambda: requantize("uint8", "int8", seed=30, same_scale=True)
CASES["quantize_int8_to_uint8_same_scale"] = lambda: requantize("int8", "uint8", seed=31, same_scale=True)
CASES["model_uint8_io"] = lambda: uint8_io_model()


@pytest.fixture(scope="module")
def results(device_bin, tmp_path_factory):
    names = sorted(CASES)
    jobs, expected = [], []
    for n, name in enumerate(names):
        model = CASES[name]()
        inputs = T.random_inputs(model, INPUTS_PER_MODEL, seed=n)
        expected.append(T.oracle(model, inputs))
        jobs.append({"model": model, "inputs": inputs})
    got = T.device_batch(device_bin, jobs, tmp_path_factory.mktemp("ops"))
    return dict(zip(names, zip(expected, got)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_operator_bit_exact(results, name):
    expected, got = results[name]
    assert "error" not in got, got
    assert got["count"] == len(expected)
    bad = [i for i, (e, g) in enumerate(zip(expected, got["records"])) if e != g]
    assert not bad, f"{len(bad)} of {len(expected)} differ; first: tflite-micro {expected[bad[0]][:32].hex()} device {got['records'][bad[0]][:32].hex()}"
    # Outputs must vary with the input, or the comparison proves little.
    assert len(set(expected)) > 1


def test_unsupported_operator_refused_at_load(device_bin, tmp_path):
    c = Case(0)
    x, y = c.act([1, 4], False), c.act([1, 4], False)
    c.mb.op(OP.FLOOR, [x], [y])
    got = T.device_batch(device_bin, [{"model": c.mb.build([x], [y]), "inputs": None}], tmp_path)[0]
    assert got["error"] == "ValueError"
    assert "FLOOR" in got["message"]
    assert "index 0" in got["message"] and "float32" in got["message"]


def test_unsupported_type_refused_at_load(device_bin, tmp_path):
    c = Case(0)
    x, y = c.mb.tensor([1, 4], INT32), c.mb.tensor([1, 4], INT32)
    c.mb.op(OP.TANH, [x], [y])
    got = T.device_batch(device_bin, [{"model": c.mb.build([x], [y]), "inputs": None}], tmp_path)[0]
    assert got["error"] == "ValueError"
    assert "TANH" in got["message"] and "index 0" in got["message"] and "int32" in got["message"]


def sub_int16():
    c = Case(0)
    a, b, y = (c.mb.tensor([2, 3], T.INT16, scale=0.001) for _ in range(3))
    c.mb.op(OP.SUB, [a, b], [y], BO.SubOptions, S.SubOptionsT())
    return c.mb.build([a, b], [y])


def prelu_per_channel_alpha():
    m = S.ModelT.InitFromPackedBuf(prelu(True, (1, 2, 2, 3), (1, 1, 3)), 0)
    q = m.subgraphs[0].tensors[1].quantization
    q.scale, q.zeroPoint, q.quantizedDimension = np.array([0.01, 0.02, 0.03], np.float32), np.zeros(3, np.int64), 2
    b = T.flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


# Variants TFLite Micro runs (or accepts) that this runtime refuses at load, and what the error says.
REFUSED = {
    "sub_int16": (sub_int16, ["SUB", "index 0", "int16"]),
    "softmax_int16": (lambda: softmax(True, in16=True), ["SOFTMAX", "int8 in, int8 or int16 out"]),
    "prelu_int8_per_channel_alpha": (prelu_per_channel_alpha, ["PRELU", "one scale"]),
    "prelu_5d": (lambda: prelu(False, (1, 2, 2, 2, 3), (3,)), ["PRELU", "at most 4 dimensions"]),
    "hard_swish_int8_output_scale_too_small": (lambda: unary(True, OP.HARD_SWISH, in_scale=0.5, out_scale=0.001),
                                               ["HARD_SWISH", "output scale"]),
    "maximum_mixed_types": (lambda: minmax_mixed(), ["MAXIMUM", "int32"]),
    "arg_max_int64_output": (lambda: arg_max(FLOAT32, (3, 4), 1, out_type=T.INT64), ["ARG_MAX", "int64"]),
    "strided_slice_ellipsis": (lambda: strided_slice_masked("ellipsisMask"), ["STRIDED_SLICE", "ellipsis"]),
    "strided_slice_offset": (lambda: strided_slice_masked("offset"), ["STRIDED_SLICE", "offset"]),
    "gather_index_out_of_range": (lambda: gather(FLOAT32, (4, 3), [1, 4]), ["GATHER", "index out of range"]),
    "transpose_6d": (lambda: transpose(False, (2, 1, 3, 2, 2, 3), [5, 2, 0, 4, 1, 3]), ["TRANSPOSE", "5 dimensions"]),
    "resize_bilinear_int16": (lambda: resize_int16(OP.RESIZE_BILINEAR), ["RESIZE_BILINEAR", "int16"]),
    "resize_bilinear_align_and_half_pixel": (lambda: resize(False, OP.RESIZE_BILINEAR, (1, 3, 3, 1), (5, 5), True, True),
                                             ["RESIZE_BILINEAR", "align_corners and half_pixel_centers"]),
    "svdf_no_bias": (lambda: svdf(False, bias=False), ["SVDF", "needs the bias"]),
    "svdf_int16_state_int8_time": (lambda: svdf_mixed_state(), ["SVDF", "both int8 or both int16"]),
    "svdf_state_not_variable": (lambda: svdf_constant_state(), ["tensor 4", "never computed"]),
    "lstm_peephole": (lambda: lstm(False, extra=LSTM_PEEPHOLE), ["UNIDIRECTIONAL_SEQUENCE_LSTM", "peephole"]),
    "lstm_int8_projection": (lambda: lstm(True, extra=LSTM_PROJECTION), ["UNIDIRECTIONAL_SEQUENCE_LSTM", "projection"]),
    "lstm_layer_norm": (lambda: lstm(False, extra=LSTM_NORM), ["UNIDIRECTIONAL_SEQUENCE_LSTM", "layer normalization"]),
    "lstm_cifg": (lambda: lstm(False, cifg=True), ["UNIDIRECTIONAL_SEQUENCE_LSTM", "CIFG"]),
    "lstm_relu_cell_activation": (lambda: lstm(False, act=RELU), ["UNIDIRECTIONAL_SEQUENCE_LSTM", "TANH"]),
    "lstm_negative_cell_clip": (lambda: lstm(False, clip=-1.0), ["UNIDIRECTIONAL_SEQUENCE_LSTM", "cell clip"]),
    "lstm_int8_per_channel": (lambda: lstm(True, per_channel=True), ["UNIDIRECTIONAL_SEQUENCE_LSTM", "per-channel"]),
    "lstm_int16_activations": (lambda: lstm(True, act_type=T.INT16), ["UNIDIRECTIONAL_SEQUENCE_LSTM", "tensor types"]),
    "lstm_int8_cell_scale_not_power_of_two": (lambda: lstm(True, cell_scale=0.0003),
                                              ["UNIDIRECTIONAL_SEQUENCE_LSTM", "power of two"]),
    "resize_nearest_empty_input": (lambda: resize(True, OP.RESIZE_NEAREST_NEIGHBOR, (1, 0, 4, 2), (3, 3)),
                                   ["RESIZE_NEAREST_NEIGHBOR", "height and width"]),
    "gather_int32": (lambda: gather(INT32, (10, 4), [[1, 9, 3]]), ["GATHER", "int32"]),
    "split_uneven": (lambda: split_uneven(), ["SPLIT", "num_splits"]),
    "transpose_not_a_permutation": (lambda: moved(False, [(2, 3)], [(3, 3)], OP.TRANSPOSE, [(1, [1, 1])]),
                                    ["TRANSPOSE", "permutation"]),
}


def resize_int16(code):
    c = Case(0)
    x, y = c.mb.tensor([1, 2, 2, 1], T.INT16, scale=0.01), c.mb.tensor([1, 4, 4, 1], T.INT16, scale=0.01)
    size = c.mb.tensor([2], INT32, data=np.array([4, 4], np.int32))
    c.mb.op(code, [x, size], [y], BO.ResizeBilinearOptions, S.ResizeBilinearOptionsT())
    return c.mb.build([x], [y])


def svdf_edit(edit):
    m = S.ModelT.InitFromPackedBuf(svdf(True), 0)
    edit(m.subgraphs[0].tensors)
    b = T.flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def svdf_mixed_state():
    def edit(tensors):
        tensors[4].type = INT8
    return svdf_edit(edit)


def svdf_constant_state():
    def edit(tensors):
        tensors[4].isVariable = False
    return svdf_edit(edit)


def strided_slice_masked(field):
    m = S.ModelT.InitFromPackedBuf(strided_slice(False, (4, 5), [0, 0], [2, 3], [1, 1]), 0)
    setattr(m.subgraphs[0].operators[0].builtinOptions, field, 1)
    b = T.flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def split_uneven():
    o = S.SplitOptionsT()
    o.numSplits = 2
    return moved(False, [(5, 2)], [(2, 2), (3, 2)], OP.SPLIT, [(0, [0])], (BO.SplitOptions, o))


def minmax_mixed():
    c = Case(0)
    a, b, y = c.act([4], False), c.mb.tensor([4], INT32), c.act([4], False)
    c.mb.op(OP.MAXIMUM, [a, b], [y])
    return c.mb.build([a, b], [y])


@pytest.fixture(scope="module")
def refused(device_bin, tmp_path_factory):
    names = sorted(REFUSED)
    jobs = [{"model": REFUSED[n][0](), "inputs": None} for n in names]
    return dict(zip(names, T.device_batch(device_bin, jobs, tmp_path_factory.mktemp("refused"))))


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unsupported_variant_refused_at_load(refused, name):
    got = refused[name]
    assert got.get("error") == "ValueError", got
    for text in REFUSED[name][1]:
        assert text in got["message"], got["message"]


@pytest.mark.parametrize("code, src, dst", [(OP.QUANTIZE, "float32", "uint8"), (OP.QUANTIZE, "uint8", "int16"),
                                            (OP.QUANTIZE, "uint8", "uint8"), (OP.DEQUANTIZE, "uint8", "int8")])
def test_unsupported_quantize_pair_refused_at_load(device_bin, tmp_path, code, src, dst):
    """The type pairs tflite-micro refuses are refused at load, naming both types."""
    c = Case(0)
    ty = {"float32": FLOAT32, "int8": INT8, "uint8": T.UINT8, "int16": T.INT16}
    q = {"scale": 0.05, "zero_point": 0}
    x = c.mb.tensor([1, 4], ty[src], **(q if src != "float32" else {}))
    y = c.mb.tensor([1, 4], ty[dst], **(q if dst != "float32" else {}))
    c.mb.op(code, [x], [y])
    model = c.mb.build([x], [y])
    with pytest.raises(RuntimeError):  # the oracle refuses it too (float32 -> uint8 only when invoked)
        it = T.runtime.Interpreter.from_bytes(model)
        it.set_input(np.zeros((1, 4), T.NP[ty[src]]), 0)
        it.invoke()
    got = T.device_batch(device_bin, [{"model": model, "inputs": None}], tmp_path)[0]
    assert got["error"] == "ValueError", got
    assert f"{src} input to {dst} output is not supported" in got["message"] and "index 0" in got["message"]


def test_quantize_per_channel_output_refused_at_load(device_bin, tmp_path):
    c = Case(0)
    x = c.mb.tensor([1, 4], FLOAT32)
    y = c.mb.tensor([1, 4], INT8, scale=[0.1, 0.2, 0.3, 0.4], zero_point=[0, 0, 0, 0], qdim=1)
    c.mb.op(OP.QUANTIZE, [x], [y])
    got = T.device_batch(device_bin, [{"model": c.mb.build([x], [y]), "inputs": None}], tmp_path)[0]
    assert got["error"] == "ValueError" and "one scale" in got["message"], got


def test_other_subgraphs_are_ignored(device_bin, tmp_path):
    """A second subgraph (here with an operator the module does not support) that the main
    graph never calls does not stop the model loading, and subgraph 0 stays bit-exact."""
    m = S.ModelT.InitFromPackedBuf(fc(True, act=RELU), 0)
    c = Case(9)
    x, y = c.act([1, 4], False), c.act([1, 4], False)
    extra = S.SubGraphT()
    extra.tensors = [c.mb.tensors[x], c.mb.tensors[y]]
    extra.inputs, extra.outputs = np.array([0], np.int32), np.array([1], np.int32)
    op = S.OperatorT()
    op.opcodeIndex = len(m.operatorCodes)
    op.inputs, op.outputs = np.array([0], np.int32), np.array([1], np.int32)
    extra.operators = [op]
    code = S.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = OP.FLOOR
    m.operatorCodes.append(code)
    m.subgraphs.append(extra)
    b = T.flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    model = bytes(b.Output())
    inputs = T.random_inputs(model, 8, seed=5)
    got = T.device_batch(device_bin, [{"model": model, "inputs": inputs}], tmp_path)[0]
    assert "error" not in got, got
    assert got["records"] == T.oracle(model, inputs)
