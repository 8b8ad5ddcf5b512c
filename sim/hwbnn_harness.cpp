// hwbnn_harness: streams frames of input codes into hwbnn_top (Verilator), collects the output
// and every layer tap, and counts cycles.
//
//   Vhwbnn_top INPUTS OUTPUTS TAP_PREFIX CYCLES SEED P_STALL P_GAP MAX_CYCLES TAP_FROM TAP_TO
//
// INPUTS: the number of frames N, then N * IN_FRAME integers.  OUTPUTS: one line per frame of
// OUT_FRAME integers; TAP_PREFIX<i>.txt: the same for tap i, for frames TAP_FROM <= f < TAP_TO
// only (TAP_TO -1: all; the taps of every frame of a large network do not fit in memory).  CYCLES: per frame, the cycle its
// first input beat was taken and the cycle its last output beat was given.  With P_STALL the
// output is not ready in a cycle with that probability, with P_GAP no input is offered (seeded
// by SEED: the same seed gives the same cycles).  Progress: the number of frames done, on stdout,
// a hundred times per run.  The stream shapes are in hwbnn_config.h.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "Vhwbnn_top.h"
#include "hwbnn_config.h"
#include "verilated.h"

namespace {

template <typename W>
void set_value(W& port, int offset, int bits, int64_t v) {
  for (int b = 0; b < bits; b++) {
    int pos = offset + b;
    uint32_t bit = (uint32_t)((v >> b) & 1);
    port[pos / 32] = (port[pos / 32] & ~(1u << (pos % 32))) | (bit << (pos % 32));
  }
}

template <typename W>
int64_t get_value(const W& port, int offset, int bits, bool is_signed) {
  uint64_t v = 0;
  for (int b = 0; b < bits; b++) {
    int pos = offset + b;
    v |= (uint64_t)((port[pos / 32] >> (pos % 32)) & 1u) << b;
  }
  if (is_signed && bits < 64 && ((v >> (bits - 1)) & 1)) v |= ~((uint64_t(1) << bits) - 1);
  return (int64_t)v;
}

struct Collector {
  int elems, bits, frame;
  bool is_signed;
  long keep_from = 0, keep_to = -1;  // the frames whose values are kept (-1: all)
  long seen = 0;                     // values seen
  std::vector<int64_t> values;
  template <typename W>
  void take(const W& port) {
    for (int i = 0; i < elems; i++, seen++) {
      long f = seen / frame;
      if (keep_to < 0 || (f >= keep_from && f < keep_to)) values.push_back(get_value(port, i * bits, bits, is_signed));
    }
  }
  void write(const std::string& path) const {
    std::ofstream f(path);
    for (size_t i = 0; i < values.size(); i++) f << values[i] << ((i + 1) % frame ? ' ' : '\n');
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 11) {
    std::fprintf(stderr, "usage: %s INPUTS OUTPUTS TAP_PREFIX CYCLES SEED P_STALL P_GAP MAX_CYCLES TAP_FROM TAP_TO\n",
                 argv[0]);
    return 2;
  }
  std::ifstream in(argv[1]);
  long frames = 0;
  in >> frames;
  std::vector<int64_t> x((size_t)frames * IN_FRAME);
  for (auto& v : x) in >> v;
  if (!in) {
    std::fprintf(stderr, "%s: expected %ld frames of %d values\n", argv[1], frames, IN_FRAME);
    return 2;
  }
  std::mt19937_64 rng(std::strtoull(argv[5], nullptr, 10));
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  const double p_stall = std::atof(argv[6]), p_gap = std::atof(argv[7]);
  const long max_cycles = std::atol(argv[8]);
  const long tap_from = std::atol(argv[9]), tap_to = std::atol(argv[10]);

  Verilated::commandArgs(argc, argv);
  Vhwbnn_top top;
  Collector out{OUT_ELEMS, OUT_BITS, OUT_FRAME, OUT_SIGNED != 0};
  std::vector<Collector> taps;
#define HWBNN_TAP_COLLECTOR(i, e, b, s, f) taps.push_back(Collector{e, b, f, s != 0, tap_from, tap_to});
  HWBNN_TAPS(HWBNN_TAP_COLLECTOR)
  std::vector<long> first_in(frames, -1), last_out(frames, -1);

  top.rst = 1;
  top.in_valid = 0;
  top.out_ready = 0;
  for (int i = 0; i < 4; i++) {
    top.clk = 0;
    top.eval();
    top.clk = 1;
    top.eval();
  }
  top.rst = 0;
  const long beats_in = (long)frames * (IN_FRAME / IN_ELEMS);
  const long report_every = frames / 100 > 0 ? frames / 100 : 1;
  long beat = 0, cycle = 0;
  while ((long)out.values.size() < frames * OUT_FRAME && cycle < max_cycles) {
    top.clk = 0;
    top.in_valid = beat < beats_in && !(p_gap > 0 && uni(rng) < p_gap);
    if (top.in_valid) {
      for (int i = 0; i < IN_ELEMS; i++) set_value(top.in_data, i * IN_BITS, IN_BITS, x[(size_t)beat * IN_ELEMS + i]);
    }
    top.out_ready = !(p_stall > 0 && uni(rng) < p_stall);
    top.eval();
    bool in_fire = top.in_valid && top.in_ready, out_fire = top.out_valid && top.out_ready;
    if (out_fire) out.take(top.out_data);
#define HWBNN_TAP_TAKE(i, e, b, s, f) \
  if (top.tap##i##_fire) taps[i].take(top.tap##i##_data);
    HWBNN_TAPS(HWBNN_TAP_TAKE)
    top.clk = 1;
    top.eval();
    if (in_fire) {
      long f = beat / (IN_FRAME / IN_ELEMS);
      if (first_in[f] < 0) first_in[f] = cycle;
      beat++;
    }
    if (out_fire && out.values.size() % OUT_FRAME == 0) {
      long done = (long)(out.values.size() / OUT_FRAME);
      last_out[done - 1] = cycle;
      if (done % report_every == 0 || done == frames) {  // progress: frames done, on stdout
        std::printf("%ld\n", done);
        std::fflush(stdout);
      }
    }
    cycle++;
  }
  top.final();
  out.write(argv[2]);
  for (size_t i = 0; i < taps.size(); i++) taps[i].write(std::string(argv[3]) + std::to_string(i) + ".txt");
  std::ofstream cyc(argv[4]);
  for (long f = 0; f < frames; f++) cyc << first_in[f] << ' ' << last_out[f] << '\n';
  if ((long)out.values.size() < frames * OUT_FRAME) {
    std::fprintf(stderr, "stopped after %ld cycles with %zu of %ld output values\n", cycle, out.values.size(),
                 frames * OUT_FRAME);
    return 3;
  }
  return 0;
}
