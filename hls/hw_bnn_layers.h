// hw_bnn_layers.h -- HLS kernels for hw-bnn's integer BNN layers (Vivado/Vitis HLS, C-sim with g++).
//
// Exact semantics (identical to hw_bnn/golden.py, all integer):
//
//   multithreshold  (the input quantizer)
//       y[c] = sum_{k < L} [ x[c] >= T[r(c), k] ]      r(c) = 0 if the thresholds are shared, else c
//       x: integer inputs (ap_uint / ap_int), y: codes 0..L (ap_uint<bits(L)>).
//
//   xnor_dense_thr / xnor_dense_acc  (binary matrix-vector unit)
//       inputs x in {0,1}^MW (1 codes +1, 0 codes -1), weight bits W in {0,1}^(MW x MH),
//       p[j] = popcount(xnor(x, W[:, j])) in [0, MW]
//       xnor_dense_thr: y[j] = sum_{k < L} [ p[j] >= T[j, k] ]  (T on the popcount domain; T = 0 is
//                       always on, T = MW + 1 always off)
//       xnor_dense_acc: y[j] = a[j] = 2 p[j] - MW          (signed accumulator, in [-MW, MW])
//
// Storage (flat arrays, written by hw_bnn/hls_ext.py):
//   weights    w[j * MW + i] = W[i, j]      one bit per entry (ap_uint<1>), neuron-major
//   thresholds t[j * L + k]  = T[j, k]       (multithreshold: t[c * L + k], or t[k] when shared)
// Thresholds are stored clipped to what can matter (multithreshold: [min x, max x + 1] of the
// input type; XNOR: [0, MW + 1]), which keeps the function.  All widths (input, popcount,
// threshold, comparison, accumulator, output) are the smallest that hold the ranges; they are
// computed in Python and passed in through the config struct / the hls4ml types.
//
// ReuseFactor (hls4ml config, per layer or model-wide) -> folding:
//   n_pe   = ceil(N / ReuseFactor)      parallel units (neurons, or channels for multithreshold)
//   n_fold = ceil(N / n_pe) <= RF       sequential folds; the fold loop is pipelined with II=1.
//   Fold r computes units j = r * n_pe + k, k < n_pe, in parallel (a full MW-wide XNOR + popcount
//   adder tree per neuron).  The weight / threshold arrays are reshaped cyclically by the width of
//   one fold (n_pe * MW bits, n_pe * L thresholds), so each fold reads exactly one wide word of
//   depth-n_fold memory (FINN-style PE folding, SIMD = MW); a layer takes about n_fold (<= RF)
//   cycles per sample.  ReuseFactor = 1 is a single, fully parallel fold.
//   With io_parallel and ReuseFactor = 1 everywhere, hls4ml pipelines the top function; with any
//   ReuseFactor > 1 hw_bnn.emit asks for the DATAFLOW pipeline style so that the folds survive.
//
// io_stream: one stream transaction per layer (the whole vector, as hls4ml packs a 1-D tensor);
// the stream overloads unpack it, call the io_parallel kernel and repack the result.

#ifndef HW_BNN_LAYERS_H_
#define HW_BNN_LAYERS_H_

#include "ap_int.h"
#include "hls_stream.h"

namespace hw_bnn_hls {

// ---------------------------------------------------------------------------------------------
// Config structs (hls4ml writes one struct per layer deriving from these).

struct multithreshold_config {
    static const unsigned n_in = 1;         // inputs (C for vectors, H*W*C for images)
    static const unsigned n_chan = 1;       // channels: input i belongs to channel i % n_chan
    static const unsigned n_levels = 1;     // thresholds per channel L
    static const bool shared = true;        // one row of thresholds for all channels
    static const unsigned n_thr = 1;        // entries of the threshold array (L or C * L)
    static const unsigned reuse_factor = 1;
    static const unsigned n_pe = 1;         // channels per fold
    static const unsigned n_fold = 1;       // folds
    typedef ap_uint<1> count_t;             // 0..L
    typedef ap_int<10> cmp_t;               // holds every input and every threshold
};

struct xnor_dense_config {
    static const unsigned n_in = 1;         // MW
    static const unsigned n_out = 1;        // MH
    static const unsigned n_levels = 1;     // L (thresholded variant)
    static const unsigned n_weights = 1;    // MW * MH
    static const unsigned n_thr = 1;        // MH * L
    static const unsigned reuse_factor = 1;
    static const unsigned n_pe = 1;         // neurons per fold
    static const unsigned n_fold = 1;       // folds
    typedef ap_uint<1> pop_t;               // 0..MW
    typedef ap_uint<1> count_t;             // 0..L
    typedef ap_int<2> accum_t;              // -MW..MW
};

// ---------------------------------------------------------------------------------------------
// Elementwise multi-threshold.

template <class data_T, class res_T, typename CONFIG_T>
void multithreshold(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                    const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    const unsigned fold_words = CONFIG_T::shared ? CONFIG_T::n_thr : CONFIG_T::n_pe * CONFIG_T::n_levels;
    #pragma HLS ARRAY_RESHAPE variable=thresholds cyclic factor=fold_words dim=1

FoldLoop:
    for (unsigned r = 0; r < CONFIG_T::n_fold; r++) {
        #pragma HLS PIPELINE II=1
    PeLoop:
        for (unsigned k = 0; k < CONFIG_T::n_pe; k++) {
            #pragma HLS UNROLL
            const unsigned c = r * CONFIG_T::n_pe + k;
            if (c < CONFIG_T::n_in) {
                const unsigned row = CONFIG_T::shared ? 0 : c % CONFIG_T::n_chan;
                const typename CONFIG_T::cmp_t x = data[c];
                typename CONFIG_T::count_t count = 0;
            LevelLoop:
                for (unsigned l = 0; l < CONFIG_T::n_levels; l++) {
                    #pragma HLS UNROLL
                    const typename CONFIG_T::cmp_t t = thresholds[row * CONFIG_T::n_levels + l];
                    if (x >= t)
                        count++;
                }
                res[c] = count;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// XNOR-popcount of one neuron: p = popcount(xnor(x, W[:, j])), a balanced adder tree after unrolling.

template <class data_T, typename CONFIG_T>
typename CONFIG_T::pop_t xnor_popcount(data_T data[CONFIG_T::n_in], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                                       unsigned j) {
    #pragma HLS INLINE
    typename CONFIG_T::pop_t p = 0;
PopLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        const ap_uint<1> x = data[i];
        const ap_uint<1> w = weights[j * CONFIG_T::n_in + i];
        p += (x == w) ? 1 : 0; // xnor
    }
    return p;
}

// XNOR dense with fused thresholds: outputs codes 0..L.
template <class data_T, class res_T, typename CONFIG_T>
void xnor_dense_thr(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                    const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                    const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    const unsigned fold_bits = CONFIG_T::n_pe * CONFIG_T::n_in;
    const unsigned fold_thr = CONFIG_T::n_pe * CONFIG_T::n_levels;
    #pragma HLS ARRAY_RESHAPE variable=weights cyclic factor=fold_bits dim=1
    #pragma HLS ARRAY_RESHAPE variable=thresholds cyclic factor=fold_thr dim=1

FoldLoop:
    for (unsigned r = 0; r < CONFIG_T::n_fold; r++) {
        #pragma HLS PIPELINE II=1
    PeLoop:
        for (unsigned k = 0; k < CONFIG_T::n_pe; k++) {
            #pragma HLS UNROLL
            const unsigned j = r * CONFIG_T::n_pe + k;
            if (j < CONFIG_T::n_out) {
                const typename CONFIG_T::pop_t p = xnor_popcount<data_T, CONFIG_T>(data, weights, j);
                typename CONFIG_T::count_t count = 0;
            LevelLoop:
                for (unsigned l = 0; l < CONFIG_T::n_levels; l++) {
                    #pragma HLS UNROLL
                    if (p >= thresholds[j * CONFIG_T::n_levels + l])
                        count++;
                }
                res[j] = count;
            }
        }
    }
}

// XNOR dense without thresholds: outputs the signed accumulator a = 2p - MW.
template <class data_T, class res_T, typename CONFIG_T>
void xnor_dense_acc(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                    const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    const unsigned fold_bits = CONFIG_T::n_pe * CONFIG_T::n_in;
    #pragma HLS ARRAY_RESHAPE variable=weights cyclic factor=fold_bits dim=1

FoldLoop:
    for (unsigned r = 0; r < CONFIG_T::n_fold; r++) {
        #pragma HLS PIPELINE II=1
    PeLoop:
        for (unsigned k = 0; k < CONFIG_T::n_pe; k++) {
            #pragma HLS UNROLL
            const unsigned j = r * CONFIG_T::n_pe + k;
            if (j < CONFIG_T::n_out) {
                const typename CONFIG_T::pop_t p = xnor_popcount<data_T, CONFIG_T>(data, weights, j);
                // 2p - MW: each ap_int addition widens by one bit, so the intermediate is exact.
                const typename CONFIG_T::accum_t pa = p;
                const typename CONFIG_T::accum_t mw = CONFIG_T::n_in;
                res[j] = (pa + pa) - mw;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// io_stream overloads: hls4ml streams a 1-D tensor as packets of data_T::size elements.

template <class pkt_T, unsigned N>
void unpack_stream(hls::stream<pkt_T> &in, typename pkt_T::value_type out[N]) {
    #pragma HLS INLINE
    for (unsigned i = 0; i < N / pkt_T::size; i++) {
        #pragma HLS PIPELINE II=1
        pkt_T pkt = in.read();
        for (unsigned e = 0; e < pkt_T::size; e++) {
            #pragma HLS UNROLL
            out[i * pkt_T::size + e] = pkt[e];
        }
    }
}

template <class pkt_T, unsigned N>
void pack_stream(typename pkt_T::value_type in[N], hls::stream<pkt_T> &out) {
    #pragma HLS INLINE
    for (unsigned i = 0; i < N / pkt_T::size; i++) {
        #pragma HLS PIPELINE II=1
        pkt_T pkt;
        for (unsigned e = 0; e < pkt_T::size; e++) {
            #pragma HLS UNROLL
            pkt[e] = in[i * pkt_T::size + e];
        }
        out.write(pkt);
    }
}

// Images (data_T::size = C < n_in): one pixel per transaction, all C channels in parallel.
template <class data_T, class res_T, typename CONFIG_T>
void multithreshold_pixels(hls::stream<data_T> &data, hls::stream<res_T> &res,
                           const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    #pragma HLS ARRAY_PARTITION variable=thresholds complete dim=1
PixelLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in / data_T::size; i++) {
        #pragma HLS PIPELINE II=1
        const data_T pkt = data.read();
        res_T out;
    ChanLoop:
        for (unsigned e = 0; e < data_T::size; e++) {
            #pragma HLS UNROLL
            const unsigned row = CONFIG_T::shared ? 0 : (i * data_T::size + e) % CONFIG_T::n_chan;
            const typename CONFIG_T::cmp_t x = pkt[e];
            typename CONFIG_T::count_t count = 0;
            for (unsigned l = 0; l < CONFIG_T::n_levels; l++) {
                #pragma HLS UNROLL
                const typename CONFIG_T::cmp_t t = thresholds[row * CONFIG_T::n_levels + l];
                if (x >= t)
                    count++;
            }
            out[e] = count;
        }
        res.write(out);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void multithreshold(hls::stream<data_T> &data, hls::stream<res_T> &res,
                    const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    if (data_T::size != CONFIG_T::n_in) {
        multithreshold_pixels<data_T, res_T, CONFIG_T>(data, res, thresholds);
        return;
    }
    typename data_T::value_type x[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable=x complete
    typename res_T::value_type y[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable=y complete
    unpack_stream<data_T, CONFIG_T::n_in>(data, x);
    multithreshold<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(x, y, thresholds);
    pack_stream<res_T, CONFIG_T::n_in>(y, res);
}

template <class data_T, class res_T, typename CONFIG_T>
void xnor_dense_thr(hls::stream<data_T> &data, hls::stream<res_T> &res,
                    const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                    const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    typename data_T::value_type x[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable=x complete
    typename res_T::value_type y[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable=y complete
    unpack_stream<data_T, CONFIG_T::n_in>(data, x);
    xnor_dense_thr<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(x, y, weights, thresholds);
    pack_stream<res_T, CONFIG_T::n_out>(y, res);
}

template <class data_T, class res_T, typename CONFIG_T>
void xnor_dense_acc(hls::stream<data_T> &data, hls::stream<res_T> &res,
                    const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    typename data_T::value_type x[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable=x complete
    typename res_T::value_type y[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable=y complete
    unpack_stream<data_T, CONFIG_T::n_in>(data, x);
    xnor_dense_acc<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(x, y, weights);
    pack_stream<res_T, CONFIG_T::n_out>(y, res);
}


// =============================================================================================
// Convolutional and multi-bit layers (io_stream for images; int_dense also io_parallel).
//
//   int_dense_thr / int_dense_acc  (integer matrix-vector unit)
//       a[j] = sum_i x[i] W[i, j]  (x: unsigned codes, W: small signed integers, stored
//       w[j * MW + i] = W[i, j]); y[j] = sum_k [a[j] >= T[j, k]] or y[j] = a[j].
//
//   conv  (sliding window + XNOR or integer MVU, NHWC pixel stream)
//       input stream: in_h * in_w transactions, row-major, each one pixel of n_chan codes;
//       output stream: out_h * out_w transactions of n_filt values (codes or accumulators).
//       Window of output (oh, ow): input rows oh*s - pad + kh, columns ow*s - pad + kw,
//       (kh, kw, c) order; positions outside the image read the pad code.
//       XNOR: pixels are packed into pix_words words of word_bits bits (channel c -> word
//       c / word_bits, bit c % word_bits; unused high bits 0).  The weights of filter f are
//       stored in the same layout, w[f * win_words + (kh*k + kw) * pix_words + q], unused bits 0,
//       so p = K - sum_q popcount(x_q ^ w_q) (unused bits never mismatch).  Integer: codes are
//       kept unpacked and a = sum_i x_i * W[i, f] with w[f * K + i] = W[i, f].
//
//   maxpool  (NHWC pixel stream, square kernel / stride, no padding, floor): max of codes (OR
//       on bits), per channel.
//
//   flatten  (NHWC pixel stream -> one transaction of H*W*C values in (h, w, c) order, the
//       packing hls4ml uses for a 1-D tensor that a dense layer reads).
//
// Line buffer: the window kernels keep the last `kernel` input rows in a circular buffer of
// kernel * in_w pixels (BRAM).  After input row r has arrived, every output row whose lowest
// needed input row is <= r (or every remaining output row after the last input row, the rest is
// bottom padding) is computed; its window rows are then all in the buffer.  Rows that no window
// uses are read and dropped.
//
// ReuseFactor -> folding over output channels/neurons: n_pe = ceil(C_out / RF) filters in
// parallel, n_fold = ceil(C_out / n_pe) folds per output pixel (II=1 fold loop).
//
// C-sim speed: popcounts are computed on packed words with a branch-free SWAR reduction
// (shifts, masks and adds: synthesizable, and fast on a CPU); integer products use plain int
// arithmetic on the (small) code and weight values, assigned to the exact-width accumulator.

// ---------------------------------------------------------------------------------------------
// shared helpers

// population count of a 32-bit word (SWAR: pairs, nibbles, bytes, then a byte sum)
inline unsigned popcount32(unsigned v) {
    #pragma HLS INLINE
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    v = (v + (v >> 4)) & 0x0F0F0F0Fu;
    v = v + (v >> 8);
    v = v + (v >> 16);
    return v & 0x3Fu;
}

template <class T> inline T hw_max(T a, T b) {
    #pragma HLS INLINE
    return a > b ? a : b;
}

// thresholds of unit j: count of levels l with v >= t[j * L + l]
template <typename CONFIG_T, class V>
typename CONFIG_T::count_t count_levels(V v, const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr], unsigned j) {
    #pragma HLS INLINE
    typename CONFIG_T::count_t count = 0;
LevelLoop:
    for (unsigned l = 0; l < CONFIG_T::n_levels; l++) {
        #pragma HLS UNROLL
        if (v >= thresholds[j * CONFIG_T::n_levels + l])
            count++;
    }
    return count;
}

// ---------------------------------------------------------------------------------------------
// integer dense (io_parallel)

struct int_dense_config {
    static const unsigned n_in = 1;      // MW
    static const unsigned n_out = 1;     // MH
    static const unsigned n_levels = 0;  // L (0: accumulator output)
    static const unsigned n_weights = 1; // MW * MH
    static const unsigned n_thr = 1;     // MH * L
    static const unsigned reuse_factor = 1;
    static const unsigned n_pe = 1;
    static const unsigned n_fold = 1;
    typedef ap_int<2> weight_t;
    typedef ap_int<2> thr_t;
    typedef ap_int<2> accum_t;           // holds every accumulator
    typedef ap_uint<1> count_t;
};

template <class data_T, typename CONFIG_T>
typename CONFIG_T::accum_t int_dot(const data_T data[CONFIG_T::n_in], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                                   unsigned j) {
    #pragma HLS INLINE
    int acc = 0; // |a| < 2**24 (checked when the project is emitted)
MacLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        acc += int(data[i]) * int(weights[j * CONFIG_T::n_in + i]);
    }
    return typename CONFIG_T::accum_t(acc);
}

template <class data_T, class res_T, typename CONFIG_T, bool THR>
void int_dense_impl(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                    const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                    const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    const unsigned fold_w = CONFIG_T::n_pe * CONFIG_T::n_in;
    const unsigned fold_thr = CONFIG_T::n_pe * (CONFIG_T::n_levels ? CONFIG_T::n_levels : 1);
    #pragma HLS ARRAY_RESHAPE variable=weights cyclic factor=fold_w dim=1
    #pragma HLS ARRAY_RESHAPE variable=thresholds cyclic factor=fold_thr dim=1
FoldLoop:
    for (unsigned r = 0; r < CONFIG_T::n_fold; r++) {
        #pragma HLS PIPELINE II=1
    PeLoop:
        for (unsigned k = 0; k < CONFIG_T::n_pe; k++) {
            #pragma HLS UNROLL
            const unsigned j = r * CONFIG_T::n_pe + k;
            if (j < CONFIG_T::n_out) {
                const typename CONFIG_T::accum_t a = int_dot<data_T, CONFIG_T>(data, weights, j);
                if (THR)
                    res[j] = count_levels<CONFIG_T>(a, thresholds, j);
                else
                    res[j] = a;
            }
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void int_dense_thr(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                   const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                   const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    int_dense_impl<data_T, res_T, CONFIG_T, true>(data, res, weights, thresholds);
}

template <class data_T, class res_T, typename CONFIG_T>
void int_dense_acc(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                   const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    const typename CONFIG_T::thr_t none[CONFIG_T::n_thr] = {0};
    int_dense_impl<data_T, res_T, CONFIG_T, false>(data, res, weights, none);
}

// io_stream: the whole vector in one (or a few) transactions, as for the XNOR dense layer
template <class data_T, class res_T, typename CONFIG_T>
void int_dense_thr(hls::stream<data_T> &data, hls::stream<res_T> &res,
                   const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                   const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    typename data_T::value_type x[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable=x complete
    typename res_T::value_type y[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable=y complete
    unpack_stream<data_T, CONFIG_T::n_in>(data, x);
    int_dense_thr<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(x, y, weights, thresholds);
    pack_stream<res_T, CONFIG_T::n_out>(y, res);
}

template <class data_T, class res_T, typename CONFIG_T>
void int_dense_acc(hls::stream<data_T> &data, hls::stream<res_T> &res,
                   const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    typename data_T::value_type x[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable=x complete
    typename res_T::value_type y[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable=y complete
    unpack_stream<data_T, CONFIG_T::n_in>(data, x);
    int_dense_acc<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(x, y, weights);
    pack_stream<res_T, CONFIG_T::n_out>(y, res);
}

// ---------------------------------------------------------------------------------------------
// convolution

struct conv_config {
    static const unsigned in_h = 1, in_w = 1, n_chan = 1;   // input image (H, W, C)
    static const unsigned out_h = 1, out_w = 1, n_filt = 1; // output image (Ho, Wo, C_out)
    static const unsigned kernel = 1, stride = 1, pad = 0;
    static const unsigned pad_value = 0;    // input code of the border
    static const bool xnor = false;
    static const unsigned n_levels = 0;     // L (0: accumulator output)
    static const unsigned n_k = 1;          // K = kernel * kernel * n_chan
    static const unsigned word_bits = 1;    // XNOR: bits per packed word
    static const unsigned pix_words = 1;    // XNOR: words per pixel
    static const unsigned win_words = 1;    // XNOR: words per window (kernel^2 * pix_words)
    static const unsigned n_weights = 1;    // XNOR: n_filt * win_words, integer: n_filt * n_k
    static const unsigned n_thr = 1;        // n_filt * L
    static const unsigned reuse_factor = 1;
    static const unsigned n_pe = 1;         // filters per fold
    static const unsigned n_fold = 1;
    typedef ap_uint<1> word_t;              // XNOR: packed word
    typedef ap_uint<1> weight_t;            // XNOR: word_t, integer: signed weight
    typedef ap_uint<1> thr_t;
    typedef ap_uint<1> pop_t;               // XNOR popcount 0..K
    typedef ap_int<2> accum_t;              // accumulator (XNOR: 2p - K)
    typedef ap_uint<1> count_t;
};

// the matrix-vector unit on one window, XNOR: win[win_words] packed bits
template <class res_T, typename CONFIG_T, bool THR>
void conv_mvu_xnor(const typename CONFIG_T::word_t win[CONFIG_T::win_words], res_T &out,
                   const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                   const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    #pragma HLS INLINE
FoldLoop:
    for (unsigned r = 0; r < CONFIG_T::n_fold; r++) {
        #pragma HLS PIPELINE II=1
    PeLoop:
        for (unsigned k = 0; k < CONFIG_T::n_pe; k++) {
            #pragma HLS UNROLL
            const unsigned f = r * CONFIG_T::n_pe + k;
            if (f < CONFIG_T::n_filt) {
                unsigned mismatches = 0;
            WordLoop:
                for (unsigned q = 0; q < CONFIG_T::win_words; q++) {
                    #pragma HLS UNROLL
                    const unsigned x = win[q].to_uint();
                    const unsigned w = weights[f * CONFIG_T::win_words + q].to_uint();
                    mismatches += popcount32(x ^ w);
                }
                const typename CONFIG_T::pop_t p = CONFIG_T::n_k - mismatches;
                if (THR) {
                    out[f] = count_levels<CONFIG_T>(p, thresholds, f);
                } else {
                    const typename CONFIG_T::accum_t pa = p;
                    const typename CONFIG_T::accum_t kk = CONFIG_T::n_k;
                    out[f] = (pa + pa) - kk;
                }
            }
        }
    }
}

// integer: win[n_k] codes
template <class code_T, class res_T, typename CONFIG_T, bool THR>
void conv_mvu_int(const code_T win[CONFIG_T::n_k], res_T &out, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                  const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    #pragma HLS INLINE
FoldLoop:
    for (unsigned r = 0; r < CONFIG_T::n_fold; r++) {
        #pragma HLS PIPELINE II=1
    PeLoop:
        for (unsigned k = 0; k < CONFIG_T::n_pe; k++) {
            #pragma HLS UNROLL
            const unsigned f = r * CONFIG_T::n_pe + k;
            if (f < CONFIG_T::n_filt) {
                int acc = 0; // |a| < 2**24 (checked when the project is emitted)
            MacLoop:
                for (unsigned i = 0; i < CONFIG_T::n_k; i++) {
                    #pragma HLS UNROLL
                    acc += int(win[i]) * int(weights[f * CONFIG_T::n_k + i]);
                }
                const typename CONFIG_T::accum_t a = acc;
                if (THR)
                    out[f] = count_levels<CONFIG_T>(a, thresholds, f);
                else
                    out[f] = a;
            }
        }
    }
}

// first input row (may be negative: top padding) of the windows of output row oh
template <typename CONFIG_T> inline int window_top(unsigned oh) {
    #pragma HLS INLINE
    return int(oh * CONFIG_T::stride) - int(CONFIG_T::pad);
}

template <class data_T, class res_T, typename CONFIG_T, bool THR>
void conv_xnor_impl(hls::stream<data_T> &data, hls::stream<res_T> &res,
                    const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                    const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    typedef typename CONFIG_T::word_t word_t;
    const unsigned K = CONFIG_T::kernel, P = CONFIG_T::pix_words, B = CONFIG_T::word_bits;
    const unsigned fold_w = CONFIG_T::n_pe * CONFIG_T::win_words;
    const unsigned fold_thr = CONFIG_T::n_pe * (CONFIG_T::n_levels ? CONFIG_T::n_levels : 1);
    #pragma HLS ARRAY_RESHAPE variable=weights cyclic factor=fold_w dim=1
    #pragma HLS ARRAY_RESHAPE variable=thresholds cyclic factor=fold_thr dim=1

    static word_t line[CONFIG_T::kernel][CONFIG_T::in_w][CONFIG_T::pix_words]; // k-row circular line buffer
    #pragma HLS ARRAY_PARTITION variable=line complete dim=1
    #pragma HLS ARRAY_PARTITION variable=line complete dim=3
    word_t pad_word[CONFIG_T::pix_words]; // the pad pixel, packed
    #pragma HLS ARRAY_PARTITION variable=pad_word complete
    for (unsigned q = 0; q < P; q++) {
        #pragma HLS UNROLL
        word_t v = 0;
        for (unsigned b = 0; b < B; b++)
            if (q * B + b < CONFIG_T::n_chan && CONFIG_T::pad_value)
                v[b] = 1;
        pad_word[q] = v;
    }

    unsigned oh = 0; // next output row
RowLoop:
    for (unsigned ih = 0; ih < CONFIG_T::in_h; ih++) {
    ReadLoop:
        for (unsigned iw = 0; iw < CONFIG_T::in_w; iw++) {
            #pragma HLS PIPELINE II=1
            const data_T pkt = data.read();
            for (unsigned q = 0; q < P; q++) {
                #pragma HLS UNROLL
                unsigned v = 0;
                for (unsigned b = 0; b < B; b++) {
                    #pragma HLS UNROLL
                    if (q * B + b < CONFIG_T::n_chan && pkt[q * B + b] != 0)
                        v |= 1u << b;
                }
                line[ih % K][iw][q] = v;
            }
        }
    OutRowLoop:
        while (oh < CONFIG_T::out_h && (window_top<CONFIG_T>(oh) + int(K) - 1 <= int(ih) || ih == CONFIG_T::in_h - 1)) {
            const int top = window_top<CONFIG_T>(oh);
        OutColLoop:
            for (unsigned ow = 0; ow < CONFIG_T::out_w; ow++) {
                word_t win[CONFIG_T::win_words];
                #pragma HLS ARRAY_PARTITION variable=win complete
                const int left = int(ow * CONFIG_T::stride) - int(CONFIG_T::pad);
            WinLoop:
                for (unsigned kh = 0; kh < K; kh++) {
                    const int y = top + int(kh);
                    const bool row_in = y >= 0 && y < int(CONFIG_T::in_h);
                    for (unsigned kw = 0; kw < K; kw++) {
                        const int x = left + int(kw);
                        const bool in = row_in && x >= 0 && x < int(CONFIG_T::in_w);
                        for (unsigned q = 0; q < P; q++) {
                            #pragma HLS UNROLL
                            win[(kh * K + kw) * P + q] = in ? line[unsigned(y) % K][unsigned(x)][q] : pad_word[q];
                        }
                    }
                }
                res_T out;
                conv_mvu_xnor<res_T, CONFIG_T, THR>(win, out, weights, thresholds);
                res.write(out);
            }
            oh++;
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T, bool THR>
void conv_int_impl(hls::stream<data_T> &data, hls::stream<res_T> &res,
                   const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                   const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    typedef typename data_T::value_type code_t;
    const unsigned K = CONFIG_T::kernel, C = CONFIG_T::n_chan;
    const unsigned fold_w = CONFIG_T::n_pe * CONFIG_T::n_k;
    const unsigned fold_thr = CONFIG_T::n_pe * (CONFIG_T::n_levels ? CONFIG_T::n_levels : 1);
    #pragma HLS ARRAY_RESHAPE variable=weights cyclic factor=fold_w dim=1
    #pragma HLS ARRAY_RESHAPE variable=thresholds cyclic factor=fold_thr dim=1

    static code_t line[CONFIG_T::kernel][CONFIG_T::in_w][CONFIG_T::n_chan]; // k-row circular line buffer
    #pragma HLS ARRAY_PARTITION variable=line complete dim=1
    #pragma HLS ARRAY_PARTITION variable=line complete dim=3
    const code_t pad_code = CONFIG_T::pad_value;

    unsigned oh = 0;
RowLoop:
    for (unsigned ih = 0; ih < CONFIG_T::in_h; ih++) {
    ReadLoop:
        for (unsigned iw = 0; iw < CONFIG_T::in_w; iw++) {
            #pragma HLS PIPELINE II=1
            const data_T pkt = data.read();
            for (unsigned c = 0; c < C; c++) {
                #pragma HLS UNROLL
                line[ih % K][iw][c] = pkt[c];
            }
        }
    OutRowLoop:
        while (oh < CONFIG_T::out_h && (window_top<CONFIG_T>(oh) + int(K) - 1 <= int(ih) || ih == CONFIG_T::in_h - 1)) {
            const int top = window_top<CONFIG_T>(oh);
        OutColLoop:
            for (unsigned ow = 0; ow < CONFIG_T::out_w; ow++) {
                code_t win[CONFIG_T::n_k];
                #pragma HLS ARRAY_PARTITION variable=win complete
                const int left = int(ow * CONFIG_T::stride) - int(CONFIG_T::pad);
            WinLoop:
                for (unsigned kh = 0; kh < K; kh++) {
                    const int y = top + int(kh);
                    const bool row_in = y >= 0 && y < int(CONFIG_T::in_h);
                    for (unsigned kw = 0; kw < K; kw++) {
                        const int x = left + int(kw);
                        const bool in = row_in && x >= 0 && x < int(CONFIG_T::in_w);
                        for (unsigned c = 0; c < C; c++) {
                            #pragma HLS UNROLL
                            win[(kh * K + kw) * C + c] = in ? line[unsigned(y) % K][unsigned(x)][c] : pad_code;
                        }
                    }
                }
                res_T out;
                conv_mvu_int<code_t, res_T, CONFIG_T, THR>(win, out, weights, thresholds);
                res.write(out);
            }
            oh++;
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void conv_thr(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
              const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    if (CONFIG_T::xnor)
        conv_xnor_impl<data_T, res_T, CONFIG_T, true>(data, res, weights, thresholds);
    else
        conv_int_impl<data_T, res_T, CONFIG_T, true>(data, res, weights, thresholds);
}

template <class data_T, class res_T, typename CONFIG_T>
void conv_acc(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    const typename CONFIG_T::thr_t none[CONFIG_T::n_thr] = {0};
    if (CONFIG_T::xnor)
        conv_xnor_impl<data_T, res_T, CONFIG_T, false>(data, res, weights, none);
    else
        conv_int_impl<data_T, res_T, CONFIG_T, false>(data, res, weights, none);
}

// ---------------------------------------------------------------------------------------------
// max pooling and flatten

struct maxpool_config {
    static const unsigned in_h = 1, in_w = 1, n_chan = 1;
    static const unsigned out_h = 1, out_w = 1;
    static const unsigned kernel = 1, stride = 1;
};

template <class data_T, class res_T, typename CONFIG_T>
void maxpool(hls::stream<data_T> &data, hls::stream<res_T> &res) {
    typedef typename data_T::value_type code_t;
    const unsigned K = CONFIG_T::kernel, S = CONFIG_T::stride, C = CONFIG_T::n_chan;
    static code_t line[CONFIG_T::kernel][CONFIG_T::in_w][CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable=line complete dim=1
    #pragma HLS ARRAY_PARTITION variable=line complete dim=3
    unsigned oh = 0;
RowLoop:
    for (unsigned ih = 0; ih < CONFIG_T::in_h; ih++) {
    ReadLoop:
        for (unsigned iw = 0; iw < CONFIG_T::in_w; iw++) {
            #pragma HLS PIPELINE II=1
            const data_T pkt = data.read();
            for (unsigned c = 0; c < C; c++) {
                #pragma HLS UNROLL
                line[ih % K][iw][c] = pkt[c];
            }
        }
        // no padding: output row oh needs input rows oh*S .. oh*S + K - 1 (all inside the image)
        if (oh < CONFIG_T::out_h && oh * S + K - 1 == ih) {
        OutColLoop:
            for (unsigned ow = 0; ow < CONFIG_T::out_w; ow++) {
                #pragma HLS PIPELINE II=1
                res_T out;
                for (unsigned c = 0; c < C; c++) {
                    #pragma HLS UNROLL
                    code_t m = line[(oh * S) % K][ow * S][c];
                    for (unsigned kh = 0; kh < K; kh++)
                        for (unsigned kw = 0; kw < K; kw++)
                            m = hw_max<code_t>(m, line[(oh * S + kh) % K][ow * S + kw][c]);
                    out[c] = m;
                }
                res.write(out);
            }
            oh++;
        }
    }
}

struct flatten_config {
    static const unsigned in_h = 1, in_w = 1, n_chan = 1;
    static const unsigned n_out = 1; // in_h * in_w * n_chan
};

template <class data_T, class res_T, typename CONFIG_T>
void flatten(hls::stream<data_T> &data, hls::stream<res_T> &res) {
    typename res_T::value_type buf[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable=buf complete
PixelLoop:
    for (unsigned i = 0; i < CONFIG_T::in_h * CONFIG_T::in_w; i++) {
        #pragma HLS PIPELINE II=1
        const data_T pkt = data.read();
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            buf[i * CONFIG_T::n_chan + c] = pkt[c];
        }
    }
    pack_stream<res_T, CONFIG_T::n_out>(buf, res);
}

} // namespace hw_bnn_hls

#endif
