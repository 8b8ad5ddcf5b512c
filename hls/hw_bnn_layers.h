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

#include "ap_fixed.h"
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
    typedef ap_uint<1> thr_t;               // thresholds (unused by the accumulator variant)
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

// Multi-threshold with per-channel negation (golden ThresholdLayer.negate, for channels whose
// preceding function decreases): channel c compares v = negate[c] ? -x : x,
//       y[c] = sum_{k < L} [ v >= T[r(c), k] ]
// cmp_t holds x, -x and every (clipped) threshold.  Same folding / pixel-stream structure as
// multithreshold.
template <typename CONFIG_T, class x_T>
typename CONFIG_T::count_t threshold_count_neg(const x_T &x, unsigned c, const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr],
                                               const ap_uint<1> negate[CONFIG_T::n_chan]) {
    #pragma HLS INLINE
    const typename CONFIG_T::cmp_t xv = x;
    const typename CONFIG_T::cmp_t v = negate[c] ? typename CONFIG_T::cmp_t(-xv) : xv;
    const unsigned row = CONFIG_T::shared ? 0 : c;
    typename CONFIG_T::count_t count = 0;
LevelLoop:
    for (unsigned l = 0; l < CONFIG_T::n_levels; l++) {
        #pragma HLS UNROLL
        const typename CONFIG_T::cmp_t t = thresholds[row * CONFIG_T::n_levels + l];
        if (v >= t)
            count++;
    }
    return count;
}

template <class data_T, class res_T, typename CONFIG_T>
void multithreshold_neg(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                        const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr], const ap_uint<1> negate[CONFIG_T::n_chan]) {
    const unsigned fold_words = CONFIG_T::shared ? CONFIG_T::n_thr : CONFIG_T::n_pe * CONFIG_T::n_levels;
    #pragma HLS ARRAY_RESHAPE variable=thresholds cyclic factor=fold_words dim=1
    #pragma HLS ARRAY_RESHAPE variable=negate cyclic factor=CONFIG_T::n_pe dim=1
FoldLoop:
    for (unsigned r = 0; r < CONFIG_T::n_fold; r++) {
        #pragma HLS PIPELINE II=1
    PeLoop:
        for (unsigned k = 0; k < CONFIG_T::n_pe; k++) {
            #pragma HLS UNROLL
            const unsigned i = r * CONFIG_T::n_pe + k;
            if (i < CONFIG_T::n_in)
                res[i] = threshold_count_neg<CONFIG_T>(data[i], i % CONFIG_T::n_chan, thresholds, negate);
        }
    }
}

// images: one pixel (all C channels) per transaction
template <class data_T, class res_T, typename CONFIG_T>
void multithreshold_neg_pixels(hls::stream<data_T> &data, hls::stream<res_T> &res,
                               const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr], const ap_uint<1> negate[CONFIG_T::n_chan]) {
    #pragma HLS ARRAY_PARTITION variable=thresholds complete dim=1
    #pragma HLS ARRAY_PARTITION variable=negate complete dim=1
PixelLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in / data_T::size; i++) {
        #pragma HLS PIPELINE II=1
        const data_T pkt = data.read();
        res_T out;
    ChanLoop:
        for (unsigned e = 0; e < data_T::size; e++) {
            #pragma HLS UNROLL
            out[e] = threshold_count_neg<CONFIG_T>(pkt[e], (i * data_T::size + e) % CONFIG_T::n_chan, thresholds, negate);
        }
        res.write(out);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void multithreshold_neg(hls::stream<data_T> &data, hls::stream<res_T> &res,
                        const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr], const ap_uint<1> negate[CONFIG_T::n_chan]) {
    if (data_T::size != CONFIG_T::n_in) {
        multithreshold_neg_pixels<data_T, res_T, CONFIG_T>(data, res, thresholds, negate);
        return;
    }
    // a vector: one transaction, folded as in io_parallel
    typename data_T::value_type x[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable=x complete
    typename res_T::value_type y[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable=y complete
    unpack_stream<data_T, CONFIG_T::n_in>(data, x);
    multithreshold_neg<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(x, y, thresholds, negate);
    pack_stream<res_T, CONFIG_T::n_in>(y, res);
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
// Matrix-vector units.  An MVU kind gives the value of unit j (XNOR: the popcount p, integer: the
// accumulator a) and the accumulator output of that value; mvu_fold runs the folded unit loop
// that every dense and conv kernel shares, with fused thresholds (THR) or the accumulator output.

// XNOR accumulator 2p - N: each ap_int addition widens by one bit, so the intermediate is exact.
template <typename CONFIG_T, unsigned N> typename CONFIG_T::accum_t xnor_accumulator(typename CONFIG_T::pop_t p) {
    #pragma HLS INLINE
    const typename CONFIG_T::accum_t pa = p;
    const typename CONFIG_T::accum_t n = N;
    return (pa + pa) - n;
}

// XNOR on N unpacked bits (dense): p = popcount(xnor(x, W[:, j])), a balanced adder tree after unrolling.
template <typename CONFIG_T, unsigned N> struct xnor_bit_mvu {
    typedef typename CONFIG_T::pop_t value_t;
    template <class in_T>
    static value_t value(const in_T data[N], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights], unsigned j) {
        #pragma HLS INLINE
        value_t p = 0;
    PopLoop:
        for (unsigned i = 0; i < N; i++) {
            #pragma HLS UNROLL
            const ap_uint<1> x = data[i];
            const ap_uint<1> w = weights[j * N + i];
            p += (x == w) ? 1 : 0; // xnor
        }
        return p;
    }
    static typename CONFIG_T::accum_t accumulator(value_t p) { return xnor_accumulator<CONFIG_T, N>(p); }
};

// XNOR on N packed words of n_k bits (conv window): p = n_k - sum_q popcount(x_q ^ w_q).
template <typename CONFIG_T, unsigned N> struct xnor_word_mvu {
    typedef typename CONFIG_T::pop_t value_t;
    template <class in_T>
    static value_t value(const in_T win[N], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights], unsigned f) {
        #pragma HLS INLINE
        unsigned mismatches = 0;
    WordLoop:
        for (unsigned q = 0; q < N; q++) {
            #pragma HLS UNROLL
            const unsigned x = win[q].to_uint();
            const unsigned w = weights[f * N + q].to_uint();
            mismatches += popcount32(x ^ w);
        }
        return CONFIG_T::n_k - mismatches;
    }
    static typename CONFIG_T::accum_t accumulator(value_t p) { return xnor_accumulator<CONFIG_T, CONFIG_T::n_k>(p); }
};

// integer on N codes: a = sum_i x[i] W[i, j]
template <typename CONFIG_T, unsigned N> struct int_mvu {
    typedef typename CONFIG_T::accum_t value_t;
    template <class in_T>
    static value_t value(const in_T data[N], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights], unsigned j) {
        #pragma HLS INLINE
        int acc = 0; // |a| < 2**24 (checked when the project is emitted)
    MacLoop:
        for (unsigned i = 0; i < N; i++) {
            #pragma HLS UNROLL
            acc += int(data[i]) * int(weights[j * N + i]);
        }
        return value_t(acc);
    }
    static value_t accumulator(value_t a) { return a; }
};

// Units j = r * n_pe + k < N_UNITS: fold r computes its n_pe units in parallel (II=1 fold loop).
// out is an array (dense) or a stream packet (conv): out[j] gets the code or the accumulator.
template <class MVU, typename CONFIG_T, unsigned N_UNITS, bool THR, class in_T, class out_T>
void mvu_fold(const in_T *in, out_T &out, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
              const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    #pragma HLS INLINE
FoldLoop:
    for (unsigned r = 0; r < CONFIG_T::n_fold; r++) {
        #pragma HLS PIPELINE II=1
    PeLoop:
        for (unsigned k = 0; k < CONFIG_T::n_pe; k++) {
            #pragma HLS UNROLL
            const unsigned j = r * CONFIG_T::n_pe + k;
            if (j < N_UNITS) {
                const typename MVU::value_t v = MVU::value(in, weights, j);
                if (THR)
                    out[j] = count_levels<CONFIG_T>(v, thresholds, j);
                else
                    out[j] = MVU::accumulator(v);
            }
        }
    }
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

// The dense kernels: MVU kind MVU<CONFIG_T, n_in> on the whole input vector, n_out units.
// Weights (n_pe * n_in per fold) and thresholds (n_pe * L per fold) are reshaped by the width of
// one fold, so each fold reads one wide word.
template <template <typename, unsigned> class MVU, bool THR, typename CONFIG_T, class data_T, class res_T>
void dense_mvu(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
               const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
               const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    const unsigned fold_w = CONFIG_T::n_pe * CONFIG_T::n_in;
    const unsigned fold_thr = CONFIG_T::n_pe * (CONFIG_T::n_levels ? CONFIG_T::n_levels : 1);
    #pragma HLS ARRAY_RESHAPE variable=weights cyclic factor=fold_w dim=1
    #pragma HLS ARRAY_RESHAPE variable=thresholds cyclic factor=fold_thr dim=1
    mvu_fold<MVU<CONFIG_T, CONFIG_T::n_in>, CONFIG_T, CONFIG_T::n_out, THR>(data, res, weights, thresholds);
}

// io_stream adaptor of every dense kernel: unpack the vector, run the io_parallel kernel, repack.
template <template <typename, unsigned> class MVU, bool THR, typename CONFIG_T, class data_T, class res_T>
void dense_mvu(hls::stream<data_T> &data, hls::stream<res_T> &res,
               const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
               const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    typename data_T::value_type x[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable=x complete
    typename res_T::value_type y[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable=y complete
    unpack_stream<data_T, CONFIG_T::n_in>(data, x);
    dense_mvu<MVU, THR, CONFIG_T>(x, y, weights, thresholds);
    pack_stream<res_T, CONFIG_T::n_out>(y, res);
}

// The public dense kernels, io_parallel (data_T / res_T: element types) and io_stream (packet
// types): xnor_dense_thr / xnor_dense_acc (XNOR-popcount) and int_dense_thr / int_dense_acc
// (integer MVU).  *_thr outputs codes 0..L, *_acc the signed accumulator (XNOR: 2p - MW).
template <class data_T, class res_T, typename CONFIG_T>
void xnor_dense_thr(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                    const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    dense_mvu<xnor_bit_mvu, true, CONFIG_T>(data, res, weights, thresholds);
}

template <class data_T, class res_T, typename CONFIG_T>
void xnor_dense_thr(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                    const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    dense_mvu<xnor_bit_mvu, true, CONFIG_T>(data, res, weights, thresholds);
}

template <class data_T, class res_T, typename CONFIG_T>
void int_dense_thr(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                   const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    dense_mvu<int_mvu, true, CONFIG_T>(data, res, weights, thresholds);
}

template <class data_T, class res_T, typename CONFIG_T>
void int_dense_thr(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                   const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    dense_mvu<int_mvu, true, CONFIG_T>(data, res, weights, thresholds);
}

// the accumulator kernels pass an unused one-entry threshold array (n_thr = 1)
template <class data_T, class res_T, typename CONFIG_T>
void xnor_dense_acc(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    const typename CONFIG_T::thr_t none[CONFIG_T::n_thr] = {0};
    dense_mvu<xnor_bit_mvu, false, CONFIG_T>(data, res, weights, none);
}

template <class data_T, class res_T, typename CONFIG_T>
void xnor_dense_acc(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    const typename CONFIG_T::thr_t none[CONFIG_T::n_thr] = {0};
    dense_mvu<xnor_bit_mvu, false, CONFIG_T>(data, res, weights, none);
}

template <class data_T, class res_T, typename CONFIG_T>
void int_dense_acc(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    const typename CONFIG_T::thr_t none[CONFIG_T::n_thr] = {0};
    dense_mvu<int_mvu, false, CONFIG_T>(data, res, weights, none);
}

template <class data_T, class res_T, typename CONFIG_T>
void int_dense_acc(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    const typename CONFIG_T::thr_t none[CONFIG_T::n_thr] = {0};
    dense_mvu<int_mvu, false, CONFIG_T>(data, res, weights, none);
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

// Pixel layouts of the conv line buffer: n_elem elements of elem_t per pixel, the pad pixel, how a
// stream packet is stored, and the MVU kind on the window of kernel^2 * n_elem elements.
// XNOR: pixels packed into pix_words words of word_bits bits.
template <class data_T, typename CONFIG_T> struct xnor_pixels {
    typedef typename CONFIG_T::word_t elem_t;
    static const unsigned n_elem = CONFIG_T::pix_words;
    typedef xnor_word_mvu<CONFIG_T, CONFIG_T::win_words> mvu;
    static elem_t pad(unsigned q) {
        #pragma HLS INLINE
        elem_t v = 0;
        for (unsigned b = 0; b < CONFIG_T::word_bits; b++)
            if (q * CONFIG_T::word_bits + b < CONFIG_T::n_chan && CONFIG_T::pad_value)
                v[b] = 1;
        return v;
    }
    static void load(const data_T &pkt, elem_t px[n_elem]) {
        #pragma HLS INLINE
        const unsigned B = CONFIG_T::word_bits;
        for (unsigned q = 0; q < n_elem; q++) {
            #pragma HLS UNROLL
            unsigned v = 0;
            for (unsigned b = 0; b < B; b++) {
                #pragma HLS UNROLL
                if (q * B + b < CONFIG_T::n_chan && pkt[q * B + b] != 0)
                    v |= 1u << b;
            }
            px[q] = v;
        }
    }
};

// integer: one code per channel, kept unpacked
template <class data_T, typename CONFIG_T> struct int_pixels {
    typedef typename data_T::value_type elem_t;
    static const unsigned n_elem = CONFIG_T::n_chan;
    typedef int_mvu<CONFIG_T, CONFIG_T::n_k> mvu;
    static elem_t pad(unsigned) {
        #pragma HLS INLINE
        return CONFIG_T::pad_value;
    }
    static void load(const data_T &pkt, elem_t px[n_elem]) {
        #pragma HLS INLINE
        for (unsigned c = 0; c < n_elem; c++) {
            #pragma HLS UNROLL
            px[c] = pkt[c];
        }
    }
};

// first input row (may be negative: top padding) of the windows of output row oh
template <typename CONFIG_T> inline int window_top(unsigned oh) {
    #pragma HLS INLINE
    return int(oh * CONFIG_T::stride) - int(CONFIG_T::pad);
}

// line buffer + sliding window + MVU, one pixel layout PIX (xnor_pixels or int_pixels)
template <class data_T, class res_T, typename CONFIG_T, class PIX, bool THR>
void conv_impl(hls::stream<data_T> &data, hls::stream<res_T> &res,
               const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
               const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    typedef typename PIX::elem_t elem_t;
    const unsigned K = CONFIG_T::kernel, P = PIX::n_elem;
    const unsigned fold_w = CONFIG_T::n_pe * K * K * P;
    const unsigned fold_thr = CONFIG_T::n_pe * (CONFIG_T::n_levels ? CONFIG_T::n_levels : 1);
    #pragma HLS ARRAY_RESHAPE variable=weights cyclic factor=fold_w dim=1
    #pragma HLS ARRAY_RESHAPE variable=thresholds cyclic factor=fold_thr dim=1

    static elem_t line[CONFIG_T::kernel][CONFIG_T::in_w][PIX::n_elem]; // k-row circular line buffer
    #pragma HLS ARRAY_PARTITION variable=line complete dim=1
    #pragma HLS ARRAY_PARTITION variable=line complete dim=3
    elem_t pad_px[PIX::n_elem]; // the pad pixel
    #pragma HLS ARRAY_PARTITION variable=pad_px complete
    for (unsigned q = 0; q < P; q++) {
        #pragma HLS UNROLL
        pad_px[q] = PIX::pad(q);
    }

    unsigned oh = 0; // next output row
RowLoop:
    for (unsigned ih = 0; ih < CONFIG_T::in_h; ih++) {
    ReadLoop:
        for (unsigned iw = 0; iw < CONFIG_T::in_w; iw++) {
            #pragma HLS PIPELINE II=1
            PIX::load(data.read(), line[ih % K][iw]);
        }
    OutRowLoop:
        while (oh < CONFIG_T::out_h && (window_top<CONFIG_T>(oh) + int(K) - 1 <= int(ih) || ih == CONFIG_T::in_h - 1)) {
            const int top = window_top<CONFIG_T>(oh);
        OutColLoop:
            for (unsigned ow = 0; ow < CONFIG_T::out_w; ow++) {
                elem_t win[CONFIG_T::kernel * CONFIG_T::kernel * PIX::n_elem];
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
                            win[(kh * K + kw) * P + q] = in ? line[unsigned(y) % K][unsigned(x)][q] : pad_px[q];
                        }
                    }
                }
                res_T out;
                mvu_fold<typename PIX::mvu, CONFIG_T, CONFIG_T::n_filt, THR>(win, out, weights, thresholds);
                res.write(out);
            }
            oh++;
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T, bool THR>
void conv_dispatch(hls::stream<data_T> &data, hls::stream<res_T> &res,
                   const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                   const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    if (CONFIG_T::xnor)
        conv_impl<data_T, res_T, CONFIG_T, xnor_pixels<data_T, CONFIG_T>, THR>(data, res, weights, thresholds);
    else
        conv_impl<data_T, res_T, CONFIG_T, int_pixels<data_T, CONFIG_T>, THR>(data, res, weights, thresholds);
}

template <class data_T, class res_T, typename CONFIG_T>
void conv_thr(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
              const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    conv_dispatch<data_T, res_T, CONFIG_T, true>(data, res, weights, thresholds);
}

template <class data_T, class res_T, typename CONFIG_T>
void conv_acc(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    const typename CONFIG_T::thr_t none[CONFIG_T::n_thr] = {0};
    conv_dispatch<data_T, res_T, CONFIG_T, false>(data, res, weights, none);
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

// =============================================================================================
// Fixed-point layers of ReActNet-style residual networks: fixed_chain and fixed_add
// (golden.py's fixed_chain and fixed_add), io_stream (pixel streams or one vector transaction)
// and io_parallel (arrays).
//
// Codes on the streams.  A fixed-point tensor travels as its integer codes (ap_int<width>, the
// hls4ml type of the stream): code y of a tensor with `frac` fraction bits stands for y * 2^-frac.
// Accumulators and unsigned codes are tensors with frac = 0.  Inside the kernels a code is placed
// bit for bit into an ap_fixed with the right number of fraction bits (fx_from_code), all
// arithmetic is ap_fixed arithmetic, and the output code is the raw bits of an
//     out_fx_t = ap_fixed<width, width - frac, Q, O>
// (code_from_fx).  The rounding and overflow of the result are therefore ap_fixed's own:
//     Q = AP_RND_CONV (round half to even) | AP_RND (half towards +inf) | AP_TRN (floor)
//     O = AP_SAT (clip to the signed width-bit range) | AP_WRAP (two's complement wrap-around)
// ap_fixed quantizes first and then applies the overflow mode to the rounded value.
//
//   fixed_chain  (per channel c = the element's index in the last axis; integer parameters
//                 G[c], Z[c] with frac fraction bits, P[c], N[c] with slope_frac fraction bits)
//       xf = x                              in_fx_t = ap_[u]fixed<Wx, Wx - in_frac>   (x: input code)
//       t  = xf - G                         t_fx_t  = ap_fixed<Wt, Wt - frac>           exact
//       s  = t >= 0 ? P : N                 s_fx_t  = ap_fixed<Ws, Ws - slope_frac>
//       p  = t * s + Z                      p_fx_t  = ap_fixed<Wp, Wp - frac - slope_frac> exact
//       y  = p                              out_fx_t: Q drops the slope_frac extra bits, O wraps/clips
//     i.e. in codes  y = O(Q((t * S + Z * 2^slope_frac) / 2^slope_frac))  with
//     t = x * 2^(frac - in_frac) - G, as golden.py computes it in int64.  Wt, Wp (computed in Python
//     from the input type's range and the parameters) make t and p exact for every input code.
//     Parameters are stored as ap_int raw bits (g_t, s_t, z_t) of their ap_fixed twins.
//
//   fixed_add  (two inputs with the same frac, same shape)
//       y = a + b                           the exact sum assigned to
//                                           out_fx_t = ap_fixed<width, width - frac, AP_TRN, O>
//
// Both are elementwise: one stream transaction (a pixel of C channels, or the whole vector) per
// II=1 iteration, all elements of a transaction in parallel.

// the value whose raw bits are `code` (sign- or zero-extended to FX::width first)
template <class FX, class CODE> inline FX fx_from_code(const CODE &code) {
    #pragma HLS INLINE
    const ap_int<FX::width> bits = code;
    FX f;
    f.range(FX::width - 1, 0) = bits.range(FX::width - 1, 0);
    return f;
}

// the code (raw bits) of a fixed-point value
template <class CODE, class FX> inline CODE code_from_fx(const FX &f) {
    #pragma HLS INLINE
    ap_int<FX::width> bits;
    bits.range(FX::width - 1, 0) = f.range(FX::width - 1, 0);
    return CODE(bits);
}

struct fixed_chain_config {
    static const unsigned n_in = 1, n_chan = 1;                  // elements; element i is channel i % n_chan
    static const unsigned in_frac = 0, frac = 0, slope_frac = 0; // (documentation: the types below carry them)
    typedef ap_int<2> g_t;                                       // G raw bits
    typedef ap_int<2> s_t;                                       // P and N raw bits
    typedef ap_int<2> z_t;                                       // Z raw bits
    typedef ap_fixed<2, 2> in_fx_t;                              // input code as a value (in_frac)
    typedef ap_fixed<2, 2> g_fx_t;                               // frac
    typedef ap_fixed<2, 2> s_fx_t;                               // slope_frac
    typedef ap_fixed<2, 2> z_fx_t;                               // frac
    typedef ap_fixed<3, 3> t_fx_t;                               // frac, exact
    typedef ap_fixed<5, 5> p_fx_t;                               // frac + slope_frac, exact
    typedef ap_fixed<2, 2, AP_RND_CONV, AP_SAT> out_fx_t;        // ap_fixed<width, width - frac, Q, O>
};

template <typename CONFIG_T, class x_T>
typename CONFIG_T::out_fx_t fixed_chain_value(const x_T &x, unsigned c, const typename CONFIG_T::g_t G[CONFIG_T::n_chan],
                                              const typename CONFIG_T::s_t P[CONFIG_T::n_chan],
                                              const typename CONFIG_T::s_t N[CONFIG_T::n_chan],
                                              const typename CONFIG_T::z_t Z[CONFIG_T::n_chan]) {
    #pragma HLS INLINE
    const typename CONFIG_T::in_fx_t xf = fx_from_code<typename CONFIG_T::in_fx_t>(x);
    const typename CONFIG_T::t_fx_t t = xf - fx_from_code<typename CONFIG_T::g_fx_t>(G[c]);
    const typename CONFIG_T::s_fx_t s = fx_from_code<typename CONFIG_T::s_fx_t>(t >= 0 ? P[c] : N[c]);
    const typename CONFIG_T::p_fx_t p = t * s + fx_from_code<typename CONFIG_T::z_fx_t>(Z[c]);
    const typename CONFIG_T::out_fx_t y = p; // quantization mode, then overflow mode
    return y;
}

template <class data_T, class res_T, typename CONFIG_T>
void fixed_chain(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::g_t G[CONFIG_T::n_chan],
                 const typename CONFIG_T::s_t P[CONFIG_T::n_chan], const typename CONFIG_T::s_t N[CONFIG_T::n_chan],
                 const typename CONFIG_T::z_t Z[CONFIG_T::n_chan]) {
    #pragma HLS ARRAY_PARTITION variable=G complete
    #pragma HLS ARRAY_PARTITION variable=P complete
    #pragma HLS ARRAY_PARTITION variable=N complete
    #pragma HLS ARRAY_PARTITION variable=Z complete
PixelLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in / data_T::size; i++) {
        #pragma HLS PIPELINE II=1
        const data_T pkt = data.read();
        res_T out;
    ChanLoop:
        for (unsigned e = 0; e < data_T::size; e++) {
            #pragma HLS UNROLL
            const unsigned c = (i * data_T::size + e) % CONFIG_T::n_chan;
            out[e] = code_from_fx<typename res_T::value_type>(fixed_chain_value<CONFIG_T>(pkt[e], c, G, P, N, Z));
        }
        res.write(out);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void fixed_chain(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in], const typename CONFIG_T::g_t G[CONFIG_T::n_chan],
                 const typename CONFIG_T::s_t P[CONFIG_T::n_chan], const typename CONFIG_T::s_t N[CONFIG_T::n_chan],
                 const typename CONFIG_T::z_t Z[CONFIG_T::n_chan]) {
    #pragma HLS ARRAY_PARTITION variable=G complete
    #pragma HLS ARRAY_PARTITION variable=P complete
    #pragma HLS ARRAY_PARTITION variable=N complete
    #pragma HLS ARRAY_PARTITION variable=Z complete
ElemLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = code_from_fx<res_T>(fixed_chain_value<CONFIG_T>(data[i], i % CONFIG_T::n_chan, G, P, N, Z));
    }
}

struct fixed_add_config {
    static const unsigned n_in = 1;                       // elements of each input
    static const unsigned frac = 0;                       // (documentation: the types carry it)
    typedef ap_fixed<2, 2> a_fx_t;                        // first input code as a value
    typedef ap_fixed<2, 2> b_fx_t;                        // second input code as a value
    typedef ap_fixed<2, 2, AP_TRN, AP_SAT> out_fx_t;      // ap_fixed<width, width - frac, AP_TRN, O>
};

template <typename CONFIG_T, class a_T, class b_T>
typename CONFIG_T::out_fx_t fixed_add_value(const a_T &a, const b_T &b) {
    #pragma HLS INLINE
    const typename CONFIG_T::out_fx_t y =
        fx_from_code<typename CONFIG_T::a_fx_t>(a) + fx_from_code<typename CONFIG_T::b_fx_t>(b); // exact sum, then O
    return y;
}

// stream merge: one transaction of each input per II=1 iteration (both inputs have the same shape,
// so the same packing)
template <class in1_T, class in2_T, class res_T, typename CONFIG_T>
void fixed_add(hls::stream<in1_T> &a, hls::stream<in2_T> &b, hls::stream<res_T> &res) {
AddLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in / res_T::size; i++) {
        #pragma HLS PIPELINE II=1
        const in1_T pa = a.read();
        const in2_T pb = b.read();
        res_T out;
    ElemLoop:
        for (unsigned e = 0; e < res_T::size; e++) {
            #pragma HLS UNROLL
            out[e] = code_from_fx<typename res_T::value_type>(fixed_add_value<CONFIG_T>(pa[e], pb[e]));
        }
        res.write(out);
    }
}

template <class in1_T, class in2_T, class res_T, typename CONFIG_T>
void fixed_add(in1_T a[CONFIG_T::n_in], in2_T b[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
ElemLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = code_from_fx<res_T>(fixed_add_value<CONFIG_T>(a[i], b[i]));
    }
}

// concat  (BinaryDenseNet's concatenation: golden.py's concat).  A stream merge: each output pixel
// is the c1 channels of the first input's pixel followed by the c2 channels of the second's.  The
// codes keep their integer values (the output type holds both ranges); the next layer's
// per-channel thresholds give each channel its meaning.  For synthesis the first input (the
// block's input, read also by the dense layer's convolution) needs a FIFO of about (k - pad) * W
// pixels: the convolution consumes that much before its first output pixel.
struct concat_config {
    static const unsigned n_pix = 1;   // pixels (H * W)
    static const unsigned c1 = 1, c2 = 1;
};

template <class in1_T, class in2_T, class res_T, typename CONFIG_T>
void concat(hls::stream<in1_T> &a, hls::stream<in2_T> &b, hls::stream<res_T> &res) {
ConcatLoop:
    for (unsigned p = 0; p < CONFIG_T::n_pix; p++) {
        #pragma HLS PIPELINE II=1
        const in1_T pa = a.read();
        const in2_T pb = b.read();
        res_T out;
    FirstLoop:
        for (unsigned e = 0; e < CONFIG_T::c1; e++) {
            #pragma HLS UNROLL
            out[e] = typename res_T::value_type(pa[e]);
        }
    SecondLoop:
        for (unsigned e = 0; e < CONFIG_T::c2; e++) {
            #pragma HLS UNROLL
            out[CONFIG_T::c1 + e] = typename res_T::value_type(pb[e]);
        }
        res.write(out);
    }
}

template <class in1_T, class in2_T, class res_T, typename CONFIG_T>
void concat(in1_T a[CONFIG_T::n_pix * CONFIG_T::c1], in2_T b[CONFIG_T::n_pix * CONFIG_T::c2],
            res_T res[CONFIG_T::n_pix * (CONFIG_T::c1 + CONFIG_T::c2)]) {
    for (unsigned p = 0; p < CONFIG_T::n_pix; p++) {
        #pragma HLS UNROLL
        for (unsigned e = 0; e < CONFIG_T::c1; e++) res[p * (CONFIG_T::c1 + CONFIG_T::c2) + e] = a[p * CONFIG_T::c1 + e];
        for (unsigned e = 0; e < CONFIG_T::c2; e++)
            res[p * (CONFIG_T::c1 + CONFIG_T::c2) + CONFIG_T::c1 + e] = b[p * CONFIG_T::c2 + e];
    }
}

} // namespace hw_bnn_hls

#endif
