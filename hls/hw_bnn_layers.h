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
    static const unsigned n_in = 1;         // channels C
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
                const unsigned row = CONFIG_T::shared ? 0 : c;
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

template <class data_T, class res_T, typename CONFIG_T>
void multithreshold(hls::stream<data_T> &data, hls::stream<res_T> &res,
                    const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
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

} // namespace hw_bnn_hls

#endif
