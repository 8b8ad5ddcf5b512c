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
// Thresholds t[j * L + k] = T[j, k] (multithreshold: t[c * L + k], or t[k] when shared) are stored
// clipped to what can matter (multithreshold: [min x, max x + 1] of the input type; XNOR:
// [0, MW + 1]), which keeps the function.  All widths (input, popcount, threshold, comparison,
// accumulator, output) are the smallest that hold the ranges; they are computed in Python
// (hw_bnn/hls_ext.py) and passed in through the config struct / the hls4ml types.
//
// Folding of the matrix-vector units (XNOR / integer dense, conv): PE and SIMD, as FINN's MVAU.
//   A unit maps MW inputs to MH outputs (dense: MW inputs, MH outputs; conv, per output pixel:
//   MW = K = kernel * kernel * C_in window values, MH = C_out).  pe outputs (rows) and simd inputs
//   (columns) are processed in parallel, in nf = ceil(MH / pe) neuron folds of sf = MW / simd
//   synapse folds each (simd divides MW; hw_bnn.emit also requires pe to divide MH, see below).
//   One loop of nf * sf steps, pipelined with II=1 (per vector, or per output pixel): at step
//   (n, s) PE k adds the simd-wide partial result of output j = n * pe + k over inputs
//   s * simd .. s * simd + simd - 1 (XNOR: popcount of simd xnor'ed bits; integer: simd products)
//   to its accumulator; after the last synapse fold it writes y[j] (thresholds, or the
//   accumulator).  Accumulators keep the exact width of the whole sum: every partial sum of
//   a column lies between its negative and its positive part, hence in the accumulator range.
//   Weight memory: entry ((n * sf + s) * pe + k) * chunk_words + q is word q of PE k's slice at
//   step (n, s): XNOR packs the slice's simd bits W[s * simd + q * word_bits + b, j] into
//   chunk_words words of word_bits = min(simd, 32) bits (bit b; unused high bits 0, in the input
//   words too, so they never mismatch); integer: chunk_words = simd weights.  The weights are
//   reshaped cyclically by pe * chunk_words (one pe * simd-wide word per step, nf * sf deep), the
//   thresholds by pe * L (one word per neuron fold), the input vector is kept in a buffer of sf
//   words of simd values.  hls4ml's ReuseFactor of such a layer is nf * sf (bookkeeping: the
//   kernels read pe and simd from the config).  pe = ceil(MH / ReuseFactor), simd = MW (the
//   folding when a layer has no PE/SIMD) may leave the last neuron fold with idle PEs (the weight
//   memory holds zero rows for them, their outputs are not written).
//   Multithreshold folds with ReuseFactor: n_pe = ceil(N / RF) channels per fold, n_fold =
//   ceil(N / n_pe) folds (II=1).  With io_parallel and nothing folded (every ReuseFactor 1),
//   hls4ml pipelines the top function; otherwise hw_bnn.emit asks for the DATAFLOW style so that
//   the fold loops survive.
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

// members of every matrix-vector unit's config (MW inputs, MH outputs; see the folding above)
struct mvu_folding_config {
    static const unsigned mw = 1, mh = 1;   // MW, MH
    static const unsigned pe = 1;           // outputs in parallel (PE)
    static const unsigned simd = 1;         // inputs in parallel (SIMD), divides MW
    static const unsigned nf = 1;           // neuron folds ceil(MH / pe)
    static const unsigned sf = 1;           // synapse folds MW / simd
    static const unsigned word_bits = 1;    // XNOR: bits per packed weight / input word (min(simd, 32))
    static const unsigned chunk_words = 1;  // weight entries per PE and step (XNOR: ceil(simd / word_bits), integer: simd)
    static const unsigned reuse_factor = 1; // hls4ml's bookkeeping: nf * sf
};

struct xnor_dense_config : mvu_folding_config {
    static const unsigned n_in = 1;         // MW
    static const unsigned n_out = 1;        // MH
    static const unsigned n_levels = 1;     // L (thresholded variant)
    static const unsigned n_weights = 1;    // nf * pe * sf * chunk_words packed words
    static const unsigned n_thr = 1;        // MH * L
    typedef ap_uint<1> word_t;              // packed bits (= weight_t)
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
//       a[j] = sum_i x[i] W[i, j]  (x: unsigned codes, W: small signed integers);
//       y[j] = sum_k [a[j] >= T[j, k]] or y[j] = a[j].
//
//   conv  (sliding window + XNOR or integer MVU, NHWC pixel stream)
//       input stream: in_h * in_w transactions, row-major, each one pixel of n_chan codes;
//       output stream: out_h * out_w transactions of n_filt values (codes or accumulators).
//       Window of output (oh, ow): input rows oh*s - pad + kh, columns ow*s - pad + kw, flattened
//       in (kh, kw, c) order into the MVU's input vector of MW = K = kernel^2 * n_chan codes
//       (bits for XNOR); positions outside the image read the pad code.  The MVU (PE / SIMD
//       folding above, simd any divisor of K) then runs nf * sf steps per output pixel.
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
// C-sim speed: XNOR slices are packed into words once per input vector (window) and popcounts
// are computed on those words with a branch-free SWAR reduction (shifts, masks and adds:
// synthesizable, and fast on a CPU); integer products use plain int arithmetic on the (small)
// code and weight values, assigned to the exact-width accumulator.

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
// The matrix-vector unit (MVU) that every dense and conv kernel runs, folded by PE and SIMD.
//
// A SIMD kind says how one slice of simd inputs meets one PE's weights (in_T: input element type):
//   buf_t, n_buf          the input buffer, sf slices (XNOR: packed words, integer: the codes)
//   load(in, buf)         fill it from the MW-value input vector
//   partial(buf, w, s, b) the slice-s result of the PE whose weight entries start at b
//   value_t, output(v)    the accumulated value (XNOR: popcount p, integer: a) and the
//                         accumulator output of a full sum (XNOR: 2p - MW, integer: a)

// XNOR accumulator 2p - MW: each ap_int addition widens by one bit, so the intermediate is exact.
template <typename CONFIG_T> typename CONFIG_T::accum_t xnor_accumulator(typename CONFIG_T::pop_t p) {
    #pragma HLS INLINE
    const typename CONFIG_T::accum_t pa = p;
    const typename CONFIG_T::accum_t n = CONFIG_T::mw;
    return (pa + pa) - n;
}

// XNOR-popcount: slice s of the input is packed into chunk_words words of word_bits bits (input
// value i = s * simd + q * word_bits + b -> bit b of word q, unused high bits 0), so
// p_s = simd - sum_q popcount(x_q ^ w_q).
template <typename CONFIG_T, class in_T> struct xnor_simd {
    typedef typename CONFIG_T::word_t buf_t;
    typedef typename CONFIG_T::pop_t value_t; // 0..MW
    static const unsigned n_buf = CONFIG_T::sf * CONFIG_T::chunk_words;
    static void load(const in_T in[CONFIG_T::mw], buf_t buf[n_buf]) {
        #pragma HLS INLINE
        const unsigned S = CONFIG_T::simd, B = CONFIG_T::word_bits, CW = CONFIG_T::chunk_words;
    SliceLoop:
        for (unsigned s = 0; s < CONFIG_T::sf; s++) {
            #pragma HLS UNROLL
            for (unsigned q = 0; q < CW; q++) {
                #pragma HLS UNROLL
                unsigned v = 0;
                for (unsigned b = 0; b < B; b++) {
                    #pragma HLS UNROLL
                    if (q * B + b < S && in[s * S + q * B + b] != 0)
                        v |= 1u << b;
                }
                buf[s * CW + q] = v;
            }
        }
    }
    static unsigned partial(const buf_t buf[n_buf], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights], unsigned s,
                            unsigned base) {
        #pragma HLS INLINE
        unsigned mismatches = 0;
    WordLoop:
        for (unsigned q = 0; q < CONFIG_T::chunk_words; q++) {
            #pragma HLS UNROLL
            mismatches += popcount32(buf[s * CONFIG_T::chunk_words + q].to_uint() ^ weights[base + q].to_uint());
        }
        return CONFIG_T::simd - mismatches;
    }
    static typename CONFIG_T::accum_t output(value_t p) { return xnor_accumulator<CONFIG_T>(p); }
};

// integer: a_s = sum_{i < simd} x[s * simd + i] * W[s * simd + i, j]
template <typename CONFIG_T, class in_T> struct int_simd {
    typedef in_T buf_t;
    typedef typename CONFIG_T::accum_t value_t;
    static const unsigned n_buf = CONFIG_T::mw;
    static void load(const in_T in[CONFIG_T::mw], buf_t buf[n_buf]) {
        #pragma HLS INLINE
    CopyLoop:
        for (unsigned i = 0; i < CONFIG_T::mw; i++) {
            #pragma HLS UNROLL
            buf[i] = in[i];
        }
    }
    static int partial(const buf_t buf[n_buf], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights], unsigned s,
                       unsigned base) {
        #pragma HLS INLINE
        int acc = 0; // |partial sum| <= the accumulator range < 2**24 (checked when the project is emitted)
    MacLoop:
        for (unsigned i = 0; i < CONFIG_T::simd; i++) {
            #pragma HLS UNROLL
            acc += int(buf[s * CONFIG_T::simd + i]) * int(weights[base + i]);
        }
        return acc;
    }
    static value_t output(value_t a) { return a; }
};

// The folded MVU on one input vector (dense: the layer input, conv: a window): step (n, s) of the
// II=1 loop gives PE k the slice-s partial result of output j = n * pe + k; after the last synapse
// fold out[j] gets its code (THR) or its accumulator.  out is an array (dense) or a stream packet
// (conv).  The caller reshapes weights (pe * chunk_words) and thresholds (pe * L).
template <template <typename, class> class KIND, typename CONFIG_T, bool THR, class in_T, class out_T>
void mvu(const in_T in[CONFIG_T::mw], out_T &out, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
         const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    #pragma HLS INLINE
    typedef KIND<CONFIG_T, in_T> kind;
    typedef typename kind::value_t value_t;
    const unsigned PE = CONFIG_T::pe, SF = CONFIG_T::sf;
    const unsigned slice = kind::n_buf / CONFIG_T::sf; // buffer entries per synapse fold
    typename kind::buf_t buf[kind::n_buf];               // sf words of simd inputs
    #pragma HLS ARRAY_RESHAPE variable=buf cyclic factor=slice dim=1
    kind::load(in, buf);
    value_t acc[CONFIG_T::pe];
    #pragma HLS ARRAY_PARTITION variable=acc complete
    unsigned n = 0, s = 0; // neuron fold, synapse fold
FoldLoop:
    for (unsigned step = 0; step < CONFIG_T::nf * CONFIG_T::sf; step++) {
        #pragma HLS PIPELINE II=1
    PeLoop:
        for (unsigned k = 0; k < PE; k++) {
            #pragma HLS UNROLL
            const value_t part = kind::partial(buf, weights, s, (step * PE + k) * CONFIG_T::chunk_words);
            const value_t sum = s == 0 ? part : value_t(acc[k] + part);
            acc[k] = sum;
            const unsigned j = n * PE + k;
            if (s == SF - 1 && j < CONFIG_T::mh) {
                if (THR)
                    out[j] = count_levels<CONFIG_T>(sum, thresholds, j);
                else
                    out[j] = kind::output(sum);
            }
        }
        if (++s == SF) {
            s = 0;
            n++;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// integer dense (io_parallel)

struct int_dense_config : mvu_folding_config {
    static const unsigned n_in = 1;      // MW
    static const unsigned n_out = 1;     // MH
    static const unsigned n_levels = 0;  // L (0: accumulator output)
    static const unsigned n_weights = 1; // nf * pe * MW
    static const unsigned n_thr = 1;     // MH * L
    typedef ap_int<2> weight_t;
    typedef ap_int<2> thr_t;
    typedef ap_int<2> accum_t;           // holds every accumulator
    typedef ap_uint<1> count_t;
};

// The dense kernels: the MVU of SIMD kind KIND on the whole input vector.
template <template <typename, class> class KIND, bool THR, typename CONFIG_T, class data_T, class res_T>
void dense_mvu(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
               const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
               const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    const unsigned fold_w = CONFIG_T::pe * CONFIG_T::chunk_words;                        // one step's weights
    const unsigned fold_thr = CONFIG_T::pe * (CONFIG_T::n_levels ? CONFIG_T::n_levels : 1); // one neuron fold's thresholds
    #pragma HLS ARRAY_RESHAPE variable=weights cyclic factor=fold_w dim=1
    #pragma HLS ARRAY_RESHAPE variable=thresholds cyclic factor=fold_thr dim=1
    mvu<KIND, CONFIG_T, THR>(data, res, weights, thresholds);
}

// io_stream adaptor of every dense kernel: unpack the vector, run the io_parallel kernel, repack.
template <template <typename, class> class KIND, bool THR, typename CONFIG_T, class data_T, class res_T>
void dense_mvu(hls::stream<data_T> &data, hls::stream<res_T> &res,
               const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
               const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    typename data_T::value_type x[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable=x complete
    typename res_T::value_type y[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable=y complete
    unpack_stream<data_T, CONFIG_T::n_in>(data, x);
    dense_mvu<KIND, THR, CONFIG_T>(x, y, weights, thresholds);
    pack_stream<res_T, CONFIG_T::n_out>(y, res);
}

// The public dense kernels, io_parallel (data_T / res_T: element types) and io_stream (packet
// types): xnor_dense_thr / xnor_dense_acc (XNOR-popcount) and int_dense_thr / int_dense_acc
// (integer MVU).  *_thr outputs codes 0..L, *_acc the signed accumulator (XNOR: 2p - MW).
template <class data_T, class res_T, typename CONFIG_T>
void xnor_dense_thr(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                    const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    dense_mvu<xnor_simd, true, CONFIG_T>(data, res, weights, thresholds);
}

template <class data_T, class res_T, typename CONFIG_T>
void xnor_dense_thr(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                    const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    dense_mvu<xnor_simd, true, CONFIG_T>(data, res, weights, thresholds);
}

template <class data_T, class res_T, typename CONFIG_T>
void int_dense_thr(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                   const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    dense_mvu<int_simd, true, CONFIG_T>(data, res, weights, thresholds);
}

template <class data_T, class res_T, typename CONFIG_T>
void int_dense_thr(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                   const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    dense_mvu<int_simd, true, CONFIG_T>(data, res, weights, thresholds);
}

// the accumulator kernels pass an unused one-entry threshold array (n_thr = 1)
template <class data_T, class res_T, typename CONFIG_T>
void xnor_dense_acc(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    const typename CONFIG_T::thr_t none[CONFIG_T::n_thr] = {0};
    dense_mvu<xnor_simd, false, CONFIG_T>(data, res, weights, none);
}

template <class data_T, class res_T, typename CONFIG_T>
void xnor_dense_acc(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    const typename CONFIG_T::thr_t none[CONFIG_T::n_thr] = {0};
    dense_mvu<xnor_simd, false, CONFIG_T>(data, res, weights, none);
}

template <class data_T, class res_T, typename CONFIG_T>
void int_dense_acc(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out], const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    const typename CONFIG_T::thr_t none[CONFIG_T::n_thr] = {0};
    dense_mvu<int_simd, false, CONFIG_T>(data, res, weights, none);
}

template <class data_T, class res_T, typename CONFIG_T>
void int_dense_acc(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    const typename CONFIG_T::thr_t none[CONFIG_T::n_thr] = {0};
    dense_mvu<int_simd, false, CONFIG_T>(data, res, weights, none);
}

// ---------------------------------------------------------------------------------------------
// convolution

struct conv_config : mvu_folding_config {
    static const unsigned in_h = 1, in_w = 1, n_chan = 1;   // input image (H, W, C)
    static const unsigned out_h = 1, out_w = 1, n_filt = 1; // output image (Ho, Wo, C_out)
    static const unsigned kernel = 1, stride = 1, pad = 0;
    static const unsigned pad_value = 0;    // input code of the border
    static const bool xnor = false;
    static const unsigned n_levels = 0;     // L (0: accumulator output)
    static const unsigned n_k = 1;          // K = kernel * kernel * n_chan (= mw)
    static const unsigned n_weights = 1;    // nf * pe * sf * chunk_words
    static const unsigned n_thr = 1;        // n_filt * L
    typedef ap_uint<1> word_t;              // XNOR: packed word (= weight_t)
    typedef ap_uint<1> weight_t;            // XNOR: word_t, integer: signed weight
    typedef ap_uint<1> thr_t;
    typedef ap_uint<1> pop_t;               // XNOR popcount 0..K
    typedef ap_int<2> accum_t;              // accumulator (XNOR: 2p - K)
    typedef ap_uint<1> count_t;
};

// first input row (may be negative: top padding) of the windows of output row oh
template <typename CONFIG_T> inline int window_top(unsigned oh) {
    #pragma HLS INLINE
    return int(oh * CONFIG_T::stride) - int(CONFIG_T::pad);
}

// line buffer of input codes + sliding window + the MVU of SIMD kind KIND on each window
template <template <typename, class> class KIND, bool THR, class data_T, class res_T, typename CONFIG_T>
void conv_mvu(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
              const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    typedef typename data_T::value_type code_t;
    const unsigned K = CONFIG_T::kernel, C = CONFIG_T::n_chan;
    const unsigned fold_w = CONFIG_T::pe * CONFIG_T::chunk_words;
    const unsigned fold_thr = CONFIG_T::pe * (CONFIG_T::n_levels ? CONFIG_T::n_levels : 1);
    #pragma HLS ARRAY_RESHAPE variable=weights cyclic factor=fold_w dim=1
    #pragma HLS ARRAY_RESHAPE variable=thresholds cyclic factor=fold_thr dim=1

    static code_t line[CONFIG_T::kernel][CONFIG_T::in_w][CONFIG_T::n_chan]; // k-row circular line buffer
    #pragma HLS ARRAY_PARTITION variable=line complete dim=1
    #pragma HLS ARRAY_RESHAPE variable=line complete dim=3
    const code_t pad_code = CONFIG_T::pad_value;

    unsigned oh = 0; // next output row
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
                code_t win[CONFIG_T::n_k]; // the MVU input vector, (kh, kw, c) order
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
                mvu<KIND, CONFIG_T, THR>(win, out, weights, thresholds);
                res.write(out);
            }
            oh++;
        }
    }
}

template <bool THR, class data_T, class res_T, typename CONFIG_T>
void conv_dispatch(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
                   const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    if (CONFIG_T::xnor)
        conv_mvu<xnor_simd, THR, data_T, res_T, CONFIG_T>(data, res, weights, thresholds);
    else
        conv_mvu<int_simd, THR, data_T, res_T, CONFIG_T>(data, res, weights, thresholds);
}

template <class data_T, class res_T, typename CONFIG_T>
void conv_thr(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights],
              const typename CONFIG_T::thr_t thresholds[CONFIG_T::n_thr]) {
    conv_dispatch<true, data_T, res_T, CONFIG_T>(data, res, weights, thresholds);
}

template <class data_T, class res_T, typename CONFIG_T>
void conv_acc(hls::stream<data_T> &data, hls::stream<res_T> &res, const typename CONFIG_T::weight_t weights[CONFIG_T::n_weights]) {
    const typename CONFIG_T::thr_t none[CONFIG_T::n_thr] = {0};
    conv_dispatch<false, data_T, res_T, CONFIG_T>(data, res, weights, none);
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
